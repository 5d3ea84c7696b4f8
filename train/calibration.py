"""Temperature scaling fitted on the validation split, expected calibration error, and the
confidence threshold below which a prediction becomes "uncertain: refer for review"."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from edge.card import Calibration
from edge.classifier import apply_label_weights, apply_temperature
from edge.labels import LABEL_KEYS

# Weights tried for a favoured label: its log-prior raised by 0, 0.1, ... 2.0.
FAVOUR_STEPS = np.round(np.arange(0.0, 2.01, 0.1), 2)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of the labels."""

    def nll(t: float) -> float:
        p = apply_temperature(probs, t)
        return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None))))

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def choose_threshold(probs: np.ndarray, labels: np.ndarray, target_accuracy: float) -> float:
    """The lowest confidence threshold at which the predictions kept reach ``target_accuracy``
    (0.0, no abstention, when all of them already do; 1.0 when no threshold reaches it)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    for threshold in np.unique(np.concatenate([[0.0], confidence])):
        kept = confidence >= threshold
        if kept.any() and correct[kept].mean() >= target_accuracy:
            return float(threshold)
    return 1.0


def coverage_and_accuracy(probs: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    kept = probs.max(axis=1) >= threshold
    accuracy = float((probs.argmax(axis=1) == labels)[kept].mean()) if kept.any() else float("nan")
    return float(kept.mean()), accuracy


CURVE_THRESHOLDS = (0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def coverage_curve(probs: np.ndarray, labels: np.ndarray) -> list[list[float]]:
    """[threshold, coverage, accuracy on the kept images] at CURVE_THRESHOLDS (accuracy is NaN,
    written null, where nothing is kept)."""
    rows = []
    for t in CURVE_THRESHOLDS:
        coverage, accuracy = coverage_and_accuracy(probs, labels, t)
        rows.append([t, coverage, None if np.isnan(accuracy) else accuracy])
    return rows


def calibrate(
    val_probs: np.ndarray,
    val_labels: np.ndarray,
    test_probs: np.ndarray,
    test_labels: np.ndarray,
    target_accuracy: float = 0.9,
) -> Calibration:
    temperature = fit_temperature(val_probs, val_labels)
    val_cal = apply_temperature(val_probs, temperature)
    test_cal = apply_temperature(test_probs, temperature)
    threshold = choose_threshold(val_cal, val_labels, target_accuracy)
    coverage, accuracy = coverage_and_accuracy(test_cal, test_labels, threshold)
    return Calibration(
        temperature=temperature,
        threshold=threshold,
        target_accuracy=target_accuracy,
        ece_val_before=expected_calibration_error(val_probs, val_labels),
        ece_val_after=expected_calibration_error(val_cal, val_labels),
        ece_test_before=expected_calibration_error(test_probs, test_labels),
        ece_test_after=expected_calibration_error(test_cal, test_labels),
        test_coverage=coverage,
        test_accuracy_covered=accuracy,
        test_coverage_curve=coverage_curve(test_cal, test_labels),
    )


def favour_label(probs: np.ndarray, labels: np.ndarray, key: str) -> dict[str, float]:
    """The weight for label ``key`` (ModelCard.label_weights) that gives the best macro-F1 on these
    (validation) probabilities, the smallest on a tie; {} when no weight beats the model's own output.
    Chosen on the validation split only: on the day folds (3 folds x 3 signal seeds, each weight chosen
    on its own validation split) favouring MI raised its test recall from 0.76 to 0.83 for 0.007 of
    macro-F1 (benchmarks/signal_direction.py --favour mi)."""
    from train.metrics import compute_metrics

    if key not in LABEL_KEYS:
        raise ValueError(f"unknown label {key!r}: one of {', '.join(LABEL_KEYS)}")
    best, best_f1 = {}, compute_metrics(labels, probs.argmax(1)).macro_f1
    for step in FAVOUR_STEPS[1:]:
        weights = {key: float(np.exp(step))}
        f1 = compute_metrics(labels, apply_label_weights(probs, weights).argmax(1)).macro_f1
        if f1 > best_f1 + 1e-9:
            best, best_f1 = weights, f1
    return best
