"""The pretrained codec direction's features (benchmarks/codec_direction.py): openecg's codec on a
lead window (openecg and onnxruntime come with the train extra; a core install skips these)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import REPO

pytest.importorskip("onnxruntime")
pytest.importorskip("openecg")
sys.path.insert(0, str(REPO / "benchmarks"))
import codec_direction  # noqa: E402


def _beats(rate_bpm: float, seconds: float, fs: float = 500.0) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    phase = (t * rate_bpm / 60.0) % 1.0
    qrs = 1.2 * np.exp(-(((phase - 0.3) / 0.012) ** 2))
    t_wave = 0.3 * np.exp(-(((phase - 0.6) / 0.05) ** 2))
    p_wave = 0.12 * np.exp(-(((phase - 0.15) / 0.025) ** 2))
    return qrs + t_wave + p_wave


def test_a_missing_window_is_flagged_and_a_read_one_is_not():
    missing, runs = codec_direction.window_features(None, 500.0)
    assert missing[-1] == 1.0 and not missing[:-1].any() and runs == 0
    features, _ = codec_direction.window_features(_beats(75, 2.5), 500.0)
    assert features[-1] == 0.0 and len(features) == codec_direction.PER_WINDOW
    frame = features[:4]
    assert abs(frame.sum() - 1) < 1e-5  # mean probabilities over the window's own samples


def test_the_codec_counts_the_beats_of_a_ten_second_strip():
    # 90 bpm for 10 s: 15 QRS complexes; resampled from the digitizer's rate as read_ecg gives them.
    _, runs = codec_direction.window_features(_beats(90, 10.0, fs=250.0), 250.0)
    assert 13 <= runs <= 17
