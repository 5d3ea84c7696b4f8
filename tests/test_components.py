"""edge.components: OpenCV's connected components with 16-bit labels where they cannot overflow."""

import cv2
import numpy as np

from edge.components import components


def _opencv(image: np.ndarray, connectivity: int = 8):
    count, labels, stats, _ = cv2.connectedComponentsWithStats(image, connectivity=connectivity, ltype=cv2.CV_32S)
    return count, labels, stats


def test_same_labels_and_stats_as_opencv_on_a_page_of_ink():
    rng = np.random.default_rng(0)
    ink = (rng.random((300, 400)) < 0.08).astype(np.uint8)
    cv2.line(ink, (0, 150), (399, 160), 1, 2)  # a trace across the page
    for connectivity in (4, 8):
        count, labels, stats = components(ink, connectivity)
        ref_count, ref_labels, ref_stats = _opencv(ink, connectivity)
        assert labels.dtype == np.uint16  # few enough ink pixels: the fast labels
        assert count == ref_count
        assert np.array_equal(labels.astype(np.int32), ref_labels)
        assert np.array_equal(stats, ref_stats)


def test_more_components_than_16_bits_hold_fall_back_to_32_bit_labels():
    ink = np.zeros((600, 600), np.uint8)
    ink[::2, ::2] = 1  # 90,000 isolated dots: more labels than 65535
    count, labels, stats = components(ink)
    assert labels.dtype == np.int32
    assert count == 90_001
    assert int(labels.max()) == 90_000
    assert np.array_equal(stats, _opencv(ink)[2])


def test_empty_image_has_only_the_background():
    count, labels, stats = components(np.zeros((5, 7), np.uint8))
    assert count == 1 and not labels.any() and stats[0, cv2.CC_STAT_AREA] == 35
