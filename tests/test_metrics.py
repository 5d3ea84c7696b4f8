import numpy as np
import pytest

from train.metrics import compute_metrics


def test_metrics_match_hand_computed_values():
    # true:  normal x4, mi x2, abnormal x2, history x2
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 2, 2, 3])
    m = compute_metrics(y_true, y_pred)
    assert m.n_images == 10
    assert m.accuracy == pytest.approx(7 / 10)
    # recalls: 3/4, 1/2, 2/2, 1/2 -> balanced accuracy is their mean
    assert m.recall == pytest.approx([0.75, 0.5, 1.0, 0.5])
    assert m.balanced_accuracy == pytest.approx((0.75 + 0.5 + 1.0 + 0.5) / 4)
    # precisions: normal 3/4, mi 1/2, abnormal 2/3, history 1/1
    assert m.precision == pytest.approx([0.75, 0.5, 2 / 3, 1.0])
    f1 = [0.75, 0.5, 0.8, 2 / 3]
    assert m.f1 == pytest.approx(f1)
    assert m.macro_f1 == pytest.approx(sum(f1) / 4)
    assert m.support == [4, 2, 2, 2]
    assert m.confusion_matrix == [[3, 1, 0, 0], [1, 1, 0, 0], [0, 0, 2, 0], [0, 0, 1, 1]]


def test_absent_class_counts_as_zero_not_an_error():
    m = compute_metrics(np.array([0, 0, 2]), np.array([0, 2, 2]))
    assert m.support == [2, 0, 1, 0]
    assert m.f1[1] == 0.0
    assert len(m.confusion_matrix) == 4
