"""The 12 digitized leads as a learned model's input, and their augmentation (issue #13's 1-D
direction).

Every layout prints at least the first 2.5 s of each lead (a 3x4 column; 6x2 prints 5 s), so the
input is that window of each lead, at 250 Hz: (625, 12) in millivolts, in LEAD_NAMES order, taken
from ``edge.pipeline.read_ecg``'s Ecg (what the runtime would hand a model). A lead the digitizer
could not follow is zeros (lead dropout in training teaches the model to live with that).

Augmentation (training split only, after splitting): amplitude per lead, Gaussian noise, baseline
wander, lead dropout, a time shift, and a heart-rate change by resampling the time axis.
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


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One augmented copy of a batch (n, samples, leads)."""
    n, length, leads = x.shape
    t = np.arange(length) / SIGNAL_FS
    out = np.empty_like(x)
    for i in range(n):
        # Heart rate: resample the time axis by 0.85-1.15 (a faster or slower heart, same beats).
        rate = rng.uniform(0.85, 1.15)
        source = np.clip(t * rate + rng.uniform(-0.2, 0.2), 0, t[-1])
        y = np.stack([np.interp(source, t, x[i, :, k]) for k in range(leads)], axis=1)
        y *= rng.uniform(0.8, 1.2, leads)[None, :]
        y += rng.normal(0, 0.02, y.shape)
        phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.5)
        y += rng.uniform(0, 0.15) * np.sin(2 * np.pi * freq * t + phase)[:, None]
        y[:, rng.random(leads) < 0.1] = 0.0
        out[i] = y
    return out.astype(np.float32)
