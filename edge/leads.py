"""Find the 12 lead panels of a printed ECG whatever its layout, and lay them out one fixed way.

A whole-page model sees the header, the footer and the layout, none of which is ECG evidence, and
it has never seen a layout it was not trained on. Here the page is reduced to the traces:

1. ink = pixels clearly darker than the paper around them (the red/pink grid is pale in the red
   channel, so grid and no-grid pages give the same ink);
2. trace strokes = ink components that run a long way across the page and swing up and down (text
   is short strokes, ruled lines are flat);
3. the strokes are grouped into rows by their baseline. 3-5 rows: 3x4 (three lead rows, then
   rhythm strips). 6 or more rows: 6x2 (six lead rows, then a rhythm strip). Standard printouts
   show 10 s across a row, so a 3x4 column holds 2.5 s of a lead and a 6x2 column 5 s;
4. each lead gets a 2.5 s window from the start of its column, of one height relative to that
   width (the same millimetres at 25 mm/s and 10 mm/mV), and the 12 windows are tiled in the
   canonical order I II III / aVR aVL aVF / V1 V2 V3 / V4 V5 V6.

Leads are column-major in both standard layouts: 3x4 columns are (I II III) (aVR aVL aVF)
(V1 V2 V3) (V4 V5 V6); 6x2 columns are (I II III aVR aVL aVF) (V1 ... V6).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import median  # of a few Python numbers: numpy's costs ~40 us each

import cv2
import numpy as np

from edge.components import components
from edge.stats import line_fit, median_count

LEAD_NAMES = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
# The canonical tiling: 4 rows of 3 leads (LEAD_NAMES in reading order), nearly square for
# 2.5 s panels, so the model input stays square.
MOSAIC_ROWS, MOSAIC_COLS = 4, 3
SECONDS_PER_ROW = 10.0
PANEL_SECONDS = 2.5
# What a printout shows unless it says otherwise: 25 mm/s paper speed, 10 mm/mV gain, and a
# calibration pulse of 1 mV at the start of each row.
PAPER_SPEED_MM_S = 25.0
GAIN_MM_PER_MV = 10.0


class LayoutError(ValueError):
    """The 12 lead rows of an ECG printout could not be found."""


@dataclass(frozen=True)
class LeadConfig:
    ink_window: int = 31  # neighbourhood (px at work size) ink must be darker than...
    ink_contrast: int = 25  # ...by this many grey levels
    min_stroke_width: float = 0.08  # of the page width
    # A trace swings at least this far (of the page height) beyond its own line thickness; a ruled
    # line does not swing at all. Low: lead III or aVL can be nearly flat.
    min_stroke_swing: float = 0.005
    max_stroke_fill: float = 0.35  # share of its bounding box a trace fills
    # Vertical lines longer than this (of the page height) are lead-switch markers or frames, not
    # waves: removed before strokes are found, since a marker joins the rows it crosses.
    max_wave_height: float = 0.2
    # When no layout is found that way, markers are looked for again as lines that may lean (a
    # photo at an angle): shorter, within this many px of vertical. Only for finding the rows, as
    # it would also take tall QRS spikes.
    leaning_marker_height: float = 0.12
    leaning_marker_width: int = 9
    row_merge: float = 0.035  # strokes whose baselines are closer than this (of page height) share a row
    # Photos at a slant are levelled first (edge.deskew) when off by more than deskew_min_degrees
    # and at most deskew_max_degrees (0 turns levelling off).
    deskew_max_degrees: float = 10.0
    deskew_min_degrees: float = 0.5
    # Ink inside large dark areas (the black margins of a photo or a warped scan) is not a trace:
    # around a trace the neighbourhood stays paper-bright.
    min_paper_level: int = 60
    # A shadow's edge is a long dark line to the ink test, and it joined traces (photo benchmark:
    # accuracy 0.35 under shadows). Where the paper's own brightness varies by more than this
    # share, the page is divided by it first; evenly lit scans are left exactly as they are.
    max_shading: float = 0.15
    shading_window: int = 41
    # The paper's brightness estimated with sharp steps (closed at half size, median-filtered)
    # instead of closed at quarter size and box-blurred, which smeared a hard shadow's edge into
    # ~40 px of false ink (phone photos with a hard shadow: 67.5% -> 75% the flat scan's label).
    # False on cards made before it; evenly lit pages are not flattened either way.
    shading_steps: bool = False
    # Panels (view leads) are resampled to this width before the final shrink, so that a trace is
    # as thick and dark whatever the page size and layout: without it, 6x2 pages (smaller panels
    # at the working size) gave fainter traces, and a leads model's macro-F1 fell from 0.67 to 0.29.
    panel_work_width: int = 256
    panel_height: float = 0.6  # panel height as a share of the 2.5 s panel width (~37 mm at 25 mm/s)
    above_baseline: float = 0.55  # share of the panel above the baseline (R waves point up)


@dataclass(frozen=True)
class PanelBox:
    lead: str
    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True)
class LeadLayout:
    name: str  # "3x4" or "6x2"
    lead_rows: int  # 3 or 6
    rhythm_rows: int  # rows below the lead rows (rhythm strips)
    panels: tuple[PanelBox, ...]  # in LEAD_NAMES order, in work-size pixels (may extend past the page)
    scale: float  # work-size pixels per source pixel
    # Where the traces run (work-size px): lead rows start at x_start and end at x_end, 10 s later;
    # each row's baseline (lead rows first, then rhythm strips) and horizontal extent.
    x_start: float = 0.0
    x_end: float = 0.0
    row_baselines: tuple[float, ...] = ()
    row_extents: tuple[tuple[float, float], ...] = ()

    @property
    def columns(self) -> int:
        return 12 // self.lead_rows

    @property
    def px_per_second(self) -> float:
        return (self.x_end - self.x_start) / SECONDS_PER_ROW

    @property
    def description(self) -> str:
        rhythm = f" + {self.rhythm_rows} rhythm" if self.rhythm_rows else ""
        return f"{self.name}{rhythm}"

    def rescaled(self, factor: float, scale: float) -> LeadLayout:
        """The same layout on the same page drawn ``factor`` times larger, at ``scale`` pixels per
        pixel of its own source (a detail page, edge.page.detail_page). Columns are counted from
        their left edges, rows from pixel centres."""

        def row(y: float) -> float:
            return (y + 0.5) * factor - 0.5

        panels = tuple(
            PanelBox(p.lead, round(p.x0 * factor), round(row(p.y0)), round(p.x1 * factor), round(row(p.y1)))
            for p in self.panels
        )
        return replace(
            self, panels=panels, scale=scale, x_start=self.x_start * factor, x_end=self.x_end * factor,
            row_baselines=tuple(row(y) for y in self.row_baselines),
            row_extents=tuple((a * factor, b * factor) for a, b in self.row_extents),
        )  # fmt: skip


def ink_mask(gray: np.ndarray, config: LeadConfig = LeadConfig()) -> np.ndarray:
    """1 where a pixel is clearly darker than its neighbourhood (shadows and tinted paper move the
    neighbourhood too, so they do not become ink)."""
    ink = cv2.adaptiveThreshold(
        gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, config.ink_window, config.ink_contrast
    )
    dark = cv2.blur(gray, (config.ink_window, config.ink_window)) < config.min_paper_level
    ink[dark] = 0
    return ink


def flatten_shading(gray: np.ndarray, config: LeadConfig = LeadConfig()) -> np.ndarray:
    """``gray`` divided by its paper brightness (a closing removes the thin dark ink, a blur, or
    with ``shading_steps`` a median that keeps a hard shadow's edge sharp, smooths what is left)
    when that varies by more than ``max_shading``; else ``gray`` itself."""
    k = config.shading_window
    if min(gray.shape) < k:  # nothing to estimate paper over (a sliver of an image)
        return gray
    if config.shading_steps:
        small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        paper = cv2.medianBlur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((k // 2, k // 2), np.uint8)), 5)
    else:
        small = cv2.resize(gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
        kernel = np.ones((k // 4, k // 4), np.uint8)
        paper = cv2.blur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel), (k // 4, k // 4))
    low, high = np.percentile(paper, [1, 99])
    if high <= 0 or low >= (1 - config.max_shading) * high:
        return gray
    paper = cv2.resize(paper, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return np.clip(gray.astype(np.float32) * (high / np.maximum(paper, 1.0)), 0, 255).astype(np.uint8)


def marker_mask(ink: np.ndarray, config: LeadConfig = LeadConfig(), leaning: bool = False) -> np.ndarray:
    """1 on vertical lines taller than any wave: lead-switch markers and frames. Some layouts print
    them and others do not, and a marker joins the rows it crosses, so they are removed. With
    ``leaning``, lines a few px off vertical count too (see LeadConfig.leaning_marker_height)."""
    if leaning:
        length = max(3, int(config.leaning_marker_height * ink.shape[0]))
        ink = cv2.dilate(ink, np.ones((1, config.leaning_marker_width), np.uint8))
    else:
        length = max(3, int(config.max_wave_height * ink.shape[0]))
    markers = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((length, 1), np.uint8))
    return cv2.dilate(markers, np.ones((1, 3), np.uint8))


# Of the page width: ink straight along one pixel row this far is a ruled line. A trace's baseline
# is broken by a wave at least every beat (~1.5 s at 40 bpm, 15% of a row) and by each lead's switch.
RULED_LINE = 0.25
RULED_SHARE = 0.9  # of the component's own width
RULED_SLANT = np.ones((3, 1), np.uint8)  # a ruled line's run may step a pixel up or down (a slant)


@dataclass(frozen=True)
class _Stroke:
    x0: int
    x1: int
    baseline: float


def _straight(xs: np.ndarray, ys: np.ndarray, per_column: np.ndarray, swing: float) -> bool:
    """Whether a stroke is a straight line at a slant (a ruled form photographed askew): about the
    line through it, it swings less than ``swing`` beyond its own thickness. A trace swings about
    its baseline whatever the slant."""
    columns = np.nonzero(per_column)[0]
    centre = np.bincount(xs, weights=ys, minlength=per_column.size)[columns] / per_column[columns]
    slope, intercept = line_fit(columns, centre)
    offset = ys - (slope * xs + intercept)
    return float(offset.max() - offset.min()) - median_count(per_column[columns]) < swing


def _strokes(ink: np.ndarray, config: LeadConfig) -> list[_Stroke]:
    height, width = ink.shape
    count, labels, stats = components(ink, connectivity=8)
    w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    # Wide and tall enough, and not a filled blob; judged for all components at once (a page has
    # thousands of specks and letters, and a Python loop over them cost ~4 ms a scan).
    candidate = (w >= config.min_stroke_width * width) & (h >= config.min_stroke_swing * height)
    candidate &= area <= config.max_stroke_fill * w.astype(np.float64) * h
    found = []
    for i in np.flatnonzero(candidate[1:]) + 1:
        x, y, w, h, area = stats[i]
        own = labels[y : y + h, x : x + w] == i
        # A ruled line (a header's rule) that blur joined to the letters above and below it swings
        # like a trace; a trace never runs straight this far and across nearly all of itself (a
        # rhythm strip's long pause, a sinus arrest, is straight for a stretch only; each beat breaks
        # the run). Straight within a pixel up or down: a photographed rule or sheet edge slants a
        # little, and along one pixel row a sheet's edge ran 389 of its 664 px.
        ruled = max(1, int(RULED_LINE * width), int(RULED_SHARE * w))
        if w >= ruled:
            thick = cv2.dilate(own.view(np.uint8), RULED_SLANT, borderValue=0)
            if cv2.erode(thick, np.ones((1, ruled), np.uint8), borderValue=0).any():
                continue
        ys, xs = np.nonzero(own)
        per_column = np.bincount(xs, minlength=w)
        # Traces are present at almost every column they span; a line of words is not.
        if np.count_nonzero(per_column) < 0.7 * w:
            continue
        if h - median_count(per_column[per_column > 0]) < config.min_stroke_swing * height:
            continue
        if _straight(xs, ys, per_column, config.min_stroke_swing * height):
            continue
        # The baseline is where the trace spends most of its time: the most frequent row.
        baseline = y + float(np.bincount(ys).argmax())
        found.append(_Stroke(int(x), int(x + w), baseline))
    return found


def _rows(strokes: list[_Stroke], height: int, config: LeadConfig) -> list[list[_Stroke]]:
    """Strokes side by side with near baselines form a row. A row broken into pieces (markers
    removed, a faint stretch) may slant on a photo, hence a tolerance; pieces that overlap one
    another horizontally are different rows however close."""
    rows: list[list[_Stroke]] = []
    for stroke in sorted(strokes, key=lambda s: s.baseline):
        best, best_gap = None, config.row_merge * height
        for row in rows:
            gap = abs(stroke.baseline - float(np.mean([s.baseline for s in row])))
            overlaps = any(min(s.x1, stroke.x1) - max(s.x0, stroke.x0) > 0.2 * (stroke.x1 - stroke.x0) for s in row)
            if gap < best_gap and not overlaps:
                best, best_gap = row, gap
        if best is None:
            rows.append([stroke])
        else:
            best.append(stroke)
    rows.sort(key=lambda row: float(np.mean([s.baseline for s in row])))
    return rows


def find_leads(
    ink: np.ndarray, scale: float = 1.0, config: LeadConfig = LeadConfig(), span: tuple[float, float] | None = None
) -> LeadLayout:
    """Lead panels from the ink (ink_mask without marker_mask) of a page at work size; ``span``: where
    the rows start and end, when known better than their ink says (edge.layout). Raises LayoutError."""
    height, width = ink.shape
    rows = _rows(_strokes(ink, config), height, config)
    # Keep rows that span a good part of the page: a stray long word or a signature is not a lead row.
    spans = [max(s.x1 for s in row) - min(s.x0 for s in row) for row in rows]
    rows = [row for row, span in zip(rows, spans) if span >= 0.35 * width]
    if len(rows) >= 6:
        name, lead_rows, columns = "6x2", 6, 2
    elif len(rows) >= 3:
        name, lead_rows, columns = "3x4", 3, 4
    else:
        raise LayoutError(f"found {len(rows)} trace rows; a 12-lead printout has at least 3")
    leads = rows[:lead_rows]
    x0 = float(median([min(s.x0 for s in row) for row in leads]))
    x1 = float(median([max(s.x1 for s in row) for row in leads]))
    # Where the traces start and end, for the signals: from the rows found whole (a row whose QRS
    # complexes run into the next row's may be found only in part). The panels keep the median of
    # all lead rows above, which the shipped models were trained on (it differs on 1 of 499 scans).
    extents = [(min(s.x0 for s in row), max(s.x1 for s in row)) for row in leads]
    widest = max(b - a for a, b in extents)
    whole = [(a, b) for a, b in extents if b - a >= 0.9 * widest]
    trace_x0 = float(median([a for a, _ in whole]))
    trace_x1 = float(median([b for _, b in whole]))
    if span is not None:
        x0, x1 = trace_x0, trace_x1 = span
    column_width = (x1 - x0) / columns
    panel_width = column_width * PANEL_SECONDS / (SECONDS_PER_ROW / columns)
    panel_height = config.panel_height * panel_width
    per_column = 12 // columns
    boxes = []
    for lead in range(12):
        column, row = divmod(lead, per_column)
        baseline = float(median([s.baseline for s in leads[row]]))
        left = x0 + column * column_width
        top = baseline - config.above_baseline * panel_height
        boxes.append(
            PanelBox(
                LEAD_NAMES[lead],
                int(round(left)),
                int(round(top)),
                int(round(left + panel_width)),
                int(round(top + panel_height)),
            )
        )
    return LeadLayout(
        name,
        lead_rows,
        len(rows) - lead_rows,
        tuple(boxes),
        scale,
        x_start=trace_x0,
        x_end=trace_x1,
        row_baselines=tuple(float(median([s.baseline for s in row])) for row in rows),
        row_extents=tuple((float(min(s.x0 for s in row)), float(max(s.x1 for s in row))) for row in rows),
    )


def crop_panel(gray: np.ndarray, box: PanelBox, fill: int = 255) -> np.ndarray:
    """The panel's pixels, padded with ``fill`` (paper) where the box runs past the page."""
    height, width = gray.shape
    pad = max(0, -box.x0, -box.y0, box.x1 - width, box.y1 - height)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=fill)
    return gray[box.y0 + pad : box.y1 + pad, box.x0 + pad : box.x1 + pad]


def mosaic_cell(size: int) -> tuple[int, int]:
    """(height, width) of one lead in a size x size mosaic."""
    return size // MOSAIC_ROWS, size // MOSAIC_COLS


def tile_mosaic(cells: list[np.ndarray], size: int) -> np.ndarray:
    """12 cells (each mosaic_cell(size)) tiled in canonical order on a white size x size image."""
    cell_h, cell_w = mosaic_cell(size)
    out = np.full((size, size), 255, np.uint8)
    for lead, cell in enumerate(cells):
        r, c = divmod(lead, MOSAIC_COLS)
        out[r * cell_h : (r + 1) * cell_h, c * cell_w : (c + 1) * cell_w] = cell
    return out


def render_trace(ink: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """A binary panel redrawn at ``out_shape`` as one-pixel strokes: in each output column, a
    vertical run from the highest to the lowest ink pixel of the source columns it covers. Stroke
    thickness, print darkness, blur and grid all disappear; the waveform's shape stays."""
    return render_traces([ink], out_shape)[0]


def _big_components(ink: np.ndarray) -> np.ndarray:
    """The panel's ink that belongs to components of some size: the trace, not the lead labels or
    stray dots."""
    src_h, src_w = ink.shape
    count, labels, stats = components(ink, connectivity=8)
    big = (stats[:, cv2.CC_STAT_WIDTH] >= 0.1 * src_w) | (stats[:, cv2.CC_STAT_HEIGHT] >= 0.3 * src_h)
    big[0] = False
    return big[labels]


def render_traces(inks: list[np.ndarray], out_shape: tuple[int, int]) -> list[np.ndarray]:
    """``render_trace`` of every panel; panels of one size (a layout's) are redrawn together, as one
    array, so a page's 12 cost one pass of array operations rather than twelve."""
    shapes = {ink.shape for ink in inks}
    if len(shapes) > 1:
        return [render_traces([ink], out_shape)[0] for ink in inks]
    out_h, out_w = out_shape
    src_h, src_w = next(iter(shapes)) if shapes else (0, 0)
    if src_w == 0 or src_h == 0 or out_w == 0:
        return [np.full(out_shape, 255, np.uint8) for _ in inks]
    trace = np.stack([_big_components(ink) for ink in inks])  # (panels, rows, columns)
    edges = np.linspace(0, src_w, out_w + 1).astype(int)
    starts = np.minimum(edges[:-1], src_w - 1)  # clipped only to keep slices valid: see `present`
    stops = np.maximum(np.minimum(np.maximum(edges[1:], edges[:-1] + 1), src_w), starts + 1)
    any_ink = trace.any(axis=1)
    # The first and last ink row of each source column (src_h and -1 where there is none).
    top = np.where(any_ink, trace.argmax(axis=1), src_h)
    bottom = np.where(any_ink, src_h - 1 - trace[:, ::-1].argmax(axis=1), -1)
    cum_present = np.concatenate([np.zeros((len(inks), 1), np.int64), np.cumsum(any_ink, axis=1)], axis=1)
    present = (cum_present[:, stops] > cum_present[:, starts]) & (edges[:-1] < src_w)
    # Per output column, over the source columns it covers: when they tile the panel (a panel at
    # least as wide as the output, the usual case) one reduceat each, else one short slice a column.
    if np.array_equal(stops[:-1], starts[1:]) and stops[-1] == src_w and np.all(starts[1:] > starts[:-1]):
        column_top = np.minimum.reduceat(top, starts, axis=1)
        column_bottom = np.maximum.reduceat(bottom, starts, axis=1)
    else:
        column_top = np.stack([top[:, a:b].min(axis=1) for a, b in zip(starts, stops)], axis=1)
        column_bottom = np.stack([bottom[:, a:b].max(axis=1) for a, b in zip(starts, stops)], axis=1)
    y0 = (column_top * out_h / src_h).astype(int)[:, None, :]
    y1 = np.minimum((column_bottom * out_h / src_h).astype(int), out_h - 1)[:, None, :]
    out_rows = np.arange(out_h)[None, :, None]
    drawn = present[:, None, :] & (out_rows >= y0) & (out_rows <= y1)
    return list(np.where(drawn, np.uint8(0), np.uint8(255)))
