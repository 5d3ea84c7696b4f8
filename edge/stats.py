"""Small statistics done the cheap way. The digitizer and the lead finder take a median or a line
through a few hundred values per lead and per stroke, dozens of times a scan; numpy's median
(a partition) and polyfit (a least-squares solve) spend most of their ~40-80 us in Python, holding
the GIL that a folder pass's worker threads share."""

from __future__ import annotations

import numpy as np


def median_count(values: np.ndarray) -> float:
    """np.median of non-negative integers, exactly (the two middle values averaged), by counting;
    NaN for none, as np.median."""
    if not values.size:
        return float("nan")
    counts = np.cumsum(np.bincount(values))
    lower = int(np.searchsorted(counts, (values.size - 1) // 2, side="right"))
    upper = int(np.searchsorted(counts, values.size // 2, side="right"))
    return (lower + upper) / 2


def line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the least-squares line through (x, y): np.polyfit(x, y, 1) in closed
    form (the same line to rounding, ~1e-12). Where every x is the same there is no slope: a level
    line through the mean (polyfit warns and gives some line; any line is level across one x)."""
    x_mean, y_mean = float(x.mean()), float(y.mean())
    dx = x - x_mean
    spread = float(np.dot(dx, dx))
    if spread == 0:
        return 0.0, y_mean
    slope = float(np.dot(dx, y - y_mean)) / spread
    return slope, y_mean - slope * x_mean
