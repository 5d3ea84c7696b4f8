"""The sheet stage (edge.sheet): photos of a printout on a desk are found, flattened and turned
upright; scans pass through untouched."""

import cv2
import numpy as np
import pytest

from edge.classifier import EcgClassifier
from edge.page import turned
from edge.pipeline import flatten_photo
from edge.preprocess import PreprocessConfig, decode_image, load_scan
from edge.resources import sample_files
from edge.sheet import SheetConfig, find_quad, find_sheet
from tests.conftest import SHIPPED_MODEL

SAMPLES = sample_files()
FRAME = (1500, 2000)  # (height, width): a phone frame at the size large photos are decoded at


def _on_desk(page: np.ndarray, corners, frame=FRAME, warm: bool = True) -> np.ndarray:
    """``page`` warped onto a dark wooden desk so that its top-left, top-right, bottom-right and
    bottom-left corners land on ``corners``."""
    h, w = page.shape[:2]
    rng = np.random.default_rng(0)
    desk = np.empty((*frame, 3), np.uint8)
    desk[:] = (35, 60, 95)
    desk = np.clip(desk + rng.normal(0, 10, desk.shape), 0, 255).astype(np.uint8)
    matrix = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [w, 0], [w, h], [0, h]]), np.float32(corners)
    )
    warped = cv2.warpPerspective(page, matrix, frame[::-1])
    inside = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, frame[::-1])
    scene = np.where(inside[..., None] > 127, warped, desk)
    if warm:  # tungsten light: blue down, red up
        scene = np.clip(scene * np.array([0.72, 0.88, 1.0]), 0, 255).astype(np.uint8)
    return scene


TILTED = [[430, 330], [1640, 290], [1730, 1240], [330, 1150]]  # about 60% of the frame, keystoned


@pytest.fixture(scope="module")
def classifier():
    return EcgClassifier.create_from_model_path(SHIPPED_MODEL)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_a_scan_passes_through_as_the_same_array(path):
    bgr = load_scan(path, PreprocessConfig())
    sheet = flatten_photo(bgr)
    assert sheet.image is bgr and not sheet.rectified and sheet.found_by == "frame"


def test_the_sheet_is_found_where_it_lies():
    page = decode_image(SAMPLES[0])
    quad = find_quad(_on_desk(page, TILTED))
    assert quad is not None
    assert np.abs(quad - np.float32(TILTED)).max() < 12  # px, in a 2000 px frame


def test_a_photo_on_a_desk_gets_the_flat_scans_label(classifier):
    page = decode_image(SAMPLES[0])
    flat = classifier.classify(page)
    photo = classifier.classify(_on_desk(page, TILTED))
    assert photo.is_ecg, photo.gate.reason
    assert photo.sheet.rectified and photo.page_bgr.shape[1] > photo.page_bgr.shape[0]
    assert photo.label == flat.label


def test_without_the_sheet_stage_the_same_photo_was_refused(classifier):
    """What the bug report saw: the gate judged the whole frame."""
    from edge.gate import check_ecg

    assert not check_ecg(_on_desk(decode_image(SAMPLES[0]), TILTED)).is_ecg


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_page_turned_in_the_frame_comes_back_upright(turns, classifier):
    page = decode_image(SAMPLES[1])
    # The page's top-left lands on another corner: turned ``turns`` quarters counter-clockwise.
    corners = np.roll(np.float32(TILTED), turns, axis=0)
    if turns % 2:  # on its side the page is portrait in the frame: squeeze the quad to its shape
        centre = corners.mean(axis=0)
        corners = centre + (corners - centre) * np.float32([0.62, 1.2])
    photo = classifier.classify(_on_desk(page, corners))
    assert photo.is_ecg, photo.gate.reason
    assert photo.sheet.quarter_turns == (4 - turns) % 4  # turned back clockwise
    # The corners reported are the upright page's top-left, top-right, bottom-right, bottom-left.
    assert np.abs(photo.sheet.corners - corners).max() < 12
    assert photo.label == classifier.classify(page).label


def test_a_text_page_on_a_desk_is_refused(classifier):
    text = np.full((1572, 2213, 3), 255, np.uint8)
    for y in range(80, 1500, 45):
        cv2.putText(text, "patient report summary of the clinic visit", (60, y), cv2.FONT_HERSHEY_SIMPLEX, 1.5,
                    (20, 20, 20), 3)  # fmt: skip
    result = classifier.classify(_on_desk(text, TILTED))
    assert result.sheet.rectified  # the sheet was found...
    assert not result.is_ecg  # ...and judged: not an ECG


@pytest.mark.parametrize("shape", [(1, 600), (5, 3000), (2, 1200), (3000, 1), (5000, 2), (31, 31)])
def test_slivers_get_an_answer_not_a_crash(shape, classifier):
    """Images too thin to shrink once crashed the sheet stage (and the gate, and the page stage)."""
    data = cv2.imencode(".png", np.full((*shape, 3), 200, np.uint8))[1].tobytes()
    result = classifier.classify(data)
    assert not result.is_ecg and not result.sheet.rectified


def test_a_bare_desk_is_refused(classifier):
    rng = np.random.default_rng(1)
    desk = np.clip(np.full((*FRAME, 3), (35, 60, 95)) + rng.normal(0, 10, (*FRAME, 3)), 0, 255).astype(np.uint8)
    result = classifier.classify(desk)
    assert not result.is_ecg and not result.sheet.rectified


def test_digitize_reads_a_photo_like_its_scan():
    from edge.pipeline import read_ecg

    page = decode_image(SAMPLES[0])
    flat, photo = read_ecg(page), read_ecg(_on_desk(page, TILTED))
    assert photo.ecg.layout == flat.ecg.layout
    a, b = flat.measurements.heart_rate_bpm, photo.measurements.heart_rate_bpm
    assert a is not None and b is not None and abs(a - b) < 3


def test_find_sheet_without_an_orientation_check_keeps_the_photos_way_up():
    page = decode_image(SAMPLES[0])
    sheet = find_sheet(_on_desk(page, np.roll(np.float32(TILTED), 2, axis=0)))
    assert sheet.quarter_turns == 0 and sheet.rectified


def _scene(page, condition: str = "bug_report", **changes):
    """A synthetic phone photo (train.scenes), decoded as a user's JPEG would be."""
    from dataclasses import replace

    from train.scenes import CONDITIONS, compose_scene

    options = replace(CONDITIONS[condition], **{"megapixels": 3.0, **changes})
    return cv2.imdecode(cv2.imencode(".jpg", compose_scene(page, options).image)[1], cv2.IMREAD_COLOR)


def test_the_bug_reports_photo_is_read(classifier):
    """Dark desk, a little from the side, ~60% of the frame, slightly bent, warm light."""
    page = decode_image(SAMPLES[2])
    result = classifier.classify(_scene(page))
    assert result.is_ecg, result.gate.reason
    assert result.label == classifier.classify(page).label


def test_a_strongly_bent_sheet_reads_like_its_scan():
    from edge.pipeline import read_ecg

    page = decode_image(SAMPLES[0])
    flat, photo = read_ecg(page), read_ecg(_scene(page, bend=1.0))
    assert photo.ecg.layout == flat.ecg.layout
    a, b = flat.measurements.heart_rate_bpm, photo.measurements.heart_rate_bpm
    assert a is not None and b is not None and abs(a - b) < 3


@pytest.mark.parametrize("desk", ["dark wood", "patterned cloth"])
def test_a_ruled_form_photographed_askew_gets_no_label(desk, classifier):
    """Its lines, slanted by an imperfect flattening, once passed for 6x2 trace rows."""
    form = np.full((1572, 2213, 3), 255, np.uint8)
    for y in range(100, 1500, 70):
        cv2.line(form, (60, y), (2150, y), (0, 0, 0), 2)
    for x in (60, 700, 1400, 2150):
        cv2.line(form, (x, 100), (x, 1430), (0, 0, 0), 2)
    assert not classifier.classify(_scene(form, "default", desk=desk, seed=2, megapixels=12.0)).is_ecg


def _pinhole_corners(tilt_deg: float, aspect: float = 297 / 210, yaw_deg: float = 0.0, f: float = 1400.0) -> np.ndarray:
    """Where a landscape sheet's corners land for a camera (principal point at the frame's centre,
    focal length ``f`` px) tilted ``tilt_deg`` away from straight down and ``yaw_deg`` sideways."""
    height, width = FRAME
    a, b = np.radians(tilt_deg), np.radians(yaw_deg)
    rotate = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]]) @ np.array(
        [[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]]
    )
    sheet = np.array([[-aspect / 2, -0.5, 0], [aspect / 2, -0.5, 0], [aspect / 2, 0.5, 0], [-aspect / 2, 0.5, 0]])
    seen = sheet @ rotate.T + np.array([0.05, 0.0, 1.9])
    return np.stack([f * seen[:, 0] / seen[:, 2] + width / 2, f * seen[:, 1] / seen[:, 2] + height / 2], axis=1)


@pytest.mark.parametrize("tilt", [15, 30])
def test_the_flat_pages_aspect_is_the_sheets_whatever_the_tilt(tilt):
    """Side lengths in the photo foreshorten with the tilt (at 15 degrees A4 looked like Letter)."""
    page = decode_image(SAMPLES[0])
    corners = _pinhole_corners(tilt)
    top, left = np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[3] - corners[0])
    assert abs(top / left - 297 / 210) > 0.05  # the photo alone would mislead
    sheet = find_sheet(_on_desk(page, corners))
    assert sheet.rectified
    assert abs(sheet.image.shape[1] / sheet.image.shape[0] - 297 / 210) < 0.01


def test_the_focal_length_is_solved_when_the_perspective_allows():
    """Tilted and turned sideways, both pairs of sides converge: the focal length (here not the
    phone's assumed one) comes from the quad itself, and the aspect with it."""
    from edge.sheet import _true_aspect

    corners = _pinhole_corners(25, yaw_deg=20, f=2600.0)
    centre = np.array([FRAME[1] / 2, FRAME[0] / 2])
    assert abs(_true_aspect(corners.astype(np.float64), centre) - 297 / 210) < 0.005
    assumed = _pinhole_corners(25, yaw_deg=0, f=2600.0)  # one pair parallel: the assumed lens, off
    assert abs(_true_aspect(assumed.astype(np.float64), centre) - 297 / 210) > 0.02


@pytest.mark.parametrize("turn", ["upside down", "portrait, turned left", "portrait, turned right"])
def test_a_scan_turned_in_the_scanner_is_read_the_right_way_up(turn, classifier):
    """No sheet to find in a scan, but the calibration pulses still tell which way is up."""
    page = decode_image(SAMPLES[0])
    turned = {"upside down": page[::-1, ::-1], "portrait, turned left": np.rot90(page, 1),
              "portrait, turned right": np.rot90(page, 3)}[turn]  # fmt: skip
    result = classifier.classify(np.ascontiguousarray(turned))
    assert result.is_ecg, result.gate.reason
    assert not result.sheet.rectified and result.sheet.quarter_turns != 0
    assert np.array_equal(result.page_bgr, page)
    assert result.label == classifier.classify(page).label


def test_digitize_reads_an_upside_down_scan_like_the_upright_one():
    from edge.pipeline import read_ecg

    page = decode_image(SAMPLES[0])
    upright, turned = read_ecg(page), read_ecg(np.ascontiguousarray(page[::-1, ::-1]))
    assert turned.measurements.heart_rate_bpm == upright.measurements.heart_rate_bpm
    assert turned.ecg.layout == upright.ecg.layout


def test_the_cli_says_when_it_flattened_a_photo_or_turned_a_scan(tmp_path):
    from typer.testing import CliRunner

    from edge.cli import app

    page = decode_image(SAMPLES[0])
    photo, upside = tmp_path / "photo.jpg", tmp_path / "upside.jpg"
    cv2.imwrite(str(photo), _on_desk(page, TILTED), [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(str(upside), np.ascontiguousarray(page[::-1, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])
    runner = CliRunner()
    digitized = runner.invoke(app, ["digitize", str(photo)], terminal_width=400)
    assert digitized.exit_code == 0 and "sheet found in the photo and flattened" in digitized.output
    classified = runner.invoke(app, ["classify", str(upside)], terminal_width=400)
    assert classified.exit_code == 0 and "scan turned 180 degrees" in classified.output


@pytest.mark.parametrize(("condition", "seed"), [("white_table", 0), ("patterned_cloth", 3)])
def test_a_sheet_the_pale_region_misses_is_found_from_its_traces(condition, seed):
    """A white table as pale as the paper, a checked cloth with paper-white checks: the search from
    the traces outwards finds the sheet's corners to a few pixels; without it, no sheet was found."""
    from dataclasses import replace

    from train.scenes import CONDITIONS, compose_scene

    scene = compose_scene(decode_image(SAMPLES[0]), replace(CONDITIONS[condition], megapixels=3.0, seed=seed))
    photo = cv2.imdecode(cv2.imencode(".jpg", scene.image)[1], cv2.IMREAD_COLOR)
    sheet = find_sheet(photo)
    assert sheet.found_by == "content"
    assert np.abs(sheet.corners - scene.corners).max() < 3.0
    assert not find_sheet(photo, SheetConfig(content_search=False)).rectified


def test_a_photo_on_a_white_table_gets_the_flat_scans_label(classifier):
    page = decode_image(SAMPLES[2])
    result = classifier.classify(_scene(page, "white_table", seed=0))
    assert result.is_ecg, result.gate.reason
    assert result.sheet.found_by == "content"
    assert result.label == classifier.classify(page).label


def test_a_hard_shadows_edge_taken_for_a_side_gives_way_to_the_sheet_found_from_its_traces():
    """The pale region stops at a hard shadow's edge and its quad leaves traces outside: the quad
    found from the traces outwards replaces it."""
    from dataclasses import replace

    from train.scenes import CONDITIONS, compose_scene

    scene = compose_scene(decode_image(SAMPLES[3]), replace(CONDITIONS["hard_shadow"], megapixels=3.0, seed=3))
    photo = cv2.imdecode(cv2.imencode(".jpg", scene.image)[1], cv2.IMREAD_COLOR)
    sheet = find_sheet(photo)
    assert sheet.found_by == "content"
    assert np.abs(sheet.corners - scene.corners).max() < 3.0
    assert np.abs(find_sheet(photo, SheetConfig(content_search=False)).corners - scene.corners).max() > 15


def _shadowed(scene: np.ndarray, half_width: float = 170) -> np.ndarray:
    """A phone's hard shadow: a slanted band across the whole frame at half the brightness."""
    h, w = scene.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    band = np.abs((xx - w / 2) - 0.35 * (yy - h / 2)) < half_width
    shaded = np.where(band[..., None], scene * 0.5, scene).astype(np.uint8)
    return cv2.imdecode(cv2.imencode(".jpg", shaded)[1], cv2.IMREAD_COLOR)


def test_a_hard_shadow_across_the_sheet_does_not_cut_it_in_two():
    """The shadow leaves the paper's colour: the shaded strip joins the two lit pieces (without it
    one piece was taken for the sheet), while a pale card beside the sheet on a coloured desk is
    not joined to it."""
    photo = _shadowed(_on_desk(decode_image(SAMPLES[0]), TILTED))
    assert np.abs(find_sheet(photo).corners - np.float32(TILTED)).max() < 3.0
    # No pixel bright enough to join: one lit piece is the pale region, and only the grid's frame
    # (a search of its own) still places the page.
    unjoined = find_sheet(photo, SheetConfig(shade_level=2.0, grid_frame=False))
    assert unjoined.corners is None or np.abs(unjoined.corners - np.float32(TILTED)).max() > 50
    framed = find_sheet(photo, SheetConfig(shade_level=2.0))
    assert framed.found_by == "grid" and np.abs(framed.corners - np.float32(TILTED)).max() < 3.0
    scene = _on_desk(decode_image(SAMPLES[0]), TILTED)
    cv2.rectangle(scene, (1800, 300), (1990, 1200), (200, 220, 235), -1)
    assert np.abs(find_sheet(scene).corners - np.float32(TILTED)).max() < 3.0


def test_a_sheet_on_a_checked_cloth_whose_edges_touch_white_checks_is_found():
    """Where white checks of a cloth lie against the sheet's sides, the brightest desk just outside
    is as pale as the paper and the sides' step vanishes; most of each side still steps down to
    the cloth, which is enough (without it the photo was read as a whole frame, and refused)."""
    from dataclasses import replace

    from train.scenes import CONDITIONS, compose_scene

    scene = compose_scene(decode_image(SAMPLES[0]), replace(CONDITIONS["patterned_cloth"], megapixels=3.0, seed=12))
    photo = cv2.imdecode(cv2.imencode(".jpg", scene.image)[1], cv2.IMREAD_COLOR)
    sheet = find_sheet(photo)
    assert sheet.found_by == "content" and np.abs(sheet.corners - scene.corners).max() < 3.0
    assert not find_sheet(photo, SheetConfig(content_edge_share=1.01)).rectified


@pytest.mark.parametrize("light", ["warm", "cool"])
def test_a_sheet_whose_edges_neither_search_finds_is_placed_by_its_grid_frame(classifier, light):
    """On a white table one side of the sheet shows no step at all, and the traces' hull did not
    lead to the edges either; the pink frame round the printed grid sits at a known place on the
    page and places it to a pixel (without it the photo was read as a whole frame). Cool light
    makes the paper greener than the frame's thin line mixed with it at the search's scale: the
    paper's own tint is taken out first."""
    from dataclasses import replace

    from train.scenes import CONDITIONS, compose_scene

    page = decode_image(SAMPLES[5])
    scene = compose_scene(page, replace(CONDITIONS["white_table"], megapixels=3.0, seed=16, light=light))
    photo = cv2.imdecode(cv2.imencode(".jpg", scene.image)[1], cv2.IMREAD_COLOR)
    sheet = find_sheet(photo)
    assert sheet.found_by == "grid" and np.abs(sheet.corners - scene.corners).max() < 3.0
    assert not find_sheet(photo, SheetConfig(grid_frame=False)).rectified
    result = classifier.classify(photo)
    assert result.is_ecg and result.sheet.found_by == "grid"
    assert result.label == classifier.classify(page).label


def test_a_page_placed_by_its_grid_frame_is_turned_upright_before_its_margins_are_added():
    """The page reaches far beyond the frame at its header: a frame seen upside down must give the
    page's corners from the upright page's top-left, not a header added below the footer."""
    from edge.orientation import quarter_turns
    from edge.sheet import (
        _frame_pinkness,
        _grid_frame,
        _paper_balance,
        _paper_score,
        _refine,
        _sheet_from_frame,
        _shrunk,
    )

    corners = np.roll(np.float32(TILTED), 2, axis=0)  # the page's TL lies at the photo's bottom right
    photo = _on_desk(decode_image(SAMPLES[0]), corners)
    config = SheetConfig()
    small, scale = _shrunk(photo, config.work_size)
    balance = _paper_balance(small, _paper_score(small))
    frame = _grid_frame(_frame_pinkness(small, balance), np.float64(TILTED).mean(axis=0) * scale, config)
    assert frame is not None
    frame, _ = _refine(photo, frame / scale, np.zeros((0, 2)), 3.0, (config.frame_min_line, balance))
    sheet = _sheet_from_frame(photo, frame, config, lambda p, first: quarter_turns(p, first, 512))
    assert sheet.quarter_turns == 2 and sheet.found_by == "grid"
    assert np.abs(sheet.corners - corners).max() < 3.0
    assert sheet.image.shape[1] > sheet.image.shape[0]


def test_a_grid_printed_in_lines_is_not_taken_for_a_frame():
    """A printout whose grid is drawn in lines has no frame stronger than its grid: the first line
    out from the middle is a cell's, and no page is placed by it."""
    from dataclasses import replace

    from edge.sheet import _frame_pinkness, _grid_frame, _paper_balance, _paper_score, _shrunk
    from train.render import render_printout, synthetic_ecg
    from train.scenes import CONDITIONS, compose_scene

    printout = render_printout(synthetic_ecg(heart_rate=70, seed=1)).image
    for source in (printout, decode_image(SAMPLES[5])):
        scene = compose_scene(source, replace(CONDITIONS["white_table"], megapixels=3.0, seed=16))
        small, scale = _shrunk(scene.image, SheetConfig().work_size)
        balance = _paper_balance(small, _paper_score(small))
        found = _grid_frame(_frame_pinkness(small, balance), scene.corners.mean(axis=0) * scale, SheetConfig())
        assert (found is None) == (source is printout)


def test_a_page_upside_down_is_found_upright_from_one_reading(monkeypatch):
    """The half turn is looked at on the page already read, turned: one reading, not two."""
    import edge.orientation as orientation

    page = cv2.resize(decode_image(SAMPLES[1]), (2048, 1455), interpolation=cv2.INTER_AREA)
    reads = []
    real = orientation.read_page
    monkeypatch.setattr(orientation, "read_page", lambda *a, **k: reads.append(1) or real(*a, **k))
    assert orientation.quarter_turns(np.ascontiguousarray(page[::-1, ::-1]), 0, 512) == 2
    assert len(reads) == 1
    assert orientation.quarter_turns(page, 0, 512) == 0 and len(reads) == 2
    assert orientation.quarter_turns(np.ascontiguousarray(np.rot90(page)), 1, 512) == 3


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 5, -1])
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3)])
def test_turned_is_numpys_rot90(turns, shape):
    # Pages are turned by OpenCV for speed: the same pixels, the same way round, as numpy's rot90.
    image = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    out = turned(image, turns)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, np.rot90(image, turns))


@pytest.mark.parametrize("turns", [0, 2])
def test_a_landscape_photos_half_turn_is_judged_on_the_rows_the_page_stage_reads(turns, classifier):
    """A flattened landscape page is not looked at separately for which way up it lies: its rows are
    read once, and that reading (or, upside down, the same reading turned) is what the models get."""
    from edge.pipeline import flatten_photo, settle_half_turn
    from edge.preprocess import preprocess

    config = classifier.card.preprocessing
    corners = np.roll(np.float32(TILTED), turns, axis=0)
    sheet = flatten_photo(_on_desk(decode_image(SAMPLES[1]), corners), config)
    assert sheet.rectified and sheet.half_turn_open and sheet.quarter_turns == 0
    settled, read = settle_half_turn(sheet, config)
    assert not settled.half_turn_open and settled.quarter_turns == turns
    assert np.abs(settled.corners - corners).max() < 12  # the upright page's top-left first
    assert read is not None
    fresh = preprocess(settled.image, config)
    if turns == 0:  # the very page the model would have read
        np.testing.assert_array_equal(preprocess(settled.image, config, read=read).image, fresh.image)
    else:  # the page turned, not read again: the same rows to a pixel or two
        assert read[1].name == fresh.layout.name
        assert np.abs(np.subtract(read[1].row_baselines, fresh.layout.row_baselines)).max() <= 2


@pytest.mark.parametrize("q", [0, 1, 50, 90, 99, 100])
@pytest.mark.parametrize("size", [1, 2, 3, 10, 1001, 40000])
def test_the_sheets_percentile_is_numpys_to_the_bit(q, size):
    from edge.sheet import _percentile

    rng = np.random.default_rng(size)
    for values in (rng.integers(0, 256, size), np.clip(rng.normal(200, 20, size), 0, 255), np.full(size, 7)):
        values = values.astype(np.uint8)
        assert _percentile(values, q) == np.percentile(values, q)
        if q == 50:
            assert _percentile(values, q) == np.median(values)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_a_point_moves_onto_a_side_as_the_points_do():
    from edge.sheet import _Side

    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.normal(0, 300, 2)
        b = a + rng.normal(0, 300, 2)
        side = _Side.fit(a + (b - a) * rng.random((30, 1)) + rng.normal(0, 3, (30, 2)), a, b)
        point = rng.normal(0, 300, 2)
        np.testing.assert_allclose(side.onto(point), side.onto(point[None, :])[0], rtol=0, atol=1e-9)
    nowhere = _Side.straight(np.array([5.0, 5.0]), np.array([5.0, 5.0]))  # a side of no length
    assert np.isnan(nowhere.onto(np.array([1.0, 2.0]))).all()  # as many points give: no crash


def test_an_upright_photos_page_is_read_once(classifier, monkeypatch):
    """Which way up a flattened landscape page lies is judged on the reading the models get."""
    import edge.pipeline
    import edge.preprocess

    reads = []
    for module in (edge.pipeline, edge.preprocess):
        real = module.read_page
        monkeypatch.setattr(module, "read_page", lambda *a, _real=real, **k: reads.append(a[1]) or _real(*a, **k))
    result = classifier.classify(_on_desk(decode_image(SAMPLES[1]), TILTED))
    assert result.is_ecg and result.sheet.quarter_turns == 0
    assert reads.count(classifier.card.preprocessing.work_size) == 1


@pytest.mark.parametrize("turns", [1, 3])
def test_a_page_on_its_side_that_flattens_landscape_is_still_turned(turns, classifier):
    """A page lying on its side in a landscape quad (its content sideways) has no lead rows where
    the page stage looks: the sheet stage's full look turns it, in classify and in digitize."""
    from edge.pipeline import read_ecg

    page = decode_image(SAMPLES[1])
    photo = _on_desk(np.ascontiguousarray(np.rot90(page, turns)), TILTED)
    result = classifier.classify(photo)
    assert result.is_ecg, result.gate.reason
    assert result.sheet.quarter_turns == 4 - turns
    assert result.label == classifier.classify(page).label
    assert read_ecg(photo, gate=True).sheet.quarter_turns == 4 - turns


def test_digitize_reads_an_upside_down_photo_upright():
    from edge.pipeline import read_ecg

    corners = np.roll(np.float32(TILTED), 2, axis=0)
    reading = read_ecg(_on_desk(decode_image(SAMPLES[1]), corners), gate=True)
    assert reading.sheet.quarter_turns == 2 and not reading.sheet.half_turn_open
    assert np.abs(reading.sheet.corners - corners).max() < 12
    assert reading.measurements.heart_rate_bpm is not None
