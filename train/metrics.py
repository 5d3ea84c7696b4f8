"""Metrics through scikit-learn, returned as the card's typed EvaluationMetrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from edge.card import EvaluationMetrics
from edge.labels import LABEL_KEYS


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> EvaluationMetrics:
    """Metrics for integer class indices (LABELS order); classes absent from both count as zero."""
    classes = list(range(len(LABEL_KEYS)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    return EvaluationMetrics(
        n_images=int(len(y_true)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        balanced_accuracy=float(balanced_accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        labels=list(LABEL_KEYS),
        precision=[float(v) for v in precision],
        recall=[float(v) for v in recall],
        f1=[float(v) for v in f1],
        support=[int(v) for v in support],
        confusion_matrix=confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    )


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class BootstrapCI:
    """Percentile bootstrap 95% intervals over images (resampled with replacement)."""

    accuracy: Interval
    macro_f1: Interval
    n_resamples: int


def bootstrap_ci(y_true: np.ndarray, y_pred: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> BootstrapCI:
    rng = np.random.default_rng(seed)
    classes = list(range(len(LABEL_KEYS)))
    n = len(y_true)
    accuracies = np.empty(n_resamples)
    f1s = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = rng.integers(0, n, n)
        accuracies[i] = accuracy_score(y_true[idx], y_pred[idx])
        f1s[i] = f1_score(y_true[idx], y_pred[idx], labels=classes, average="macro", zero_division=0)

    def interval(values: np.ndarray) -> Interval:
        low, high = np.percentile(values, [2.5, 97.5])
        return Interval(float(low), float(high))

    return BootstrapCI(interval(accuracies), interval(f1s), n_resamples)
