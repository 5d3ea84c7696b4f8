"""Which way up a flattened page is: its calibration pulses stand at the left of the rows, rising
from the baseline, only when it is upright (turned half way they hang from the right end; turned a
quarter, no lead rows are found at all)."""

from __future__ import annotations

import numpy as np

from edge.layout import find_layout
from edge.leads import LayoutError, LeadConfig, LeadLayout
from edge.page import Page, read_page
from edge.signals import find_pulse_heights


def _pulses(bgr: np.ndarray, work_size: int, config: LeadConfig) -> int:
    """Calibration pulses found at the start of the lead rows; -1 when no lead rows are found."""
    page = read_page(bgr, work_size, config)
    try:
        layout = find_layout(page, config)
    except LayoutError:
        return -1
    return len(find_pulse_heights(page, layout, layout.px_per_second))


def quarter_turns(bgr: np.ndarray, first: int = 0, work_size: int = 1024, config: LeadConfig | None = None) -> int:
    """Counter-clockwise quarter turns that stand the page ``bgr`` upright. ``first`` is the guess
    from its shape (1: it looks portrait): it and its half turn are tried before the other two, and
    the first way up with pulses wins (most scans need one look)."""
    config = config or LeadConfig()
    best, best_score = first % 4, -2
    for turns in (first, first + 2, first + 1, first + 3):
        score = _pulses(np.ascontiguousarray(np.rot90(bgr, turns % 4)), work_size, config)
        if score > 0:
            return turns % 4
        if score > best_score:
            best, best_score = turns % 4, score
    return best


def upside_down(bgr: np.ndarray, page: Page, layout: LeadLayout, work_size: int, config: LeadConfig) -> bool:
    """Whether a scan read as it is (no sheet found in it) is upside down: its lead rows, already
    found, show no calibration pulse at their start, and turned half way they do. Scans with pulses
    (all 499 of the shared data set) cost one look at the rows they already have, under a millisecond."""
    if find_pulse_heights(page, layout, layout.px_per_second):
        return False
    return _pulses(np.ascontiguousarray(bgr[::-1, ::-1]), work_size, config) > 0


def portrait_turns(bgr: np.ndarray, work_size: int = 1024, config: LeadConfig | None = None) -> int:
    """Counter-clockwise quarter turns for a portrait scan (no sheet found in it): turned only when
    no lead rows are found in it as it is and calibration pulses are, turned a quarter. Some
    printouts are portrait (6x2 pages can be taller than wide), and those keep their way up: lead
    rows found without pulses (a layout that prints none) are not a reason to turn, since a page
    turned a quarter can show pulse-like strokes (2 of 100 portrait 6x2 re-layouts were turned
    when a missing pulse was taken as evidence)."""
    config = config or LeadConfig()
    if _pulses(bgr, work_size, config) >= 0:
        return 0
    for turns in (1, 3):
        if _pulses(np.ascontiguousarray(np.rot90(bgr, turns)), work_size, config) > 0:
            return turns
    return 0
