"""The heart rate printed in the footer, read without OCR (train.footer)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.conftest import SAMPLES
from train.footer import read_footer, read_printed_heart_rates

# What each shipped sample prints after the heart, read by eye from enlarged crops of its footer:
# ground truth, not the reader's output.
PRINTED = {
    "abnormal_heartbeat/HB(102).jpg": 137,
    "abnormal_heartbeat/HB(103).jpg": 139,
    "history_of_mi/PMI(11).jpg": 87,
    "history_of_mi/PMI(16).jpg": 96,
    "mi/MI(15).jpg": 87,
    "mi/MI(29).jpg": 50,
    "normal/Normal(108).jpg": 65,  # the "Lead Off" footer: the heart sits further right
    "normal/Normal(2)-fullres.jpg": 68,  # full resolution
}


@pytest.fixture(scope="module")
def pages() -> dict[str, np.ndarray]:
    return {name: cv2.imread(str(SAMPLES / name), cv2.IMREAD_GRAYSCALE) for name in PRINTED}


def test_reads_the_rate_each_sample_prints(pages):
    assert dict(zip(pages, read_printed_heart_rates(list(pages.values())))) == PRINTED


def test_reading_is_clear_and_independent_of_the_batch(pages):
    for name, gray in pages.items():
        reading = read_footer(gray)
        assert reading.rate == PRINTED[name] and reading.reason is None
        assert reading.distance < 0.05 and reading.margin > 0.07 and reading.leftover == 0.0
    assert read_printed_heart_rates([pages["mi/MI(29).jpg"]]) == [50]


def test_any_resolution(pages):
    full = pages["normal/Normal(2)-fullres.jpg"]
    for width in (1106, 1600, 3000):
        scaled = cv2.resize(full, (width, round(full.shape[0] * width / full.shape[1])), interpolation=cv2.INTER_AREA)
        assert read_footer(scaled).rate == 68
    color = cv2.cvtColor(pages["abnormal_heartbeat/HB(103).jpg"], cv2.COLOR_GRAY2BGR)
    assert read_footer(color).rate == 139


def test_blank_footer_reads_none(pages):
    gray = pages["history_of_mi/PMI(16).jpg"].copy()
    gray[int(0.96 * gray.shape[0]) :] = 255
    reading = read_footer(gray)
    assert reading.rate is None and reading.reason == "no heart glyph"
    assert read_printed_heart_rates([gray, pages["mi/MI(15).jpg"]]) == [None, 87]


def test_erased_or_crossed_digits_read_none(pages):
    gray = pages["abnormal_heartbeat/HB(102).jpg"]
    h, w = gray.shape
    rows = slice(int(0.96 * h), h)
    digits = slice(round(0.2555 * w), round(0.2735 * w))  # just right of the heart, up to "SE-3"
    erased = gray.copy()
    erased[rows, digits] = 255
    assert read_footer(erased).rate is None
    crossed = gray.copy()  # a trace running down through the "7" of 137
    cv2.line(crossed, (round(0.266 * w), int(0.965 * h)), (round(0.270 * w), h - 1), 0, 2)
    assert read_footer(crossed).rate is None
