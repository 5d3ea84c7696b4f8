"""Lead panels found whatever the layout: the shipped 3x4 scans and synthetic 6x2 / grid-less
re-layouts of them (train.relayout) give the same 12 leads in the same canonical order."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from edge.leads import LEAD_NAMES, LayoutError, LeadConfig, find_leads
from edge.preprocess import PreprocessConfig, decode_image, preprocess
from tests.conftest import sample_files
from train.relayout import LAYOUTS


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.fixture(scope="module")
def scans() -> dict[str, np.ndarray]:
    return {p.name: decode_image(p) for p in sample_files()}


def test_every_sample_is_a_3x4_page_with_a_rhythm_strip_and_panels_in_reading_order(scans):
    config = replace(PreprocessConfig(), view="leads", input_size=128)
    for name, scan in scans.items():
        layout = preprocess(scan, config).layout
        assert (layout.name, layout.lead_rows, layout.rhythm_rows) == ("3x4", 3, 1), name
        panels = {p.lead: p for p in layout.panels}
        assert [p.lead for p in layout.panels] == list(LEAD_NAMES)
        # Columns left to right: I, aVR, V1, V4; rows top to bottom: I, II, III.
        assert panels["I"].x0 < panels["aVR"].x0 < panels["V1"].x0 < panels["V4"].x0
        assert panels["I"].y0 < panels["II"].y0 < panels["III"].y0
        assert panels["I"].y0 == panels["aVR"].y0 == panels["V1"].y0 == panels["V4"].y0


@pytest.mark.parametrize("layout_name", list(LAYOUTS))
@pytest.mark.parametrize("view", ["leads", "traces"])
def test_other_layouts_give_the_same_leads_as_the_original(scans, layout_name, view):
    config = replace(PreprocessConfig(), view=view, input_size=128)
    expected = "6x2" if layout_name.startswith("6x2") else "3x4"
    originals = {name: preprocess(scan, config).image for name, scan in scans.items()}
    for name, scan in scans.items():
        pre = preprocess(LAYOUTS[layout_name].make(scan), config)
        assert pre.layout.name == expected, name
        assert pre.layout.rhythm_rows == (0 if layout_name in ("6x2-text", "6x2-nogrid") else 1)
        assert pre.image.shape == (128, 128)
        same = _similarity(pre.image, originals[name])
        others = max(_similarity(pre.image, img) for other, img in originals.items() if other != name)
        # The re-laid-out page reads as its own scan, clearly more than as any other scan.
        assert same > 0.7, (name, same)
        assert same > others + 0.1, (name, same, others)


def test_header_text_never_reaches_the_model(scans):
    """The machine interpretation printed above the leads changes nothing in the model input."""
    config = replace(PreprocessConfig(), view="traces", input_size=128)
    scan = next(iter(scans.values()))
    from train.relayout import relayout_6x2

    plain = preprocess(relayout_6x2(scan, rhythm=False), config).image
    told = preprocess(relayout_6x2(scan, rhythm=False, interpretation="ACUTE MI  STEMI"), config).image
    assert np.array_equal(plain, told)


def test_traces_view_is_binary_and_grid_free(scans):
    config = replace(PreprocessConfig(), view="traces", input_size=128)
    image = preprocess(next(iter(scans.values())), config).image
    assert set(np.unique(image)) <= {0, 255}
    assert 0.01 < np.mean(image == 0) < 0.2  # thin strokes on white, not a grid texture


@pytest.mark.parametrize(
    "page",
    [
        np.full((786, 1106, 3), 255, np.uint8),
        cv2.putText(np.full((786, 1106, 3), 255, np.uint8), "text only " * 6, (20, 300), 0, 1.0, (0, 0, 0), 2),
    ],
    ids=["blank", "text"],
)
def test_pages_without_lead_rows_raise_layout_error(page):
    with pytest.raises(LayoutError, match="trace rows"):
        preprocess(page, replace(PreprocessConfig(), view="leads", input_size=128))


def test_page_view_is_unchanged_by_the_lead_settings(scans):
    scan = next(iter(scans.values()))
    base = preprocess(scan, replace(PreprocessConfig(), input_size=96))
    other = preprocess(scan, replace(PreprocessConfig(), input_size=96, leads=LeadConfig(panel_height=0.9)))
    assert base.layout is None and np.array_equal(base.image, other.image)


def test_config_with_lead_settings_round_trips_and_rejects_unknown_views():
    config = replace(PreprocessConfig(), view="traces", leads=LeadConfig(panel_height=0.7))
    assert PreprocessConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown view"):
        PreprocessConfig(view="panorama")
    with pytest.raises(ValueError, match="unknown lead parameters"):
        PreprocessConfig.from_dict({**config.to_dict(), "leads": {"panel_height": 0.7, "colour": 1}})
    # Cards written before views existed still load, as page models.
    old = {k: v for k, v in PreprocessConfig().to_dict().items() if k not in ("view", "leads")}
    assert PreprocessConfig.from_dict(old).view == "page"


@pytest.mark.parametrize("degrees", [-7.0, 4.0])
def test_a_slanted_photo_is_levelled_before_its_leads_are_read(scans, degrees):
    config = replace(PreprocessConfig(), view="traces", input_size=128)
    name, scan = next(iter(scans.items()))
    h, w = scan.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    slanted = cv2.warpAffine(scan, matrix, (w, h), borderValue=(255, 255, 255))
    pre = preprocess(slanted, config)
    assert (pre.layout.name, pre.layout.lead_rows) == ("3x4", 3)
    straight = preprocess(scan, config).image
    levelled = _similarity(pre.image, straight)
    unlevelled = replace(config, leads=replace(config.leads, deskew_max_degrees=0.0))
    try:
        without = _similarity(preprocess(slanted, unlevelled).image, straight)
    except LayoutError:
        without = 0.0
    assert levelled > 0.6 and levelled > without + 0.1, (levelled, without)


def test_level_pages_are_not_resampled(scans):
    """A straight scan gives bit for bit the input it gave before levelling existed."""
    from edge.deskew import level
    from edge.leads import ink_mask

    gray = np.ascontiguousarray(next(iter(scans.values()))[..., 2])
    out, angle = level(gray, ink_mask(gray), 10.0, 0.5)
    assert angle == 0.0 and out is gray


def test_a_photo_in_perspective_still_gives_its_lead_rows(scans):
    """A keystoned photo leans its lead-switch markers, which then join rows; the second look with
    leaning markers finds the rows where the first look finds none."""
    config = replace(PreprocessConfig(), view="traces", input_size=128)
    first_look_only = replace(config, leads=replace(config.leads, leaning_marker_height=0.2, leaning_marker_width=1))
    failed_first = 0
    for scan in scans.values():
        h, w = scan.shape[:2]
        corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        keystone = np.float32([[0.04 * w, 0], [0.96 * w, 0], [w, h], [0, h]])
        matrix = cv2.getPerspectiveTransform(corners, keystone)
        photo = cv2.warpPerspective(scan, matrix, (w, h), borderValue=(255, 255, 255))
        assert preprocess(photo, config).layout.lead_rows == 3
        try:
            preprocess(photo, first_look_only)
        except LayoutError:
            failed_first += 1
    assert failed_first >= len(scans) // 2


def test_a_shaded_photo_reads_like_the_evenly_lit_scan(scans):
    """Paper brightness falling to a third across the page (a soft shadow) is divided out before
    the ink is found; evenly lit scans are not touched at all."""
    config = replace(PreprocessConfig(), view="traces", input_size=128)
    unflattened = replace(config, leads=replace(config.leads, max_shading=1.0))
    for scan in list(scans.values())[:4]:
        x = np.linspace(0, 1, scan.shape[1])[None, :, None]
        shaded = (scan * (0.35 + 0.65 / (1 + np.exp(-(x - 0.5) * 12)))).astype(np.uint8)
        straight = preprocess(scan, config).image
        flattened = _similarity(preprocess(shaded, config).image, straight)
        assert flattened > 0.97 and flattened > _similarity(preprocess(shaded, unflattened).image, straight)
        assert np.array_equal(straight, preprocess(scan, unflattened).image)


def test_a_hard_shadows_edge_is_not_ink_when_the_paper_is_estimated_with_steps(scans):
    """A sharp-edged shadow (the paper at half its brightness beyond a slanted line) divided out with
    a box-blurred paper estimate leaves a band of false ink along its edge; estimated with steps
    (LeadConfig.shading_steps, on the shipped cards) far less. Evenly lit scans are untouched by
    either."""
    from edge.page import read_page

    scan = next(iter(scans.values()))
    h, w = scan.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    edge = (xx - 0.35 * w) - 0.3 * (yy - h / 2)  # a line leaning 17 degrees off vertical
    shaded = np.where((edge > 0)[..., None], scan * 0.5, scan).astype(np.uint8)
    near_edge = np.abs(edge) < 0.03 * w  # where only the shadow's edge, not the traces, differ
    counts = {}
    for steps in (False, True):
        config = replace(LeadConfig(), shading_steps=steps)
        straight = read_page(scan, 1024, config)
        page = read_page(shaded, 1024, config)
        assert np.array_equal(straight.gray, read_page(scan, 1024, LeadConfig()).gray)
        band = cv2.resize(near_edge.astype(np.uint8), page.ink.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        counts[steps] = int((page.ink.astype(bool) & ~straight.ink.astype(bool) & band).sum())
    assert counts[True] < 0.5 * counts[False], counts


def test_a_ruled_line_that_blur_joined_to_letters_is_not_a_lead_row():
    """Out of focus, a header's rule and the words above and below it become one component that
    swings like a trace; read as the first lead row, it moved every lead down a row."""
    from edge.page import read_page

    config = PreprocessConfig(view="traces")
    ink = read_page(decode_image(sample_files()[0]), config.work_size, config.leads).traces.copy()
    before = find_leads(ink, 1.0, config.leads).row_baselines
    height, width = ink.shape
    ink[: int(0.2 * height)] = 0
    y = int(0.1 * height)
    ink[y : y + 4, int(0.03 * width) : int(0.97 * width)] = 1
    for x in range(int(0.05 * width), int(0.95 * width), 24):
        ink[y - 9 : y, x : x + 2] = 1
        ink[y + 4 : y + 12 + x % 5, x + 9 : x + 11] = 1
    assert find_leads(ink, 1.0, config.leads).row_baselines == before


def test_a_slanted_sheet_edge_with_a_stub_of_desk_is_not_a_lead_row():
    """A photo's sheet edge, kept at the top of the page read, slants a few pixels along its length
    (no pixel row holds a quarter of the page of it) and, joined to a stripe of the cloth under the
    sheet, swings like a trace: read as a rhythm strip, it gave a cloth photo an MI label."""
    from edge.page import read_page

    config = PreprocessConfig(view="traces")
    ink = read_page(decode_image(sample_files()[0]), config.work_size, config.leads).traces.copy()
    before = find_leads(ink, 1.0, config.leads).row_baselines
    height, width = ink.shape
    ink[: int(0.2 * height)] = 0
    x0, x1, y = int(0.06 * width), int(0.7 * width), 3
    for x in range(x0, x1):  # three pixels of slant over ~650 px, a pixel thick
        ink[y + (3 * (x - x0)) // (x1 - x0), x] = 1
    ink[y : y + int(0.12 * height), x0 - 16 : x0] = 1  # the stripe of cloth it touches
    steps = [np.diff(np.r_[0, row.astype(int), 0]) for row in ink[: y + 4]]
    run = max((np.flatnonzero(d == -1) - np.flatnonzero(d == 1)).max(initial=0) for d in steps)
    assert run < 0.25 * width  # not straight along any one pixel row
    assert find_leads(ink, 1.0, config.leads).row_baselines == before


def test_rows_whose_start_a_shadow_hides_are_timed_by_their_markers():
    """Ink lost over the rows' first second (a hard shadow or a finger over it on a photo): the rows
    were found from there on, their 10 s squeezed into less page (the time scale off by a tenth);
    the lead-switch markers, 2.5 s apart, say where the rows start."""
    from edge.layout import find_layout
    from edge.page import read_page

    config = PreprocessConfig(view="traces")
    page = read_page(decode_image(sample_files()[0]), config.work_size, config.leads)
    flat = find_layout(page, config.leads)
    ink = page.ink.copy()
    ink[:, int(flat.x_start) - 3 : int(flat.x_start + 0.12 * (flat.x_end - flat.x_start))] = 0
    hidden = replace(page, ink=ink)
    assert find_leads(hidden.traces, page.scale, config.leads).px_per_second < 0.95 * flat.px_per_second
    layout = find_layout(hidden, config.leads)
    assert layout.px_per_second == pytest.approx(flat.px_per_second, rel=0.02)
    assert layout.x_start == pytest.approx(flat.x_start, abs=0.02 * (flat.x_end - flat.x_start))
    assert layout.panels[3].x0 == pytest.approx(flat.panels[3].x0, abs=3)  # aVR, after the first marker


def test_a_rhythm_strip_with_a_long_pause_is_still_a_lead_row():
    """A pause of ~3 s (sinus arrest) runs straight along one pixel row for over a quarter of the
    page, with no lead-switch marker to break it: the strip is still a trace, not a ruled line."""
    from edge.page import read_page

    config = PreprocessConfig(view="traces")
    ink = read_page(decode_image(sample_files()[0]), config.work_size, config.leads).traces.copy()
    before = find_leads(ink, 1.0, config.leads)
    baseline, (x0, x1) = int(round(before.row_baselines[-1])), before.row_extents[-1]
    a, b = int(x0 + 0.3 * (x1 - x0)), int(x0 + 0.62 * (x1 - x0))
    ink[baseline - 40 : baseline + 40, a:b] = 0
    ink[baseline - 1 : baseline + 2, a - 2 : b + 2] = 1
    assert find_leads(ink, 1.0, config.leads).row_baselines == pytest.approx(before.row_baselines, abs=1.5)
