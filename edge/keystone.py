"""A photo that the page fills, taken at a slant: no desk round the sheet to find it by (edge.sheet
takes such an image as it is), but the page is keystoned, and lead panels cut as rectangles from it
read wrongly (the transform benchmark's perspective photos: 40 of 71 kept the flat scan's label;
with the page straightened by the very perspective that made them, 66).

What the printout itself says is straight: each lead row runs along a horizontal line of the page,
and the lead-switch markers between the columns along vertical ones. On the page as read (levelled,
its layout found), the first and last rows' baselines and the outermost markers are fitted as lines;
where they meet are four corners of a rectangle of the printed page. When the markers converge, or
the rows and the markers' ends both do, by more than ``KeystoneConfig``'s shares of the page
(``convergence``, ``Keystone.keystoned``), the image is warped so that the corners form a rectangle
and read again. A flat scan's markers and rows stay well inside those limits and it is left exactly
as it is. A printout without markers that span the lead rows (other devices, some layouts)
is not straightened: nothing on it says which way is vertical.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.components import components
from edge.leads import LeadConfig, LeadLayout
from edge.page import Page
from edge.sheet import Sheet, in_four_channels


@dataclass(frozen=True)
class KeystoneConfig:
    # Opposite sides further from parallel than these (of the page's long side: their angle times
    # their length, ``convergence``) mean a keystoned page: the markers (straight lines, fitted to a
    # fraction of a pixel: at most 2.9 px on the 499 shared scans at 1024 px) or the rows (each lead
    # wanders: up to 8.4 px there).
    min_marker_convergence: float = 0.006
    min_row_convergence: float = 0.015
    # A marker is a line that may lean (up to marker_width px per LeadConfig.leaning_marker_height of
    # the page: ~10 degrees) spanning at least this share of the lead rows' height.
    marker_width: int = 15
    marker_span: float = 0.6
    # Each row's baseline: the median height of its ink in this many column bins, a line through them.
    row_bins: int = 48
    # The outermost markers must be at least this share of the row length apart.
    min_marker_gap: float = 0.2
    # The straightened image may grow to this many times the source's sides (content beyond the
    # frame's edges comes out paper-white).
    max_growth: float = 1.3


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line y = slope x + intercept (np.polyfit's, cheaper)."""
    xm, ym = float(x.mean()), float(y.mean())
    dx = x - xm
    spread = float(dx @ dx)
    slope = float(dx @ (y - ym)) / spread if spread > 0 else 0.0
    return slope, ym - slope * xm


def _fitted_marker(ys: np.ndarray, xs: np.ndarray, span: int) -> np.ndarray | None:
    """The two ends (x, y; top first) of the line through a marker's pixels (``ys``, ``xs``), or
    None when it spans less than ``span`` rows. A QRS complex touching the marker joins it: the
    line is fitted to the pixels near it (those off it dropped), and it ends where its own ink does."""
    keep = np.ones(len(ys), bool)
    y, x = ys.astype(np.float64), xs.astype(np.float64)
    for _ in range(3):
        if keep.sum() < 2:
            return None
        lean, offset = _line(y[keep], x[keep])
        keep = np.abs(x - (lean * y + offset)) <= 1.5
    on = np.unique(ys[keep])
    if len(on) < 2:
        return None
    runs = np.split(on, np.flatnonzero(np.diff(on) > 3) + 1)  # the longest stretch along the line
    stretch = max(runs, key=len)
    if stretch[-1] - stretch[0] < span:
        return None
    ends = np.array([stretch[0], stretch[-1]], np.float64)
    return np.stack([lean * ends + offset, ends], axis=1)


def _upright_markers(markers: np.ndarray, top: int, bottom: int, span: float) -> list[np.ndarray]:
    """Markers (as _fitted_marker) among the upright lines found with the page (Page.markers,
    dilated 3 px wide): runs of columns inked over ``span`` of the rows between ``top`` and ``bottom``."""
    band = markers[top:bottom]
    tall = np.concatenate([[0], (band.sum(axis=0, dtype=np.int32) >= span * (bottom - top)).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(tall))
    found = []
    for start, stop in zip(edges[::2], edges[1::2]):
        ys, xs = np.nonzero(band[:, start:stop])
        line = _fitted_marker(ys, xs + start, int(span * (bottom - top)))
        if line is not None:
            found.append(line + [0.0, top])
    return found


def _leaning_markers(ink: np.ndarray, top: int, bottom: int, leads: LeadConfig, width: int, span: float
                     ) -> list[np.ndarray]:  # fmt: skip
    """Markers (as _fitted_marker) that may lean up to ``width`` px per LeadConfig.leaning_marker_height
    of the page, spanning ``span`` of the rows between ``top`` and ``bottom``."""
    band = np.ascontiguousarray(ink[top:bottom])
    length = max(3, int(leads.leaning_marker_height * ink.shape[0]))
    wide = cv2.dilate(band, np.ones((1, width), np.uint8))
    lines = cv2.morphologyEx(wide, cv2.MORPH_OPEN, np.ones((length, 1), np.uint8)) & band
    count, labels, stats = components(lines)
    found = []
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_HEIGHT] >= span * (bottom - top):
            x, y, w, h = (int(v) for v in stats[i, :4])
            ys, xs = np.nonzero(labels[y : y + h, x : x + w] == i)
            line = _fitted_marker(ys, xs, int(span * (bottom - top)))
            if line is not None:
                found.append(line + [x, y + top])
    return found


def _row_line(traces: np.ndarray, top: int, bottom: int, x0: int, x1: int, bins: int) -> tuple[float, float] | None:
    """(slope, intercept) of y against x of the baseline of the row between ``top`` and ``bottom``,
    from the ink between ``x0`` and ``x1``: the median height of its ink over ``bins`` column bins,
    a line fitted through them (the bins a QRS complex or a label pulls away dropped); None with
    too little ink."""
    band = traces[top:bottom, x0:x1]
    width = (band.shape[1] // bins) * bins
    if width < bins:
        return None
    band = band[:, :width]
    counts = band.sum(axis=0, dtype=np.int32)
    heights = np.arange(top, bottom, dtype=np.float64) @ band  # per column: the sum of its ink's rows
    middles = np.where(counts > 0, heights / np.maximum(counts, 1), np.nan).reshape(bins, -1)
    inked = (counts > 0).reshape(bins, -1).sum(axis=1)
    full = inked >= max(2, middles.shape[1] // 2)
    if full.sum() < bins // 3:
        return None
    xs = x0 + (np.arange(bins) + 0.5) * middles.shape[1] - 0.5
    ordered = np.sort(middles[full], axis=1)  # NaN last: the (lower) median of each bin's inked columns
    x, y = xs[full], ordered[np.arange(len(ordered)), (inked[full] - 1) // 2]
    keep = np.ones(len(x), bool)
    for _ in range(3):
        slope, intercept = _line(x[keep], y[keep])
        residual = np.abs(y - (slope * x + intercept))
        keep = residual <= max(1.0, 3.0 * float(np.median(residual[keep])))
        if keep.sum() < bins // 3:
            return None
    return _line(x[keep], y[keep])


def _meet(row: tuple[float, float], marker: np.ndarray) -> np.ndarray:
    """Where the row's baseline (slope, intercept) crosses the marker through its two ends."""
    slope, intercept = row
    (xa, ya), (xb, yb) = marker
    lean = (xb - xa) / (yb - ya)
    y = (slope * (xa - lean * ya) + intercept) / (1.0 - slope * lean)
    return np.array([xa + lean * (y - ya), y])


@dataclass(frozen=True)
class Keystone:
    """Two readings of four points that lie on a rectangle of the printed page (page px; top-left,
    top-right, bottom-right, bottom-left)."""

    quad: np.ndarray  # where the first and last lead rows' baselines cross the outermost markers
    ends: np.ndarray  # the outermost markers' ends (this device prints them all of one length)

    def keystoned(self, size: int, config: KeystoneConfig) -> bool:
        """Whether the page (``size`` px long) is keystoned: the markers converge, or the rows do and
        the markers' ends say so too. A row's fitted baseline is off by up to 8 px over its length on
        flat scans, and a shadow's edge in a row's band moves it more; a marker's end is sometimes
        lengthened by a QRS complex that touches it; the two are seldom wrong together."""
        across, down = convergence(self.quad)
        ends_across, _ = convergence(self.ends)
        limit = config.min_row_convergence * size
        return down > config.min_marker_convergence * size or (across > limit and ends_across > limit)


def _lead_rows_band(page: Page, layout: LeadLayout) -> tuple[int, int, float] | None:
    """The rows the lead rows span (top, bottom) and their spacing, or None without two lead rows."""
    baselines, rows = layout.row_baselines, layout.lead_rows
    if len(baselines) < rows or rows < 2 or layout.x_end <= layout.x_start:
        return None
    gap = (baselines[rows - 1] - baselines[0]) / (rows - 1)
    top = max(0, int(baselines[0] - gap / 2))
    return top, min(page.ink.shape[0], int(baselines[rows - 1] + gap / 2) + 1), gap


def marker_ends(page: Page, layout: LeadLayout, leads: LeadConfig,
                config: KeystoneConfig = KeystoneConfig()) -> np.ndarray | None:  # fmt: skip
    """The ends of the outermost lead-switch markers that span the lead rows (page px; top-left,
    top-right, bottom-right, bottom-left): this device prints them all of one length, so they lie
    on a rectangle of the printed page. None where fewer than two are found, or they lie too close."""
    band = _lead_rows_band(page, layout)
    if band is None:
        return None
    top, bottom, _ = band
    # Upright markers were found with the page (Page.markers: a scan's, at no cost); leaning ones are
    # looked for only where those are not there.
    markers = _upright_markers(page.markers, top, bottom, config.marker_span)
    if len(markers) < 2:
        markers = _leaning_markers(page.ink, top, bottom, leads, config.marker_width, config.marker_span)
    if len(markers) < 2:
        return None
    markers.sort(key=lambda m: float(m[:, 0].mean()))
    left, right = markers[0], markers[-1]
    if float(right[:, 0].mean() - left[:, 0].mean()) < config.min_marker_gap * (layout.x_end - layout.x_start):
        return None
    return np.array([left[0], right[0], right[1], left[1]], np.float64)


def keystone_quad(page: Page, layout: LeadLayout, ends: np.ndarray,
                  config: KeystoneConfig = KeystoneConfig()) -> Keystone | None:  # fmt: skip
    """Where the first and last lead rows' baselines cross the outermost markers (``ends``, from
    marker_ends), with those ends (Keystone). Rows are fitted one by one, their slopes then taken as
    one straight function of height (under a perspective they are). None where the first or last
    lead row has too little ink."""
    band = _lead_rows_band(page, layout)
    if band is None:
        return None
    _, _, gap = band
    baselines, rows = layout.row_baselines, layout.lead_rows
    x0 = max(0, int(layout.x_start))
    x1 = min(page.traces.shape[1], int(np.ceil(layout.x_end)))
    fits = []
    for k in range(rows):
        band_top = max(0, int(baselines[k] - gap / 2))
        band_bottom = min(page.traces.shape[0], int(baselines[k] + gap / 2) + 1)
        fits.append(_row_line(page.traces, band_top, band_bottom, x0, x1, config.row_bins))
    known = [f for f in fits if f is not None]
    if fits[0] is None or fits[-1] is None or len(known) < 2:
        return None
    centre = (x0 + x1) / 2
    heights = np.array([slope * centre + intercept for slope, intercept in known])
    trend = np.polyfit(heights, [slope for slope, _ in known], 1)
    first, last = (
        (float(np.polyval(trend, y)), float(y - np.polyval(trend, y) * centre)) for y in (heights[0], heights[-1])
    )
    left, right = ends[[0, 3]], ends[[1, 2]]
    quad = np.array([_meet(first, left), _meet(first, right), _meet(last, right), _meet(last, left)], np.float64)
    return Keystone(quad, ends)


def convergence(quad: np.ndarray) -> tuple[float, float]:
    """How far (px) the quad's opposite sides are from parallel, the angle between them times their
    length: (top and bottom, left and right). 0 for any parallelogram (a page read level, or turned)."""

    def angle(v: np.ndarray) -> float:
        return float(np.arctan2(v[1], v[0]))

    top, bottom = quad[1] - quad[0], quad[2] - quad[3]
    left, right = quad[3] - quad[0], quad[2] - quad[1]
    across = abs(angle(top) - angle(bottom)) * (np.linalg.norm(top) + np.linalg.norm(bottom)) / 2
    down = abs(angle(left) - angle(right)) * (np.linalg.norm(left) + np.linalg.norm(right)) / 2
    return float(across), float(down)


def _rectangle(quad: np.ndarray) -> np.ndarray:
    """The upright rectangle ``quad`` should be: its mean width and height, about its centre."""
    width = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    height = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    cx, cy = quad.mean(axis=0)
    return np.array([[cx - width / 2, cy - height / 2], [cx + width / 2, cy - height / 2],
                     [cx + width / 2, cy + height / 2], [cx - width / 2, cy + height / 2]])  # fmt: skip


def _page_from_source(page: Page) -> np.ndarray:
    """3 x 3: source px -> page px (the working scale, then the levelling turn about the centre)."""
    scale = np.diag([page.scale, page.scale, 1.0])
    if not page.angle:
        return scale
    h, w = page.gray.shape
    level = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), page.angle, 1.0), [0.0, 0.0, 1.0]])
    return level @ scale


def _unturned(points: np.ndarray, turns: int, shape: tuple[int, ...]) -> np.ndarray:
    """``points`` (x, y) of an image of ``shape`` that was turned ``turns`` quarters counter-clockwise
    (edge.page.turned), as points of the image before it was turned."""
    height = shape[0]
    out = points.astype(np.float64)
    for _ in range(turns % 4):  # one counter-clockwise quarter undone: x = (its height - 1) - y', y = x'
        out = np.stack([height - 1 - out[:, 1], out[:, 0]], axis=1)
        height = int(shape[1]) if height == shape[0] else int(shape[0])
    return out


def straighten(sheet: Sheet, page: Page, layout: LeadLayout, leads: LeadConfig,
               config: KeystoneConfig = KeystoneConfig()) -> Sheet | None:  # fmt: skip
    """``sheet`` warped so that its printed page is straight, when its page as read is keystoned
    (taken as it is, a photo the page fills; or flattened from corners found a little off: a
    finger over a corner, a striped cloth taken for paper); else None."""
    ends = marker_ends(page, layout, leads, config)
    if ends is None:
        return None
    size = max(page.gray.shape)
    across, down = convergence(ends)
    if down <= config.min_marker_convergence * size and across <= config.min_row_convergence * size:
        return None  # straight by its markers alone (Keystone.keystoned): the rows need not be fitted
    found = keystone_quad(page, layout, ends, config)
    if found is None or not found.keystoned(size, config):
        return None
    quad = found.quad
    target = _rectangle(quad)
    image = sheet.image
    forward = _page_from_source(page)
    homography = np.linalg.inv(forward) @ cv2.getPerspectiveTransform(
        quad.astype(np.float32), target.astype(np.float32)
    ) @ forward
    h, w = image.shape[:2]
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64).reshape(-1, 1, 2)
    reached = cv2.perspectiveTransform(frame, homography).reshape(-1, 2)
    spare = (config.max_growth - 1) / 2 * np.array([w, h], np.float64)
    low = np.maximum(reached.min(axis=0), -spare)
    high = np.minimum(reached.max(axis=0), np.array([w, h]) + spare)
    shift = np.array([[1.0, 0.0, -low[0]], [0.0, 1.0, -low[1]], [0.0, 0.0, 1.0]])
    homography = shift @ homography
    size = (int(np.ceil(high[0] - low[0])), int(np.ceil(high[1] - low[1])))
    warped = in_four_channels(
        image, lambda four: cv2.warpPerspective(four, homography, size, flags=cv2.INTER_LINEAR,
                                                borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255, 255)),
    )  # fmt: skip
    corners = np.array([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]], np.float64).reshape(-1, 1, 2)
    corners = cv2.perspectiveTransform(corners, np.linalg.inv(homography)).reshape(-1, 2)
    if sheet.rectified:  # through the flattening, approximately (a bent sheet's is not a perspective)
        h, w = image.shape[:2]
        flat = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        to_photo = cv2.getPerspectiveTransform(flat, sheet.corners.astype(np.float32))
        corners = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), to_photo).reshape(-1, 2)
    else:
        corners = _unturned(corners, sheet.quarter_turns, image.shape)  # Sheet.corners: the source's pixels
    return Sheet(warped, corners.astype(np.float32), "rows", sheet.quarter_turns)
