"""Metrics through scikit-learn, returned as the card's typed EvaluationMetrics."""

from __future__ import annotations

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
