"""Occlusion sensitivity computed with the TFLite model itself, so it runs wherever the model does:
grey out one square of the model input at a time (image views), or flatten a quarter second of one
lead (the signals view), and record how much the predicted class's probability drops."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.classifier import EcgClassifier
from edge.lead_matrix import SIGNAL_FS
from edge.leads import MOSAIC_COLS, LeadLayout, mosaic_cell
from edge.preprocess import PreprocessedImage

SIGNAL_WINDOW_S = 0.25  # the signals view is flattened a quarter second of one lead at a time


@dataclass(frozen=True)
class OcclusionMap:
    # float32 in [0, 1], the share of the largest probability drop: (S, S) over an image view's
    # input, (12, windows) over the signals view's leads (LEAD_NAMES order, windows in time order).
    # All zeros when nothing occluded changed the answer's probability.
    heat: np.ndarray
    label_index: int
    evaluations: int
    # What was greyed or flattened at a time: "patch" (image views), "window" or, when no single
    # window changed the answer (a confident int8 model's output moves in steps of 1/256), "lead".
    unit: str = "patch"


def lead_occlusion_map(classifier: EcgClassifier, pre: PreprocessedImage) -> OcclusionMap:
    """The signals view's occlusion: a quarter second of one lead set to 0 mV (flat, as a lead not
    read is given to the model) at a time; when no window moves the answer, whole leads. A fused
    model's other members keep their inputs, so the map shows what in the leads moved its answer."""
    others = pre.member_inputs
    matrix = pre.image
    samples, leads = matrix.shape
    windows = max(1, int(round(samples / (SIGNAL_WINDOW_S * SIGNAL_FS))))
    edges = np.linspace(0, samples, windows + 1).round().astype(int)
    base = classifier.predict_preprocessed(matrix, others)
    label = int(np.argmax(base))

    def drop(lead: int, a: int, b: int) -> float:
        occluded = matrix.copy()
        occluded[a:b, lead] = 0.0
        return max(0.0, float(base[label] - classifier.predict_preprocessed(occluded, others)[label]))

    heat = np.array([[drop(k, edges[w], edges[w + 1]) for w in range(windows)] for k in range(leads)], np.float32)
    unit, evaluations = "window", leads * windows
    if heat.max() <= 0:
        heat = np.repeat(np.array([[drop(k, 0, samples)] for k in range(leads)], np.float32), windows, axis=1)
        unit, evaluations = "lead", evaluations + leads
    peak = heat.max()
    return OcclusionMap(heat / peak if peak > 0 else heat, label, evaluations, unit)


def occlusion_map(
    classifier: EcgClassifier, pre: PreprocessedImage, patch_fraction: float = 0.125, stride_fraction: float = 0.0625
) -> OcclusionMap:
    if pre.image.dtype != np.uint8:  # a lead matrix (the signals view), not an image
        return lead_occlusion_map(classifier, pre)
    image = pre.image
    size = image.shape[0]
    patch = max(2, int(round(size * patch_fraction)))
    stride = max(1, int(round(size * stride_fraction)))
    base = classifier.predict_preprocessed(image, pre.member_inputs)
    label = int(np.argmax(base))
    fill = int(np.median(image))  # the page background, so a patch looks like blank paper
    drop = np.zeros((size, size), np.float32)
    counts = np.zeros((size, size), np.float32)
    evaluations = 0
    positions = list(range(0, max(1, size - patch) + 1, stride))
    for y in positions:
        for x in positions:
            occluded = image.copy()
            occluded[y : y + patch, x : x + patch] = fill
            p = classifier.predict_preprocessed(occluded, pre.member_inputs)[label]
            drop[y : y + patch, x : x + patch] += max(0.0, float(base[label] - p))
            counts[y : y + patch, x : x + patch] += 1
            evaluations += 1
    heat = np.divide(drop, counts, out=np.zeros_like(drop), where=counts > 0)
    peak = heat.max()
    return OcclusionMap(heat / peak if peak > 0 else heat, label, evaluations)


def _blend(region: np.ndarray, heat: np.ndarray, alpha: float) -> np.ndarray:
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    weight = (alpha * heat)[..., None]
    return (region * (1 - weight) + colour * weight).astype(np.uint8)


def _overlay_panels(bgr: np.ndarray, layout: LeadLayout, heat: np.ndarray, alpha: float) -> np.ndarray:
    """Each lead's cell of the heat map laid over that lead's panel on the page."""
    out = bgr.copy()
    cell_h, cell_w = mosaic_cell(heat.shape[0])
    height, width = bgr.shape[:2]
    for lead, box in enumerate(layout.panels):
        r, c = divmod(lead, MOSAIC_COLS)
        x0, y0, x1, y1 = (int(round(v / layout.scale)) for v in (box.x0, box.y0, box.x1, box.y1))
        if x1 <= x0 or y1 <= y0:
            continue
        cell = cv2.resize(heat[r * cell_h : (r + 1) * cell_h, c * cell_w : (c + 1) * cell_w], (x1 - x0, y1 - y0))
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx1 > cx0 and cy1 > cy0:
            part = cell[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
            out[cy0:cy1, cx0:cx1] = _blend(out[cy0:cy1, cx0:cx1], part, alpha)
    return out


def _overlay_lead_windows(bgr: np.ndarray, layout: LeadLayout, heat: np.ndarray, alpha: float) -> np.ndarray:
    """Each lead's row of the signals view's heat map laid along that lead's panel, left to right."""
    out = bgr.copy()
    height, width = bgr.shape[:2]
    for lead, box in enumerate(layout.panels):
        x0, y0, x1, y1 = (int(round(v / layout.scale)) for v in (box.x0, box.y0, box.x1, box.y1))
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        strip = cv2.resize(heat[lead : lead + 1], (x1 - x0, 1), interpolation=cv2.INTER_NEAREST)[0, cx0 - x0 : cx1 - x0]
        band = np.ascontiguousarray(np.broadcast_to(strip, (cy1 - cy0, cx1 - cx0)))
        out[cy0:cy1, cx0:cx1] = _blend(out[cy0:cy1, cx0:cx1], band, alpha)
    return out


def overlay(bgr: np.ndarray, pre: PreprocessedImage, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The heat map laid over the region of the scan the model saw: the lead panels (each lead's
    windows along its panel, for the signals view), the grid, or the whole page."""
    if pre.image.dtype != np.uint8 and pre.layout is not None:
        return _overlay_lead_windows(bgr, pre.layout, heat, alpha)
    if pre.layout is not None:
        return _overlay_panels(bgr, pre.layout, heat, alpha)
    out = bgr.copy()
    g = pre.grid
    y0, y1, x0, x1 = (0, bgr.shape[0], 0, bgr.shape[1]) if g is None else (g.y0, g.y1, g.x0, g.x1)
    region = out[y0:y1, x0:x1]
    resized = cv2.resize(heat, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_LINEAR)
    out[y0:y1, x0:x1] = _blend(region, resized, alpha)
    return out


def explained_scan(classifier: EcgClassifier, bgr: np.ndarray, pre: PreprocessedImage, result) -> np.ndarray | None:
    """The scan with the occlusion map of its predicted class laid over it, or None for an image
    that is not an ECG printout: there is no label to explain, so its inferences (225 over an image,
    120 over the leads) are skipped."""
    if not result.is_ecg:
        return None
    return overlay(bgr, pre, occlusion_map(classifier, pre).heat)
