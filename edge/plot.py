"""The digitized leads redrawn as an image (OpenCV only: the app shows it beside the scan)."""

from __future__ import annotations

import cv2
import numpy as np

from edge.lead_matrix import SIGNAL_FS
from edge.leads import LEAD_NAMES, PANEL_SECONDS, SECONDS_PER_ROW
from edge.signals import Ecg, LeadSignal, Scale

PX_PER_S = 100
PX_PER_MV = 40
ROW_PX = 120
MARGIN = 20


def _polyline(image: np.ndarray, signal: LeadSignal, x0: int, baseline: int, fs: float) -> None:
    t = np.arange(len(signal.mv)) / fs
    xs = x0 + t * PX_PER_S
    ys = baseline - np.clip(signal.mv, -2.8, 2.8) * PX_PER_MV
    known = ~np.isnan(ys)
    # One polyline per stretch without gaps.
    edges = np.flatnonzero(np.diff(np.concatenate([[0], known.astype(np.int8), [0]])))
    for a, b in zip(edges[0::2], edges[1::2]):
        points = np.stack([xs[a:b], ys[a:b]], axis=1)
        cv2.polylines(image, [np.round(points * 4).astype(np.int32)], False, (0, 0, 0), 1, cv2.LINE_AA, 2)


def draw_leads(ecg: Ecg) -> np.ndarray:
    """A BGR image of the 12 leads as printed (leads that start together share a column) and the
    rhythm strips, on a 0.2 s x 0.5 mV grid."""
    lead_rows = max(1, sum(1 for s in ecg.leads.values() if s.start_s == 0))
    rows = lead_rows + len(ecg.rhythm)
    width = int(SECONDS_PER_ROW * PX_PER_S) + 2 * MARGIN
    height = rows * ROW_PX + 2 * MARGIN
    image = np.full((height, width, 3), 255, np.uint8)
    for x in range(MARGIN, width - MARGIN + 1, PX_PER_S // 5):
        cv2.line(image, (x, MARGIN), (x, height - MARGIN), (200, 200, 255), 1)
    for y in range(MARGIN, height - MARGIN + 1, PX_PER_MV // 2):
        cv2.line(image, (MARGIN, y), (width - MARGIN, y), (200, 200, 255), 1)
    for index, name in enumerate(LEAD_NAMES):
        signal = ecg.leads[name]
        baseline = MARGIN + int((index % lead_rows + 0.6) * ROW_PX)
        x0 = MARGIN + int(round(signal.start_s * PX_PER_S))
        label = name if signal.ok else f"{name}: not read"
        cv2.putText(image, label, (x0 + 3, baseline - int(0.4 * ROW_PX)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (90, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
        if signal.ok:
            _polyline(image, signal, x0, baseline, ecg.fs)
    for k, strip in enumerate(ecg.rhythm):
        baseline = MARGIN + int((lead_rows + k + 0.6) * ROW_PX)
        cv2.putText(image, f"rhythm {strip.lead or '?'}", (MARGIN + 3, baseline - int(0.4 * ROW_PX)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (90, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
        if strip.ok:
            _polyline(image, strip, MARGIN + int(round(strip.start_s * PX_PER_S)), baseline, ecg.fs)
    return image


def draw_lead_matrix(matrix: np.ndarray, fs: float = SIGNAL_FS) -> np.ndarray:
    """A BGR image of a signals-view model input (edge.lead_matrix): its 12 windows drawn as a 3x4
    printout would place them, so a user sees what the model read."""
    leads = {
        # A lead the digitizer could not follow is all zeros in the matrix: said, not drawn flat.
        name: LeadSignal(name, (k // 3) * PANEL_SECONDS, matrix[:, k].astype(np.float64), 1.0)
        if np.any(matrix[:, k])
        else LeadSignal(name, (k // 3) * PANEL_SECONDS, np.full(len(matrix), np.nan), 0.0, "not read")
        for k, name in enumerate(LEAD_NAMES)
    }
    return draw_leads(Ecg(fs, "model input", leads, (), Scale(0.0, 0.0, "model input")))


def model_input_picture(image: np.ndarray, member_inputs: tuple[np.ndarray, ...] = ()) -> np.ndarray:
    """What a model saw, to show: an image view's uint8 input as it is, a lead matrix drawn; a fused
    model's inputs side by side at one height (``PreprocessedImage.member_inputs``)."""
    pictures = [x if x.dtype == np.uint8 else draw_lead_matrix(x) for x in (image, *member_inputs)]
    if len(pictures) == 1:
        return pictures[0]
    height = max(p.shape[0] for p in pictures)
    scaled = []
    for picture in pictures:
        colour = picture if picture.ndim == 3 else cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
        width = max(1, round(colour.shape[1] * height / colour.shape[0]))
        scaled += [
            cv2.resize(colour, (width, height), interpolation=cv2.INTER_NEAREST),
            np.full((height, 16, 3), 255, np.uint8),
        ]
    return np.hstack(scaled[:-1])
