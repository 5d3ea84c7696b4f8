"""The page stage: a decoded scan brought to one working scale, its shading divided out, levelled,
with its ink found. Every later stage (layout, signals, the model's view) reads this one page.

The signals handed to people are read from a detail page (``detail_page``): the same page at twice
the working scale, levelled by the angle found on the working page (the layout is found once, on
the working page), from a scan's own pixels where it has them, else enlarged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import cv2
import numpy as np

from edge.deskew import level, rotate
from edge.leads import LeadConfig, flatten_shading, ink_mask, marker_mask


@dataclass(frozen=True)
class Page:
    gray: np.ndarray  # uint8, red channel at the working scale, shading flattened, levelled
    ink: np.ndarray  # uint8 0/1: clearly darker than its neighbourhood (lead-switch markers included)
    markers: np.ndarray  # uint8 0/1: vertical lines taller than any wave (markers, frames)
    scale: float  # working-scale pixels per source pixel
    angle: float  # degrees the page was turned to level it (0: untouched)
    source_shape: tuple[int, int]  # (height, width) of the decoded scan

    @cached_property  # read once per lead segment by the digitizer: computed once
    def traces(self) -> np.ndarray:
        """Ink without the markers: what the lead rows and traces are read from."""
        return self.ink & ~self.markers


_ROTATIONS = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def turned(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    """``image`` turned counter-clockwise by ``quarter_turns`` quarters: numpy's rot90, as a
    contiguous array, but by OpenCV (numpy's strided copy took ~20 ms for a 2048 px colour page,
    OpenCV ~2); the image itself when no turn is needed."""
    turns = quarter_turns % 4
    return cv2.rotate(np.ascontiguousarray(image), _ROTATIONS[turns]) if turns else image


def to_work_scale(gray: np.ndarray, work_size: int) -> tuple[np.ndarray, float]:
    # Bring every scan to one working scale first, so what follows sees the same image at any
    # resolution: INTER_AREA averages away the single-pixel grid dots of full-resolution prints,
    # and small scans are enlarged (without this, test scans at half their size lost their traces
    # in the final shrink: accuracy 0.37, against 0.73 with it and 0.78 as they are).
    # (Any image: the gate brings its colour copy to its own working size the same way.)
    scale = work_size / max(gray.shape[:2])
    if scale == 1.0:
        return gray, scale
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    if min(gray.shape[:2]) * scale < 1:  # a sliver would shrink to nothing: keep one pixel across
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        return cv2.resize(gray, size, interpolation=interpolation), scale
    return cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation), scale


def read_page(bgr: np.ndarray, work_size: int, config: LeadConfig, red: np.ndarray | None = None) -> Page:
    """The levelled page of a BGR scan. The red channel is the grayscale: a red/pink grid is
    palest there, black traces stay black. ``red``: that channel already brought to ``work_size``
    by ``to_work_scale`` (the ECG gate's copy: the same pixels); ``bgr`` is then read for its shape only."""
    if red is None:
        gray, scale = to_work_scale(np.ascontiguousarray(bgr[..., 2]), work_size)
    else:
        gray, scale = red, work_size / max(bgr.shape[:2])
    gray = flatten_shading(gray, config)
    ink = ink_mask(gray, config)
    gray, angle = level(gray, ink, config.deskew_max_degrees, config.deskew_min_degrees)
    if angle:
        ink = ink_mask(gray, config)
    return Page(gray, ink, marker_mask(ink, config), scale, angle, (bgr.shape[0], bgr.shape[1]))


# At 1024 px a printed trace is ~1 px wide and an R wave's strokes merge; at 2048 px they are read
# row by row (edge.signals). From a full-resolution scan's own pixels: the 8 full-resolution shared
# scans' Einthoven agreement 15.9 dB read at 1024 px, 21.1 dB at 2048 px. A scan with fewer pixels is
# enlarged (bicubic, doubled then shrunk, enlarge_twice): it holds no more detail, but its strokes'
# darkness, spread over rows, places them between the working page's columns (half-resolution
# renderings 14.5 -> 20.6 dB; 80 half-resolution shared scans' Einthoven 15.4 -> 16.6 dB, aVR + aVL +
# aVF 11.2 -> 14.1 dB. OpenCV's bicubic resize straight to 2048 px read 0.3-0.6 dB better but gives a
# Pi other pixels; enlarged to 1536 px: 18.9 dB and 15.7 dB; to 2560 px: 20.3 and 17.1 dB at 1.2 times
# the cost; bilinear 20.5 and 16.2, rhythm strips 2 dB worse; a Gaussian pyramid's doubling 19.8, 15.6).
# A detail page not this much larger than the working page is not made.
DETAIL_MIN_GAIN = 1.25
DETAIL_SIZE = 2048  # px, longest side: the detail page's scale (~1 px per 0.1 mm on A4 landscape)


def detail_page(bgr: np.ndarray, page: Page, size: int, config: LeadConfig) -> Page | None:
    """``page`` again from ``bgr`` (the same page, at any resolution: a decode that kept more of a
    file) at ``size`` px on the longest side (enlarged when ``bgr`` is smaller), levelled by the
    angle found on ``page``; None when ``size`` is not larger than ``page`` (by DETAIL_MIN_GAIN).
    Its size over ``page``'s, ``detail_factor``, maps a layout found on ``page`` onto it."""
    if size < DETAIL_MIN_GAIN * max(page.gray.shape):
        return None
    red = np.ascontiguousarray(bgr[..., 2])
    while max(red.shape[:2]) < size:
        red = enlarge_twice(red)
    gray, _ = to_work_scale(red, size)
    scale = size / max(bgr.shape[:2])
    # The paper's brightness is estimated over the same stretch of paper; ink is judged against the
    # same pixel neighbourhood (on rendered printouts, a neighbourhood of the same paper size
    # fattened the ink and read worse: 18.7 against 20.7 dB). ``bgr`` may be another decode of the
    # file than ``page``'s: the pages' sizes, not their scales, say how much larger this one is.
    shading = int(round(config.shading_window * max(gray.shape) / max(page.gray.shape))) | 1
    config = replace(config, shading_window=shading)
    gray = flatten_shading(gray, config)
    if page.angle:
        gray = rotate(gray, page.angle)
    ink = _without_faint(gray, ink_mask(gray, config))
    if core_darkness(gray, ink) < BLURRED_CORE:
        soft = cv2.GaussianBlur(gray, (0, 0), SHARPEN_SIGMA * size / DETAIL_SIZE)
        gray = cv2.addWeighted(gray, 1 + SHARPEN_AMOUNT, soft, -SHARPEN_AMOUNT, 0)
        ink = _without_faint(gray, ink_mask(gray, config))
    return Page(gray, ink, marker_mask(ink, config), scale, page.angle, (bgr.shape[0], bgr.shape[1]))


# A blurred photo (out of focus, or the phone moved) spreads a trace's ink over more rows and fades
# it: the darkest pixel of a column's ink, median over the columns, is 254-255 grey levels below
# paper on the shared scans, 235 on rendered printouts, 227-255 on sharp phone-photo scenes, and
# 154-210 out of focus, 193-241 moved (benchmarks/phone_photos.py's scenes). Below BLURRED_CORE the
# detail page is sharpened (an unsharp mask) before its ink is found: defocused scenes read against
# the flat scan 12.9 -> 15.5 dB, against known signals 17.9 -> 18.6 dB; sharpening a sharp page
# costs (rendered printouts 23.0 -> 21.5 dB), hence the gate.
BLURRED_CORE = 225.0
SHARPEN_SIGMA = 2.0  # px at DETAIL_SIZE
SHARPEN_AMOUNT = 1.5


def core_darkness(gray: np.ndarray, ink: np.ndarray) -> float:
    """How dark the ink's cores are: per column holding ink, 255 minus its darkest ink pixel; the
    median over those columns (255 when there is no ink)."""
    darkest = cv2.bitwise_or(gray, cv2.compare(ink, 0, cv2.CMP_EQ)).min(axis=0)  # paper reads 255
    inked = ink.max(axis=0) > 0
    return float(np.median(255 - darkest[inked].astype(np.int16))) if inked.any() else 255.0


# A JPEG stores colour at half resolution (4:2:0, as scanners and phones save): a pink grid's lines
# then bleed into the red channel 30-50 grey levels dark, which the ink threshold takes for ink at a
# detail page's scale (it joined the trace's runs: rendered printouts 20.7 -> 16.7 dB as JPEG 90);
# the working page's averaging hides them. The trace itself is far darker: ink fainter than
# FAINT_INK of the trace's own darkness (the 90th percentile of the ink's) is dropped.
FAINT_INK = 0.2


def _without_faint(gray: np.ndarray, ink: np.ndarray) -> np.ndarray:
    counts = cv2.calcHist([gray], [0], ink, [256], [0, 256]).ravel()  # grey levels of the ink
    if counts.sum() == 0:
        return ink
    darkest_tenth = int(np.searchsorted(np.cumsum(counts), 0.1 * counts.sum()))  # grey level
    level = 255 - FAINT_INK * (255 - darkest_tenth)  # pixels lighter than this are not ink
    return cv2.bitwise_and(ink, cv2.threshold(gray, level, 1, cv2.THRESH_BINARY_INV)[1])


# Bicubic weights (Keys' kernel, a = -0.75, as OpenCV's INTER_CUBIC) for doubling a pixel grid:
# the new pixels sit a quarter of a pixel either side of the old ones' centres, and the weights
# are exact multiples of 1/1024. Summed in floating point they stay whole numbers well below the
# mantissa's limit, so every machine gets the same pixels (OpenCV's own bicubic resize does not:
# its arm64 code differs, and a Pi's digitized leads moved by up to 0.18 mV).
_NEAR, _FAR = np.array([-36, 268, 900, -108]), np.array([-108, 900, 268, -36])  # taps i-2..i+1, i-1..i+2


def _half(image: np.ndarray, axis: int, after: bool) -> np.ndarray:
    """The pixels that doubling ``image`` (float32) along ``axis`` puts a quarter of a pixel before
    (``after`` False) or after each of its own, weights unnormalized (x 1024)."""
    taps = (_FAR if after else _NEAR).astype(np.float32)
    anchor = 1 if after else 2  # the first tap is i-1 (after) or i-2 (before)
    kernel, at = (taps.reshape(1, 4), (anchor, 0)) if axis == 1 else (taps.reshape(4, 1), (0, anchor))
    return cv2.filter2D(image, -1, kernel, anchor=at, borderType=cv2.BORDER_REPLICATE)


def enlarge_twice(gray: np.ndarray) -> np.ndarray:
    """``gray`` (uint8) at twice its size, bicubic, the same to the bit on every machine: each pass
    sums whole numbers below 2^19 in float32 (exact in any order) and rounds to whole grey levels."""
    height, width = gray.shape
    source = gray.astype(np.float32)
    across = np.empty((height, 2 * width), np.float32)
    across[:, 0::2], across[:, 1::2] = _half(source, 1, after=False), _half(source, 1, after=True)
    np.rint(np.multiply(across, 1 / 1024, out=across), out=across)
    out = np.empty((2 * height, 2 * width), np.uint8)
    for start in (0, 1):  # one half of the rows at a time: less memory
        half = _half(across, 0, after=bool(start))
        np.clip(np.rint(np.multiply(half, 1 / 1024, out=half), out=half), 0, 255, out=half)
        out[start::2] = half
    return out


def detail_factor(detail: Page, page: Page) -> float:
    """How many times larger ``detail`` draws the page than ``page`` does (both fit their longest
    side to their working size)."""
    return max(detail.gray.shape) / max(page.gray.shape)
