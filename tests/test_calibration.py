import numpy as np
import pytest

from edge.classifier import apply_temperature
from train.calibration import calibrate, choose_threshold, expected_calibration_error, fit_temperature


def _synthetic(n: int = 3000, temperature: float = 2.5, seed: int = 0):
    """Labels drawn from calibrated probabilities, then sharpened by 1/temperature: an
    overconfident model whose true temperature is known."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 4))
    calibrated = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(4, p=p) for p in calibrated])
    overconfident = apply_temperature(calibrated, 1.0 / temperature)
    return overconfident, labels


def test_temperature_scaling_recovers_a_known_temperature_and_lowers_ece():
    probs, labels = _synthetic()
    t = fit_temperature(probs, labels)
    assert t == pytest.approx(2.5, rel=0.15)
    assert expected_calibration_error(apply_temperature(probs, t), labels) < 0.5 * expected_calibration_error(
        probs, labels
    )


def test_temperature_keeps_the_predicted_class():
    probs, _ = _synthetic(200)
    assert np.array_equal(apply_temperature(probs, 3.0).argmax(1), probs.argmax(1))
    assert np.allclose(apply_temperature(probs, 3.0).sum(1), 1.0)


def test_threshold_is_the_lowest_that_reaches_the_target():
    probs = np.array([[0.9, 0.1, 0, 0], [0.8, 0.2, 0, 0], [0.6, 0.4, 0, 0], [0.55, 0.45, 0, 0]])
    labels = np.array([0, 0, 1, 0])  # the 0.6 prediction is wrong
    assert choose_threshold(probs, labels, 1.0) == pytest.approx(0.8)
    assert choose_threshold(probs, labels, 0.75) == 0.0  # 3 of 4 right without abstaining
    assert choose_threshold(probs, np.array([1, 1, 0, 1]), 0.99) == 1.0  # never reached


def test_calibrate_reports_coverage_and_accuracy_on_test():
    val, val_labels = _synthetic(2000, seed=1)
    test, test_labels = _synthetic(2000, seed=2)
    c = calibrate(val, val_labels, test, test_labels, target_accuracy=0.8)
    assert c.ece_test_after < c.ece_test_before
    assert 0 < c.test_coverage < 1
    assert c.test_accuracy_covered > (test.argmax(1) == test_labels).mean()


def test_coverage_curve_trades_coverage_for_accuracy():
    val, val_labels = _synthetic(2000, seed=1)
    test, test_labels = _synthetic(2000, seed=2)
    curve = calibrate(val, val_labels, test, test_labels).test_coverage_curve
    thresholds, coverage, accuracy = zip(*curve)
    assert list(thresholds) == sorted(thresholds)
    assert all(a >= b for a, b in zip(coverage, coverage[1:]))  # a higher bar keeps fewer images
    kept = [a for a in accuracy if a is not None]
    assert kept[-1] > kept[0]  # ...and those it keeps are more often right


def test_favouring_a_label_picks_the_weight_that_gains_validation_macro_f1():
    from edge.classifier import apply_label_weights
    from train.calibration import favour_label

    # MI (index 1) scans whose MI probability comes second to "normal" by a small margin: weighting MI
    # up turns them right; normal scans stay normal while the weight stays moderate.
    mi = np.tile([0.5, 0.4, 0.05, 0.05], (10, 1))
    normal = np.tile([0.8, 0.1, 0.05, 0.05], (30, 1))
    probs, labels = np.vstack([mi, normal]), np.array([1] * 10 + [0] * 30)
    weights = favour_label(probs, labels, "mi")
    assert set(weights) == {"mi"} and 1.25 < weights["mi"] < 8.0
    assert (apply_label_weights(probs, weights).argmax(1) == labels).all()
    # Nothing to gain: no weight (the model's own output).
    assert favour_label(normal, np.zeros(30, int), "mi") == {}
    with pytest.raises(ValueError, match="unknown label"):
        favour_label(probs, labels, "stemi")


def test_label_weights_shift_one_label_and_keep_rows_summing_to_one():
    from edge.classifier import apply_label_weights

    probs = np.array([[0.5, 0.4, 0.05, 0.05]])
    weighted = apply_label_weights(probs, {"mi": 2.0})
    assert weighted.argmax() == 1 and np.isclose(weighted.sum(), 1.0)
    assert weighted[0, 1] / weighted[0, 0] == pytest.approx(2 * 0.4 / 0.5)
    assert apply_label_weights(probs, {}) is probs
