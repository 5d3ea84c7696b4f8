"""Occlusion sensitivity computed with the TFLite model itself, so it runs wherever the model does:
grey out one square of the model input at a time and record how much the predicted class's
probability drops."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.classifier import EcgClassifier
from edge.leads import MOSAIC_COLS, LeadLayout, mosaic_cell
from edge.preprocess import PreprocessedImage


@dataclass(frozen=True)
class OcclusionMap:
    heat: np.ndarray  # float32 (S, S) in [0, 1]: share of the largest probability drop
    label_index: int
    evaluations: int


def occlusion_map(
    classifier: EcgClassifier, pre: PreprocessedImage, patch_fraction: float = 0.125, stride_fraction: float = 0.0625
) -> OcclusionMap:
    image = pre.image
    size = image.shape[0]
    patch = max(2, int(round(size * patch_fraction)))
    stride = max(1, int(round(size * stride_fraction)))
    base = classifier.predict_preprocessed(image)
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
            p = classifier.predict_preprocessed(occluded)[label]
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


def overlay(bgr: np.ndarray, pre: PreprocessedImage, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The heat map laid over the region of the scan the model saw: the lead panels, the grid, or
    the whole page."""
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
    that is not an ECG printout: there is no label to explain, so its 225 inferences are skipped."""
    if not result.is_ecg:
        return None
    return overlay(bgr, pre, occlusion_map(classifier, pre).heat)
