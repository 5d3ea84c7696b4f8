"""The 12 digitized leads as a learned model's input: the model-input stage of the signal
direction (issue #13), after edge.signals. Training (train/signals.py, benchmarks/signal_direction.py)
and any runtime use take it from here, so there is one preprocessing path.

Every layout prints at least the first 2.5 s of each lead (a 3x4 column; 6x2 prints 5 s), so the
input is that window of each lead at 250 Hz: (625, 12) float32 millivolts in LEAD_NAMES order, each
lead's median removed. A lead the digitizer could not follow is zeros.
"""

from __future__ import annotations

import numpy as np

from edge.leads import LEAD_NAMES, PANEL_SECONDS
from edge.signals import Ecg

SIGNAL_FS = 250.0  # Hz
SIGNAL_SAMPLES = int(PANEL_SECONDS * SIGNAL_FS)  # 625
MAX_MV = 5.0  # beyond any real lead's swing: a runaway trace is clipped


def lead_matrix(ecg: Ecg) -> np.ndarray:
    """(SIGNAL_SAMPLES, 12) float32: each lead's first 2.5 s at 250 Hz, NaN as 0, clipped."""
    step = int(round(ecg.fs / SIGNAL_FS))
    out = np.zeros((SIGNAL_SAMPLES, len(LEAD_NAMES)), np.float32)
    for k, name in enumerate(LEAD_NAMES):
        signal = ecg.leads[name]
        if not signal.ok:
            continue
        mv = signal.mv[: SIGNAL_SAMPLES * step]
        mv = mv[: len(mv) // step * step].reshape(-1, step).mean(axis=1)  # average then decimate
        mv = np.nan_to_num(mv - np.nanmedian(mv) if np.isfinite(mv).any() else mv, nan=0.0)
        out[: len(mv), k] = np.clip(mv, -MAX_MV, MAX_MV)
    return out
