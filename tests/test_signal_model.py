"""The 1-D direction's input, augmentation and network (edge.lead_matrix, train.signals,
train.models.signal_cnn)."""

import numpy as np
import pytest

from edge.lead_matrix import SIGNAL_SAMPLES, lead_matrix
from edge.leads import LEAD_NAMES
from edge.signals import FS, Ecg, LeadSignal, Scale
from train.render import synthetic_ecg
from train.signals import augment


def _ecg(missing: str | None = None) -> Ecg:
    truth = synthetic_ecg(heart_rate=75, seed=3)
    leads = {}
    for k, name in enumerate(LEAD_NAMES):
        start = (k // 3) * 2.5
        mv = truth[name][int(start * FS) : int((start + 2.5) * FS)].copy()
        mv[100:110] = np.nan  # a bridged marker gap left unknown
        reason = "trace followed over 10% of its 2.5 s" if name == missing else None
        leads[name] = LeadSignal(name, start, np.full_like(mv, np.nan) if reason else mv, 1.0, reason)
    return Ecg(FS, "3x4 + 1 rhythm", leads, (), Scale(91.0, 36.0, "calibration pulse"))


def test_the_input_is_each_leads_first_window_at_250_hz_in_mv():
    ecg = _ecg()
    x = lead_matrix(ecg)
    assert x.shape == (SIGNAL_SAMPLES, 12) and x.dtype == np.float32 and np.isfinite(x).all()
    ii = ecg.leads["II"].mv
    expected = ii[: 2 * SIGNAL_SAMPLES].reshape(-1, 2).mean(axis=1)
    expected = expected - np.nanmedian(expected)
    known = np.isfinite(expected)
    assert np.allclose(x[known, 1], expected[known], atol=1e-5)
    assert np.ptp(x[:, 1]) > 1.0  # lead II's QRS, in millivolts


def test_a_lead_that_was_not_read_is_zeros():
    x = lead_matrix(_ecg(missing="V3"))
    assert not x[:, LEAD_NAMES.index("V3")].any() and x[:, LEAD_NAMES.index("V2")].any()


def test_augmentation_keeps_the_shape_and_changes_the_signal_reproducibly():
    x = np.stack([lead_matrix(_ecg())] * 3)
    a, b = augment(x, np.random.default_rng(1)), augment(x, np.random.default_rng(1))
    assert a.shape == x.shape and np.array_equal(a, b)
    assert not np.allclose(a, x)
    assert 0.5 < np.ptp(a[0, :, 1]) / np.ptp(x[0, :, 1]) < 2.0  # still a lead of the same size


def test_the_signal_cnn_learns_a_separable_toy_problem():
    keras = pytest.importorskip("keras")
    from train.models import signal_cnn

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = np.arange(64) % 4
    x = rng.normal(0, 0.05, (64, SIGNAL_SAMPLES, 12)).astype(np.float32)
    t = np.arange(SIGNAL_SAMPLES)
    for i, label in enumerate(y):  # beats in lead I: narrow up, narrow down, wide up, none
        width, sign = (3, 1.0) if label == 0 else (3, -1.0) if label == 1 else (25, 1.0)
        for centre in rng.integers(0, 150) + 150 * np.arange(4):
            if label < 3:
                x[i, :, 0] += sign * np.exp(-0.5 * ((t - centre) / width) ** 2)
    model = signal_cnn(SIGNAL_SAMPLES)
    assert model.output_shape == (None, 4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=12, batch_size=16, verbose=0)
    assert (model.predict(x, verbose=0).argmax(axis=1) == y).mean() > 0.9


def test_the_signals_view_is_the_lead_matrix_of_the_digitized_page():
    """One preprocessing path: the model input of the signals view is edge.lead_matrix of the leads
    the digitizer reads from the working page, and the page, layout and leads come along. (What
    `ecg-edge digitize` hands out is read from the 2048 px detail page instead: the models were
    trained and qualified on the working page's leads.)"""
    from edge.pipeline import read_ecg
    from edge.preprocess import PreprocessConfig, model_input_shape, preprocess
    from tests.conftest import sample_files

    config = PreprocessConfig(view="signals")
    assert model_input_shape(config) == (1, SIGNAL_SAMPLES, 12)
    assert model_input_shape(PreprocessConfig(view="traces", input_size=128)) == (1, 128, 128, 1)
    sample = sample_files()[0]
    pre = preprocess(sample, config)
    assert pre.image.shape == (SIGNAL_SAMPLES, 12) and pre.image.dtype == np.float32
    assert pre.layout is not None and pre.page is not None and pre.ecg is not None
    np.testing.assert_array_equal(pre.image, lead_matrix(pre.ecg))
    # From the working page (1024 px: ~91 px/s on this template), not the detail page people get.
    assert pre.ecg.scale.px_per_second == pytest.approx(pre.layout.px_per_second, rel=0.02)
    handed_out = read_ecg(sample).ecg
    assert handed_out.scale.px_per_second == pytest.approx(2 * pre.ecg.scale.px_per_second, rel=0.02)
    assert np.abs(pre.image).max() > 0.3  # real waves, not zeros


def test_a_lead_matrix_is_drawn_for_users_and_images_pass_as_they_are():
    from edge.plot import draw_lead_matrix, model_input_picture

    matrix = lead_matrix(_ecg())
    picture = model_input_picture(matrix)
    assert picture.ndim == 3 and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture, draw_lead_matrix(matrix))
    flat = draw_lead_matrix(np.zeros_like(matrix))
    assert (picture != flat).any()  # the waves are drawn
    image = np.full((64, 64), 200, np.uint8)
    assert model_input_picture(image) is image


def test_a_lead_that_was_not_read_is_said_so_in_the_picture_not_drawn_flat():
    from edge.plot import draw_lead_matrix

    matrix = lead_matrix(_ecg())
    missing = matrix.copy()
    missing[:, LEAD_NAMES.index("V3")] = 0.0
    flat = matrix.copy()
    flat[:, LEAD_NAMES.index("V3")] = 1e-3  # read, and flat
    assert (draw_lead_matrix(missing) != draw_lead_matrix(flat)).any()
