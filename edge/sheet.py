"""The sheet stage: a phone photo of a printout lying on a desk becomes a flat page.

Runs on the decoded image before the gate and the page stage. The sheet is the largest bright,
unsaturated region of the frame (paper under any light is brighter than most desks and less
coloured than wood or cloth), closed over its traces and grid. A first guess at its corners comes
from the region's core; then each side is the gentle curve through most outline points near it
(RANSAC: a bent sheet's sides bow; bits of desk stuck to it, a finger over an edge or a side
beyond the frame do not pull it), refined at the photo's own resolution. Each side must be an edge
(paper on one side, darker desk on the other), which is how a region that spilled over a pale
desk is told from a sheet. The quadrilateral is warped to a flat page whose aspect ratio is
solved from the perspective, a bend is undone by following the sheet's bowed top and bottom
edges, and the page is turned so that its calibration pulses stand at the left of the rows
(portrait photos, pages upside down; edge.orientation).

An image whose sheet already fills the frame (a scan) is returned as the very same array, so
every later stage sees exactly what it saw before this stage existed.

Where the paper is about as pale as the desk (a white table) or the desk has paper-white patches
(checked cloth), the pale region is not the sheet. A second search starts from the printed ECG
traces instead and goes outwards: the sheet's edge is where the paper ends in a drop to something
that stays darker (SheetConfig.content_search). Where both searches find a quad and disagree, the
one whose sides are the clearer paper-to-desk steps wins. A white table that reaches all round the
frame's edge still looks like a scan and is read as it is.

Where neither search finds the sheet (one side of a sheet on a white table shows no step at all, a
cloth's checks or a shadow run along a side), the printed grid's outer frame places the page: on
this device's printouts (the shared data set's) a pink line round the grid, far stronger than the
grid's dots, at a known place on the page (GRID_FRAME; SheetConfig.grid_frame). Its four sides are
found from the traces outwards, refined at the photo's resolution, and the page's corners follow
from where the frame sits on a flat page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge.components import components
from edge.page import turned

# Landscape printouts are A4 (297/210) or US Letter (11/8.5): an aspect found near one of them is
# taken as it.
PAPER_ASPECTS = (297 / 210, 11 / 8.5)
# A phone's main camera: focal length about 0.75 of the frame's long side (a 26 mm equivalent lens).
PHONE_FOCAL = 0.75
RANSAC_DRAWS = 120  # per side
# Where the device of the shared data set prints its grid's outer frame: the centres of its lines as
# shares of the page's width and height (x 69.5 and 2175.5 of 2213 px, y 284.5 and 1516.5 of 1572,
# the same on all 8 full-resolution originals), and the page's own aspect.
GRID_FRAME = (69.5 / 2213, 284.5 / 1572, 2175.5 / 2213, 1516.5 / 1572)
GRID_PAGE_ASPECT = 2213 / 1572
PINK_FLOOR = 32  # of 255: see _pinkness


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
    solved_aspect_snap: float = 0.04  # the same, for an aspect solved from the perspective
    # Each side of the sheet is an edge: the paper edge_offset (of the frame's diagonal) inside it
    # scores edge_contrast grey levels above the desk as far outside it.
    edge_offset: float = 0.01
    edge_contrast: int = 12
    edge_share: float = 0.6
    min_bow: float = 0.001  # of the page height: an edge sagging less than this from its chord is straight
    piece_gap: float = 0.1  # of the search copy's long side: pieces of paper this close are one sheet
    core_opening: float = 0.08  # of the search copy's long side (see _quad)
    max_side: int = 2048  # px: long side of the flattened page (later stages work at 1024)
    min_frame_side: int = 32  # px: a thinner image holds no sheet to look for
    thumbnail: int = 256  # px: the edge-ring test below runs on a copy at least this long
    # The second search, from the printed content outwards (_content_quad): where the paper is as pale
    # as the desk (a white table) or the desk has paper-white patches (checked cloth), the region
    # above fails. From the traces' hull, rays go out across each side; along each, the sheet's edge
    # is the first sharp drop (content_drop grey levels below the paper just outside the traces, within
    # 5 px) after which the next content_desk_run px stay content_desk_fall below that paper: text,
    # rules and the grid's frame are thin and the paper returns after them; a desk does not.
    # Shaded paper (_with_shaded_paper): at most this much more saturated than the paper's 90th
    # percentile, and at least this share of its median brightness.
    shade_saturation: int = 25
    shade_level: float = 0.3
    content_search: bool = True
    content_drop: int = 20
    content_desk_fall: float = 0.03
    content_desk_run: int = 21
    content_reach: float = 0.35  # of the search copy's long side: how far out of the traces an edge may lie
    content_rays: int = 48  # per side
    # A quad from either search is judged by its sides: the median step from the paper just inside to
    # the brightest of the desk just outside (thin printed lines do not count as desk). Where the two
    # searches disagree, the content one must have the clearer edges by this many grey levels.
    content_margin: float = 4.0
    # ...or, where the desk has paper-white patches (checked cloth), when on every side judged (three
    # or four) at least this share of the rays steps edge_contrast below the paper (to the desk's
    # median just outside).
    content_edge_share: float = 0.45
    content_skip: float = 30.0  # a pale region whose sides step this clearly needs no second search...
    trace_slack: float = 0.015  # ...unless a corner of the traces' hull lies further outside it (of the diagonal)
    # Paper all round the frame's edge is a scan unless the traces' hull covers less than this share of
    # the frame (the shared scans: 0.75 and more; white-table photos of a sheet filling 60%: 0.43-0.60).
    content_scan_cover: float = 0.65
    # Paper all round the frame's edge means a scan: more than edge_paper_share of an edge ring
    # (edge_ring of the frame's long side) scores above edge_paper_level of the frame's brightest paper.
    edge_ring: float = 0.03
    edge_paper_level: float = 0.7
    edge_paper_share: float = 0.97
    # The third search, when neither finds the sheet: the grid's frame (GRID_FRAME). frame_rays rays
    # from the traces' middle outwards take the first thin pink line: pinker by frame_min_line (of
    # 255) than the copy frame_line_px px before and after it, and by half the typical such line on
    # the rays. Each side must run along a line over frame_support of its length. (A grid printed in
    # lines has no such frame: the first line out is a cell's, too small a quad to be a page's frame.)
    grid_frame: bool = True
    frame_reach: float = 0.6  # of the search copy's diagonal: how far from the traces' middle
    frame_rays: int = 192
    frame_line_px: int = 3
    frame_min_line: float = 4.0
    frame_support: float = 0.7
    # A quad found by either search stands where the frame puts every corner within this share of
    # the search copy's diagonal of its own.
    frame_agreement: float = 0.02


@dataclass(frozen=True)
class Sheet:
    """The flat page, and where it was found. ``corners`` (top-left, top-right, bottom-right,
    bottom-left of the upright page, in source pixels) is None when the image was taken as it is;
    ``image`` is then the caller's own array, not a copy."""

    image: np.ndarray  # BGR
    corners: np.ndarray | None
    # "frame" (taken as it is), "paper" (the pale region), "content" (out from the traces), "grid"
    # (the printed grid's frame) or "rows" (a photo the page fills, straightened: edge.keystone)
    found_by: str
    quarter_turns: int = 0  # counter-clockwise turns applied after flattening
    # A flattened landscape page whose half turn is left to be judged on its lead rows, once they
    # are read (edge.pipeline.settle_half_turn), as a scan's is: see find_sheet's half_turn_later.
    half_turn_open: bool = False

    @property
    def rectified(self) -> bool:
        return self.corners is not None

    @property
    def taken(self) -> str:
        """How the page shown was taken from a rectified photo, in words (app, CLI, PDF)."""
        if self.found_by == "rows":  # edge.keystone
            return "the photo, taken at a slant, straightened by its lead rows and markers"
        return "the sheet found in the photo and flattened"


def _paper_mask(score: np.ndarray) -> np.ndarray:
    """The paper of a search copy, from its ``_paper_score``."""
    blurred = cv2.GaussianBlur(score, (5, 5), 0)  # Otsu picks the split for this frame
    _, mask = cv2.threshold(blurred, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = _close_ink(mask)
    # Opening with a kernel larger than a cloth's check or a highlight cuts the bridges by which pale
    # patches of the desk join the sheet; the sheet's straight sides survive it.
    k = max(3, int(round(0.04 * max(mask.shape))) | 1)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))


def _close_ink(mask: np.ndarray) -> np.ndarray:
    """Traces, grid lines and text are dark on the sheet: closed into the paper."""
    k = max(3, int(round(0.02 * max(mask.shape))) | 1)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))


def _with_shaded_paper(
    mask: np.ndarray, small: np.ndarray, config: SheetConfig
) -> tuple[np.ndarray, tuple[int, np.ndarray, np.ndarray] | None]:
    """``mask`` with the shaded paper between its large pieces: a hard shadow across the sheet (a
    phone's, a hand's) darkens the paper but leaves its colour, and cuts the pale region in two.
    Pixels as unsaturated as the paper and at least ``shade_level`` of its brightness, inside the
    hull of the pieces, join them (a desk between two pale things is coloured, or darker). A shadow
    that only bites into one side is left to the search from the traces, which placed such corners
    within a pixel where the filled region's were 27 px off. With the mask, its 4-connected
    components when it came back unchanged (_quad's own first step), else None."""
    count, labels, stats = found = components(mask, connectivity=4)
    if count < 3:
        return mask, found
    areas = stats[1:, cv2.CC_STAT_AREA]
    large = 1 + np.flatnonzero(areas >= 0.1 * areas.max())
    if large.size < 2:
        return mask, found
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    paper = mask > 0
    saturation = _percentile(hsv, 90, paper, channel=1) + config.shade_saturation
    level = config.shade_level * _percentile(hsv, 50, paper, channel=2)
    chosen = np.zeros(count, np.uint8)
    chosen[large] = 1
    # The hull of the pieces' outlines is theirs (a convex hull's corners lie on the outline), at a
    # fraction of the points.
    outlines, _ = cv2.findContours(chosen[labels], cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros_like(mask)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.concatenate(outlines)), 1)
    shaded = (hsv[..., 1] <= saturation) & (hsv[..., 2] >= level) & (hull > 0)
    return _close_ink((paper | shaded).astype(mask.dtype)), None  # dark in the shade too


def _inward_normal(a: np.ndarray, b: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Unit normal of the side from ``a`` to ``b``, pointing into the quadrilateral around ``centre``."""
    unit = (b - a) / max(float(np.hypot(*(b - a))), 1e-9)
    normal = np.array([-unit[1], unit[0]])
    return normal if np.dot(centre - a, normal) >= 0 else -normal


def _sides_on_edges(quad: np.ndarray, score: np.ndarray, config: SheetConfig) -> bool:
    """Whether every side of the quadrilateral that lies inside the frame runs along an edge of the
    paper: paper just inside it, clearly brighter than the desk just outside. A region that spilled
    over a pale desk (a white table) has a side across the desk, with desk on both sides."""
    height, width = score.shape
    step = config.edge_offset * float(np.hypot(height, width))
    centre = quad.mean(axis=0)
    unseen = 0
    for i in range(4):
        a, b = quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64)
        t = np.linspace(0.1, 0.9, 25)[:, None]
        along = a + t * (b - a)
        normal = _inward_normal(a, b, centre)
        inner, outer = along + step * normal, along - step * normal
        ok = (
            (outer[:, 0] >= 0) & (outer[:, 0] < width) & (outer[:, 1] >= 0) & (outer[:, 1] < height)
            & (inner[:, 0] >= 0) & (inner[:, 0] < width) & (inner[:, 1] >= 0) & (inner[:, 1] < height)
        )  # fmt: skip
        if ok.sum() < 5:  # the side lies along or beyond the frame's edge: nothing to check
            unseen += 1
            continue
        inside = score[inner[ok, 1].astype(int), inner[ok, 0].astype(int)].astype(np.int16)
        outside = score[outer[ok, 1].astype(int), outer[ok, 0].astype(int)].astype(np.int16)
        # Most of the side, not all: a finger or a shadow may lie over part of it.
        if float(np.mean(inside - outside >= config.edge_contrast)) < config.edge_share:
            return False
    return unseen <= 1  # a sheet with two sides beyond the frame is not one we can place


def _intersect(p1, p2, p3, p4) -> np.ndarray | None:
    d1, d2 = p2 - p1, p4 - p3
    det = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(det) < 1e-9:
        return None
    t = ((p3[0] - p1[0]) * d2[1] - (p3[1] - p1[1]) * d2[0]) / det
    return p1 + t * d1


def _hull_quad(contour: np.ndarray) -> np.ndarray | None:
    """A first guess: the four longest sides of the region's convex hull, in their order round it,
    meet at the corners (a side cut by the frame or a rounded corner adds short sides, dropped)."""
    hull = cv2.convexHull(contour.reshape(-1, 1, 2).astype(np.float32))
    poly = cv2.approxPolyDP(hull, 0.01 * cv2.arcLength(hull, True), True).reshape(-1, 2).astype(np.float64)
    if len(poly) < 4:
        return None
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
    return _order(np.array(corners, np.float32))


def _side_inliers(
    points: np.ndarray, a: np.ndarray, b: np.ndarray, reach: float, tolerance: float, rng: np.random.Generator
) -> np.ndarray | None:
    """Outline points that lie on the side from ``a`` to ``b``: of those within ``reach`` px of it,
    the most that one gentle curve (a quadratic of the share along the side: a bent sheet's side
    bows) passes within ``tolerance`` px of (RANSAC). Bits of desk stuck to the sheet, a finger
    over the edge or a cloth's pale checks are the others."""
    length = float(np.hypot(*(b - a)))
    if length < 1:
        return None
    unit = (b - a) / length
    rel = points - a
    share, offset = rel @ unit / length, rel @ np.array([-unit[1], unit[0]])
    near = (np.abs(offset) < reach) & (share > 0.03) & (share < 0.97)
    share, offset, candidates = share[near], offset[near], points[near]
    if len(share) < 12:
        return None
    # All draws at once: three points each (a draw that repeats a point is dropped with the ill-posed
    # ones below), solved for the quadratic through them.
    picks = rng.integers(0, len(share), size=(RANSAC_DRAWS, 3))
    s, o = share[picks], offset[picks]
    gaps = np.diff(np.sort(s, axis=1), axis=1)
    spread = (np.ptp(s, axis=1) >= 0.2) & (gaps.min(axis=1) >= 0.02)  # a solvable, well-posed draw
    picks, s, o = picks[spread], s[spread], o[spread]
    if not len(picks):
        return None
    coef = np.linalg.solve(np.stack([s**2, s, np.ones_like(s)], axis=-1), o[..., None])[..., 0]
    coef = coef[np.abs(coef[:, 0]) <= 0.1 * length]  # bowing more than a sheet on a desk does is not one
    if not len(coef):
        return None
    # coef0 * share^2 + coef1 * share + coef2 - offset, summed in that order, without temporaries
    fitted = coef[:, :1] * (share**2)[None, :]
    fitted += coef[:, 1:2] * share[None, :]
    fitted += coef[:, 2:]
    fitted -= offset[None, :]
    inliers = np.abs(fitted, out=fitted) < tolerance
    best = inliers[int(np.argmax(inliers.sum(axis=1)))]
    if best.sum() < 12 or np.ptp(share[best]) < 0.5:
        return None
    return candidates[best]


@dataclass(frozen=True)
class _Side:
    """A side of the sheet: a gentle curve, its offset across the straight line from ``a`` (px,
    towards the left-hand normal) a quadratic of the share along it (a bent sheet's sides bow)."""

    a: np.ndarray
    unit: np.ndarray
    length: float
    coef: np.ndarray  # (3,): offset = polyval(coef, share)

    @classmethod
    def fit(cls, points: np.ndarray, a: np.ndarray, b: np.ndarray) -> _Side:
        length = float(np.hypot(*(b - a)))
        unit = (b - a) / length
        rel = points - a
        share, offset = rel @ unit / length, rel @ np.array([-unit[1], unit[0]])
        degree = 2 if len(points) >= 12 and np.ptp(share) >= 0.5 else 1
        coef = np.zeros(3)
        coef[3 - degree - 1 :] = np.polyfit(share, offset, degree)
        return cls(a, unit, length, coef)

    @classmethod
    def straight(cls, a: np.ndarray, b: np.ndarray) -> _Side:
        length = float(np.hypot(*(b - a)))
        return cls(a, (b - a) / max(length, 1e-9), length, np.zeros(3))  # a side of no length: no direction

    def onto(self, point: np.ndarray) -> np.ndarray:
        """``point`` (or an (n, 2) array of points) moved across the side onto its curve."""
        if point.ndim == 1 and self.length > 0:  # one point, in plain floats: _corners moves each corner ~14 times
            (ax, ay), (ux, uy), (c2, c1, c0) = self.a.tolist(), self.unit.tolist(), self.coef.tolist()
            share = ((float(point[0]) - ax) * ux + (float(point[1]) - ay) * uy) / self.length
            across = (c2 * share + c1) * share + c0  # np.polyval's order
            along = share * self.length
            return np.array([ax + along * ux - across * uy, ay + along * uy + across * ux])
        share = ((point - self.a) @ self.unit) / self.length
        normal = np.array([-self.unit[1], self.unit[0]])
        along = self.a + np.multiply.outer(share * self.length, self.unit)
        return along + np.multiply.outer(np.polyval(self.coef, share), normal)


def _corners(sides: list[_Side]) -> np.ndarray | None:
    """Where consecutive sides meet: from where their chords cross, moved onto one curve and the
    other in turn (they cross nearly at right angles, so a few turns settle it)."""
    corners = []
    for i in range(4):
        first, second = sides[i - 1], sides[i]
        chords = [(s.onto(s.a), s.onto(s.a + s.length * s.unit)) for s in (first, second)]
        point = _intersect(*chords[0], *chords[1])
        if point is None:
            return None
        for _ in range(6):
            point = second.onto(first.onto(point))
        corners.append(point)
    return np.array(corners, np.float32)


def _fit_sides(quad: np.ndarray, points: np.ndarray, reach: float, tolerance: float) -> tuple | None:
    """The quad refitted to the outline, side by side (``_side_inliers``), with the points on its
    sides; None when a side is not found."""
    rng = np.random.default_rng(0)  # the same photo gives the same page
    sides, kept = [], []
    for i in range(4):
        a, b = quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64)
        inliers = _side_inliers(points, a, b, reach, tolerance, rng)
        if inliers is None:  # a side hidden beyond the frame's edge: keep the guess (the frame's edge)
            sides.append(_Side.straight(a, b))
            continue
        sides.append(_Side.fit(inliers, a, b))
        kept.append(inliers)
    if len(kept) < 3:
        return None
    corners = _corners(sides)
    return None if corners is None else (corners, np.concatenate(kept))


def _quad(
    mask: np.ndarray, config: SheetConfig, found: tuple[int, np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Four corners (float32, clockwise from the top-left in image terms) of the largest region and
    its outline where the frame does not cut it, or None when it is not a plausible sheet.
    ``found``: the mask's 4-connected components, when already labelled."""
    count, labels, stats = found if found is not None else components(mask, connectivity=4)
    if count < 2:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = float(stats[best, cv2.CC_STAT_AREA])
    if area < config.min_area * mask.size:
        return None
    region = (labels == best).astype(np.uint8)
    # A hard shadow across the sheet cuts the paper in pieces: large pieces next to the largest are
    # the same sheet.
    k = max(3, int(round(config.piece_gap * max(mask.shape))) | 1)
    reach = cv2.dilate(region, np.ones((k, k), np.uint8))
    for i in range(1, count):
        if i != best and stats[i, cv2.CC_STAT_AREA] >= 0.1 * area and reach[labels == i].any():
            region[labels == i] = 1
            area += float(stats[i, cv2.CC_STAT_AREA])
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    # The first guess comes from the region's core: opened with a kernel wider than a stripe or a
    # check of cloth stuck to the sheet's side, whose hull would otherwise pull the sides outwards.
    k = max(3, int(round(config.core_opening * max(mask.shape))) | 1)
    core = cv2.morphologyEx(region, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))  # square: separable, fast
    core_contours, _ = cv2.findContours(core, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not core_contours:
        return None
    quad = _hull_quad(max(core_contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64))
    if quad is None:
        return None
    height, width = mask.shape
    # Where the region meets the frame's edge, the frame cut it: that is not the sheet's side.
    inside = (outline[:, 0] > 1) & (outline[:, 1] > 1) & (outline[:, 0] < width - 2) & (outline[:, 1] < height - 2)
    diagonal = float(np.hypot(height, width))
    on_sides = outline[inside]
    for reach in (0.04, 0.015):
        refitted = _fit_sides(quad, outline[inside], reach * diagonal, tolerance=1.5)
        if refitted is None:
            break
        quad, on_sides = refitted
    quad_area = cv2.contourArea(quad)
    if quad_area <= 0 or area / quad_area < config.min_solidity:
        return None
    return (quad, on_sides) if _plausible_corners(quad, diagonal, config) else None


def _plausible_corners(quad: np.ndarray, diagonal: float, config: SheetConfig) -> bool:
    """No corner thrown far out and none flatter than a sheet's (max_corner_angle)."""
    if np.any(np.abs(quad - quad.mean(axis=0)) > 2 * diagonal):
        return False
    for i in range(4):
        u, v = quad[i - 1] - quad[i], quad[(i + 1) % 4] - quad[i]
        cos = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9))
        if np.degrees(np.arccos(np.clip(cos, -1, 1))) > config.max_corner_angle:
            return False
    return True


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


def _true_aspect(quad: np.ndarray, centre: np.ndarray) -> float | None:
    """Width over height of the rectangle the quadrilateral (TL, TR, BR, BL) images, for a camera
    whose principal point is the frame's centre and whose focal length is solved from the
    quadrilateral itself (Zhang and He, whiteboard rectification). The sides' lengths in the photo
    do not tell it: a tilted camera foreshortens one pair (a 15 degree tilt made A4 look like US
    Letter, 9% off in millivolts). None when it cannot be solved."""
    m1, m2, m4, m3 = (np.array([x - centre[0], y - centre[1], 1.0]) for x, y in quad)
    k2 = np.dot(np.cross(m1, m4), m3) / np.dot(np.cross(m2, m4), m3)
    k3 = np.dot(np.cross(m1, m4), m2) / np.dot(np.cross(m3, m4), m2)
    n2, n3 = k2 * m2 - m1, k3 * m3 - m1
    # With a pair of sides (nearly) parallel in the photo (the camera tilted straight along the
    # sheet) the focal length cannot be solved, or a pixel changes it wildly: a phone's main camera
    # is then assumed.
    assumed = (PHONE_FOCAL * 2 * float(max(centre))) ** 2
    f2 = -1.0
    if min(abs(n2[2]), abs(n3[2])) > 0.05:
        f2 = -(n2[0] * n3[0] + n2[1] * n3[1]) / (n2[2] * n3[2])
    if not 0.2 * assumed <= f2 <= 5 * assumed:
        f2 = assumed
    ratio = ((n2[0] ** 2 + n2[1] ** 2) / f2 + n2[2] ** 2) / ((n3[0] ** 2 + n3[1] ** 2) / f2 + n3[2] ** 2)
    return float(np.sqrt(ratio)) if ratio > 0 else None


def _flat_size(quad: np.ndarray, config: SheetConfig, centre: np.ndarray | None = None) -> tuple[int, int]:
    top, bottom = np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])
    left, right = np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    width, height = max(top, bottom), max(left, right)
    solved = _true_aspect(quad, centre) if centre is not None else None
    if solved is not None and 0.4 < solved < 2.5:
        snap = config.solved_aspect_snap
    else:  # no perspective to solve from: the sides as they look
        solved, snap = width / max(height, 1.0), config.aspect_snap
    landscape = solved >= 1.0
    aspect = solved if landscape else 1.0 / solved
    nearest = min(PAPER_ASPECTS, key=lambda a: abs(a - aspect))
    if abs(nearest - aspect) / nearest <= snap:
        aspect = nearest
    long_side = min(max(width, height), config.max_side)
    short_side = long_side / aspect
    if landscape:
        return int(round(long_side)), int(round(short_side))
    return int(round(short_side)), int(round(long_side))


def _shrink_factor(shape: tuple[int, ...], size: int) -> int:
    return max(1, min(max(shape[:2]) // size, min(shape[:2]) // 8))  # never a side under 8 px


def _shrunk(bgr: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """A copy whose long side is at least ``size``, by an integer factor (OpenCV's fast area path: a
    fractional one cost 14 ms on a 2213 px scan, against 3), and the scale applied."""
    factor = _shrink_factor(bgr.shape, size)
    if factor == 1:
        return bgr, 1.0
    return cv2.resize(bgr, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA), 1 / factor


def _thumbnail(small: np.ndarray, scale: float, shape: tuple[int, ...], size: int) -> np.ndarray:
    """The copy _shrunk(image, size) makes of an image of ``shape`` (the same size; its averages to
    a grey level), made from _shrunk's larger copy ``small`` (at ``scale``) so that a photo is read
    once, not twice (~3 ms of a 3 MP photo on one core)."""
    factor = _shrink_factor(shape, size)
    further = factor * scale
    if further <= 1.0:
        return small
    if abs(further - round(further)) < 1e-9:  # a whole number: OpenCV's fast path, as _shrunk's
        return cv2.resize(small, None, fx=1 / round(further), fy=1 / round(further), interpolation=cv2.INTER_AREA)
    target = (int(round(shape[1] / factor)), int(round(shape[0] / factor)))
    return cv2.resize(small, target, interpolation=cv2.INTER_AREA)


def _pinkness(bgr: np.ndarray, green_gain: float = 1.0) -> np.ndarray:
    """How much redder than green each pixel is, relative to its red (float32, 0 where it is not
    redder), green first scaled by ``green_gain`` (_paper_balance: the paper then reads 0 under warm
    or cool light alike): a pink or red grid's lines, whatever the light's brightness. Red under
    PINK_FLOOR counts as that much: ink and shadows' dark pixels would otherwise swing wildly."""
    green, red = cv2.extractChannel(bgr, 1), cv2.extractChannel(bgr, 2)  # cv2.split is ~3x slower
    redder = cv2.subtract(red.astype(np.float32), green.astype(np.float32) * np.float32(green_gain))
    ratio = cv2.divide(redder, cv2.max(red, PINK_FLOOR).astype(np.float32), scale=255.0)
    return cv2.max(ratio, 0.0)


def _percentile(values: np.ndarray, q: float, where: np.ndarray | None = None, channel: int = 0) -> float:
    """np.percentile(values, q) of a uint8 image (np.median's at 50), to the last bit (its linear
    interpolation between order statistics), from a histogram: a sixth of the time on a search
    copy (~0.4 ms, not 2.2; OpenCV's histogram ~0.1). With ``where`` (a mask of the image's size),
    of the pixels it marks only; ``channel``: which channel of a colour image."""
    mask = None if where is None else where.view(np.uint8) if where.dtype == bool else where
    counts = cv2.calcHist([values], [channel], mask, [256], [0, 256]).ravel().astype(np.int64)  # exact below 2^24
    n = int(counts.sum())
    index = np.true_divide(q, 100) * (n - 1)
    below = int(np.floor(index))
    t = index - below
    cumulative = np.cumsum(counts)
    a = float(np.searchsorted(cumulative, below, side="right"))
    b = float(np.searchsorted(cumulative, min(below + 1, n - 1), side="right"))
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t  # numpy's own lerp, either side of 0.5


def _paper_balance(small: np.ndarray, score: np.ndarray) -> float:
    """Red over green of the paper (the palest tenth of the paper score) in the light it was taken
    in: warm light makes paper redder, cool light greener, and a pale grid line mixed with paper at
    a small scale would otherwise read as the paper's tint."""
    pale = score >= _percentile(score, 90)
    red, green = _percentile(small, 50, pale, channel=2), _percentile(small, 50, pale, channel=1)
    return red / green if green > 0 else 1.0


def _paper_score(bgr: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    # Warm light tints paper yellow, but much less than it saturates wood or cloth: brightness less
    # half the saturation separates paper from most desks whatever the light's colour.
    # Saturating at 0; channel by channel (numpy's int16 arithmetic took 4x as long, cv2.split 3x).
    return cv2.subtract(cv2.extractChannel(hsv, 2), cv2.extractChannel(hsv, 1) >> 1)


def _looks_scanned(thumbnail: np.ndarray, config: SheetConfig) -> bool:
    """Whether there is no sheet to look for: paper runs all round the frame's edge (a scan, or a
    sheet cropped by the frame), and the traces fill much of the frame (on a white table the desk
    runs round the edge as pale as paper, but the sheet and its traces take only part of the frame).
    Cheap, on a ``thumbnail`` (_thumbnail), so that scans pay next to nothing."""
    score = _paper_score(thumbnail)
    if not _paper_to_the_edges(score, config):
        return False
    if not config.content_search:
        return True
    hull = _trace_hull(thumbnail, score, straight_out=False)
    return hull is None or cv2.contourArea(hull) >= config.content_scan_cover * score.size


def _paper_to_the_edges(score: np.ndarray, config: SheetConfig) -> bool:
    ring = max(2, int(round(config.edge_ring * max(score.shape))))
    edge = np.concatenate(
        [score[:ring].ravel(), score[-ring:].ravel(), score[:, :ring].ravel(), score[:, -ring:].ravel()]
    )
    level = config.edge_paper_level * _percentile(score, 99)
    return bool(np.mean(edge > level) >= config.edge_paper_share)


def _locate(bgr: np.ndarray, config: SheetConfig) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The sheet's corners and outline in source pixels and the search that found it ("paper" or
    "content"; "grid": the corners are then the grid frame's, see _sheet_from_frame), or None (a
    scan, or no sheet found)."""
    if min(bgr.shape[:2]) < config.min_frame_side:  # a sliver: no sheet in it (and no copy to shrink)
        return None
    small, scale = _shrunk(bgr, config.work_size)
    if _looks_scanned(_thumbnail(small, scale, bgr.shape, config.thumbnail), config):
        return None
    score = _paper_score(small)
    mask, labelled = _with_shaded_paper(_paper_mask(score), small, config)
    found = _quad(mask, config, labelled)
    if found is not None and (
        _fills_frame(found[0], small.shape[:2], config) or not _sides_on_edges(found[0], score, config)
    ):
        found = None
    hull = _trace_hull(small, score) if config.content_search or config.grid_frame else None
    found, how = _choose(found, small, score, config, hull)
    reach = max(3.0, 2.5 / scale)  # a search-copy pixel and some, in the photo's
    # No sheet found, or a pale region that cuts through the traces (a shadow's or a check's edge
    # taken for a side) which the search from the traces did not better, or no traces seen to tell:
    # the grid's frame, if seen, unless it puts the page where the quad found is (that quad's own
    # edges place the corners more closely than a frame well inside them). Its rays start from the
    # traces' middle (not across the hull's sides: where a shadow hides some traces, those slant
    # away from the frame's), else the region's and the photo's.
    if config.grid_frame and (found is None or hull is None or not _around(found[0], hull, small.shape, config)):
        centres = [hull.mean(axis=0)] if hull is not None else []
        if hull is None and found is not None:
            centres.append(found[0].mean(axis=0))
        if hull is None:
            centres.append(np.array(small.shape[1::-1], np.float64) / 2)
        balance = _paper_balance(small, score)
        pink = _frame_pinkness(small, balance)  # once, whichever centre the rays start from
        frame = next((f for f in (_grid_frame(pink, c, config) for c in centres) if f is not None), None)
        agree = config.frame_agreement * float(np.hypot(*small.shape[:2]))
        pages = [] if frame is None else [_order(_page_of_frame(np.roll(frame, -t, axis=0))) for t in range(4)]
        if any(_fills_frame(page, small.shape[:2], config) for page in pages):
            return None  # the page is the whole image, whichever way up: a scan
        if pages and found is not None:  # whichever way up the sheet lies
            if min(float(np.abs(page - _order(found[0])).max()) for page in pages) <= agree:
                frame = None
        if frame is not None:
            refined, _ = _refine(bgr, frame / scale, np.zeros((0, 2)), reach, (config.frame_min_line, balance))
            return refined, np.zeros((0, 2)), "grid"  # the frame's corners: which way up decides the page's
    if found is None:
        return None
    return (*_refine(bgr, found[0] / scale, found[1] / scale, reach), how)


def _choose(
    by_paper: tuple[np.ndarray, np.ndarray] | None, small: np.ndarray, score: np.ndarray, config: SheetConfig,
    hull: np.ndarray | None,
) -> tuple[tuple[np.ndarray, np.ndarray] | None, str]:  # fmt: skip
    """The pale region's quad, unless the search from the content (out from the traces' ``hull``)
    disagrees with clearly better edges, or the region's quad cuts through the traces (a hard
    shadow's edge taken for a side), or the region gave none; and which search it came from."""
    if not config.content_search:
        return by_paper, "paper"
    blurred = cv2.GaussianBlur(score, (0, 0), 1.0).astype(np.float32)  # what both searches' edges are judged on
    paper_strength = _edge_strength(by_paper[0], blurred) if by_paper is not None else -np.inf
    around_traces = by_paper is not None and _around(by_paper[0], hull, small.shape, config)
    if around_traces and paper_strength >= config.content_skip:  # a sheet on a dark desk: no second search
        return by_paper, "paper"
    by_content = _content_quad(blurred, config, hull)
    if by_content is None or _fills_frame(by_content[0], small.shape[:2], config):
        return by_paper, "paper"
    content_strength = _edge_strength(by_content[0], blurred)
    if not np.isfinite(content_strength):  # fewer than three of its sides could be judged
        return by_paper, "paper"
    if by_paper is None or not around_traces:
        clear = content_strength >= config.content_margin or (
            _edge_share(by_content[0], blurred, config.edge_contrast) >= config.content_edge_share
        )
        return (by_content, "content") if clear else (by_paper, "paper")
    apart = float(np.abs(_order(by_paper[0]) - _order(by_content[0])).max())
    if apart <= config.edge_offset * float(np.hypot(*small.shape[:2])):
        return by_paper, "paper"
    if content_strength >= paper_strength + config.content_margin:
        return by_content, "content"
    return by_paper, "paper"


def _around(quad: np.ndarray, hull: np.ndarray | None, shape: tuple[int, ...], config: SheetConfig) -> bool:
    """Whether ``quad`` holds the traces' ``hull`` (if any), give or take a bent sheet's bowed sides."""
    return hull is None or _contains(quad, hull, config.trace_slack * float(np.hypot(*shape[:2])))


def _contains(quad: np.ndarray, hull: np.ndarray, tolerance: float) -> bool:
    """Whether every corner of ``hull`` lies inside ``quad`` (or within ``tolerance`` px of it)."""
    contour = quad.reshape(-1, 1, 2).astype(np.float32)
    return all(cv2.pointPolygonTest(contour, (float(x), float(y)), True) >= -tolerance for x, y in hull)


def _ray_profiles(
    score: np.ndarray, a: np.ndarray, b: np.ndarray, centre: np.ndarray, rays: int, reach: int, extend: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The blurred paper score sampled along ``rays`` lines crossing the side from ``a`` to ``b``
    (extended by ``extend`` of its length at both ends), from 5 px inside it to ``reach`` px and
    more outside: (values, -1 beyond the frame; the ray points; the outward unit normal; index of the
    side itself)."""
    normal = _inward_normal(a, b, centre)
    length = float(np.hypot(*(b - a)))
    unit = (b - a) / max(length, 1e-9)
    t = np.linspace(-extend * length, (1 + extend) * length, rays)
    inside = 5
    offsets = np.arange(-inside, reach, dtype=np.float64)
    base = a[None, :] + t[:, None] * unit[None, :]
    points = base[:, None, :] - offsets[None, :, None] * normal[None, None, :]
    values = cv2.remap(score, points[..., 0].astype(np.float32), points[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0)  # fmt: skip
    return values, base, -normal, inside


def _running(values: np.ndarray, width: int, largest: bool) -> np.ndarray:
    """Max (or min) of each profile over the next ``width`` samples, the sample itself included."""
    kernel = np.ones((1, width), np.uint8)
    op = cv2.dilate if largest else cv2.erode
    return op(values, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)


def _content_quad(
    blurred: np.ndarray, config: SheetConfig, hull: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The sheet found from its printed traces outwards (``hull``: _trace_hull's; ``blurred``: the
    search copy's paper score, Gaussian-blurred; see SheetConfig.content_search): corners and the
    edge points its sides were fitted to, in search-copy pixels; None without traces or edges."""
    if hull is None:
        return None
    height, width = blurred.shape
    reach = int(config.content_reach * max(height, width))
    centre = hull.mean(axis=0)
    guesses, points = [], []
    for i in range(4):
        a, b = hull[i].astype(np.float64), hull[(i + 1) % 4].astype(np.float64)
        edge = _edge_points(blurred, a, b, centre, reach, config)
        if len(edge) < 6:
            return None
        normal = _inward_normal(a, b, centre)
        offset = float(np.median((a - edge) @ normal))  # how far out the sheet's side runs
        guesses.append((a - offset * normal, b - offset * normal))
        points.append(edge)
    corners = [_intersect(*guesses[i - 1], *guesses[i]) for i in range(4)]
    if any(c is None for c in corners):
        return None
    quad, on_sides = np.array(corners, np.float64), np.concatenate(points)
    diagonal = float(np.hypot(height, width))
    for share in (0.04, 0.015):
        refitted = _fit_sides(quad, on_sides, share * diagonal, tolerance=1.5)
        if refitted is None:
            break
        quad, on_sides = refitted
    quad = _order(np.asarray(quad, np.float32))
    if cv2.contourArea(quad) < config.min_area * width * height or not _plausible_corners(quad, diagonal, config):
        return None
    return quad, on_sides


def _edge_points(
    blurred: np.ndarray, a: np.ndarray, b: np.ndarray, centre: np.ndarray, reach: int, config: SheetConfig
) -> np.ndarray:
    """Where rays across the side from ``a`` to ``b`` leave the paper for the desk (search-copy px)."""
    run = config.content_desk_run
    values, base, outward, at = _ray_profiles(blurred, a, b, centre, config.content_rays, reach + run + 10, 0.3)
    seen = values >= 0
    ahead = _running(values, run, largest=True)  # beyond the frame counts as -1: no evidence of paper
    paper = np.median(ahead[:, at : at + 8], axis=1)  # just outside the traces, per ray
    dips = _running(np.where(seen, values, 1e6).astype(np.float32), 5, largest=False)
    # A drop needs a few pixels of desk seen after it.
    known = seen & np.roll(seen, -4, axis=1)
    fallen = ahead < (1 - config.content_desk_fall) * paper[:, None]
    desk = known & fallen & (dips < paper[:, None] - config.content_drop)
    desk = desk[:, at : at + reach]
    found = desk.any(axis=1) & (paper > 0)
    first = np.argmax(desk, axis=1)
    # The edge itself: the steepest step from paper (mean of 4 px in) to desk (the brightest of 2-9 px
    # out) within a few px of the first desk sample.
    cumulative = np.concatenate([np.zeros((len(values), 1)), np.cumsum(np.where(seen, values, 0.0), axis=1)], 1)
    k = np.arange(values.shape[1])
    inner = (cumulative[:, k + 1] - cumulative[:, np.maximum(k - 3, 0)]) / np.minimum(k + 1, 4)
    outer = _running(np.where(seen, values, 1e6).astype(np.float32), 8, largest=True)
    outer = np.concatenate([outer[:, 2:], np.full((len(values), 2), 1e6, np.float32)], axis=1)
    step = inner - outer
    window = (k[None, :] - at >= first[:, None] - 6) & (k[None, :] - at <= first[:, None] + 3) & (outer < 1e6)
    step = np.where(window, step, -np.inf)
    best = np.argmax(step, axis=1)
    ok = found & np.isfinite(step[np.arange(len(step)), best])
    distance = best[ok] - at + 1.0  # between the last paper sample and the desk after it
    return base[ok] + distance[:, None] * outward[None, :]


def _side_rays(quad: np.ndarray, blurred: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per side of the quad inside the frame, along 32 rays across it in the blurred paper score:
    the paper just inside (4 px) and the desk just outside (2-9 px out), rays seen whole only."""
    centre = quad.mean(axis=0)
    sides = []
    for i in range(4):
        a, b = quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64)
        values, _, _, at = _ray_profiles(blurred, a, b, centre, 32, 12, -0.1)
        inside, outside = values[:, at - 4 : at], values[:, at + 2 : at + 10]
        seen = (inside >= 0).all(axis=1) & (outside >= 0).all(axis=1)
        if seen.sum() >= 8:  # else a side along or beyond the frame's edge
            sides.append((inside[seen], outside[seen]))
    return sides


def _edge_strength(quad: np.ndarray, blurred: np.ndarray) -> float:
    """How clearly the quad's sides are the sheet's edges in the blurred paper score: per side, the
    median step from the paper just inside (mean of 4 px) to the brightest of the desk just outside
    (2-9 px out), over the part inside the frame; the weakest side's."""
    strengths = [
        float(np.median(np.clip(inside.mean(axis=1) - outside.max(axis=1), -40, 40)))
        for inside, outside in _side_rays(quad, blurred)
    ]
    return min(strengths) if len(strengths) >= 3 else -np.inf


def _edge_share(quad: np.ndarray, blurred: np.ndarray, contrast: float) -> float:
    """The weakest side's share of rays along which the paper just inside (mean of 4 px) is
    ``contrast`` grey levels above the desk just outside (median of 2-9 px out): unlike
    ``_edge_strength``, a white check of a cloth touching part of a side does not sink it."""
    shares = [
        float(np.mean(inside.mean(axis=1) - np.median(outside, axis=1) >= contrast))
        for inside, outside in _side_rays(quad, blurred)
    ]
    return min(shares) if len(shares) >= 3 else 0.0


def _trace_hull(small: np.ndarray, score: np.ndarray, straight_out: bool = True) -> np.ndarray | None:
    """Four corners round the ECG traces of a search copy: long, swinging dark strokes with paper
    around them (wood grain and cloth stripes have desk around them), and with ``straight_out``
    not straight (rules, text lines and the sheet's own slanted edge shadow are; ~1.5 ms a page,
    which the scan check below does without)."""
    height, width = score.shape
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    ink = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, 12)
    count, labels, stats = components(ink)
    w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    trace = (w >= 0.08 * width) & (h >= 0.02 * height) & (area <= 0.4 * w.astype(np.float64) * h)
    trace[0] = False
    bright = (score >= 0.8 * _percentile(score, 99)).astype(np.float32)
    ys, xs = np.nonzero(trace[labels])  # the candidates' pixels (summed over them alone, not the copy)
    label = labels[ys, xs].astype(np.int64)
    around = np.bincount(label, weights=cv2.blur(bright, (9, 9))[ys, xs], minlength=count)
    trace &= around / np.maximum(area, 1) >= 0.6
    ys, xs, label = (a[trace[label]] for a in (ys, xs, label))
    if straight_out and trace.any():
        # A straight line (the sheet's own edge, slanted, or a rule) is no trace: each candidate's
        # least-squares line from its pixel sums, then how far its pixels stray from it.
        x, y = xs.astype(np.float64), ys.astype(np.float64)
        n = np.bincount(label, minlength=count)
        sx, sy = np.bincount(label, x, count), np.bincount(label, y, count)
        sxx, sxy = np.bincount(label, x * x, count), np.bincount(label, x * y, count)
        spread = n * sxx - sx * sx
        slope = np.divide(n * sxy - sx * sy, spread, out=np.zeros(count), where=spread > 0)
        intercept = np.divide(sy - slope * sx, n, out=np.zeros(count), where=n > 0)
        offset = y - (slope[label] * x + intercept[label])
        high, low = np.full(count, -np.inf), np.full(count, np.inf)
        np.maximum.at(high, label, offset)
        np.minimum.at(low, label, offset)
        trace &= high - low >= 0.015 * height + 3
    if trace.sum() < 2:
        return None
    ys, xs = (a[trace[label]] for a in (ys, xs))
    return _hull_quad(np.column_stack([xs, ys]).astype(np.float64))


def _vertex(left: np.ndarray, mid: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Where the parabola through three equally spaced samples peaks, in steps from the middle one
    (within half a step; 0 where they do not bend down)."""
    curvature = left - 2 * mid + right
    shift = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1), 0.0)
    return np.clip(shift, -0.5, 0.5)


def _frame_pinkness(small: np.ndarray, balance: float) -> np.ndarray:
    """What the grid frame is looked for in: the search copy's pinkness (``balance``: the paper's
    red over green, _paper_balance), blurred over 3 x 3 px."""
    return cv2.blur(_pinkness(small, balance), (3, 3))


def _grid_frame(pink: np.ndarray, centre: np.ndarray, config: SheetConfig) -> np.ndarray | None:
    """The printed grid's outer frame (GRID_FRAME) round ``centre`` (a point inside it) in ``pink``
    (_frame_pinkness): its corners in search-copy pixels, or None where no such frame is seen (see
    SheetConfig.grid_frame)."""
    height, width = pink.shape
    diagonal = float(np.hypot(height, width))
    w = config.frame_line_px
    angles = np.linspace(0, 2 * np.pi, config.frame_rays, endpoint=False)
    outward = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    distance = np.arange(int(config.frame_reach * diagonal), dtype=np.float64)
    points = centre[None, None, :] + distance[None, :, None] * outward[:, None, :]
    values = cv2.remap(pink, points[..., 0].astype(np.float32), points[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0)  # fmt: skip
    # A line is pinker than both w px before and w px after it: a step (the paper's edge on a
    # reddish desk) is not.
    seen = values >= 0
    core, before, after = values[:, w:-w], values[:, : -2 * w], values[:, 2 * w :]
    whole = seen[:, w:-w] & seen[:, : -2 * w] & seen[:, 2 * w :]
    line = np.where(whole, np.maximum(np.minimum(core - before, core - after), 0.0), 0.0)
    strongest = line.max(axis=1)
    if not (strongest > 0).any():
        return None
    level = max(config.frame_min_line, 0.5 * float(np.median(strongest[strongest > 0])))
    peak = (line >= level) & (line >= np.roll(line, 1, axis=1)) & (line > np.roll(line, -1, axis=1))
    peak[:, [0, -1]] = False
    found = peak.any(axis=1)
    if found.sum() < 0.5 * len(found):
        return None
    rows = np.flatnonzero(found)
    k = np.argmax(peak, axis=1)[found]  # the first line out
    radius = k + w + _vertex(line[rows, k - 1], line[rows, k], line[rows, k + 1])
    # A ray that missed the frame (a gap in it) and found something further out stands out from its
    # neighbours; the first guess is drawn round the others, then each side refitted (RANSAC).
    ring = np.full(len(angles), np.nan)
    ring[rows] = radius
    neighbours = np.stack([np.roll(ring, s) for s in range(-2, 3)])
    steady = np.abs(radius - np.nanmedian(neighbours[:, rows], axis=0)) <= 2.0
    on_sides = centre[None, :] + radius[:, None] * outward[rows]
    if steady.sum() < 12:
        return None
    quad = _hull_quad(on_sides[steady])
    if quad is None:
        return None
    for share in (0.04, 0.015):
        refitted = _fit_sides(quad, on_sides, share * diagonal, tolerance=1.0)
        if refitted is None:
            return None
        quad, on_sides = refitted
    quad = _order(np.asarray(quad, np.float32))
    if cv2.contourArea(quad) < config.min_area * width * height or not _plausible_corners(quad, diagonal, config):
        return None
    # Each side along a line (not a quad drawn through scattered hits).
    lines = np.maximum(pink - cv2.blur(pink, (7, 7)), 0).astype(np.float32)
    at = np.rint(on_sides).astype(int)
    strength = float(np.median(lines[np.clip(at[:, 1], 0, height - 1), np.clip(at[:, 0], 0, width - 1)]))
    seen_level = max(0.4 * strength, 0.5 * config.frame_min_line)
    middle = quad.mean(axis=0)
    for i in range(4):
        a, b = quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64)
        normal = _inward_normal(a, b, middle)
        along = a + np.linspace(0.05, 0.95, 64)[:, None] * (b - a)
        across = np.array([along + o * normal for o in (-1.0, -0.5, 0.0, 0.5, 1.0)], np.float32)
        seen = cv2.remap(lines, across[..., 0], across[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if float(np.mean(seen.max(axis=0) >= seen_level)) < config.frame_support:
            return None
    return quad


def _page_of_frame(frame: np.ndarray) -> np.ndarray:
    """The page's corners (float32, as ``frame``'s: clockwise from the image's top-left) from its
    grid frame's, through the perspective that carries the frame's place on a flat page onto them."""
    left, top, right, bottom = GRID_FRAME
    flat = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)
    flat[:, 0] *= GRID_PAGE_ASPECT
    matrix = cv2.getPerspectiveTransform(flat, frame.astype(np.float32))
    page = np.array([[0, 0], [GRID_PAGE_ASPECT, 0], [GRID_PAGE_ASPECT, 1], [0, 1]], np.float32)
    return cv2.perspectiveTransform(page.reshape(-1, 1, 2), matrix).reshape(-1, 2).astype(np.float32)


def _refine(
    bgr: np.ndarray, quad: np.ndarray, outline: np.ndarray, reach: float, frame_line: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The quad's sides and the sheet's edge points at the photo's own resolution: along each side,
    the steepest rise from desk to paper within ``reach`` px of the coarse outline, to a fraction of
    a pixel. A corner off by a pixel of the search copy (3 of the photo) shifted whole lead columns
    by 15-20 ms on the flattened page. With ``frame_line`` (a height, the paper's balance), the sides
    are the grid frame's pink line instead: the pinkest point across (_pinkness with that balance),
    where it stands that height above the median across."""
    height, width = bgr.shape[:2]
    centre = quad.mean(axis=0)
    offsets = np.arange(-reach, reach + 0.01, 0.5, dtype=np.float32)
    lines, edges = [], []
    for i in range(4):
        a, b = quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64)
        length = float(np.hypot(*(b - a)))
        unit = (b - a) / max(length, 1e-9)
        normal = _inward_normal(a, b, centre)
        rel = outline - a
        along, across = rel @ unit, rel @ normal
        t = np.linspace(0.03, 0.97, 160) * length
        near = (np.abs(across) < 4 * reach) & (along >= 0) & (along <= length)
        base = np.zeros_like(t)
        if near.sum() >= 10:  # follow the coarse outline (a bent sheet's side is a curve)
            order = np.argsort(along[near])
            base = np.interp(t, along[near][order], across[near][order])
        line = a + t[:, None] * unit + base[:, None] * normal
        grid = line[:, None, :] + offsets[None, :, None] * normal
        # The paper score of the strip the search covers only (the whole photo cost 10 ms more).
        x0, y0 = (max(0, int(np.floor(grid[..., k].min())) - 4) for k in (0, 1))
        x1, y1 = (min(size, int(np.ceil(grid[..., k].max())) + 5) for k, size in ((0, width), (1, height)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            edges.append(np.zeros((0, 2)))
            lines.append(_Side.straight(a, b))
            continue
        strip = bgr[y0:y1, x0:x1]
        score = _paper_score(strip) if frame_line is None else _pinkness(strip, frame_line[1])
        score = cv2.GaussianBlur(score, (0, 0), 1.0)
        values = cv2.remap(score.astype(np.float32), (grid[..., 0] - x0).astype(np.float32),
                           (grid[..., 1] - y0).astype(np.float32), cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=-1)  # fmt: skip
        inside = np.all((grid[..., 0] >= 0) & (grid[..., 0] <= width - 1) & (grid[..., 1] >= 0)
                        & (grid[..., 1] <= height - 1), axis=1)  # fmt: skip
        # An edge is a rise (between two samples: +0.25 of a 0.5 px step), a line a peak.
        profile = np.diff(values, axis=1) if frame_line is None else values
        j = np.clip(np.argmax(profile, axis=1), 1, profile.shape[1] - 2)
        rows = np.arange(len(t))
        mid = profile[rows, j]
        between = 0.25 if frame_line is None else 0.0
        offset = offsets[j] + between + 0.5 * _vertex(profile[rows, j - 1], mid, profile[rows, j + 1])
        if frame_line is None:
            keep = inside & (mid >= 2.0)  # a clear step from desk to paper
        else:
            keep = inside & (mid - np.median(values, axis=1) >= frame_line[0])
        points = line + offset[:, None] * normal
        points = points[keep]
        edges.append(points)
        if len(points) >= 12:
            side = _Side.fit(points, a, b)
            residual = np.linalg.norm(side.onto(points) - points, axis=1)
            keep = residual <= 3 * np.median(residual) + 0.5  # a finger or a shadow on the edge
            lines.append(_Side.fit(points[keep], a, b) if keep.sum() >= 12 else side)
        else:
            lines.append(_Side.straight(a, b))
    refined = _corners(lines)
    if refined is None:
        return quad, outline
    if float(np.abs(refined - quad).max()) > 4 * reach:  # the search went astray: keep the coarse one
        return quad, outline
    return refined, np.concatenate(edges)


def find_quad(bgr: np.ndarray, config: SheetConfig = SheetConfig()) -> np.ndarray | None:
    """The sheet's four corners in source pixels (clockwise from the image's top-left), or None
    when the sheet fills the frame or none is found. A sheet placed by its grid frame is taken as
    lying upright here (which way up it lies, and so on which side its header's margin goes, is
    judged by find_sheet)."""
    found = _locate(bgr, config)
    if found is None:
        return None
    return _page_of_frame(found[0]) if found[2] == "grid" else found[0]


def _edge_curve(points: np.ndarray, at: float, width: int, height: int) -> np.ndarray | None:
    """Quadratic y(x) through the outline points near the flattened page's edge at height ``at``
    (a bent sheet's top and bottom edges bow), or None when too little of the edge was seen."""
    near = points[(np.abs(points[:, 1] - at) < 0.08 * height) & (points[:, 0] > 0.02 * width)
                  & (points[:, 0] < 0.98 * width)]  # fmt: skip
    if len(near) < 20 or np.ptp(near[:, 0]) < 0.6 * width:
        return None
    x, y = near[:, 0] / width, near[:, 1]
    coef = np.polyfit(x, y, 2)
    residual = np.abs(np.polyval(coef, x) - y)
    keep = residual <= 3 * np.median(residual) + 1.0  # a finger or a speck of desk on the edge
    return np.polyfit(x[keep], y[keep], 2) if keep.sum() >= 20 else coef


def flatten(
    bgr: np.ndarray, quad: np.ndarray, config: SheetConfig = SheetConfig(), outline: np.ndarray | None = None,
    four: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """The quadrilateral ``quad`` (source px, clockwise from top-left) warped to a flat page; with
    the sheet's ``outline`` (source px), a bow of its top and bottom edges is straightened too.
    ``four``: ``bgr`` as BGRA already (in_four_channels), when it is flattened more than once."""
    width, height = _flat_size(quad, config, np.array([bgr.shape[1] / 2, bgr.shape[0] / 2]))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    curves = None
    if outline is not None and len(outline):
        flat = cv2.perspectiveTransform(outline.reshape(-1, 1, 2).astype(np.float32), matrix).reshape(-1, 2)
        top, bottom = _edge_curve(flat, 0.0, width, height), _edge_curve(flat, float(height), width, height)
        # A quadratic a*u^2 + b*u + c over u in [0, 1] sags |a| / 4 from its chord.
        sag = max(abs(c[0]) / 4 if c is not None else 0.0 for c in (top, bottom))
        if sag > config.min_bow * height:
            curves = (top, bottom)
    if curves is None:
        return in_four_channels(
            bgr, lambda four: cv2.warpPerspective(
                four, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            ), four,
        )  # fmt: skip
    # Each column of the page runs from the top edge's curve to the bottom edge's: sample it there,
    # on a coarse grid (the mapping is smooth) carried back through the perspective to the photo.
    top, bottom = curves
    # Where the sheet lifts towards the camera it looks taller, and as much wider: the page's own
    # length runs as the column's height is small, so columns are spaced by 1 / height. (Measured on
    # strongly bent scenes: lead-switch markers 1-3 px nearer where the flat scan has them; the rest
    # of their 10 px error, the page compressed towards its ends, is not understood yet.)
    fine = np.linspace(0, 1, 257)
    tall = (np.polyval(bottom, fine) if bottom is not None else height) - (
        np.polyval(top, fine) if top is not None else 0.0
    )
    step = 1.0 / np.clip(tall, 0.5 * height, 2.0 * height)
    length = np.concatenate([[0.0], np.cumsum(0.5 * (step[1:] + step[:-1]))])
    share = np.interp(np.linspace(0, 1, 65), length / length[-1], fine)  # page share -> photo share
    gx, gy = np.meshgrid(share, np.linspace(0, 1, 49))
    y0 = np.polyval(top, gx) if top is not None else np.zeros_like(gx)
    y1 = np.polyval(bottom, gx) if bottom is not None else np.full_like(gx, height)
    grid = np.stack([gx * width, y0 + gy * (y1 - y0)], axis=-1).astype(np.float32)
    source = cv2.perspectiveTransform(grid.reshape(-1, 1, 2), np.linalg.inv(matrix)).reshape(*gx.shape, 2)
    # One map of (x, y) pairs, enlarged in one call: ~2 ms less than two maps of a bent photo.
    mapping = cv2.resize(source, (width, height), interpolation=cv2.INTER_LINEAR)
    return in_four_channels(
        bgr, lambda four: cv2.remap(four, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), four
    )


def in_four_channels(bgr: np.ndarray, warp, four: np.ndarray | None = None) -> np.ndarray:
    """``warp`` (a warpPerspective or remap of a BGRA image) applied to ``bgr`` (or to ``four``, its
    BGRA copy made already), back in BGR. OpenCV warps four channels with SIMD and three without: a
    flattening warp went from ~10.5 to ~6 ms on one core, same pixels. (Warping a crop instead of the
    whole photo moved ~0.1% of them by a grey level: the shifted matrix rounds differently.)"""
    return cv2.cvtColor(warp(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA) if four is None else four), cv2.COLOR_BGRA2BGR)


def find_sheet(
    bgr: np.ndarray, config: SheetConfig = SheetConfig(), upright=None, half_turn_later: bool = False
) -> Sheet:
    """The flat page of a photo (or the image itself when it is one already). ``upright``, when
    given, is a function of a flattened BGR page and the quarter turns its shape suggests, giving
    the counter-clockwise quarter turns that stand it upright (edge.orientation). With
    ``half_turn_later``, a page that comes out landscape is not looked at here: the caller judges
    its half turn on the lead rows it reads anyway (Sheet.half_turn_open), where an upright page
    costs next to nothing (a separate look cost ~7 ms a photo). A portrait page, and a page placed
    by its grid frame (whose header margin goes on the side that is up), are still stood upright here."""
    found = _locate(bgr, config)
    if found is None:
        return Sheet(bgr, None, "frame")
    quad, outline, found_by = found
    if found_by == "grid":
        return _sheet_from_frame(bgr, quad, config, upright)
    page = flatten(bgr, quad, config, outline)
    # Printouts are landscape: a portrait page lies on its side (though a steep camera tilt can
    # make a landscape sheet look portrait, which the content check below sorts out).
    turns = 1 if page.shape[0] > page.shape[1] else 0
    later = half_turn_later and upright is not None and not turns
    if upright is not None and not later:
        turns = upright(page, turns) % 4
    if turns:
        page = turned(page, turns)
    corners = np.roll(quad, -turns, axis=0) if turns else quad  # the upright page's top-left first
    return Sheet(page, corners.astype(np.float32), found_by, turns, later)


def _sheet_from_frame(bgr: np.ndarray, frame: np.ndarray, config: SheetConfig, upright) -> Sheet:
    """The page round a grid ``frame`` (source px, clockwise from the image's top-left). The page
    reaches far beyond the frame at its top (the header), so which way up it lies is settled first,
    on the frame's own content flattened small (the calibration pulses lie inside it)."""
    four = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)  # flattened twice: converted once
    framed = flatten(bgr, frame, replace(config, max_side=1024), four=four)
    turns = 1 if framed.shape[0] > framed.shape[1] else 0
    if upright is not None:
        turns = upright(framed, turns) % 4
    corners = _page_of_frame(np.roll(frame, -turns, axis=0))  # clockwise from the upright page's top-left
    return Sheet(flatten(bgr, corners, config, four=four), corners, "grid", turns)
