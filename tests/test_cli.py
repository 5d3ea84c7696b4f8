from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.labels import LABEL_KEYS
from tests.conftest import SAMPLES, sample_files

runner = CliRunner()


@pytest.fixture()
def tiny_model(tiny_run) -> Path:
    return tiny_run / "custom_cnn" / "tflite" / "custom_cnn_int8.tflite"


@pytest.fixture()
def mixed_folder(tmp_path) -> Path:
    folder = tmp_path / "inbox"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(SAMPLES / "mi" / "MI(15).jpg", folder / "MI(15).jpg")
    shutil.copy(SAMPLES / "normal" / "Normal(108).jpg", folder / "nested" / "Normal(108).jpg")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("patient notes, not an image\n")
    data = cv2.imencode(".jpg", cv2.imread(str(SAMPLES / "mi" / "MI(29).jpg")))[1].tobytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 3])
    return folder


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_mixed_folder_classifies_scans_reports_bad_files_and_exits_1(mixed_folder, tiny_model):
    result = runner.invoke(app, ["classify", str(mixed_folder), "--model", str(tiny_model), "--json"])
    assert result.exit_code == 1, result.output
    rows = {Path(row["file"]).name: row for row in _json_lines(result.stdout)}
    assert set(rows) == {"MI(15).jpg", "Normal(108).jpg", "report.pdf", "empty.jpg", "notes.jpg", "cut.jpg"}
    for name in ("MI(15).jpg", "Normal(108).jpg"):
        row = rows[name]
        assert row["error"] is None and row["label"] in LABEL_KEYS
        assert list(row["probabilities"]) == list(LABEL_KEYS)
        assert isinstance(row["uncertain"], bool)
        assert abs(sum(row["probabilities"].values()) - 1) < 1e-5
    for name, message in (
        ("report.pdf", "a PDF document"),
        ("empty.jpg", "empty"),
        ("notes.jpg", "not a readable image"),
        ("cut.jpg", "truncated"),
    ):
        assert rows[name]["label"] is None and rows[name]["probabilities"] is None
        assert message in rows[name]["error"]


def test_readable_output_is_one_line_per_file(mixed_folder, tiny_model):
    result = runner.invoke(app, ["classify", str(mixed_folder), "--model", str(tiny_model)])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 6
    assert sum("error:" in line for line in lines) == 4
    assert "interpreter ai_edge_litert" in result.stderr


def test_all_good_files_exit_0(tiny_model):
    files = [str(p) for p in sample_files()]
    result = runner.invoke(app, ["classify", *files, "--model", str(tiny_model), "--json"])
    assert result.exit_code == 0, result.output
    assert len(_json_lines(result.stdout)) == len(files)


@pytest.mark.parametrize(
    "args",
    [
        ["classify"],
        ["classify", "/no/such/scan.jpg"],
        ["classify", str(SAMPLES), "--threads", "0"],
        ["classify", str(SAMPLES), "--model", "/no/such/model.tflite"],
        ["frobnicate"],
    ],
)
def test_wrong_usage_exits_2(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output


def test_default_model_is_the_shipped_one(monkeypatch, tmp_path):
    from edge.resources import MODEL_ENV_VAR, MODELS_DIR_ENV_VAR, default_model_path
    from tests.conftest import SHIPPED_MODEL, SHIPPED_TRACES_INT8

    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    monkeypatch.delenv(MODELS_DIR_ENV_VAR, raising=False)
    assert default_model_path() == SHIPPED_MODEL
    monkeypatch.setenv(MODEL_ENV_VAR, str(SHIPPED_TRACES_INT8))  # another shipped model
    assert default_model_path() == SHIPPED_TRACES_INT8
    monkeypatch.setenv(MODEL_ENV_VAR, SHIPPED_TRACES_INT8.stem)  # a listed name works too
    assert default_model_path() == SHIPPED_TRACES_INT8
    monkeypatch.setenv(MODEL_ENV_VAR, str(tmp_path / "m.tflite"))
    with pytest.raises(FileNotFoundError, match="m.tflite"):
        default_model_path()


def test_missing_default_pointer_is_a_clear_usage_error(monkeypatch, tmp_path):
    import edge.resources

    monkeypatch.delenv(edge.resources.MODEL_ENV_VAR, raising=False)
    monkeypatch.delenv(edge.resources.MODELS_DIR_ENV_VAR, raising=False)
    monkeypatch.setattr(edge.resources, "shipped_models_dir", lambda: tmp_path)
    result = runner.invoke(app, ["classify", str(SAMPLES)])
    assert result.exit_code == 2
    assert "no default model" in result.stderr


def test_models_lists_installed_models_with_metrics(tiny_run):
    folder = tiny_run / "custom_cnn" / "tflite"
    result = runner.invoke(app, ["models", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    for variant in ("float32", "float16", "dynamic", "int8"):
        assert variant in result.output
    assert "KiB" in result.output and "macro-F1" in result.output


def test_models_lists_the_shipped_default():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    from tests.conftest import SHIPPED_MODEL, SHIPPED_MODELS

    assert all(model.stem in result.output for model in SHIPPED_MODELS) and "yes" in result.output
    from edge.card import load_card
    from edge.preprocess import model_input_shape

    config = load_card(SHIPPED_MODEL).preprocessing
    shape = "x".join(str(n) for n in model_input_shape(config)[1:3])  # 625x12 for leads, 128x128 for images
    assert f"{config.view} {shape}" in result.output


def test_models_in_an_empty_folder_is_a_usage_error(tmp_path):
    assert runner.invoke(app, ["models", "--dir", str(tmp_path)]).exit_code == 2


def test_every_json_row_has_the_same_keys(mixed_folder, tiny_model):
    result = runner.invoke(app, ["classify", str(mixed_folder), "--model", str(tiny_model), "--json"])
    keys = {tuple(row) for row in _json_lines(result.stdout)}
    assert keys == {
        ("file", "label", "probabilities", "uncertain", "reason", "sheet", "layout", "measurements", "statements",
         "quality", "error")
    }
