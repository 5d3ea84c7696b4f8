"""Photos the page fills, taken at a slant (edge.keystone): straightened by what the printout
prints straight (lead rows, lead-switch markers); flat scans are left exactly as they are."""

import cv2
import numpy as np
import pytest

from edge.classifier import EcgClassifier
from edge.keystone import KeystoneConfig, _unturned, keystone_quad, marker_ends, straighten
from edge.layout import find_layout
from edge.page import read_page, turned
from edge.pipeline import read_ecg
from edge.preprocess import PreprocessConfig, decode_image
from edge.resources import sample_files
from edge.sheet import Sheet
from tests.conftest import SHIPPED_MODEL

SAMPLES = sample_files()
CONFIG = PreprocessConfig()


def _slanted(page: np.ndarray, inset=((0.05, 0.02), (0.05, 0.02), (0.02, 0.03), (0.02, 0.03))) -> np.ndarray:
    """A frame-filling photo of ``page`` taken from below its bottom edge: the quadrilateral
    ``inset`` from the page's corners (shares of its width and height; top-left, top-right,
    bottom-right, bottom-left) stretched over the whole frame, as a camera close to the page and
    tilted sees it (the page's top, further away, looks narrower)."""
    h, w = page.shape[:2]
    (a, b), (c, d), (e, f), (g, k) = inset
    inside = np.float32([[a * w, b * h], [w - c * w, d * h], [w - e * w, h - f * h], [g * w, h - k * h]])
    frame = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    return cv2.warpPerspective(page, cv2.getPerspectiveTransform(inside, frame), (w, h), borderValue=(255, 255, 255))


def _read(bgr: np.ndarray):
    page = read_page(bgr, CONFIG.work_size, CONFIG.leads)
    return page, find_layout(page, CONFIG.leads)


@pytest.fixture(scope="module")
def classifier():
    return EcgClassifier.create_from_model_path(SHIPPED_MODEL)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_a_flat_scan_is_read_as_straight_and_left_alone(path):
    bgr = decode_image(path)
    page, layout = _read(bgr)
    ends = marker_ends(page, layout, CONFIG.leads)
    assert ends is not None  # this device's markers and rows are seen...
    found = keystone_quad(page, layout, ends)
    assert found is not None
    assert not found.keystoned(max(page.gray.shape), KeystoneConfig())  # ...and agree with a flat page
    assert straighten(Sheet(bgr, None, "frame"), page, layout, CONFIG.leads) is None


def test_a_slanted_photo_is_straightened_and_keeps_the_flat_scans_label(classifier):
    scan = decode_image(SAMPLES[0])
    photo = _slanted(scan)
    flat = classifier.classify(scan)
    result = classifier.classify(photo)
    assert result.is_ecg and result.sheet.found_by == "rows" and result.sheet.rectified
    assert result.label.key == flat.label.key
    # The page it read is straight: its markers and rows are parallel again.
    page, layout = _read(result.sheet.image)
    found = keystone_quad(page, layout, marker_ends(page, layout, CONFIG.leads))
    assert found is not None and not found.keystoned(max(page.gray.shape), KeystoneConfig())
    # Its corners are where the photo's frame shows the page's: outside the frame, round it.
    corners = result.sheet.corners
    h, w = photo.shape[:2]
    assert corners[0][0] < 0 and corners[1][0] > w and corners[2][1] > h


def test_a_sheet_flattened_from_corners_a_little_off_is_straightened_too():
    """A finger over a corner or a striped cloth taken for paper leaves the flattened sheet itself
    keystoned: it is straightened the same way, its corners carried back through the flattening."""
    photo = _slanted(decode_image(SAMPLES[0]))
    page, layout = _read(photo)
    h, w = photo.shape[:2]
    taken = straighten(Sheet(photo, None, "frame"), page, layout, CONFIG.leads)
    # As if this page had been flattened out of a photo where it sat 100 px right and 50 px down.
    where = np.float32([[0, 0], [w, 0], [w, h], [0, h]]) + np.float32([100, 50])
    flattened = straighten(Sheet(photo, where, "paper"), page, layout, CONFIG.leads)
    assert taken is not None and flattened is not None and flattened.found_by == "rows"
    assert np.array_equal(flattened.image, taken.image)
    assert np.allclose(flattened.corners, taken.corners + np.float32([100, 50]), atol=0.01)


def test_digitize_reads_a_slanted_photo_straightened():
    scan = decode_image(SAMPLES[0])
    straight = read_ecg(_slanted(scan))
    assert straight.sheet is not None and straight.sheet.found_by == "rows"
    assert all(lead.ok for lead in straight.ecg.leads.values())
    flat = read_ecg(scan)
    # Lead II against the flat scan's: the straightened photo's time axis is the page's again.
    a, b = flat.ecg.leads["II"].mv, straight.ecg.leads["II"].mv
    n = min(len(a), len(b))
    assert np.corrcoef(np.nan_to_num(a[:n]), np.nan_to_num(b[:n]))[0, 1] > 0.9


def test_a_shadow_across_a_row_does_not_straighten_a_flat_scan():
    bgr = decode_image(SAMPLES[0]).copy()
    h, w = bgr.shape[:2]
    shadow = np.array([[0, int(0.62 * h)], [int(0.75 * w), int(0.66 * h)], [int(0.68 * w), int(0.78 * h)]], np.int32)
    shaded = bgr.copy()
    cv2.fillPoly(shaded, [shadow], (90, 90, 90))
    bgr = cv2.addWeighted(bgr, 0.4, shaded, 0.6, 0)
    page, layout = _read(bgr)
    assert straighten(Sheet(bgr, None, "frame"), page, layout, CONFIG.leads) is None


@pytest.mark.parametrize("turns", range(4))
def test_points_of_a_turned_image_map_back_to_the_image_before_the_turn(turns):
    image = np.zeros((5, 8), np.uint8)
    image[1, 6] = 255
    after = turned(image, turns)
    y, x = np.argwhere(after == 255)[0]
    assert _unturned(np.array([[x, y]], np.float64), turns, after.shape).tolist() == [[6.0, 1.0]]


def test_the_cli_says_a_slanted_photo_was_straightened(tmp_path):
    import json

    from typer.testing import CliRunner

    from edge.cli import app

    photo = tmp_path / "slanted.jpg"
    cv2.imwrite(str(photo), _slanted(decode_image(SAMPLES[0])), [cv2.IMWRITE_JPEG_QUALITY, 95])
    runner = CliRunner()
    shown = runner.invoke(app, ["classify", str(photo)], terminal_width=400)
    assert shown.exit_code == 0 and "straightened by its lead rows and markers" in shown.output
    output = runner.invoke(app, ["classify", str(photo), "--json"]).output
    line = next(json.loads(text) for text in output.splitlines() if text.startswith("{"))
    assert line["sheet"]["found_by"] == "rows" and len(line["sheet"]["corners"]) == 4
