"""Which way up a flattened page is: its calibration pulses stand at the left of the rows, rising
from the baseline, only when it is upright (turned half way they hang from the right end; turned a
quarter, no lead rows are found at all)."""

from __future__ import annotations

import numpy as np

from edge.layout import find_layout
from edge.leads import LayoutError, LeadConfig, LeadLayout
from edge.page import Page, read_page, to_work_scale, turned
from edge.signals import find_pulse_heights


def _read_turned(bgr: np.ndarray, turns: int, work_size: int, config: LeadConfig) -> Page:
    """The page of ``bgr`` turned ``turns`` quarters counter-clockwise: only the red channel the
    page is read from is turned (the same pixels as turning the colour image, at a third of the copying)."""
    red = turned(np.ascontiguousarray(bgr[..., 2]), turns)
    return read_page(red, work_size, config, to_work_scale(red, work_size)[0])


def _pulses(bgr: np.ndarray, work_size: int, config: LeadConfig, turns: int = 0) -> int:
    """Calibration pulses found at the start of the lead rows of ``bgr`` turned ``turns`` quarters
    counter-clockwise; -1 when no lead rows are found."""
    return _pulses_on(_read_turned(bgr, turns, work_size, config), config)


def _pulses_on(page: Page, config: LeadConfig) -> int:
    try:
        layout = find_layout(page, config)
    except LayoutError:
        return -1
    return len(find_pulse_heights(page, layout, layout.px_per_second))


def half_turned(page: Page) -> Page:
    """``page`` turned half way: what reading the image turned half way gives, to a fraction of a
    pixel (a resize that does not divide the image's size evenly lays its grid a little differently;
    levelling turns by the same angle either way up)."""
    flipped = [np.ascontiguousarray(a[::-1, ::-1]) for a in (page.gray, page.ink, page.markers)]
    return Page(*flipped, page.scale, page.angle, page.source_shape)


def turned_if_upside_down(page: Page, layout: LeadLayout, config: LeadConfig) -> tuple[Page, LeadLayout] | None:
    """``page`` turned half way (half_turned: not read again) and its layout, when its lead rows show
    no calibration pulse at their start and turned half way they do; None otherwise."""
    if find_pulse_heights(page, layout, layout.px_per_second):
        return None
    flipped = half_turned(page)
    try:
        flipped_layout = find_layout(flipped, config)
    except LayoutError:
        return None
    if not find_pulse_heights(flipped, flipped_layout, flipped_layout.px_per_second):
        return None
    return flipped, flipped_layout


def quarter_turns(bgr: np.ndarray, first: int = 0, work_size: int = 1024, config: LeadConfig | None = None) -> int:
    """Counter-clockwise quarter turns that stand the page ``bgr`` upright. ``first`` is the guess
    from its shape (1: it looks portrait): it and its half turn are tried before the other two, and
    the first way up with pulses wins (most scans need one look). A half turn looks at the page
    already read, turned (reading it again cost an upside-down photo ~8 ms)."""
    config = config or LeadConfig()
    best, best_score = first % 4, -2
    for pair in (first, first + 1):
        page = _read_turned(bgr, pair, work_size, config)
        for turns, seen in ((pair, page), (pair + 2, None)):
            score = _pulses_on(seen if seen is not None else half_turned(page), config)
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
    return _pulses(bgr, work_size, config, 2) > 0


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
        if _pulses(bgr, work_size, config, turns) > 0:
            return turns
    return 0
