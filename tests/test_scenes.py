"""train.scenes: synthetic phone photos of a printout, and where the sheet's corners landed."""

from __future__ import annotations

from dataclasses import fields, replace

import cv2
import numpy as np
import pytest

from train.render import render_printout, synthetic_ecg
from train.scenes import CONDITIONS, DESKS, SceneOptions, compose_scene, desk_texture

# Flat, sharp, neutral and uncompressed: what is left to compare is geometry.
CLEAN = SceneOptions(megapixels=1.0, light="neutral", vignette=0.0, jpeg_quality=None)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return render_printout(synthetic_ecg(seed=1), dpi=100).image  # 1106x786


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)


def _unwarped_correlation(scene_image: np.ndarray, corners: np.ndarray, page: np.ndarray) -> float:
    """Warp the frame back onto the page with ``corners`` and correlate it with the page (both smoothed)."""
    w, h = page.shape[1] // 2, page.shape[0] // 2
    target = np.float32([[0, 0], [w, 0], [w, h], [0, h]]) - 0.5
    back = cv2.warpPerspective(scene_image, cv2.getPerspectiveTransform(np.float32(corners), target), (w, h))
    small = cv2.resize(page, (w, h), interpolation=cv2.INTER_AREA)
    a, b = (cv2.GaussianBlur(_grey(x), (0, 0), 1.5).ravel() for x in (back, small))
    return float(np.corrcoef(a, b)[0, 1])


def _inside(point: np.ndarray, width: int, height: int) -> bool:
    return bool(0 <= point[0] <= width - 1 and 0 <= point[1] <= height - 1)


@pytest.mark.parametrize(("tilt", "rotation"), [(0, 0), (15, 37), (30, 180), (30, 270)])
def test_corners_map_back_onto_the_page(page: np.ndarray, tilt: float, rotation: float) -> None:
    scene = compose_scene(page, replace(CLEAN, tilt_deg=tilt, rotation_deg=rotation, fill=0.4, seed=3))
    assert scene.corners.shape == (4, 2) and scene.corners.dtype == np.float32
    assert _unwarped_correlation(scene.image, scene.corners, page) > 0.9
    # The check can fail: corners a step out of order, or off by 1.5% of the frame, correlate much worse.
    assert _unwarped_correlation(scene.image, np.roll(scene.corners, 1, axis=0), page) < 0.5
    nudged = scene.corners + np.float32([[1, 1], [0, 0], [0, 0], [0, 0]]) * 0.015 * scene.image.shape[1]
    assert _unwarped_correlation(scene.image, nudged, page) < 0.85


@pytest.mark.parametrize("seed", [0, 1])
def test_bent_sheet_corners_sit_on_the_sheet_corners(page: np.ndarray, seed: int) -> None:
    scene = compose_scene(page, replace(CLEAN, bend=1.0, tilt_deg=30, rotation_deg=20, fill=0.4, seed=seed))
    grey, centre = _grey(scene.image), scene.corners.mean(0)
    for corner in scene.corners:
        towards = (centre - corner) / np.linalg.norm(centre - corner)
        x_in, y_in = np.round(corner + 5 * towards).astype(int)
        x_out, y_out = np.round(corner - 5 * towards).astype(int)
        assert grey[y_in, x_in] > 150, "paper just inside the reported corner"
        assert grey[y_out, x_out] < 110, "dark desk just outside it"


def _bottom_edge_sag(page: np.ndarray, bend: float) -> float:
    """How far (px) the middle of the bottom edge lies above the straight line between its corners."""
    scene = compose_scene(page, replace(CLEAN, bend=bend, tilt_deg=0, seed=2))
    bottom_left, bottom_right = scene.corners[3], scene.corners[2]
    x = int(round((bottom_left[0] + bottom_right[0]) / 2))
    column = _grey(scene.image)[:, x]
    chord_y = (bottom_left[1] + bottom_right[1]) / 2
    rows = np.arange(int(chord_y) - 40, int(chord_y) + 40)
    edge_y = rows[np.argmax(column[rows] < 110)] - 0.5  # first desk row below the paper
    return float(chord_y - edge_y)


def test_bend_curves_the_edges_and_flat_does_not(page: np.ndarray) -> None:
    assert abs(_bottom_edge_sag(page, 0.0)) < 1.5
    # The lifted left and right edges come closer to the camera and look bigger: the bottom edge sags between them.
    assert _bottom_edge_sag(page, 1.0) > 3


def test_frame_size_aspect_and_portrait(page: np.ndarray) -> None:
    landscape = compose_scene(page, replace(CLEAN, megapixels=2.0))
    height, width = landscape.image.shape[:2]
    assert landscape.image.dtype == np.uint8 and landscape.image.shape[2] == 3
    assert abs(width * height / 2e6 - 1) < 0.01 and abs(width / height - 4 / 3) < 0.01
    portrait = compose_scene(page, replace(CLEAN, megapixels=2.0, portrait=True))
    assert portrait.image.shape[:2] == (width, height)
    top_left, top_right = portrait.corners[0], portrait.corners[1]
    dx, dy = np.abs(top_right - top_left)
    assert dy > 2 * dx, "the landscape page lies along the portrait frame's long side"


def test_twelve_megapixels_is_4000_by_3000(page: np.ndarray) -> None:
    assert compose_scene(page, replace(CLEAN, megapixels=12.0)).image.shape == (3000, 4000, 3)


@pytest.mark.parametrize(("fill", "tilt", "bend"), [(0.3, 0, 0.0), (0.6, 30, 0.0), (0.85, 15, 0.5), (0.5, 30, 1.0)])
def test_fill_is_the_quad_area_share(page: np.ndarray, fill: float, tilt: float, bend: float) -> None:
    scene = compose_scene(page, replace(CLEAN, fill=fill, tilt_deg=tilt, bend=bend, megapixels=0.5))
    x, y = scene.corners[:, 0].astype(np.float64), scene.corners[:, 1].astype(np.float64)
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    assert abs(area / (scene.image.shape[0] * scene.image.shape[1]) - fill) < 0.03


def test_same_seed_same_scene_other_seed_other_scene(page: np.ndarray) -> None:
    options = replace(CONDITIONS["bug_report"], megapixels=1.0, shadow="soft", blur="motion", finger=True)
    first, second = compose_scene(page, options), compose_scene(page, options)
    assert np.array_equal(first.image, second.image) and np.array_equal(first.corners, second.corners)
    other = compose_scene(page, replace(options, seed=1))
    assert not np.array_equal(first.corners, other.corners)
    assert np.abs(first.image.astype(int) - other.image).mean() > 5


def test_desk_textures_differ_and_look_their_part() -> None:
    textures = {kind: desk_texture(kind, 240, 320, np.random.default_rng(0)) for kind in DESKS}
    for kind, texture in textures.items():
        assert texture.shape == (240, 320, 3) and texture.dtype == np.uint8, kind
    kinds = list(DESKS)
    for i, a in enumerate(kinds):
        for b in kinds[i + 1 :]:
            assert np.abs(textures[a].astype(int) - textures[b]).mean() > 20, (a, b)
    assert textures["dark wood"].mean() < 90 and textures["white table"].mean() > 200
    wood = textures["dark wood"].reshape(-1, 3).mean(0)
    assert wood[2] > wood[1] > wood[0], "brown: more red than green than blue"
    carpet, cloth = textures["grey carpet"].astype(int), textures["patterned cloth"].astype(int)
    assert np.abs(carpet[..., 2] - carpet[..., 0]).mean() < 12, "grey carpet is grey"
    assert (cloth.max(2) - cloth.min(2)).mean() > 25, "the cloth is coloured"
    with pytest.raises(ValueError):
        desk_texture("marble", 10, 10, np.random.default_rng(0))


def test_scenes_on_different_desks_differ_around_the_sheet(page: np.ndarray) -> None:
    images = [compose_scene(page, replace(CLEAN, desk=desk)).image for desk in DESKS]
    border = np.ones(images[0].shape[:2], bool)
    border[40:-40, 40:-40] = False  # the frame's rim: desk (the sheet stays inside at fill 0.6)
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            assert np.abs(images[i][border].astype(int) - images[j][border]).mean() > 15, (DESKS[i], DESKS[j])


@pytest.mark.parametrize(("rotation", "quadrant"), [(0, (0, 0)), (90, (1, 0)), (180, (1, 1)), (270, (0, 1))])
def test_rotation_moves_the_top_left_corner(page: np.ndarray, rotation: float, quadrant: tuple[int, int]) -> None:
    scene = compose_scene(page, replace(CLEAN, rotation_deg=rotation, fill=0.4, megapixels=0.5))
    height, width = scene.image.shape[:2]
    top_left = scene.corners[0]
    assert (int(top_left[0] > width / 2), int(top_left[1] > height / 2)) == quadrant


@pytest.mark.parametrize("seed", range(4))
def test_corner_cut_puts_exactly_one_corner_outside(page: np.ndarray, seed: int) -> None:
    for corner_cut, expected in ((False, 0), (True, 1)):
        scene = compose_scene(page, replace(CLEAN, fill=0.5, corner_cut=corner_cut, seed=seed, megapixels=0.5))
        height, width = scene.image.shape[:2]
        assert sum(not _inside(c, width, height) for c in scene.corners) == expected


def test_conditions_keep_the_sheet_in_the_frame(page: np.ndarray) -> None:
    for name, options in CONDITIONS.items():
        scene = compose_scene(page, replace(options, megapixels=0.3, jpeg_quality=None))
        height, width = scene.image.shape[:2]
        outside = sum(not _inside(c, width, height) for c in scene.corners)
        assert outside == (1 if options.corner_cut else 0), name


def test_conditions_change_one_or_two_things() -> None:
    default = SceneOptions()
    assert CONDITIONS["default"] == default
    for name, options in CONDITIONS.items():
        changed = [f.name for f in fields(SceneOptions) if getattr(options, f.name) != getattr(default, f.name)]
        assert len(changed) <= 2, (name, changed)
    bug = CONDITIONS["bug_report"]
    assert (bug.desk, bug.light, bug.fill) == ("dark wood", "warm", 0.6) and 0 < bug.bend <= 0.5
    assert 5 <= bug.tilt_deg <= 25


def _paper_bgr(scene_image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    mask = np.zeros(scene_image.shape[:2], np.uint8)
    centre = corners.mean(0)
    cv2.fillPoly(mask, [np.round(centre + 0.8 * (corners - centre)).astype(np.int32)], 255)
    return scene_image[mask > 0].reshape(-1, 3).astype(np.float64).mean(0)


def test_light_casts_colour(page: np.ndarray) -> None:
    ratios = {}
    for light in ("neutral", "warm", "cool"):
        scene = compose_scene(page, replace(CLEAN, light=light))
        blue, _green, red = _paper_bgr(scene.image, scene.corners)
        ratios[light] = blue / red
    assert ratios["warm"] < 0.85 * ratios["neutral"] < ratios["cool"] * 0.95


def test_hard_shadow_darkens_by_about_half_and_nothing_else(page: np.ndarray) -> None:
    plain = _grey(compose_scene(page, CLEAN).image)
    shadowed = _grey(compose_scene(page, replace(CLEAN, shadow="hard")).image)
    ratio = shadowed / np.maximum(plain, 1)
    dark = (ratio < 0.8) & (plain > 100)
    assert dark.mean() > 0.01
    assert 0.45 < np.median(ratio[dark]) < 0.65
    assert np.abs(ratio[plain > 100] - 1)[~dark[plain > 100]].mean() < 0.05


def test_finger_covers_part_of_an_edge_in_skin_colour(page: np.ndarray) -> None:
    plain = compose_scene(page, CLEAN)
    touched = compose_scene(page, replace(CLEAN, finger=True))
    assert np.array_equal(plain.corners, touched.corners)
    changed = np.abs(touched.image.astype(int) - plain.image).sum(2) > 40
    assert 0.002 < changed.mean() < 0.1
    blue, green, red = touched.image[changed].astype(np.float64).mean(0)
    assert red > green > blue, "skin: red over green over blue"
    outline = np.zeros(changed.shape, np.uint8)
    cv2.polylines(outline, [np.round(plain.corners).astype(np.int32)], True, 1, 3)
    assert (changed & (outline > 0)).any(), "the finger crosses the sheet's edge"


def test_blur_softens_and_jpeg_changes_the_pixels(page: np.ndarray) -> None:
    def sharpness(image: np.ndarray) -> float:
        return float(cv2.Laplacian(_grey(image), cv2.CV_32F).var())

    sharp = compose_scene(page, replace(CLEAN, megapixels=2.0))
    for blur in ("defocus", "motion"):
        assert sharpness(compose_scene(page, replace(CLEAN, megapixels=2.0, blur=blur)).image) < 0.7 * sharpness(
            sharp.image
        ), blur
    jpeg = compose_scene(page, replace(CLEAN, megapixels=2.0, jpeg_quality=60))
    assert not np.array_equal(jpeg.image, sharp.image)
    assert np.abs(jpeg.image.astype(int) - sharp.image).mean() < 6


@pytest.mark.parametrize(
    "bad", [{"desk": "marble"}, {"fill": 0.95}, {"tilt_deg": -1}, {"bend": 1.5}, {"light": "green"}, {"seed": -1}]
)
def test_out_of_range_options_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        SceneOptions(**bad)


def test_page_must_be_bgr_uint8(page: np.ndarray) -> None:
    with pytest.raises(ValueError):
        compose_scene(_grey(page).astype(np.uint8), CLEAN)
