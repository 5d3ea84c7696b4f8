"""Augmentation of the 12 digitized leads for the 1-D direction (issue #13). The input itself,
each lead's first 2.5 s at 250 Hz in mV, is edge.lead_matrix's (one preprocessing path for training
and runtime); a lead the digitizer could not follow is zeros there, and lead dropout here teaches
the model to live with that.

Augmentation (training split only, after splitting): amplitude per lead, Gaussian noise, baseline
wander, lead dropout, a time shift, and a heart-rate change by resampling the time axis.
"""

from __future__ import annotations

import numpy as np

from edge.lead_matrix import SIGNAL_FS


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
