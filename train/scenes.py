"""Synthetic phone photos of a printed ECG lying on a desk, with where the sheet's corners landed.

They feed the benchmark and the tests of the stage that finds the sheet in a photo and flattens it:
``compose_scene`` puts a flat scan on a procedural desk, looks at it through a pinhole camera tilted
away from straight down (keystone), optionally bends the sheet on a cylinder (edges lifted), and adds
a light colour cast, brightness falloff, vignetting, shadows, a finger, defocus or motion blur, sensor
noise and a JPEG round trip. ``Scene.corners`` are the exact images of the page's corners.

Limits: this is a synthetic look, not a camera model. There is no lens distortion, depth of field,
demosaicing, HDR tone mapping or white balance correction; paper has no texture, gloss or folds;
lighting is multiplicative and shadows are not cast by any geometry; desks are procedural textures.
A detector that passes here can still fail on real photos.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

DESKS = ("dark wood", "white table", "patterned cloth", "grey carpet")
LIGHTS = {"neutral": (1.0, 1.0, 1.0), "warm": (0.75, 0.9, 1.0), "cool": (1.0, 0.92, 0.8)}  # BGR gains
SHADOWS = ("none", "soft", "hard")
BLURS = ("none", "defocus", "motion")
_FOV_DEG = 69.0  # across the long side: a phone's main camera (26 mm equivalent)
# One random stream per part, so that conditions differing in one option keep everything else equal.
_GEOMETRY, _DESK, _LIGHT, _SHADOW, _FINGER, _BLUR, _NOISE, _PAPER = range(8)


@dataclass(frozen=True)
class SceneOptions:
    desk: str = "dark wood"  # one of DESKS
    tilt_deg: float = 15.0  # camera away from straight down, 0-45 (0-30 is what people do)
    rotation_deg: float = 0.0  # sheet in the frame, clockwise
    bend: float = 0.0  # 0 flat .. 1: the left and right edges (the short sides) lifted by 3% of the page width
    fill: float = 0.6  # area of the corners' quadrilateral / frame area
    light: str = "warm"  # LIGHTS: warm is tungsten (~3000 K, yellow-orange), cool is bluish
    vignette: float = 0.3  # the frame's corners darkened by vignette / 2
    shadow: str = "none"  # "soft": a blurred band across the sheet; "hard": a sharp slab (phone, hand) at 0.5-0.6
    blur: str = "none"  # "defocus" (Gaussian) or "motion" (a line kernel)
    megapixels: float = 12.0  # 4:3 frame: 12 -> 4000x3000
    portrait: bool = False  # 3:4 frame; the page turned 90 degrees (its top to the right) plus rotation_deg
    jpeg_quality: int | None = 88
    finger: bool = False
    corner_cut: bool = False  # one corner outside the frame; turns a square-on sheet by 8-15 degrees more
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "desk": self.desk in DESKS, "light": self.light in LIGHTS, "shadow": self.shadow in SHADOWS,
            "blur": self.blur in BLURS, "tilt_deg": 0 <= self.tilt_deg <= 45, "bend": 0 <= self.bend <= 1,
            "fill": 0.3 <= self.fill <= 0.9, "vignette": 0 <= self.vignette <= 1,
            "megapixels": 0.1 <= self.megapixels <= 50, "seed": self.seed >= 0,
            "jpeg_quality": self.jpeg_quality is None or 1 <= self.jpeg_quality <= 100,
        }  # fmt: skip
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"SceneOptions out of range: {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # BGR uint8 frame
    corners: np.ndarray  # (4, 2) float32: the upright page's TL, TR, BR, BL in frame pixels (may be outside)
    options: SceneOptions


_DEFAULT = SceneOptions()
CONDITIONS: dict[str, SceneOptions] = {
    "default": _DEFAULT,
    # The bug report: dark desk, a little from the side, sheet ~60% of the frame, slightly bent, warm light.
    "bug_report": SceneOptions(desk="dark wood", tilt_deg=15.0, fill=0.6, bend=0.3, light="warm"),
    "white_table": replace(_DEFAULT, desk="white table"),
    "patterned_cloth": replace(_DEFAULT, desk="patterned cloth"),
    "grey_carpet": replace(_DEFAULT, desk="grey carpet"),
    "straight_down": replace(_DEFAULT, tilt_deg=0.0),
    "steep_tilt": replace(_DEFAULT, tilt_deg=30.0),
    "rotated_90": replace(_DEFAULT, rotation_deg=90.0, fill=0.4),  # a turned page fits a 4:3 frame at <~0.45
    "upside_down": replace(_DEFAULT, rotation_deg=180.0),
    "rotated_23": replace(_DEFAULT, rotation_deg=23.0, fill=0.4),
    "strong_bend": replace(_DEFAULT, bend=1.0),
    "cool_light": replace(_DEFAULT, light="cool", vignette=0.6),
    "soft_shadow": replace(_DEFAULT, shadow="soft"),
    "hard_shadow": replace(_DEFAULT, shadow="hard"),
    "defocus": replace(_DEFAULT, blur="defocus"),
    "motion_blur": replace(_DEFAULT, blur="motion"),
    "portrait_small": replace(_DEFAULT, portrait=True, fill=0.35),
    "finger_corner_cut": replace(_DEFAULT, finger=True, corner_cut=True),
}


def _rng(seed: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, part])


def _noise(rng: np.random.Generator, height: int, width: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Smooth noise (about unit spread); fewer cells along an axis stretch it along that axis."""
    cells = rng.standard_normal((max(2, cells_y), max(2, cells_x))).astype(np.float32)
    return cv2.resize(cells, (width, height), interpolation=cv2.INTER_CUBIC)


def desk_texture(kind: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A procedural BGR uint8 desk surface (one of DESKS)."""
    if kind not in DESKS:
        raise ValueError(f"unknown desk {kind!r}; expected one of {DESKS}")
    side = min(height, width)
    if kind == "dark wood":
        across, along = (height, width) if rng.random() < 0.5 else (width, height)  # grain either way
        y = np.arange(across, dtype=np.float32)[:, None]
        plank = across / rng.uniform(2.5, 4.0)
        index = np.floor((y + rng.uniform(0, plank)) / plank)
        rings = np.sin(2 * np.pi * (y / (plank * rng.uniform(0.15, 0.3)) + 0.7 * _noise(rng, across, along, 8, 5)))
        streaks = _noise(rng, across, along, across // 3, 6)
        tone = rng.normal(0, 0.1, 64).astype(np.float32)[index.astype(int) % 64]
        value = 0.5 + 0.15 * rings + 0.15 * streaks + tone
        value[((y + 1) % plank < max(1.0, 0.002 * across))[:, 0]] *= 0.4  # seams: straight lines to ignore
        dark, light = np.float32([14, 26, 45]), np.float32([48, 82, 125])
        image = dark + np.clip(value, 0, 1)[..., None] * (light - dark)
        image = image if across == height else image.transpose(1, 0, 2)
    elif kind == "white table":
        # Paper on a white table: the hard case, only a few grey levels and the edge shadow tell them apart.
        base = np.float32([224, 227, 229]) + rng.uniform(-4, 4, 3).astype(np.float32)
        shade = 3 * _noise(rng, height, width, 4, 5) + 1.5 * rng.standard_normal((height, width), np.float32)
        image = base + shade[..., None]
    elif kind == "patterned cloth":
        palette = np.float32([[40, 40, 170], [110, 50, 30], [50, 110, 40], [40, 150, 190]])  # BGR
        colour = palette[rng.integers(len(palette))]
        angle = np.radians(rng.uniform(-20, 20))
        y, x = np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :]
        period, duty = side * rng.uniform(0.05, 0.1), rng.uniform(0.3, 0.5)
        stripes_x = ((x * np.cos(angle) + y * np.sin(angle)) / period) % 1 < duty
        stripes_y = ((y * np.cos(angle) - x * np.sin(angle)) / period) % 1 < duty
        weight = 0.5 * stripes_x + (0.5 * stripes_y if rng.random() < 0.7 else 0.0)  # gingham, else stripes
        weight = cv2.GaussianBlur(weight.astype(np.float32), (0, 0), 1.0)
        image = np.float32([225, 230, 232]) + weight[..., None] * (colour - 225)
        folds = 1 + 0.06 * _noise(rng, height, width, 3, 4) + 0.02 * rng.standard_normal((height, width), np.float32)
        image *= folds[..., None]
    else:  # grey carpet
        fibres = cv2.GaussianBlur(rng.standard_normal((height, width), np.float32), (0, 0), 0.8)
        blotches = _noise(rng, height, width, height // 25, width // 25)
        grey = rng.uniform(105, 135) + 25 * fibres + 6 * blotches
        image = grey[..., None] * (1 + rng.uniform(-0.04, 0.04, 3).astype(np.float32))
    return np.clip(image, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class _Camera:
    axes: np.ndarray  # columns: the camera's x, y and viewing axes in desk coordinates (z into the desk)
    position: np.ndarray
    focal: float
    principal: np.ndarray

    def project(self, points: np.ndarray) -> np.ndarray:
        local = (points - self.position) @ self.axes
        return self.focal * local[:, :2] / local[:, 2:] + self.principal

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        directions = np.column_stack([(pixels - self.principal) / self.focal, np.ones(len(pixels))])
        return np.einsum("nj,ij->ni", directions, self.axes)  # `@` goes through a slow BLAS path for (n, 3)


@dataclass(frozen=True)
class _Sheet:
    """The page on the desk, centred at the origin, in page pixels; bent on a cylinder whose axis runs along
    the page's height, so its left and right edges lift."""

    turn: float  # radians, clockwise in the frame
    radius: float  # inf when flat

    def to_desk(self, uv: np.ndarray) -> np.ndarray:
        u, v, r = uv[:, 0], uv[:, 1], self.radius
        x, z = (u, 0 * u) if np.isinf(r) else (r * np.sin(u / r), -r * (1 - np.cos(u / r)))  # -z: up
        c, s = np.cos(self.turn), np.sin(self.turn)
        return np.column_stack([x * c - v * s, x * s + v * c, z])

    def from_rays(self, origin: np.ndarray, rays: np.ndarray) -> np.ndarray:
        """Where rays meet the bent sheet, as centred page coordinates (the camera is inside the cylinder)."""
        c, s, r = np.cos(self.turn), np.sin(self.turn), self.radius
        ox, oy, oz = origin[0] * c + origin[1] * s, origin[1] * c - origin[0] * s, origin[2] + r
        dx, dy, dz = rays[:, 0] * c + rays[:, 1] * s, rays[:, 1] * c - rays[:, 0] * s, rays[:, 2]
        a, b, k = dx * dx + dz * dz, 2 * (ox * dx + oz * dz), ox * ox + oz * oz - r * r
        root = np.sqrt(np.maximum(b * b - 4 * a * k, 0))
        t = np.where(b >= 0, -2 * k / (b + root + 1e-12), (root - b) / (2 * a))  # the positive root, stably
        return np.column_stack([r * np.arcsin(np.clip((ox + t * dx) / r, -1, 1)), oy + t * dy])


def _quad_area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _place(options: SceneOptions, page_size: tuple[int, int], frame: tuple[int, int]) -> tuple[_Camera, _Sheet]:
    (w, h), (width, height) = page_size, frame
    rng = _rng(options.seed, _GEOMETRY)
    azimuth, spread, extra = rng.uniform(0, 2 * np.pi), rng.uniform(-1, 1, 2), rng.uniform(8, 15) * rng.choice([-1, 1])
    turn = options.rotation_deg + 90 * options.portrait
    if options.corner_cut and abs((turn + 45) % 90 - 45) < 8:
        turn += extra  # a sheet square to the frame cannot lose just one corner
    radius = w / (0.24 * options.bend) if options.bend > 0 else np.inf  # lift = w^2 / (8 r) = 0.03 w
    sheet = _Sheet(np.radians(turn), radius)
    axes, _ = cv2.Rodrigues(np.radians(options.tilt_deg) * np.array([np.cos(azimuth), np.sin(azimuth), 0.0]))
    focal = max(frame) / (2 * np.tan(np.radians(_FOV_DEG / 2)))
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    corners3 = sheet.to_desk(np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2)
    target = options.fill * width * height
    distance = focal * np.sqrt(w * h / target)
    for _ in range(8):  # the area goes roughly as 1 / distance^2; a few steps converge
        camera = _Camera(axes, -distance * axes[:, 2], focal, centre)
        distance *= np.sqrt(_quad_area(camera.project(corners3)) / target)
    camera = _Camera(axes, -distance * axes[:, 2], focal, centre)
    points = camera.project(sheet.to_desk(_outline(w, h, 16)))
    low, high = -points.min(0), np.array([width - 1, height - 1]) - points.max(0)  # shifts that keep it inside
    shift = np.where(low <= high, (low + high) / 2 + 0.35 * (high - low) * spread, (low + high) / 2)
    if options.corner_cut:
        axis, side = int(rng.integers(2)), rng.choice([-1, 1])
        quad = camera.project(corners3)
        along = np.sort(quad[:, axis] * side)  # the corner furthest that way goes out, the next one stays in
        out = min(0.04 * frame[axis], 0.5 * (along[-1] - along[-2]))
        shift[axis] = (frame[axis] - 1 if side > 0 else 0) + side * out - side * along[-1]
    return _Camera(axes, camera.position, focal, centre + shift), sheet


def _outline(w: int, h: int, per_edge: int) -> np.ndarray:
    """The page's border TL -> TR -> BR -> BL, centred; the corners are every per_edge-th point."""
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], np.float64) / 2
    t = np.linspace(0, 1, per_edge, endpoint=False)[:, None]
    return np.concatenate([p + (q - p) * t for p, q in zip(corners, np.roll(corners, -1, 0))])


def _fill_mask(shape: tuple[int, int], polygon: np.ndarray, origin: tuple[float, float] = (0, 0)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    points = np.round((polygon - origin) * 16).astype(np.int32)  # 4 fractional bits: antialiased edges
    cv2.fillPoly(mask, [points], 255, cv2.LINE_AA, 4)
    return mask


def _render_sheet(page: np.ndarray, camera: _Camera, sheet: _Sheet, frame: np.ndarray, albedo: float) -> None:
    h, w = page.shape[:2]
    border = camera.project(sheet.to_desk(_outline(w, h, 1 if np.isinf(sheet.radius) else 48)))
    x0, y0 = np.maximum(np.floor(border.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(border.max(0)).astype(int) + 3, frame.shape[1::-1])
    if x1 <= x0 or y1 <= y0:
        return
    # Shrink the page first when the frame shows it smaller: bilinear sampling alone would drop thin traces.
    scale = min(1.0, 1.3 * np.sqrt(_quad_area(border) / (w * h)))
    if scale < 0.95:
        page = cv2.resize(page, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    small = cv2.convertScaleAbs(page, alpha=albedo)  # paper is never quite white in a photo
    k = np.array([small.shape[1] / w, small.shape[0] / h])
    size = (int(x1 - x0), int(y1 - y0))
    if np.isinf(sheet.radius):
        source = np.float32([[0, 0], [small.shape[1], 0], small.shape[1::-1], [0, small.shape[0]]]) - 0.5
        warp = cv2.getPerspectiveTransform(source, np.float32(border - (x0, y0)))
        flat = cv2.warpPerspective(small, warp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:  # trace rays on a coarse grid (the map is smooth), resample it to every pixel
        nx, ny = max(2, size[0] // 8), max(2, size[1] // 8)
        gx = (np.arange(nx) + 0.5) * size[0] / nx - 0.5 + x0
        gy = (np.arange(ny) + 0.5) * size[1] / ny - 0.5 + y0
        pixels = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        uv = sheet.from_rays(camera.position, camera.rays(pixels))
        maps = ((uv + (w / 2, h / 2)) * k - 0.5).astype(np.float32).reshape(ny, nx, 2)
        maps = cv2.resize(maps, size, interpolation=cv2.INTER_LINEAR)
        flat = cv2.remap(small, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = _fill_mask((size[1], size[0]), border, (x0, y0)).astype(np.float32) / 255
    region = frame[y0:y1, x0:x1]
    region[:] = cv2.blendLinear(flat, region, alpha, 1 - alpha)


def _add_finger(frame: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> None:
    edge = int(rng.integers(4))
    p, q = corners[edge], corners[(edge + 1) % 4]
    tangent = (q - p) / np.linalg.norm(q - p)
    outward = np.array([tangent[1], -tangent[0]])
    outward *= np.sign(np.dot(p - corners.mean(0), outward))
    width = 0.09 * np.sqrt(_quad_area(corners) * 1.41)  # a thumb, closer to the camera than the sheet
    tip = p + (q - p) * rng.uniform(0.25, 0.75) - 0.6 * width * outward
    angle = rng.uniform(-0.4, 0.4)
    direction = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ outward
    base = tip + 6 * width * direction
    lo = np.maximum(np.floor(np.minimum(tip, base) - width).astype(int), 0)
    hi = np.minimum(np.ceil(np.maximum(tip, base) + width).astype(int), frame.shape[1::-1])
    if np.any(hi <= lo):
        return
    mask = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.float32)
    ends = [tuple(int(v) for v in np.round((point - lo) * 16)) for point in (tip, base)]
    cv2.line(mask, ends[0], ends[1], 1.0, max(2, int(width)), cv2.LINE_AA, 4)
    shade = 0.55 + 0.45 * cv2.GaussianBlur(mask, (0, 0), width / 5)  # rounder: darker towards its sides
    alpha = cv2.GaussianBlur(mask, (0, 0), max(0.7, width / 40))[..., None]
    skin = np.float32([110, 145, 205]) * rng.uniform(0.8, 1.1)
    region = frame[lo[1] : hi[1], lo[0] : hi[0]]
    region[:] = np.clip(region * (1 - alpha) + alpha * shade[..., None] * skin, 0, 255).astype(np.uint8)


def _lighting(options: SceneOptions, corners: np.ndarray, width: int, height: int) -> np.ndarray:
    """The smooth multiplicative gain (BGR, uint8 where 255 = 1) at 1/8 of the frame's size."""
    rng, shadow_rng = _rng(options.seed, _LIGHT), _rng(options.seed, _SHADOW)
    lw, lh = max(8, width // 8), max(8, height // 8)
    xn = ((np.arange(lw, dtype=np.float32) + 0.5) / lw * 2 - 1)[None, :]
    yn = ((np.arange(lh, dtype=np.float32) + 0.5) / lh * 2 - 1)[:, None]
    angle = rng.uniform(0, 2 * np.pi)
    gain = rng.uniform(0.9, 1.0) * (1 - 0.15 * (0.5 + 0.5 * (xn * np.cos(angle) + yn * np.sin(angle))))
    gain = gain * (1 - 0.25 * options.vignette * (xn * xn + yn * yn))  # corners: 1 - vignette / 2
    if options.shadow == "soft":
        centre = _point_in(corners, shadow_rng)
        normal = np.array([np.cos(a := shadow_rng.uniform(0, np.pi)), np.sin(a)])
        x, y = (xn + 1) / 2 * width - centre[0], (yn + 1) / 2 * height - centre[1]
        half, soft = min(width, height) * shadow_rng.uniform(0.08, 0.18), 0.08 * min(width, height)
        band = np.clip((half - np.abs(x * normal[0] + y * normal[1])) / soft + 0.5, 0, 1)
        gain = gain * (1 - shadow_rng.uniform(0.3, 0.45) * band * band * (3 - 2 * band))
    colour = np.float32(LIGHTS[options.light])
    return np.clip(gain[..., None] * colour * 255, 0, 255).astype(np.uint8)


def _point_in(corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random point inside the (convex) quadrilateral."""
    return rng.dirichlet(np.ones(4)) @ corners


def _hard_shadow(frame: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The shadow of a phone or hand: a sharp-edged slab from inside the sheet out of the frame."""
    height, width = frame.shape[:2]
    start, angle = _point_in(corners, rng), rng.uniform(0, 2 * np.pi)
    along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    half, far = 0.11 * min(width, height) * across, start + 2 * np.hypot(width, height) * along
    polygon = np.array([start - half, start + half, far + 1.3 * half, far - 1.3 * half])
    factor = cv2.convertScaleAbs(_fill_mask((height, width), polygon), alpha=-(1 - rng.uniform(0.5, 0.6)), beta=255)
    return cv2.multiply(frame, cv2.merge([factor] * 3), scale=1 / 255)


def _blur(frame: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    diagonal = np.hypot(*frame.shape[:2])
    if kind == "defocus":  # a Gaussian, not a disk: a disk kernel costs half a second at 12 MP
        return cv2.GaussianBlur(frame, (0, 0), diagonal * rng.uniform(0.0004, 0.0009))
    length = max(3, int(round(diagonal * rng.uniform(0.0012, 0.0022))) | 1)
    angle, c = rng.uniform(0, np.pi), (length - 1) / 2
    ends = [(round((c + s * c * np.cos(angle)) * 16), round((c + s * c * np.sin(angle)) * 16)) for s in (-1, 1)]
    kernel = cv2.line(np.zeros((length, length), np.float32), ends[0], ends[1], 1.0, 1, cv2.LINE_AA, 4)
    return cv2.filter2D(frame, -1, kernel / kernel.sum())


def compose_scene(page: np.ndarray, options: SceneOptions = _DEFAULT) -> Scene:
    """A synthetic phone photo of ``page`` (a BGR uint8 scan) on a desk, and where its corners landed."""
    if page.ndim != 3 or page.shape[2] != 3 or page.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 page, got shape {page.shape} {page.dtype}")
    width = int(round(np.sqrt(options.megapixels * 1e6 * 4 / 3)))
    width, height = (width, int(round(width * 3 / 4)))
    if options.portrait:
        width, height = height, width
    diagonal = np.hypot(width, height)
    camera, sheet = _place(options, page.shape[1::-1], (width, height))
    h, w = page.shape[:2]
    corners = camera.project(sheet.to_desk(_outline(w, h, 1))).astype(np.float32)

    # The desk at half size (a desk is never in sharp focus detail), with the sheet's faint drop shadow.
    paper = _rng(options.seed, _PAPER)
    dw, dh = (width + 1) // 2, (height + 1) // 2
    desk = desk_texture(options.desk, dh, dw, _rng(options.seed, _DESK))
    lw, lh = max(8, width // 8), max(8, height // 8)
    offset = paper.uniform(-1, 1, 2) * 0.004 * diagonal
    drop = _fill_mask((lh, lw), (corners + offset) * (lw / width, lh / height)).astype(np.float32) / 255
    drop = cv2.GaussianBlur(drop, (0, 0), 0.006 * diagonal * lw / width + 0.5)
    drop = cv2.resize(np.uint8(255 * (1 - paper.uniform(0.3, 0.45) * drop)), (dw, dh), interpolation=cv2.INTER_LINEAR)
    desk = cv2.multiply(desk, cv2.merge([drop] * 3), scale=1 / 255)
    frame = cv2.resize(desk, (width, height), interpolation=cv2.INTER_LINEAR)

    _render_sheet(page, camera, sheet, frame, albedo=paper.uniform(0.9, 0.97))
    if options.finger:
        _add_finger(frame, corners.astype(np.float64), _rng(options.seed, _FINGER))
    gain = cv2.resize(_lighting(options, corners, width, height), (width, height), interpolation=cv2.INTER_LINEAR)
    frame = cv2.multiply(frame, gain, scale=1 / 255)
    if options.shadow == "hard":
        frame = _hard_shadow(frame, corners, _rng(options.seed, _SHADOW))
    if options.blur != "none":
        frame = _blur(frame, options.blur, _rng(options.seed, _BLUR))
    # Sensor noise as left by a phone's denoising: luminance only, grainy at about two pixels.
    rng = _rng(options.seed, _NOISE)
    noise = rng.standard_normal((dh, dw), np.float32) * rng.uniform(2.0, 4.0) + 128
    noise = cv2.resize(np.clip(noise, 0, 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    frame = cv2.addWeighted(frame, 1.0, cv2.merge([noise] * 3), 1.0, -128.0)
    if options.jpeg_quality is not None:
        _, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(options.jpeg_quality)])
        frame = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return Scene(frame, corners, options)
