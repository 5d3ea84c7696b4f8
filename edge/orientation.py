"""Which way up a flattened page is: its calibration pulses stand at the left of the rows, rising
from the baseline, only when it is upright (turned half way they hang from the right end)."""

from __future__ import annotations

import numpy as np

from edge.layout import find_layout
from edge.leads import LayoutError, LeadConfig
from edge.page import read_page
from edge.signals import find_pulse_heights


def _pulses(bgr: np.ndarray, work_size: int, config: LeadConfig) -> int:
    page = read_page(bgr, work_size, config)
    try:
        layout = find_layout(page, config)
    except LayoutError:
        return -1
    return len(find_pulse_heights(page, layout, layout.px_per_second))


def half_turns(bgr: np.ndarray, work_size: int = 1024, config: LeadConfig | None = None) -> int:
    """2 when the landscape page ``bgr`` is upside down (more pulses found that way), else 0."""
    config = config or LeadConfig()
    upright = _pulses(bgr, work_size, config)
    if upright > 0:
        return 0
    turned = _pulses(np.ascontiguousarray(bgr[::-1, ::-1]), work_size, config)
    return 2 if turned > upright else 0
