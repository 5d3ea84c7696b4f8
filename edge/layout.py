"""The layout stage: where the 12 lead panels (and rhythm strips) of a page are, whatever the
printout's layout (edge.leads does the finding)."""

from __future__ import annotations

import numpy as np

from edge.leads import LayoutError, LeadConfig, LeadLayout, find_leads, marker_mask
from edge.page import Page

# The lead-switch markers between a 3x4 page's columns stand 2.5 s apart. Where the rows' ink says
# they start or end more than SPAN_SLACK of a column from where the markers put that (a hard shadow
# or a finger over the rows' first seconds: the rows were read from the shadow's edge on, their 10 s
# squeezed into three quarters of the time scale), the markers' place is taken. Markers count when
# they cross MARKER_SPAN of the lead rows' band and stand evenly, within MARKER_EVEN of a column.
SPAN_SLACK = 0.1
MARKER_SPAN = 0.6
MARKER_EVEN = 0.03


def find_layout(page: Page, config: LeadConfig) -> LeadLayout:
    """The lead layout of a levelled page. Raises LayoutError when no 12-lead layout is found."""
    ink = page.traces
    try:
        layout = find_leads(ink, page.scale, config)
    except LayoutError:  # markers leaning on a photo can still join rows: look again for rows only
        ink = page.ink & ~marker_mask(page.ink, config, leaning=True)
        layout = find_leads(ink, page.scale, config)
    span = _span_by_markers(page, layout)
    return layout if span is None else find_leads(ink, page.scale, config, span=span)


def _span_by_markers(page: Page, layout: LeadLayout) -> tuple[float, float] | None:
    """Where the lead rows start and end by their markers, when that is not where their ink says;
    None when it is, or when the markers cannot tell (not 4 columns, not 3 markers evenly apart)."""
    if layout.columns != 4 or len(layout.row_baselines) < layout.lead_rows:
        return None
    baselines = layout.row_baselines[: layout.lead_rows]
    gap = (baselines[-1] - baselines[0]) / (len(baselines) - 1)
    top, bottom = max(0, int(baselines[0] - gap / 2)), min(page.markers.shape[0], int(baselines[-1] + gap / 2))
    if bottom - top < 3:
        return None
    standing = page.markers[top:bottom].sum(axis=0) >= MARKER_SPAN * (bottom - top)
    edges = np.flatnonzero(np.diff(np.r_[False, standing, False].astype(np.int8)))
    markers = (edges[0::2] + edges[1::2]) / 2  # each run's middle, in page x
    if markers.size != 3:
        return None
    steps = np.diff(markers)
    column = float(steps.mean())
    if column <= 0 or abs(steps[1] - steps[0]) > MARKER_EVEN * column:
        return None
    start, end = markers[0] - column, markers[-1] + column
    if max(abs(start - layout.x_start), abs(end - layout.x_end)) <= SPAN_SLACK * column:
        return None
    ours = (layout.x_start, layout.x_end)
    return tuple(float(a if abs(a - b) <= SPAN_SLACK * column else b) for a, b in zip(ours, (start, end)))
