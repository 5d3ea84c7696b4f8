"""Straighten a page photographed at a slant, so that its trace rows run horizontally again.

The angle is the one at which the ink's row profile is sharpest (traces, text lines and grid
lines then fall into few rows): a projection-profile search, coarse then fine, on a small copy of
the ink. Pages within ``min_degrees`` of level are returned untouched, so a straight scan gives
exactly the input it gave before this step existed.
"""

from __future__ import annotations

import cv2
import numpy as np

SEARCH_WIDTH = 256  # px: the ink is searched at this width (0.1 degree steps still resolve at it)
FINE_REACH = 0.4  # degrees either side of the coarse search's best that the fine search tries


def _sharpness(ink: np.ndarray, degrees: float) -> float:
    h, w = ink.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    rotated = cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    profile = rotated.sum(axis=1)
    return float(np.dot(profile, profile))


def skew_angle(ink: np.ndarray, max_degrees: float, level_below: float = 0.0) -> float:
    """Degrees (counter-clockwise, OpenCV's convention) that level the ink (0/1 uint8 mask). With
    ``level_below``: where the coarse search already puts every angle the fine one could give
    below it, that coarse angle (the caller treats them all as level; a scan is ~0.9 ms faster)."""
    scale = SEARCH_WIDTH / ink.shape[1]
    small = cv2.resize(ink.astype(np.float32), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    coarse = np.arange(-max_degrees, max_degrees + 1e-9, 0.5)
    best = max(coarse, key=lambda a: _sharpness(small, a))
    if abs(best) + FINE_REACH + 0.01 < level_below:
        return float(best)
    fine = np.arange(best - FINE_REACH, best + FINE_REACH + 0.01, 0.1)
    return float(max(fine, key=lambda a: _sharpness(small, a)))


def level(gray: np.ndarray, ink: np.ndarray, max_degrees: float, min_degrees: float) -> tuple[np.ndarray, float]:
    """``gray`` rotated level (paper-white corners) and the angle used; unchanged below
    ``min_degrees`` or when ``max_degrees`` is 0."""
    if max_degrees <= 0 or min(gray.shape) < 32:  # nothing to level on a sliver of an image
        return gray, 0.0
    angle = skew_angle(ink, max_degrees, level_below=min_degrees)
    if abs(angle) < min_degrees:
        return gray, 0.0
    return rotate(gray, angle), angle


def rotate(gray: np.ndarray, angle: float) -> np.ndarray:
    """``gray`` turned ``angle`` degrees about its centre (paper-white where nothing was)."""
    h, w = gray.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(gray, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
