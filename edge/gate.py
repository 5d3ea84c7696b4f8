"""Is this a printed ECG at all? A gate before the classifier, so that a photo, a blank page, a
text document or another medical image gets "not an ECG printout" instead of a cardiac label.

An ECG printout is mostly pale paper (a red/pink grid is pale in the red channel too) crossed by
thin dark traces that run a long way across the page; text is made of short strokes, ruled lines
are flat, photos and radiographs are not mostly paper. The thresholds live in GateConfig and were
set on the shared data set (no ECG rejected) and the non-ECG set of benchmarks/ecg_gate.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from edge.components import components
from edge.page import to_work_scale


@dataclass(frozen=True)
class GateConfig:
    work_size: int = 1024
    # Paper is judged on every (work_size / paper_size)-th pixel of the working page's red channel,
    # weighted by the share of unsaturated pixels of the decoded scan around it: a share of the page
    # needs no fine detail, and the colour copy at the working size cost 7.5 ms of a 60 ms scan.
    # (1024: every pixel of a colour copy, as before 2026-11-27.)
    paper_size: int = 256
    # Paper: within paper_tolerance of the locally brightest surface (so shadows and uneven light
    # do not count against it), brighter than paper_level...
    paper_level: int = 90
    paper_tolerance: int = 45
    paper_max_saturation: int = 80  # ...if it is not strongly coloured (a fundus photo is bright red)
    min_paper_fraction: float = 0.75
    # Ink: darker than its neighbourhood (a window of ink_window px at work size) by ink_contrast,
    # so blurred, faint or small scans still show their traces.
    ink_window: int = 31
    ink_contrast: int = 30
    min_stroke_width: float = 0.12  # of the page width
    min_stroke_height: float = 0.015  # of the page height: traces swing; ruled lines do not
    max_stroke_fill: float = 0.3  # a trace fills little of its bounding box; a blob fills much
    bands: int = 12  # horizontal bands over which trace coverage is summed
    min_trace_widths: float = 2.0  # summed stroke coverage of the bands, in page widths

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GateResult:
    is_ecg: bool
    paper_fraction: float
    trace_widths: float  # trace-like ink summed over horizontal bands, in page widths
    reason: str  # why not, when not an ECG


def paper_fraction(bgr: np.ndarray, red: np.ndarray, config: GateConfig) -> float:
    """Share of the page that looks like paper: bright in red, near the locally brightest surface (so
    shadows and uneven light do not count against it), and not strongly coloured (a fundus photo is
    bright red). Sampled on a grid of every ``step``-th working pixel; the local white is taken from
    an area-averaged copy at that grid's size (OpenCV's fast path: an integer factor)."""
    step = max(1, round(config.work_size / config.paper_size))
    if min(red.shape) < 2 * step:  # a sliver of an image: every pixel
        step = 1
    sampled = red[::step, ::step]
    if step > 1:
        coarse = cv2.resize(red, None, fx=1 / step, fy=1 / step, interpolation=cv2.INTER_AREA)
    else:
        coarse = red
    height, width = min(sampled.shape[0], coarse.shape[0]), min(sampled.shape[1], coarse.shape[1])
    sampled, coarse = sampled[:height, :width], coarse[:height, :width]
    blur = max(1, round(15 / step))
    reach = max(1, round(61 / step)) | 1
    local_white = cv2.dilate(cv2.blur(coarse, (blur, blur)), np.ones((reach, reach), np.uint8))
    bright = (sampled > config.paper_level) & (
        sampled.astype(np.int16) > local_white.astype(np.int16) - config.paper_tolerance
    )
    if step > 1:
        # Not strongly coloured, judged per pixel of the scan as decoded (brought to about the working
        # size by an integer factor, OpenCV's fast path, so a thin saturated grid line blends into its
        # paper as on the working page), then the share of such pixels around each grid point.
        factor = max(1, min(round(max(bgr.shape[:2]) / config.work_size), min(bgr.shape[:2]) // 2))
        near = bgr if factor == 1 else cv2.resize(bgr, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
        saturation = cv2.extractChannel(cv2.cvtColor(near, cv2.COLOR_BGR2HSV), 1)
        # 255 where saturation < paper_max_saturation, else 0.
        plain = cv2.threshold(saturation, config.paper_max_saturation - 1, 255, cv2.THRESH_BINARY_INV)[1]
        cell = step * max(near.shape[:2]) / max(red.shape)  # a grid cell, in pixels of ``near``
        k = max(1, round(cell))
        rows = np.minimum(np.round(np.arange(height) * cell).astype(int), near.shape[0] - 1)
        cols = np.minimum(np.round(np.arange(width) * cell).astype(int), near.shape[1] - 1)
        share = cv2.blur(plain, (k, k))[rows[:, None], cols[None, :]].astype(np.float32) / 255
        return float(np.mean(bright * share))
    colour = to_work_scale(bgr, config.work_size)[0][:height, :width]
    saturation = cv2.cvtColor(colour, cv2.COLOR_BGR2HSV)[..., 1]
    return float(np.mean(bright & (saturation < config.paper_max_saturation)))


def check_ecg(bgr: np.ndarray, config: GateConfig = GateConfig(), red: np.ndarray | None = None) -> GateResult:
    """``red``: the red channel of ``bgr`` already brought to ``config.work_size`` by
    edge.page.to_work_scale, when the caller has it (the page reader reads the same pixels)."""
    if red is None:
        red, _ = to_work_scale(np.ascontiguousarray(bgr[..., 2]), config.work_size)
    height, width = red.shape
    paper = paper_fraction(bgr, red, config)
    if paper < config.min_paper_fraction:
        return GateResult(False, paper, 0.0, f"not an ECG printout: only {paper:.0%} of the image looks like paper")
    ink = cv2.adaptiveThreshold(
        red, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, config.ink_window, config.ink_contrast
    )
    count, labels, stats = components(ink, connectivity=8)
    w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    strokes = (
        (w >= config.min_stroke_width * width)
        & (h >= config.min_stroke_height * height)
        & (area <= config.max_stroke_fill * w * h)
    )
    strokes[0] = False  # the background
    trace = strokes[labels]
    # Traces that touch each other form one component; counting covered columns band by band
    # measures how much trace there is whatever joins it.
    edges = np.linspace(0, height, config.bands + 1).astype(int)
    widths = float(sum(trace[a:b].any(axis=0).mean() for a, b in zip(edges[:-1], edges[1:])))
    if widths < config.min_trace_widths:
        return GateResult(False, paper, widths, "not an ECG printout: no long traces found")
    return GateResult(True, paper, widths, "")
