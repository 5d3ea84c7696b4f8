"""The signals stage: every lead's trace read back into millivolts on the page's clock.

From the levelled page and its layout (edge.page, edge.layout):

1. scale: the lead rows span 10 s, which gives pixels per second; the 1 mV calibration pulse at
   the start of the rows gives pixels per millivolt (whatever gain the printout used), else the
   standard 10 mm/mV at 25 mm/s is assumed (square pixels);
2. per lead, the trace is followed column by column inside its row's band: of the ink runs in a
   column, the one nearest the trace's last position (so a tall QRS of the row above or below, a
   lead label or a stray mark is not taken); its position is the darkness-weighted centre of the
   run, or, where the run is long (a QRS apex), the end that points away from both neighbours;
3. the positions become millivolts from the row's baseline, the median is removed (baseline), and
   the samples are resampled to FS Hz. What could not be followed stays NaN; a lead with too little
   trace gets a reason instead of numbers.

Ground-truth-free checks live beside it (edge.quality).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from edge.components import components
from edge.leads import GAIN_MM_PER_MV, LEAD_NAMES, PAPER_SPEED_MM_S, SECONDS_PER_ROW, LeadLayout
from edge.page import Page
from edge.stats import median_count

FS = 500.0  # Hz: every digitized lead is resampled to this rate
MIN_COVERAGE = 0.5  # a lead followed over less than this share of its time is reported missing
MAX_GAP_S = 0.02  # gaps up to this long (a removed lead-switch marker) are bridged linearly
# Where a steep stroke's entry and exit are placed, either side of its column's centre, as a share of
# the line's thickness: a thick line's run in one column spans the trace's course over the
# neighbouring columns too. Fitted on rendered printouts (0.3 of a 3 px line: median SNR 10.7 ->
# 18.1 dB); on the shared scans Einthoven's agreement rose from 13.5 to 15.4 dB with it.
STROKE_SPREAD = 0.3
# Detail pages (edge.page.detail_page: a printed line 2 px or more wide) read steep strokes row by
# row instead: where the column reading's curve crosses a pixel row steeply (STEEP_ROWS px of rise
# per column or more), that row's darkness is weighed over ROW_WINDOW px either side of the
# crossing (ROW_PASSES times, recentred) for its sub-pixel time. Crossings of one row closer than
# ROW_SEPARATION px (an apex: the strokes merge) are left to the columns, and darkness within
# ROW_DARKNESS grey levels of white (grid, JPEG noise) is not weighed. Rendered printouts read at
# 2048 px: median SNR 18.3 -> 21.2 dB; at 1024 px, where a line is ~1 px wide and an R wave's
# strokes merge, it lost 0.4-1.2 dB, so the working page keeps the column reading.
STEEP_ROWS = 2.0
ROW_WINDOW = 1.5
ROW_SEPARATION = 2.0
ROW_DARKNESS = 40
ROW_PASSES = 3
# A photographed sheet that is bent is drawn compressed towards its lifted ends: the rows' 10 s are
# no longer evenly spread. On a detail page the lead-switch markers between the columns (looked for
# within MARKER_REACH of a column's width of where even columns put them) anchor each column's time
# when one is more than MARKER_SLACK px from its even place (a flat page's markers sit within
# ~0.5 px, quantized by the printer and the mask, and anchoring to them cost ~1 dB there; blurred
# or rotated pages' up to ~1.2 px, 0.2-0.7 dB at a slack of 1 px).
# Rendered printouts in the bug report's scene (slightly bent): 14.1 -> 20.5 dB; strongly bent:
# 0.1 -> 19.5 dB.
MARKER_REACH = 0.04
MARKER_SLACK = 1.5
# A detail page's points carry pixel-level jitter (each column's centre, each row's crossing, is
# quantized and noisy): what changes faster than the pixel grid can show is noise. Its leads are
# smoothed by a Gaussian of ANTI_ALIAS_PX page px (~1.6 ms at 2048 px; half power at ~0.44 cycles a
# px, just inside the grid's 0.5). Rendered printouts against their known signals: 3x4 22.4 ->
# 22.9 dB, 6x2 21.5 -> 22.1, half resolution 20.6 -> 20.7; wider (0.5 px) read them worse than none
# (22.2, 21.7, 20.3), though the shared scans' self-checks kept rising with any smoothing (they
# reward it: a smoothed residual is smaller), which is why the known signals set it.
ANTI_ALIAS_PX = 0.3
# Rows close together (6x2 pages: ~18 mm apart) meet where a deep wave of one row reaches the next
# row's: a QRS of aVL rising into aVR's deep S wave was read as climbing aVR's stroke (rendered 6x2
# printouts: aVL at -9 dB in every one). On a detail page the lead rows are read top to bottom, and
# the row above's trace, as read, is not this row's ink where it lies farther than CLAIMED_INK of
# the gap between the two baselines from this row's own (nearer, where both waves may cross, the
# ink is left to this row: claiming all of it cut aVL's own R wave, -4.7 dB at worst; 0.5 let it
# climb to the midpoint, 0.9 dB). Rendered 6x2: aVL -9 -> 15-17 dB, the 10th percentile 13.0 ->
# 14.8 dB. A row above that is misread costs the row below the ink it took: the rhythm strips are
# read without (with it, 6x2 strips fell by up to 7.8 dB where aVF had dived into the strip's R
# wave, and rose by at most 0.5).
CLAIMED_INK = 0.3


@dataclass(frozen=True)
class LeadSignal:
    lead: str | None  # lead name; None for a rhythm strip whose lead could not be told
    start_s: float  # on the page's clock: 0 at the left end of the lead rows
    mv: np.ndarray  # float64 samples at FS, NaN where the trace could not be followed
    coverage: float  # share of samples known
    reason: str | None = None  # why the lead is missing; None when it was read

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Scale:
    px_per_second: float  # pixels of the page the leads were read from (the working page or a detail page)
    px_per_mv: float
    mv_from: str  # "calibration pulse" or "assumed 10 mm/mV"
    pulses_found: int = 0

    @property
    def px_per_mm(self) -> float:
        return self.px_per_second / PAPER_SPEED_MM_S


@dataclass(frozen=True)
class Ecg:
    fs: float
    layout: str
    leads: dict[str, LeadSignal]  # all 12, in LEAD_NAMES order
    rhythm: tuple[LeadSignal, ...]
    scale: Scale
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _run_arrays(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every run of ink of a 0/1 image down its columns: column, first row, last row (by column,
    then top to bottom)."""
    height, width = ink.shape
    if not height or not width:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.intp)
    # Column-major, so the search runs over contiguous rows; any non-zero is ink (a stray 255 must
    # not unpair the runs).
    inked = cv2.transpose(ink) != 0 if ink.dtype == np.uint8 else ink.T != 0
    change = np.empty((width, height + 1), bool)  # where a run starts, and just past its end
    change[:, 0], change[:, -1] = inked[:, 0], inked[:, -1]
    np.not_equal(inked[:, 1:], inked[:, :-1], out=change[:, 1:-1])
    # A run's start and its end follow each other in its column. One flat search and a divmod: 2-D
    # np.nonzero took ~0.15 ms a lead, holding the GIL the folder pass's workers share.
    x, y = np.divmod(np.flatnonzero(change), height + 1)
    return x[0::2], y[0::2], y[1::2] - 1


def _stroke_width(a: np.ndarray, b: np.ndarray) -> float:
    """Typical vertical thickness of the trace, in px (most columns cross a flat stretch)."""
    return median_count(b - a + 1) if a.size else 1.0


def find_pulse_heights(page: Page, layout: LeadLayout, px_per_second: float) -> list[float]:
    """Heights (px) of the calibration pulses left of the lead rows: an upright rectangle, about
    0.2 s wide and 5-20 mm tall, before the trace starts."""
    ink = page.traces
    px_mm = px_per_second / PAPER_SPEED_MM_S
    heights = []
    x1 = int(layout.x_start)
    x0 = max(0, int(layout.x_start - 1.0 * px_per_second))
    for baseline in layout.row_baselines[: layout.lead_rows + layout.rhythm_rows]:
        y0 = max(0, int(baseline - 25 * px_mm))
        y1 = min(ink.shape[0], int(baseline + 5 * px_mm))
        region = ink[y0:y1, x0:x1]
        if region.size == 0:
            continue
        count, labels, stats = components(region, connectivity=8)
        for i in range(1, count):
            x, y, w, h, _area = stats[i]
            if not (4 * px_mm <= h <= 25 * px_mm and 2 * px_mm <= w <= 12 * px_mm):
                continue
            if abs((y0 + y + h) - baseline) > 3 * px_mm:  # a pulse stands on the row's baseline
                continue
            mask = labels[y : y + h, x : x + w] == i
            middle = mask[:, w // 3 : max(w // 3 + 1, 2 * w // 3)]
            top = middle[: h // 2].sum(axis=0)  # the pulse's top line, seen in its middle columns
            if top.size == 0 or np.median(top) == 0:
                continue
            thickness = float(np.median(top))
            heights.append(h - thickness)
    return heights


def trace_thickness(page: Page, layout: LeadLayout) -> float:
    """Typical thickness (px) of the traces, from the first lead row's flat stretches."""
    baseline = layout.row_baselines[0]
    top, bottom = max(0, int(baseline - 12)), min(page.traces.shape[0], int(baseline + 13))
    left, right = int(layout.x_start), int(layout.x_end)
    band = page.traces[top:bottom, left:right:max(1, (right - left) // 150)]
    return _stroke_width(*_run_arrays(band)[1:]) if band.size else 1.0


def measure_scale(page: Page, layout: LeadLayout, px_per_second: float | None = None) -> Scale:
    px_s = px_per_second or layout.px_per_second
    assumed = GAIN_MM_PER_MV * px_s / PAPER_SPEED_MM_S
    heights = find_pulse_heights(page, layout, px_s)
    if heights:
        measured = float(np.median(heights))
        # A 1 mV pulse prints 2.5-40 mm tall at the gains machines offer (2.5-40 mm/mV... 5-20 usual).
        if 0.25 * assumed <= measured <= 4.0 * assumed:
            return Scale(px_s, measured, "calibration pulse", len(heights))
    return Scale(px_s, assumed, "assumed 10 mm/mV", 0)


def _track(
    starts: list[int], first: list[int], last: list[int], order, y: float, step_limit: float, max_jump: float,
    chosen: list[int],
) -> None:  # fmt: skip
    """Follow the trace over the columns in ``order`` from height ``y``: in each column the run
    nearest the last position (``chosen[column]``: its index), if it is within reach (reach grows
    over columns with no ink). Column x's runs are ``first``/``last`` rows [starts[x], starts[x + 1]).
    Plain lists and a one-run fast path: this loop runs for every column of every lead, holding
    the GIL that the folder pass's workers share."""
    missed = 0
    limit = min(max_jump, step_limit)
    for x in order:
        lo, hi = starts[x], starts[x + 1]
        if hi - lo == 1:  # most columns: one run
            a, b = first[lo], last[lo]
            distance = a - y if a > y else (y - b if y > b else 0.0)
            best = lo
        else:
            best, distance = -1, float("inf")
            for i in range(lo, hi):
                a, b = first[i], last[i]
                d = a - y if a > y else (y - b if y > b else 0.0)
                if d < distance or (d == distance and best >= 0 and b - a > last[best] - first[best]):
                    best, distance = i, d
        if best < 0 or distance > limit:
            missed += 1
            limit = min(max_jump, step_limit * (1 + missed))
            continue
        chosen[x] = best
        y = (first[best] + last[best]) / 2
        if missed:
            missed = 0
            limit = min(max_jump, step_limit)


def _steep(pos: np.ndarray, val: np.ndarray) -> np.ndarray:
    """Which segments of the curve through (pos, val) rise STEEP_ROWS px a column or more."""
    return np.abs(np.diff(val)) > STEEP_ROWS * np.maximum(np.diff(pos), 1e-6)


def _row_points(
    gray: np.ndarray, pos: np.ndarray, val: np.ndarray, steep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the curve through (pos, val) (column position, row) crosses pixel rows along its
    ``steep`` segments (``_steep``), moved to the darkness-weighted centre of each row around the
    crossing (see STEEP_ROWS), and where along the curve each lies (segment index + fraction)."""
    height, width = gray.shape
    dx, dy = np.diff(pos), np.diff(val)
    seg = np.flatnonzero(steep)
    lo, hi = np.minimum(val[seg], val[seg + 1]), np.maximum(val[seg], val[seg + 1])
    first = np.ceil(lo + 0.5).astype(int)  # the rows strictly inside the segment's rise
    count = np.maximum(0, np.floor(hi - 0.5).astype(int) - first + 1)
    if count.sum() == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    idx = np.repeat(seg, count)
    rows = np.repeat(first, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    along = idx + (rows - val[idx]) / dy[idx]
    crossing = pos[idx] + (along - idx) * dx[idx]
    order = np.lexsort((crossing, rows))
    rows, crossing, along = rows[order], crossing[order], along[order]
    same_prev = np.r_[False, rows[1:] == rows[:-1]]
    same_next = np.r_[rows[1:] == rows[:-1], False]
    prev_x = np.r_[-np.inf, crossing[:-1]]
    next_x = np.r_[crossing[1:], np.inf]
    lower = np.where(same_prev, (crossing + prev_x) / 2, -np.inf)
    upper = np.where(same_next, (crossing + next_x) / 2, np.inf)
    alone = (~same_prev | (crossing - prev_x >= ROW_SEPARATION)) & (~same_next | (next_x - crossing >= ROW_SEPARATION))
    keep = alone & (rows >= 0) & (rows < height)
    rows, x, lower, upper, along = rows[keep], crossing[keep], lower[keep], upper[keep], along[keep]
    offsets = np.arange(int(np.ceil(2 * ROW_WINDOW)) + 2)
    mass = np.zeros(x.size)
    for _ in range(ROW_PASSES):
        left, right = np.maximum(x - ROW_WINDOW, lower), np.minimum(x + ROW_WINDOW, upper)
        cols = np.floor(left).astype(int)[:, None] + offsets[None, :]
        share = np.clip(np.minimum(cols + 1, right[:, None]) - np.maximum(cols, left[:, None]), 0.0, 1.0)
        share[(cols < 0) | (cols >= width)] = 0.0
        # Darkness of only the pixels weighed (of the whole band it cost ~0.5 ms a lead).
        pixels = gray[rows[:, None], np.clip(cols, 0, width - 1)].astype(np.float32)
        darkness = np.maximum(0.0, 255.0 - ROW_DARKNESS - pixels)
        weight = darkness * share
        mass = weight.sum(axis=1)
        x = np.where(mass > 0, (weight * (cols + 0.5)).sum(axis=1) / np.maximum(mass, 1e-9), x)
    found = mass > 0
    return x[found], rows[found].astype(float), along[found]


def _zigzag_turns(values: np.ndarray, entry_exit: np.ndarray, column: np.ndarray, first_row: np.ndarray,
                  last_row: np.ndarray) -> np.ndarray:  # fmt: skip
    """Which points of the curve through ``values`` (row per point, in order, each read in
    ``column``; ``entry_exit``: a steep stroke's entry or exit) are a zigzag's turns rather than
    apexes. Where a line is wider than a column, a steep stroke's run covers nearly the same rows in
    neighbouring columns, and their entries and exits alternate up and down the stroke. Such a turn
    lies between two entries or exits, and a neighbouring column's run (``first_row``, ``last_row``
    per column, padded by one either side) reaches more than a pixel beyond it; a true apex's or
    trough's does not (the same test on the column's own point, not only on entries and exits:
    21.8 -> 22.4 dB)."""
    n = values.size
    rise = np.diff(values)
    between, highest, lowest = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    between[1:-1] = entry_exit[:-2] & entry_exit[2:]
    highest[1:-1] = (rise[:-1] < 0) & (rise[1:] > 0)
    lowest[1:-1] = (rise[:-1] > 0) & (rise[1:] < 0)
    c = column + 1
    beyond_up = np.minimum(first_row[c - 1], first_row[c + 1]) < first_row[c] - 1
    beyond_down = np.maximum(last_row[c - 1], last_row[c + 1]) > last_row[c] + 1
    return between & ((highest & beyond_up) | (lowest & beyond_down))


def _follow(
    ink: np.ndarray, gray: np.ndarray, start_y: float, step_limit: float, max_jump: float, spread: float,
    by_rows: bool = False,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Points (column position, row; sub-pixel) of the trace in a band: one per column, two where a
    steep stroke crosses the column (it enters at one end of its run and leaves at the other, so
    both are kept: a column's middle alone flattened every QRS). Tracking starts mid-segment, where
    the trace runs on its baseline, and goes both ways: lead labels and switch markers sit at the
    segment's ends."""
    width = ink.shape[1]
    run_x, run_a, run_b = _run_arrays(ink)
    starts = np.searchsorted(run_x, np.arange(width + 1)).tolist()  # column x's runs: [starts[x], starts[x + 1])
    # The anchor: of the middle half's columns, the one whose nearest run is nearest the baseline
    # (the leftmost on a tie).
    lo, hi = starts[width // 4], starts[min(width, max(width // 4 + 1, 3 * width // 4))]
    if hi <= lo:
        return np.zeros(0), np.zeros(0)
    mx, ma, mb = run_x[lo:hi], run_a[lo:hi], run_b[lo:hi]
    distance = np.where(ma > start_y, ma - start_y, np.where(start_y > mb, start_y - mb, 0.0))
    column_start = np.empty(mx.size, bool)
    column_start[0] = True
    np.not_equal(mx[1:], mx[:-1], out=column_start[1:])
    first = np.flatnonzero(column_start)
    nearest = np.minimum.reduceat(distance, first)
    anchor = int(mx[first[int(np.argmin(nearest))]])
    tops, bottoms = run_a.tolist(), run_b.tolist()
    chosen = [-1] * width
    _track(starts, tops, bottoms, range(anchor, width), start_y, step_limit, max_jump, chosen)
    if chosen[anchor] >= 0:
        y = (tops[chosen[anchor]] + bottoms[chosen[anchor]]) / 2
        _track(starts, tops, bottoms, range(anchor - 1, -1, -1), y, step_limit, max_jump, chosen)
    thickness = _stroke_width(run_a, run_b)
    picked = np.array(chosen)
    xs = np.flatnonzero(picked >= 0)
    if not xs.size:
        return np.zeros(0), np.zeros(0)
    a, b = run_a[picked[xs]], run_b[picked[xs]]
    # Darkness-weighted centre of each run. Only short runs' centres are used (a long one is a
    # stroke, an apex or a stub, placed below), so each is summed over at most 2 x thickness rows
    # (integer sums in float64: exact, whatever the order).
    depth = max(1, int(np.floor(2 * thickness)))
    rows = a[:, None] + np.arange(depth)[None, :]
    inside = rows <= b[:, None]
    darkness = np.where(inside, 255.0 - gray[np.minimum(rows, gray.shape[0] - 1), xs[:, None]], 0.0)
    weight = darkness.sum(axis=1)
    centre = np.where(weight > 0, (darkness * rows).sum(axis=1) / np.maximum(weight, 1e-9), (a + b) / 2)
    # A long run is a steep stroke or an apex. At an apex both neighbouring runs lie on one side of
    # it, and the apex is its far end; a steep stroke passes through the run's middle. (Also
    # calling a run an apex when it merely reaches further than its neighbours fitted rendered
    # signals better, 12.4 against 10.7 dB, but made real scans disagree with themselves: the rhythm
    # strip against its lead fell from 22 to 15 dB.)
    mid = (a + b) / 2
    known = np.full(width, np.nan)
    known[xs] = mid
    prev = np.concatenate([[np.nan], known[:-1]])[xs]
    nxt = np.concatenate([known[1:], [np.nan]])[xs]
    alone = np.isnan(prev) & np.isnan(nxt)
    # NaN compares False: a missing side does not object.
    peak = ~alone & ~(prev < mid) & ~(nxt < mid)  # both neighbours lower on the page
    trough = ~alone & ~(prev > mid) & ~(nxt > mid)
    long = (b - a + 1) > 2 * thickness
    value = np.where(long, mid, centre)
    value = np.where(long & peak, a + thickness / 2, value)
    value = np.where(long & trough, b - thickness / 2, value)
    # One or two long runs between flat columns (or the segment's edge) are not a wave: a QRS takes
    # more columns to rise and fall. They are a label or a marker stub touching the trace, which
    # passes where the flat columns on either side are.
    length = np.full(width, np.nan)
    length[xs] = b - a + 1
    flat = length <= thickness * 1.5
    is_long = length > 2 * thickness
    centre_at = np.full(width, np.nan)
    centre_at[xs] = centre
    stub = np.zeros(width, bool)
    level_at = np.full(width, np.nan)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], is_long, [False])).astype(np.int8)))  # each long run's ends
    for x, end in zip(edges[0::2].tolist(), (edges[1::2] - 1).tolist()):  # the runs, not every column
        left_ok = x == 0 or flat[x - 1]
        right_ok = end == width - 1 or flat[end + 1]
        if end - x < 2 and left_ok and right_ok and not (x == 0 and end == width - 1):
            sides = [centre_at[i] for i in (x - 1, end + 1) if 0 <= i < width and not np.isnan(centre_at[i])]
            if sides:
                stub[x : end + 1] = True
                level_at[x : end + 1] = float(np.mean(sides))
    value = np.where(stub[xs], np.clip(level_at[xs], a + thickness / 2, b - thickness / 2), value)
    # A steep stroke enters the column at the end of its run nearer the previous column's trace and
    # leaves at the other end.
    stroke = long & ~peak & ~trough & ~alone & ~stub[xs]
    from_top = np.where(np.isnan(prev), ~(nxt < mid), prev < mid)
    top, bottom = a + thickness / 2, b - thickness / 2
    entry, leave = np.where(from_top, top, bottom), np.where(from_top, bottom, top)
    positions = np.concatenate([xs[~stroke] + 0.5, xs[stroke] + 0.5 - spread, xs[stroke] + 0.5 + spread])
    values = np.concatenate([value[~stroke], entry[stroke], leave[stroke]])
    order = np.argsort(positions, kind="stable")
    positions, values = positions[order], values[order]
    if not by_rows or positions.size < 3:
        return positions, values
    # Read row by row, a steep stroke replaces the column points inside it: its entries and exits
    # and the points between two steep segments rising the same way (apexes and troughs stay).
    # A zigzag's turns are taken out of the guide first (_zigzag_turns): they made spikes on
    # downstrokes, and their rows, crossed three times, were left unread. Rendered printouts 3x4
    # 20.6 -> 22.4 dB, 6x2 19.6 -> 21.5; the 8 full-resolution shared scans' aVR + aVL + aVF = 0
    # 17.1 -> 19.2 dB and rhythm strip 21.2 -> 23.2 (Einthoven 20.6 -> 21.0); 80 half-resolution
    # ones 16.7 -> 16.8 dB Einthoven, rhythm 21.1 -> 21.4.
    entry_exit = np.concatenate([np.zeros(int((~stroke).sum()), bool), np.ones(2 * int(stroke.sum()), bool)])[order]
    column = np.concatenate([xs[~stroke], xs[stroke], xs[stroke]])[order]
    first_row, last_row = np.full(width + 2, np.inf), np.full(width + 2, -np.inf)
    first_row[xs + 1], last_row[xs + 1] = a, b
    keep = ~_zigzag_turns(values, entry_exit, column, first_row, last_row)  # a second pass: no change
    positions, values, entry_exit = positions[keep], values[keep], entry_exit[keep]
    steep = _steep(positions, values)
    row_x, row_y, row_along = _row_points(gray, positions, values, steep)
    if row_x.size == 0:
        return positions, values
    rise = np.diff(values)
    extreme = np.ones(positions.size, bool)
    extreme[1:-1] = rise[:-1] * rise[1:] <= 0
    inside = np.zeros(positions.size, bool)
    inside[1:-1] = steep[:-1] & steep[1:] & ~extreme[1:-1]
    drop = inside | (entry_exit & ~extreme)
    positions = np.concatenate([positions[~drop], row_x])
    values = np.concatenate([values[~drop], row_y])
    # In the curve's order, not by position: a point a little behind its predecessor (two strokes'
    # rows, or a row's noise) is dropped rather than interleaved (it zigzagged an R wave).
    order = np.argsort(np.concatenate([np.flatnonzero(~drop).astype(float), row_along]), kind="stable")
    positions, values = positions[order], values[order]
    ahead = positions >= np.maximum.accumulate(positions)
    return positions[ahead], values[ahead]


def _resample(
    positions: np.ndarray, values: np.ndarray, px_per_second: float, duration_s: float, origin: float, max_gap: float
) -> np.ndarray:
    """Trace points (page px from the segment's first column, mV) onto FS Hz from ``origin`` px:
    linear between points, bridging gaps up to ``max_gap`` px (a removed marker), NaN elsewhere and
    beyond the first and last points."""
    n = int(round(duration_s * FS))
    if positions.size < 2:
        return np.full(n, np.nan)
    x = np.arange(n) / FS * px_per_second + origin
    out = np.interp(x, positions, values)
    right = np.clip(np.searchsorted(positions, x), 1, positions.size - 1)
    gap = positions[right] - positions[right - 1]
    unknown = (gap > max_gap + 1) | (x < positions[0] - 0.5) | (x > positions[-1] + 0.5)
    out[unknown] = np.nan
    return out


def _band(layout: LeadLayout, row: int, height: int) -> tuple[int, int]:
    """Rows of the page a trace of row ``row`` may reach: most of the way to its neighbours' baselines
    (tall QRS complexes do cross into the next row's band; following, not the band, keeps them apart)."""
    baselines = layout.row_baselines
    b = baselines[row]
    above = b - baselines[row - 1] if row > 0 else None
    below = baselines[row + 1] - b if row + 1 < len(baselines) else None
    gap = min(g for g in (above, below) if g is not None) if (above or below) else height / 4
    top = b - 0.95 * (above if above is not None else gap)
    bottom = b + 0.95 * (below if below is not None else gap)
    return max(0, int(top)), min(height, int(np.ceil(bottom)))


def _read_segment(
    page: Page, layout: LeadLayout, row: int, x0: float, x1: float, scale: Scale, spread: float, by_rows: bool = False,
    above: list[np.ndarray] | None = None, thickness: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Trace points of a row from page column floor(x0) to floor(x1): positions in px from
    floor(x0), values in mV. ``above``: curves (page x, page y; N x 2) of the row above already
    read, whose ink (``thickness`` px wide) is not this row's (see CLAIMED_INK)."""
    top, bottom = _band(layout, row, page.gray.shape[0])
    left, right = max(0, int(np.floor(x0))), min(page.gray.shape[1], int(np.floor(x1)))
    if right <= left or bottom <= top:
        return np.zeros(0), np.zeros(0)
    ink = page.traces[top:bottom, left:right].copy()
    if above and row > 0:
        _unclaim(ink, above, (left, top), thickness, (layout.row_baselines[row - 1], layout.row_baselines[row]))
    # Lead labels and specks are small components; the trace is long or tall.
    count, labels, stats = components(ink, connectivity=8)
    keep = (stats[:, cv2.CC_STAT_WIDTH] >= 0.04 * ink.shape[1]) | (stats[:, cv2.CC_STAT_HEIGHT] >= 3 * scale.px_per_mm)
    keep[0] = False
    ink = keep[labels].astype(np.uint8)
    baseline = layout.row_baselines[row] - top
    band = page.gray[top:bottom, left:right]
    reach = {"step_limit": 0.5 * scale.px_per_mv, "max_jump": 0.5 * (bottom - top)}
    positions, y = _follow(ink, band, baseline, spread=spread, by_rows=by_rows, **reach)
    return positions + (left - int(np.floor(x0))), (baseline - y) / scale.px_per_mv


def _unclaim(
    ink: np.ndarray, curves: list[np.ndarray], origin: tuple[int, int], thickness: float, baselines: tuple[float, float]
) -> None:  # fmt: skip
    """Clear from ``ink`` (a band whose top-left is page pixel ``origin``) the pixels that the row
    above's ``curves`` (page x as the trace points' positions, page row) pass through, drawn a
    pixel wider than the trace's ``thickness`` (OpenCV draws an odd number of rows), where they are
    farther than CLAIMED_INK of the gap between the two rows' ``baselines`` (above, own) from this
    row's."""
    above, own = baselines
    cut = min(ink.shape[0], int(round(own - CLAIMED_INK * (own - above))) - origin[1])
    reach = origin[1] + cut + thickness + 1  # curves entirely below this draw nothing in the region
    curves = [c for c in curves if len(c) >= 2 and c[:, 1].min() < reach]
    if cut <= 0 or not curves:
        return
    region = ink[:cut]  # a view: cleared in place
    claimed = np.zeros_like(region)
    shift = 4
    for curve in curves:
        # Positions are column edges (+ 0.5 at a column's centre), rows are pixel indices.
        points = np.round((curve - np.array([origin[0] + 0.5, origin[1]])) * (1 << shift)).astype(np.int32)
        cv2.polylines(claimed, [points], False, 1, int(np.ceil(thickness)) + 1, cv2.LINE_8, shift)
    region[claimed > 0] = 0


def _smoothed(mv: np.ndarray, sigma: float) -> np.ndarray:
    """``mv`` through a Gaussian of ``sigma`` samples, over its known samples only (NaN stays NaN,
    and does not pull its neighbours)."""
    known = ~np.isnan(mv)
    # np.convolve's "same" keeps mv's length only while the kernel is no longer than mv.
    reach = min(int(np.ceil(3 * sigma)), (mv.size - 1) // 2)
    taps = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
    total = np.convolve(np.where(known, mv, 0.0), taps, mode="same")
    weight = np.convolve(known.astype(float), taps, mode="same")
    return np.where(known, total / np.maximum(weight, 1e-12), np.nan)


def _lead_signal(
    name: str | None, start_s: float, points: tuple[np.ndarray, np.ndarray], origin: float, scale: Scale,
    duration: float, smooth_px: float = 0.0,
) -> LeadSignal:  # fmt: skip
    """A lead's samples from its trace points; ``smooth_px``: the Gaussian (page px) they are
    smoothed by (ANTI_ALIAS_PX on a detail page; 0, none, on the working page the models read)."""
    max_gap = max(1.0, MAX_GAP_S * scale.px_per_second)
    mv = _resample(points[0], points[1], scale.px_per_second, duration, origin, max_gap)
    if smooth_px > 0 and mv.size:
        mv = _smoothed(mv, smooth_px / scale.px_per_second * FS)
    known = ~np.isnan(mv)
    coverage = float(known.mean()) if mv.size else 0.0
    if coverage < MIN_COVERAGE:
        reason = f"trace followed over {coverage:.0%} of its {duration:g} s"
        return LeadSignal(name, start_s, np.full_like(mv, np.nan), coverage, reason)
    mv = mv - np.nanmedian(mv)
    return LeadSignal(name, start_s, mv, coverage)


def _similarity_db(a: np.ndarray, b: np.ndarray) -> float | None:
    """SNR of b against a in dB after removing each one's mean (NaNs ignored)."""
    both = ~np.isnan(a) & ~np.isnan(b)
    if both.sum() < 0.5 * len(a) or len(a) == 0:
        return None
    x, y = a[both] - a[both].mean(), b[both] - b[both].mean()
    noise = float(np.sum((x - y) ** 2))
    power = float(np.sum(x**2))
    if power == 0:
        return None
    return float(10 * np.log10(power / noise)) if noise > 0 else 99.0


def overlap(panel: LeadSignal, strip: LeadSignal, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """The samples of a panel and of a strip that fall at the same instants of the page's clock
    (either may start first)."""
    offset = int(round((panel.start_s - strip.start_s) * fs))  # the panel's first sample, in the strip
    if offset >= 0:
        strip_part = strip.mv[offset : offset + len(panel.mv)]
        return panel.mv[: len(strip_part)], strip_part
    panel_part = panel.mv[-offset:]
    strip_part = strip.mv[: len(panel_part)]
    return panel_part[: len(strip_part)], strip_part


def _name_rhythm(strip: LeadSignal, leads: dict[str, LeadSignal], fs: float) -> str | None:
    """The lead a rhythm strip shows: the first-column lead its first seconds repeat (the strip
    runs the same 10 s as the rows), when one agrees clearly over most of the panel."""
    best, best_db = None, 10.0
    for signal in leads.values():
        if not signal.ok or signal.start_s > 0:
            continue
        panel_part, strip_part = overlap(signal, strip, fs)
        if len(panel_part) < 0.5 * len(signal.mv):
            continue
        db = _similarity_db(panel_part, strip_part)
        if db is not None and db > best_db:
            best, best_db = signal.lead, db
    return best


@dataclass(frozen=True)
class _Geometry:
    """Where a page's rows are read: the first and last sample's x, the line's thickness, the scale."""

    start: float
    end: float
    half: float  # half the line's thickness (px)
    spread: float  # STROKE_SPREAD x the thickness (px)
    scale: Scale
    by_rows: bool = False  # steep strokes read row by row (a detail page)
    warp: tuple[np.ndarray, np.ndarray] | None = None  # page x of the column boundaries -> where the clock puts them

    @property
    def smooth_px(self) -> float:
        """The Gaussian the leads are smoothed by: ANTI_ALIAS_PX on a detail page, none elsewhere."""
        return ANTI_ALIAS_PX if self.by_rows else 0.0


def _geometry(page: Page, layout: LeadLayout, by_rows: bool = False) -> _Geometry:
    # The rows' ink runs from half a line's thickness before the first sample to half a line after
    # the last (a 2 px line cost 5-10 ms of lag at 90 px/s).
    thickness = trace_thickness(page, layout)
    half = thickness / 2
    start, end = layout.x_start + half, layout.x_end - half
    scale = measure_scale(page, layout, (end - start) / SECONDS_PER_ROW)
    return _Geometry(start, end, half, STROKE_SPREAD * thickness, scale, by_rows)


def _marker_columns(page: Page, layout: LeadLayout, uniform: np.ndarray) -> np.ndarray:
    """Where the lead-switch markers between the columns are (page x), near where equal columns
    put them (``uniform``: the columns' boundaries, first and last the rows' ends); a boundary
    without a marker stays where ``uniform`` has it."""
    baselines = layout.row_baselines[: layout.lead_rows]
    gap = (baselines[-1] - baselines[0]) / max(1, len(baselines) - 1)  # one row: no band, no markers
    top, bottom = max(0, int(baselines[0] - gap / 2)), min(page.markers.shape[0], int(baselines[-1] + gap / 2))
    found = uniform.astype(float).copy()
    if bottom <= top:
        return found
    profile = page.markers[top:bottom].sum(axis=0, dtype=np.int64)
    reach = max(3, int(MARKER_REACH * (uniform[1] - uniform[0])))
    for c in range(1, uniform.size - 1):
        lo, hi = max(0, int(uniform[c]) - reach), min(profile.size, int(uniform[c]) + reach + 1)
        window = profile[lo:hi].astype(float)
        if window.size == 0 or window.max() < max(1.0, 0.3 * (bottom - top)):
            continue
        window[window < 0.5 * window.max()] = 0
        found[c] = float((np.arange(lo, hi) + 0.5) @ window / window.sum())
    return found if np.all(np.diff(found) > 0) else uniform.astype(float)


def _on_page_clock(points: tuple[np.ndarray, np.ndarray], read_from: float, x0: float, g: _Geometry):
    """Points read from page column floor(``read_from``) onwards, as positions from floor(``x0``)
    on the evenly spaced page the clock assumes (``g.warp``: marker columns -> even columns)."""
    positions, values = points
    if g.warp is None or positions.size == 0:
        return positions + (np.floor(read_from) - np.floor(x0)), values
    found, even = g.warp
    page_x = positions + np.floor(read_from)
    return np.interp(page_x, found, even) - np.floor(x0), values


def digitize(page: Page, layout: LeadLayout, rhythm: bool = True, by_rows: bool = False) -> Ecg:
    """The 12 leads (and, with ``rhythm``, the rhythm strips: see ``with_rhythm``) of a page whose
    layout was found. ``by_rows``: steep strokes read row by row (for a detail page; see
    STEEP_ROWS)."""
    g = _geometry(page, layout, by_rows)
    columns = layout.columns
    column_px = (g.end - g.start) / columns
    column_s = SECONDS_PER_ROW / columns
    even = g.start + column_px * np.arange(columns + 1)
    found = _marker_columns(page, layout, even) if by_rows and columns > 1 else even
    if np.abs(found - even).max() > MARKER_SLACK:
        far = 1e6  # beyond the rows the page runs on as it does at their ends
        g = replace(g, warp=(np.r_[g.start - far, found, g.end + far], np.r_[g.start - far, even, g.end + far]))
    else:
        found = even
    leads: dict[str, LeadSignal] = {}
    curves: dict[tuple[int, int], np.ndarray] = {}  # (column, row) -> the trace read, in page px
    for index, name in enumerate(LEAD_NAMES):
        column, row = divmod(index, layout.lead_rows)
        x0 = even[column]
        x1 = found[column + 1] if g.warp is not None else x0 + column_px
        above = [curves[column, row - 1]] if (column, row - 1) in curves else None
        raw = _read_segment(page, layout, row, found[column], x1, g.scale, g.spread, g.by_rows, above, 2 * g.half)
        if g.by_rows:
            curves[column, row] = _page_curve(raw, found[column], layout.row_baselines[row], g.scale)
        points = _on_page_clock(raw, found[column], x0, g)
        leads[name] = _lead_signal(name, column * column_s, points, x0 - np.floor(x0), g.scale, column_s, g.smooth_px)
    ecg = Ecg(FS, layout.description, leads, (), g.scale)
    return _read_rhythm(ecg, page, layout, g) if rhythm else ecg


def _page_curve(points: tuple[np.ndarray, np.ndarray], read_from: float, baseline: float, scale: Scale) -> np.ndarray:
    """Trace points read from page column floor(``read_from``) (positions, mV) back in page px
    (x, row), N x 2."""
    positions, mv = points
    return np.stack([positions + np.floor(read_from), baseline - mv * scale.px_per_mv], axis=1)


def with_rhythm(ecg: Ecg, page: Page, layout: LeadLayout) -> Ecg:
    """``ecg`` with its page's rhythm strips read, when it was digitized without them (a model that
    reads only the 12 leads skips them; measuring wants them)."""
    if ecg.rhythm or not layout.rhythm_rows:
        return ecg
    return _read_rhythm(ecg, page, layout, _geometry(page, layout))


def _read_rhythm(ecg: Ecg, page: Page, layout: LeadLayout, g: _Geometry) -> Ecg:
    rhythm = []
    for row in range(layout.lead_rows, layout.lead_rows + layout.rhythm_rows):
        # A strip starts where the lead rows do, unless it was found whole and starts elsewhere (a
        # strip found only in part, its spikes joined to the row above, would be timed wrongly).
        left, right = layout.row_extents[row]
        whole = right - left >= 0.9 * (layout.x_end - layout.x_start)
        x0 = (left if whole else layout.x_start) + g.half
        points = _read_segment(page, layout, row, x0, x0 + (g.end - g.start), g.scale, g.spread, g.by_rows)
        points = _on_page_clock(points, x0, x0, g)
        strip_start = round((x0 - g.start) / g.scale.px_per_second, 3)
        signal = _lead_signal(None, strip_start, points, x0 - np.floor(x0), g.scale, SECONDS_PER_ROW, g.smooth_px)
        if signal.ok:
            signal = LeadSignal(_name_rhythm(signal, ecg.leads, FS), signal.start_s, signal.mv, signal.coverage)
        rhythm.append(signal)
    return replace(ecg, rhythm=tuple(rhythm))
