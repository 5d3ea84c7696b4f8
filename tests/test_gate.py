from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.gate import check_ecg
from edge.preprocess import decode_image
from tests.conftest import SAMPLES, sample_files


def _blank() -> np.ndarray:
    return np.full((786, 1106, 3), 255, np.uint8)


def _text_page() -> np.ndarray:
    page = _blank()
    for y in range(40, 760, 24):
        cv2.putText(page, "patient report heart rate normal findings clinic date", (30, y),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1)  # fmt: skip
    return page


def _photo_like() -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8), (15, 15), 0)


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_every_sample_scan_is_an_ecg(path):
    result = check_ecg(decode_image(path))
    assert result.is_ecg and result.reason == ""


def test_grayscale_ecg_without_grid_passes():
    image = decode_image(SAMPLES / "mi" / "MI(29).jpg")
    p = image.astype(np.int16)
    image[(p[..., 2] - (p[..., 0] + p[..., 1]) // 2) > 12] = 255  # white out the grid
    assert check_ecg(cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)).is_ecg


@pytest.mark.parametrize("make", [_blank, _text_page, _photo_like], ids=["blank", "text", "photo-like"])
def test_pages_that_are_not_ecgs_are_refused_with_a_reason(make):
    result = check_ecg(make())
    assert not result.is_ecg and result.reason.startswith("not an ECG printout")


def test_cli_reports_not_an_ecg_as_its_own_outcome(tmp_path):
    cv2.imwrite(str(tmp_path / "text.png"), _text_page())
    (tmp_path / "scan.jpg").write_bytes((SAMPLES / "mi" / "MI(29).jpg").read_bytes())
    result = CliRunner().invoke(app, ["classify", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output  # an answer, not a failure to read
    rows = {row["file"].rsplit("/", 1)[-1]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["text.png"]["label"] is None and rows["text.png"]["error"] is None
    assert rows["text.png"]["reason"].startswith("not an ECG printout")
    assert rows["scan.jpg"]["label"] is not None


def test_paper_with_a_saturated_grid_at_scan_resolution_is_paper_on_the_sampled_grid_too():
    """The paper share is judged on a grid of points (GateConfig.paper_size), but its colour test must
    not see a 300 dpi page's thin saturated grid lines as coloured where the working page blends them
    into the paper (a first version point-sampled the colour and refused such pages)."""
    from edge.gate import GateConfig, paper_fraction
    from edge.page import to_work_scale

    page = np.full((2480, 3508, 3), 255, np.uint8)
    for k in np.arange(0, 3508, 11.8):
        page[:, int(k) : int(k) + 2] = (175, 150, 255)
    for k in np.arange(0, 2480, 11.8):
        page[int(k) : int(k) + 2] = (175, 150, 255)

    def share(config: GateConfig) -> float:
        red, _ = to_work_scale(np.ascontiguousarray(page[..., 2]), config.work_size)
        return paper_fraction(page, red, config)

    every_pixel = share(GateConfig(paper_size=1024))
    assert every_pixel > 0.9
    assert abs(share(GateConfig()) - every_pixel) < 0.08
