"""The one preprocessing function: training, conversion, evaluation, the CLI and the app all call
:func:`preprocess`, with the parameters stored in the model card, so there is no train/serve skew.

Pipeline: decode (EXIF orientation honoured) -> grayscale (red channel, in which a red/pink grid
is palest) at one working scale -> the model's view of the page, one of

- ``page``: the printed grid (found by its colour; the whole page without one), resized;
- ``leads``: the 12 lead panels found whatever the layout (edge.leads), 2.5 s each, tiled in
  canonical order, so header, footer and layout never reach the model;
- ``traces``: the same panels with each trace redrawn as a one-pixel binary stroke;
- ``signals``: the 12 leads digitized (edge.signals) into millivolts, each lead's first 2.5 s at
  250 Hz (edge.lead_matrix): a (625, 12) float32 input for 1-D models, not an image;

-> CLAHE -> median filter (``page`` and ``leads``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from edge.layout import find_layout
from edge.lead_matrix import SIGNAL_SAMPLES, lead_matrix
from edge.leads import (
    LEAD_NAMES,
    LayoutError,
    LeadConfig,
    LeadLayout,
    crop_panel,
    mosaic_cell,
    render_traces,
    tile_mosaic,
)
from edge.page import Page, read_page, to_work_scale
from edge.signals import Ecg, digitize

MAX_FILE_BYTES = 64 * 1024 * 1024
# Decompression-bomb guard: images declaring more pixels than this are refused before decoding.
# 100 MP covers 200 dpi A3 scans and 50 MP phone photos (a full-resolution scan is 3.5 MP).
MAX_PIXELS = 100_000_000


class ImageDecodeError(ValueError):
    """The input is not a readable image."""


@dataclass(frozen=True)
class PreprocessConfig:
    """Every preprocessing parameter; serialised into each model card."""

    input_size: int = 384  # the paper's; the shipped model card records its own
    view: str = "page"  # page, leads, traces or signals (see the module docstring)
    # A pixel belongs to the (pink/red) grid when R - (G+B)/2 exceeds this.
    grid_red_threshold: int = 12
    # A row/column is a grid line when this share of its pixels is grid-coloured.
    grid_line_fraction: float = 0.05
    # A detected grid smaller than this share of the page (either side) is not trusted.
    grid_min_span: float = 0.3
    # Longest side of the intermediate image every scan is first shrunk to.
    work_size: int = 1024
    # Minimum-filter width before shrinking, as a share of the shrink factor (0 disables it).
    trace_keep: float = 0.5
    clahe_clip_limit: float = 2.0
    clahe_tile_grid: int = 8
    median_ksize: int = 3
    leads: LeadConfig = LeadConfig()  # how lead panels are found (views leads and traces)

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}: one of {', '.join(VIEWS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PreprocessConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown preprocessing parameters: {sorted(unknown)}")
        data = dict(data)
        if isinstance(data.get("leads"), dict):
            lead_fields = {f.name for f in fields(LeadConfig)}
            if set(data["leads"]) - lead_fields:
                raise ValueError(f"unknown lead parameters: {sorted(set(data['leads']) - lead_fields)}")
            data["leads"] = LeadConfig(**data["leads"])
        return cls(**data)


VIEWS = ("page", "leads", "traces", "signals")
IMAGE_VIEWS = ("page", "leads", "traces")


def model_input_shape(config: PreprocessConfig) -> tuple[int, ...]:
    """The model's input tensor shape, batch of one: an image view's (1, S, S, 1) or the signals
    view's (1, samples, leads)."""
    if config.view == "signals":
        return (1, SIGNAL_SAMPLES, len(LEAD_NAMES))
    return (1, config.input_size, config.input_size, 1)


@dataclass(frozen=True)
class GridBox:
    """Crop box in source pixels (x0, y0 inclusive; x1, y1 exclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True)
class PreprocessedImage:
    # The model input before batching: uint8 (input_size, input_size) for the image views, float32
    # (samples, leads) millivolts for the signals view.
    image: np.ndarray
    grid: GridBox | None  # None when no grid was found and the whole page was used
    source_shape: tuple[int, int]  # (height, width) of the decoded scan
    layout: LeadLayout | None = None  # the lead panels found (views leads, traces and signals)
    page: Page | None = None  # the levelled page they were found on (views leads, traces and signals)
    ecg: Ecg | None = None  # the digitized leads (view signals), so measuring does not digitize again
    # A fused model's further members' inputs (``image`` is its first member's), made from the same
    # page and layout.
    member_inputs: tuple[np.ndarray, ...] = ()


def _looks_truncated(data: bytes) -> bool:
    # OpenCV decodes a cut-off JPEG/PNG into a partly grey image with only a warning; catch it here.
    if data[:2] == b"\xff\xd8":
        return b"\xff\xd9" not in data[-1024:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-64:]
    return False


_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, without decoding; None if not found."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF_MARKERS:
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) an image header declares (JPEG, PNG, GIF, BMP), read without decoding."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:2] == b"BM" and len(data) >= 26:
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        return abs(width), abs(height)
    return jpeg_size(data)


def _reduction(data: bytes, min_side: int | None) -> int:
    """Largest JPEG DCT scaling (1, 2, 4, 8) that keeps the long side >= ``min_side``: decoding a
    2213x1572 scan at half size costs a fraction of the full decode and loses nothing we use."""
    size = jpeg_size(data) if min_side else None
    if size is None:
        return 1
    long_side = max(size)
    factor = 1
    while factor < 8 and long_side // (factor * 2) >= min_side:
        factor *= 2
    return factor


def decode_image(source: str | os.PathLike | bytes, min_side: int | None = None) -> np.ndarray:
    """Decode a path or encoded bytes into a BGR uint8 array, honouring EXIF orientation.

    With ``min_side``, a large JPEG is decoded directly at a reduced scale whose long side is
    still at least ``min_side`` pixels."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    else:
        path = Path(source)
        name = str(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageDecodeError(f"{name}: cannot read file ({exc.strerror})") from exc
        if size > MAX_FILE_BYTES:
            raise ImageDecodeError(f"{name}: file is {size} bytes, over the {MAX_FILE_BYTES} byte limit")
        data = path.read_bytes()
    if not data:
        raise ImageDecodeError(f"{name}: empty file")
    if len(data) > MAX_FILE_BYTES:
        raise ImageDecodeError(f"{name}: {len(data)} bytes, over the {MAX_FILE_BYTES} byte limit")
    if _looks_truncated(data):
        raise ImageDecodeError(f"{name}: truncated image file")
    size = declared_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise ImageDecodeError(
            f"{name}: declares {size[0]}x{size[1]} pixels, over the {MAX_PIXELS:,} pixel limit (not decoded)"
        )
    # IMREAD_COLOR (and its reduced forms) apply the EXIF orientation tag.
    factor = _reduction(data, min_side)
    flags = _REDUCED_FLAGS[factor] if factor > 1 else cv2.IMREAD_COLOR
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as exc:  # some corrupt files make OpenCV's decoders throw instead of return None
        raise ImageDecodeError(f"{name}: corrupt image data") from exc
    if image is None or image.size == 0:
        what = "a PDF document, not an image" if data[:5] == b"%PDF-" else "not a readable image"
        raise ImageDecodeError(f"{name}: {what}")
    return image


def _span(profile: np.ndarray, threshold: float) -> tuple[int, int] | None:
    idx = np.flatnonzero(profile > threshold)
    return (int(idx[0]), int(idx[-1]) + 1) if idx.size else None


def locate_grid(bgr: np.ndarray, config: PreprocessConfig) -> GridBox | None:
    """Find the outer extent of the printed grid from its red/pink colour, at any resolution."""
    pixels = bgr.astype(np.int16)
    redness = pixels[..., 2] - (pixels[..., 0] + pixels[..., 1]) // 2
    mask = redness > config.grid_red_threshold
    rows = _span(mask.mean(axis=1), config.grid_line_fraction)
    cols = _span(mask.mean(axis=0), config.grid_line_fraction)
    if rows is None or cols is None:
        return None
    height, width = mask.shape
    if (rows[1] - rows[0]) < config.grid_min_span * height or (cols[1] - cols[0]) < config.grid_min_span * width:
        return None
    return GridBox(x0=cols[0], y0=rows[0], x1=cols[1], y1=rows[1])


def _shrink(gray: np.ndarray, shape: tuple[int, int], config: PreprocessConfig) -> np.ndarray:
    """Resize to (height, width), first thickening dark traces by a minimum filter sized to the
    shrink: thin traces would otherwise fade to grey."""
    k = int(round(max(gray.shape[0] / shape[0], gray.shape[1] / shape[1]) * config.trace_keep))
    if k >= 2:
        gray = cv2.erode(gray, np.ones((k, k), np.uint8))
    return cv2.resize(gray, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _panel_at_work_width(panel: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    width = config.leads.panel_work_width
    height = max(1, int(round(width * panel.shape[0] / panel.shape[1])))
    interpolation = cv2.INTER_AREA if panel.shape[1] > width else cv2.INTER_LINEAR
    return cv2.resize(panel, (width, height), interpolation=interpolation)


def _enhance(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    # CLAHE and the median filter act on the model-size image, hence at one scale for any scan.
    clahe = cv2.createCLAHE(
        clipLimit=config.clahe_clip_limit, tileGridSize=(config.clahe_tile_grid, config.clahe_tile_grid)
    )
    enhanced = clahe.apply(image)
    if config.median_ksize > 1:
        enhanced = cv2.medianBlur(enhanced, config.median_ksize)
    return enhanced


def preprocess_array(
    bgr: np.ndarray, config: PreprocessConfig, also: tuple[PreprocessConfig, ...] = (), red: np.ndarray | None = None,
    read: tuple[Page, LeadLayout | LayoutError] | None = None,
) -> PreprocessedImage:  # fmt: skip
    """Raises edge.leads.LayoutError when a leads/traces/signals view finds no 12-lead layout.
    ``also``: further lead views of the same page and layout (a fused model's other members, which
    share the page settings), returned in ``member_inputs``. ``red``: the red channel at
    ``config.work_size`` when the caller already has it (edge.page.read_page). ``read``: the page
    (read_page at ``config.work_size``) and its layout (or the LayoutError finding it raised) when
    the caller already read them."""
    source_shape = (bgr.shape[0], bgr.shape[1])
    if also and any(c.view == "page" for c in (config, *also)):
        raise ValueError("a fused model's members read lead views (leads, traces, signals), not the page view")
    if config.view != "page":
        if read is not None:
            page, layout = read
            if isinstance(layout, LayoutError):  # already looked for on this page
                raise layout
        else:
            page = read_page(bgr, config.work_size, config.leads, red)
            layout = find_layout(page, config.leads)
        ecg = None
        inputs = []
        for view_config in (config, *also):
            if view_config.view == "signals":
                # The input is the 12 leads' first 2.5 s; digitized once for every view that needs it.
                ecg = ecg or digitize(page, layout, rhythm=False)
                inputs.append(lead_matrix(ecg))
            else:
                inputs.append(lead_view(page, layout, view_config))
        return PreprocessedImage(inputs[0], None, source_shape, layout, page, ecg, tuple(inputs[1:]))
    grid = locate_grid(bgr, config)
    cropped = bgr if grid is None else bgr[grid.y0 : grid.y1, grid.x0 : grid.x1]
    gray, _ = to_work_scale(np.ascontiguousarray(cropped[..., 2]), config.work_size)
    small = _shrink(gray, (config.input_size, config.input_size), config)
    return PreprocessedImage(image=_enhance(small, config), grid=grid, source_shape=source_shape)


def lead_view(page: Page, layout: LeadLayout, config: PreprocessConfig) -> np.ndarray:
    """The ``leads`` or ``traces`` model input: the 12 panels tiled in canonical order."""
    size = config.input_size
    cell = mosaic_cell(size)
    if config.view == "leads":
        gray = np.where(page.markers > 0, np.uint8(255), page.gray)
        cells = [_shrink(_panel_at_work_width(crop_panel(gray, box), config), cell, config) for box in layout.panels]
        return _enhance(tile_mosaic(cells, size), config)
    traces = page.traces
    return tile_mosaic(render_traces([crop_panel(traces, box, fill=0) for box in layout.panels], cell), size)


def preprocess(
    source: str | os.PathLike | bytes | np.ndarray,
    config: PreprocessConfig,
    also: tuple[PreprocessConfig, ...] = (),
    red: np.ndarray | None = None,
    read: tuple[Page, LeadLayout | LayoutError] | None = None,
) -> PreprocessedImage:
    """Decode (unless given a BGR array) and preprocess one scan into the model's input (and, with
    ``also``, a fused model's further members' inputs; ``red``, ``read``: see preprocess_array)."""
    return preprocess_array(load_scan(source, config), config, also, red, read)


def load_scan(
    source: str | os.PathLike | bytes | np.ndarray, config: PreprocessConfig, keep: int | None = None
) -> np.ndarray:
    """A BGR array as is, or a path/bytes decoded at the smallest scale that keeps ``work_size`` (or
    ``keep`` px, when larger: a detail page's, edge.page.detail_page).

    Decoded pages longer than 4 x ``work_size`` (or 2 x ``keep``) are shrunk at once: everything
    after works at ``work_size``, and full-size int16 copies of a 100 MP page (the grid search makes
    them) took 1.3 GB (benchmarks/memory.py)."""
    if isinstance(source, np.ndarray):
        return source
    keep = max(config.work_size, keep or 0)
    image = decode_image(source, min_side=keep)
    cap = max(4 * config.work_size, 2 * keep)
    if max(image.shape[:2]) > cap:
        scale = cap / max(image.shape[:2])
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return image


def iter_input_files(paths: list[Path]) -> list[Path]:
    """Expand files and folders (recursively) into the sorted list of files to classify.

    Inside folders every non-hidden file is taken, not only image suffixes: a PDF or a stray
    document in a folder of scans is reported as unreadable rather than silently skipped.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        else:
            found.append(path)
    return found
