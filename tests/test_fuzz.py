"""Mutated image files: decoding and preprocessing either succeed or raise ImageDecodeError,
never anything else, and never hang."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.preprocess import ImageDecodeError, PreprocessConfig, decode_image, preprocess
from tests.conftest import SAMPLES

CONFIG = PreprocessConfig(input_size=64, work_size=256)


def _seeds() -> list[bytes]:
    image = cv2.resize(cv2.imread(str(SAMPLES / "mi" / "MI(15).jpg")), (96, 68), interpolation=cv2.INTER_AREA)
    return [cv2.imencode(suffix, image)[1].tobytes() for suffix in (".jpg", ".png", ".bmp", ".webp", ".tiff")]


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "overwrite"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        else:
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[pos : pos + len(chunk)] = chunk
    return bytes(data)


# Deadlines catch hangs, not slow files: a mutated header may declare up to the 100 MP limit, and
# decoding that legitimately takes seconds on a loaded CI machine (one took 3.4 s).
@settings(max_examples=2000, deadline=10000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(mutated())
def test_mutated_files_decode_or_raise_a_clear_error(data):
    try:
        result = preprocess(data, CONFIG)
    except ImageDecodeError as exc:
        assert str(exc)
        return
    assert result.image.shape == (64, 64) and result.image.dtype == np.uint8


@pytest.mark.parametrize("size", [(1, 1), (1, 500), (500, 1), (3, 3)])
def test_degenerate_image_sizes_preprocess(size):
    image = np.full((*size, 3), 200, np.uint8)
    assert preprocess(cv2.imencode(".png", image)[1].tobytes(), CONFIG).image.shape == (64, 64)
    with pytest.raises(ImageDecodeError):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)


def test_cli_over_a_folder_of_hostile_files_reports_each_and_exits_1(tmp_path):
    import json

    from typer.testing import CliRunner

    from edge.cli import app
    from tests.test_preprocess import _png_declaring

    rng = np.random.default_rng(0)
    files = {
        "bomb.png": _png_declaring(50_000, 50_000),
        "empty.jpg": b"",
        "text.jpg": b"hello\n",
        "doc.pdf": b"%PDF-1.7\n%%EOF\n",
        "random.png": rng.bytes(4096),
        "cut.jpg": SEEDS[0][: len(SEEDS[0]) // 2],
        "header_only.png": SEEDS[1][:40],
    }
    for i in range(10):
        data = bytearray(SEEDS[i % len(SEEDS)])
        for pos in rng.integers(0, len(data), 20):
            data[pos] ^= 0xFF
        files[f"mutant{i}{['.jpg', '.png', '.bmp', '.webp', '.tiff'][i % 5]}"] = bytes(data)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "good.jpg").write_bytes((SAMPLES / "mi" / "MI(15).jpg").read_bytes())
    result = CliRunner().invoke(app, ["classify", str(tmp_path), "--json"])
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(files) + 1
    by_name = {row["file"].rsplit("/", 1)[-1]: row for row in rows}
    assert by_name["good.jpg"]["label"] is not None
    assert "pixel limit" in by_name["bomb.png"]["error"]
    for name in ("empty.jpg", "text.jpg", "doc.pdf", "random.png", "cut.jpg", "header_only.png"):
        assert by_name[name]["label"] is None and by_name[name]["error"]


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


@pytest.fixture(scope="module")
def shipped_classifier():
    from edge.classifier import EcgClassifier
    from tests.conftest import SHIPPED_MODEL

    return EcgClassifier.create_from_model_path(SHIPPED_MODEL)


_rss_at_start: list[float] = []


@settings(max_examples=400, deadline=10000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(mutated())
def test_the_default_classifier_answers_or_refuses_every_mutated_file(shipped_classifier, data):
    """What a user runs (gate, lead finding, inference): a result, or ImageDecodeError; memory
    does not grow from file to file."""
    if not _rss_at_start:
        _rss_at_start.append(_rss_mib())
    try:
        result = shipped_classifier.classify(data)
    except ImageDecodeError as exc:
        assert str(exc)
    else:
        assert result.is_ecg or result.gate.reason
    assert _rss_mib() < _rss_at_start[0] + 150


@pytest.mark.parametrize("size", [(1, 1), (1, 500), (500, 1), (3, 3)])
def test_degenerate_images_get_an_answer_from_the_default_classifier(shipped_classifier, size):
    result = shipped_classifier.classify(np.full((*size, 3), 200, np.uint8))
    assert not result.is_ecg and result.gate.reason
