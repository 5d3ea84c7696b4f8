"""The sheet stage: a phone photo of a printout lying on a desk becomes a flat page.

Runs on the decoded image before the gate and the page stage. The sheet is the largest bright,
unsaturated region of the frame (paper under any light is brighter than most desks and less
coloured than wood or cloth), closed over its traces and grid, its outline reduced to four sides:
the four longest sides of its convex hull meet at the corners, so a corner outside the frame or a
finger over an edge does not move them. Where the paper cannot be told from the desk (a white
table), the printed grid's outer frame (pink, a rectangle on the page) is the sheet instead.
The quadrilateral is warped to a flat page of a printout's aspect ratio and turned so that its
calibration pulses stand at the left of the rows (portrait photos, pages upside down).

An image whose sheet already fills the frame (a scan) is returned as the very same array, so
every later stage sees exactly what it saw before this stage existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Landscape printouts are A4 (297/210) or US Letter (11/8.5): a measured aspect near one of them is
# taken as it, since a tilted camera foreshortens one side.
PAPER_ASPECTS = (297 / 210, 11 / 8.5)


@dataclass(frozen=True)
class SheetConfig:
    work_size: int = 640  # px: the sheet is searched on a copy at least this long
    # A corner nearer its frame corner than this (share of the frame's diagonal) is the frame's:
    # a sheet whose four corners are all the frame's is a scan, left as it is.
    frame_corner_tolerance: float = 0.04
    min_area: float = 0.12  # of the frame: a smaller bright patch is not the sheet
    min_solidity: float = 0.8  # the region's area over its quadrilateral's (a sheet is a full quad)
    max_corner_angle: float = 150.0  # degrees: flatter corners are not a sheet's
    aspect_snap: float = 0.2  # relative distance within which an aspect snaps to a paper size
    max_side: int = 2048  # px: long side of the flattened page (later stages work at 1024)
    # Paper all round the frame's edge means a scan: more than edge_paper_share of an edge ring
    # (edge_ring of the frame's long side) scores above edge_paper_level of the frame's brightest paper.
    thumbnail: int = 256
    edge_ring: float = 0.03
    edge_paper_level: float = 0.7
    edge_paper_share: float = 0.97


@dataclass(frozen=True)
class Sheet:
    """The flat page, and where it was found. ``corners`` (top-left, top-right, bottom-right,
    bottom-left of the upright page, in source pixels) is None when the image was taken as it is."""

    image: np.ndarray  # BGR
    corners: np.ndarray | None
    found_by: str  # "frame" (taken as it is), "paper" or "grid"
    quarter_turns: int = 0  # counter-clockwise turns applied after flattening

    @property
    def rectified(self) -> bool:
        return self.corners is not None


def _paper_mask(small: np.ndarray) -> np.ndarray:
    score = cv2.GaussianBlur(_paper_score(small), (5, 5), 0)  # Otsu picks the split for this frame
    _, mask = cv2.threshold(score, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Traces, grid lines and text are dark on the sheet: close them into the paper.
    k = max(3, int(round(0.02 * max(mask.shape))) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))


def _grid_mask(small: np.ndarray) -> np.ndarray:
    pixels = small.astype(np.int16)
    redness = pixels[..., 2] - (pixels[..., 0] + pixels[..., 1]) // 2
    # A pink grid stands out from the paper beside it, whatever the light's colour.
    local = cv2.blur(redness, (31, 31))
    mask = ((redness - local) > 12).astype(np.uint8)
    k = max(3, int(round(0.03 * max(mask.shape))) | 1)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))


def _intersect(p1, p2, p3, p4) -> np.ndarray | None:
    d1, d2 = p2 - p1, p4 - p3
    det = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(det) < 1e-9:
        return None
    t = ((p3[0] - p1[0]) * d2[1] - (p3[1] - p1[1]) * d2[0]) / det
    return p1 + t * d1


def _quad(mask: np.ndarray, config: SheetConfig) -> np.ndarray | None:
    """Four corners (float32, clockwise from the top-left in image terms) of the largest region,
    or None when it is not a plausible sheet."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    if count < 2:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = float(stats[best, cv2.CC_STAT_AREA])
    if area < config.min_area * mask.size:
        return None
    contours, _ = cv2.findContours((labels == best).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    poly = cv2.approxPolyDP(hull, 0.01 * cv2.arcLength(hull, True), True).reshape(-1, 2).astype(np.float64)
    if len(poly) < 4:
        return None
    # The four longest sides, in their order round the hull, meet at the corners (a side cut by
    # the frame or a rounded corner adds short sides, which are dropped).
    sides = [(poly[i], poly[(i + 1) % len(poly)]) for i in range(len(poly))]
    lengths = [float(np.hypot(*(b - a))) for a, b in sides]
    keep = sorted(np.argsort(lengths)[-4:].tolist())
    corners = []
    for i in range(4):
        a, b = sides[keep[i - 1]], sides[keep[i]]
        point = _intersect(a[0], a[1], b[0], b[1])
        if point is None:
            return None
        corners.append(point)
    quad = np.array(corners, np.float32)
    quad_area = cv2.contourArea(quad)
    if quad_area <= 0 or area / quad_area < config.min_solidity:
        return None
    diagonal = float(np.hypot(*mask.shape))
    if np.any(np.abs(quad - quad.mean(axis=0)) > 2 * diagonal):  # corners thrown far out
        return None
    for i in range(4):
        u, v = quad[i - 1] - quad[i], quad[(i + 1) % 4] - quad[i]
        cos = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9))
        if np.degrees(np.arccos(np.clip(cos, -1, 1))) > config.max_corner_angle:
            return None
    return _order(quad)


def _order(quad: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left of the image (not yet the page)."""
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    quad = quad[np.argsort(angles)]  # clockwise on screen (y down), starting anywhere
    start = int(np.argmin(quad.sum(axis=1)))
    return np.roll(quad, -start, axis=0)


def _fills_frame(quad: np.ndarray, shape: tuple[int, int], config: SheetConfig) -> bool:
    height, width = shape
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    tolerance = config.frame_corner_tolerance * float(np.hypot(height, width))
    return bool(np.all(np.hypot(*(quad - frame).T) <= tolerance))


def _flat_size(quad: np.ndarray, config: SheetConfig) -> tuple[int, int]:
    top, bottom = np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])
    left, right = np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    width, height = max(top, bottom), max(left, right)
    long_side, short_side = max(width, height), min(width, height)
    aspect = long_side / max(short_side, 1.0)
    nearest = min(PAPER_ASPECTS, key=lambda a: abs(a - aspect))
    if abs(nearest - aspect) / nearest <= config.aspect_snap:
        aspect = nearest
    long_side = min(long_side, config.max_side)
    short_side = long_side / aspect
    if width >= height:
        return int(round(long_side)), int(round(short_side))
    return int(round(short_side)), int(round(long_side))


def _shrunk(bgr: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """A copy whose long side is at least ``size``, by an integer factor (OpenCV's fast area path: a
    fractional one cost 14 ms on a 2213 px scan, against 3), and the scale applied."""
    factor = max(1, max(bgr.shape[:2]) // size)
    if factor == 1:
        return bgr, 1.0
    return cv2.resize(bgr, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA), 1 / factor


def _paper_score(bgr: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    # Warm light tints paper yellow, but much less than it saturates wood or cloth: brightness less
    # half the saturation separates paper from most desks whatever the light's colour.
    return np.clip(hsv[..., 2].astype(np.int16) - hsv[..., 1].astype(np.int16) // 2, 0, 255).astype(np.uint8)


def _paper_to_the_edges(bgr: np.ndarray, config: SheetConfig) -> bool:
    """Whether paper runs all round the frame's edge (a scan, or a sheet cropped by the frame): then
    there is no sheet to find in it. Cheap, on a thumbnail, so that scans pay next to nothing."""
    score = _paper_score(_shrunk(bgr, config.thumbnail)[0])
    ring = max(2, int(round(config.edge_ring * max(score.shape))))
    edge = np.concatenate(
        [score[:ring].ravel(), score[-ring:].ravel(), score[:, :ring].ravel(), score[:, -ring:].ravel()]
    )
    level = config.edge_paper_level * float(np.percentile(score, 99))
    return bool(np.mean(edge > level) >= config.edge_paper_share)


def find_quad(bgr: np.ndarray, config: SheetConfig = SheetConfig()) -> tuple[np.ndarray | None, str]:
    """The sheet's four corners in source pixels and how they were found ("paper" or "grid"), or
    (None, "frame") when the sheet fills the frame or none is found."""
    if _paper_to_the_edges(bgr, config):
        return None, "frame"
    small, scale = _shrunk(bgr, config.work_size)
    for found_by, make_mask in (("paper", _paper_mask), ("grid", _grid_mask)):
        quad = _quad(make_mask(small), config)
        if quad is None:
            continue
        if _fills_frame(quad, small.shape[:2], config):
            return None, "frame"
        return quad / scale, found_by
    return None, "frame"


def flatten(bgr: np.ndarray, quad: np.ndarray, config: SheetConfig = SheetConfig()) -> np.ndarray:
    """The quadrilateral ``quad`` (source px, clockwise from top-left) warped to a flat page."""
    width, height = _flat_size(quad, config)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    return cv2.warpPerspective(bgr, matrix, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def find_sheet(bgr: np.ndarray, config: SheetConfig = SheetConfig(), upright=None) -> Sheet:
    """The flat page of a photo (or the image itself when it is one already). ``upright``, when
    given, is a function from a BGR page to the number of counter-clockwise quarter turns that
    stand it upright (edge.orientation), applied to flattened pages only."""
    quad, found_by = find_quad(bgr, config)
    if quad is None:
        return Sheet(bgr, None, "frame")
    page = flatten(bgr, quad, config)
    turns = 0
    if page.shape[0] > page.shape[1]:  # printouts are landscape: a portrait page lies on its side
        page = np.ascontiguousarray(np.rot90(page, 1))
        turns = 1
    if upright is not None:
        more = upright(page)
        if more:
            page = np.ascontiguousarray(np.rot90(page, more))
            turns = (turns + more) % 4
    corners = np.roll(quad, -turns, axis=0) if turns else quad  # the upright page's top-left first
    return Sheet(page, corners.astype(np.float32), found_by, turns)
