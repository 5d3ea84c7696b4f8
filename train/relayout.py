"""Synthetic printouts in other layouts, made from held-out 3x4 scans: the test set for layouts
this data set does not contain (6 rows x 2 columns, with or without a rhythm strip, with or
without the grid), and re-layout augmentation.

The lead panels are cut by the data set's known geometry (columns between the lead-switch markers
measured on its pages, rows of the grid box found by colour, then the rhythm strip), not by
edge.leads, so that tests of the lead finder do
not grade it against itself. A 6x2 column holds 5 s of a lead and a 3x4 panel only 2.5 s, so each
6x2 cell shows the panel twice, at the same paper speed and gain as the original.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from edge.preprocess import PreprocessConfig, locate_grid

GRID_RED_THRESHOLD = 12
# Where the 2.5 s columns of this device's 3x4 pages lie, as shares of the page width: the first
# starts after the calibration pulse and lead name, the next ones at the lead-switch markers
# (measured at x = 75.5, 321.5, 567.5, 813.5 of 1106 px, identical on every page checked).
COLUMN_START = 75.5 / 1106
COLUMN_WIDTH = 246.0 / 1106


def remove_grid(bgr: np.ndarray) -> np.ndarray:
    """White out grid-coloured pixels (red well above green and blue): a plain-paper printout."""
    p = bgr.astype(np.int16)
    grid = (p[..., 2] - (p[..., 0] + p[..., 1]) // 2) > GRID_RED_THRESHOLD
    out = bgr.copy()
    out[grid] = 255
    return out


def _panels(bgr: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The 12 panels of a 3x4 scan in lead order I..V6 and the rhythm strip."""
    box = locate_grid(bgr, PreprocessConfig())
    y0, y1 = (0, bgr.shape[0]) if box is None else (box.y0, box.y1)
    row_h = (y1 - y0) // 4
    col_w = int(round(COLUMN_WIDTH * bgr.shape[1]))
    x0 = int(round(COLUMN_START * bgr.shape[1]))
    panels = [
        bgr[y0 + r * row_h : y0 + (r + 1) * row_h, x0 + c * col_w : x0 + (c + 1) * col_w]
        for c in range(4)
        for r in range(3)
    ]
    return panels, bgr[y0 + 3 * row_h : y1, x0 : x0 + 4 * col_w]


def _header(width: int, height: int, text: str) -> np.ndarray:
    header = np.full((height, width, 3), 255, np.uint8)
    scale = height / 120
    cv2.putText(header, text, (int(20 * scale), int(height * 0.6)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 2)
    return header


def relayout_6x2(bgr: np.ndarray, rhythm: bool = True, interpretation: str = "") -> np.ndarray:
    """A 3x4 scan re-arranged as 6 rows x 2 columns (I-aVF left, V1-V6 right, 5 s cells), under a
    header that may print a machine interpretation, with the original rhythm strip below or none."""
    panels, strip = _panels(bgr)
    cells = [np.hstack([p, p]) for p in panels]
    left, right = np.vstack(cells[:6]), np.vstack(cells[6:])
    body = np.hstack([left, right[: left.shape[0]]])
    parts = [_header(body.shape[1], max(40, body.shape[0] // 8), "ECG REPORT " + interpretation), body]
    if rhythm:
        parts.append(cv2.resize(strip, (body.shape[1], strip.shape[0])))
    return np.vstack(parts)


@dataclass(frozen=True)
class Layout:
    name: str  # what --layout takes
    description: str
    make: Callable[[np.ndarray], np.ndarray]  # 3x4 scan (BGR) -> the printout in this layout


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("3x4", "3x4 + rhythm on the grid (the data set's own layout)", lambda s: s),
        Layout("3x4-nogrid", "3x4 + rhythm, no grid", remove_grid),
        Layout("6x2-rhythm", "6x2 + rhythm on the grid", relayout_6x2),
        Layout("6x2-rhythm-nogrid", "6x2 + rhythm, no grid", lambda s: remove_grid(relayout_6x2(s))),
        Layout(
            "6x2-text",
            "6x2 on the grid, machine interpretation printed in the header",
            lambda s: relayout_6x2(s, rhythm=False, interpretation="SINUS RHYTHM. NORMAL ECG"),
        ),
        Layout("6x2-nogrid", "6x2, no rhythm, no grid", lambda s: remove_grid(relayout_6x2(s, rhythm=False))),
    )
}
AS_SCANNED = "3x4"  # the layout that leaves a scan as it is
OTHER_LAYOUTS = {name: layout for name, layout in LAYOUTS.items() if name != AS_SCANNED}
