import numpy as np
import pytest

from edge.signals import _run_arrays
from edge.stats import line_fit, median_count


@pytest.mark.parametrize("size", [1, 2, 3, 10, 101])
def test_median_count_is_numpys_median(size):
    rng = np.random.default_rng(size)
    for _ in range(50):
        values = rng.integers(0, 12, size)
        assert median_count(values) == np.median(values)


def test_median_count_of_nothing_is_nan():
    assert np.isnan(median_count(np.zeros(0, int)))


def test_line_fit_is_polyfits_line():
    rng = np.random.default_rng(1)
    x = np.arange(40)
    y = 0.3 * x - 7 + rng.normal(0, 2, x.size)
    assert np.allclose(line_fit(x, y), np.polyfit(x, y, 1), rtol=1e-10, atol=1e-10)


def test_runs_down_columns():
    ink = np.array([[1, 0, 255], [1, 0, 0], [0, 1, 255], [1, 1, 255]], np.uint8)
    column, first, last = _run_arrays(ink)
    assert list(zip(column.tolist(), first.tolist(), last.tolist())) == [
        (0, 0, 1), (0, 3, 3), (1, 2, 3), (2, 0, 0), (2, 2, 3),
    ]  # fmt: skip
    for empty in (np.zeros((0, 4), np.uint8), np.zeros((4, 0), np.uint8)):
        assert all(a.size == 0 for a in _run_arrays(empty))


def test_line_fit_through_one_column_is_level():
    assert line_fit(np.full(5, 3), np.array([1.0, 2, 3, 4, 5])) == (0.0, 3.0)
