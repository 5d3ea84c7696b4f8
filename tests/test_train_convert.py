"""The whole training path on tiny data: fit -> run folder -> TFLite variants measured by the edge runtime."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from edge.card import load_card, sha256_file
from edge.classifier import EcgClassifier
from edge.labels import LABEL_KEYS
from train.dataset import DataSplit


def test_fit_writes_model_history_split_and_metrics(tiny_run):
    model_dir = tiny_run / "custom_cnn"
    assert (model_dir / "model.keras").is_file()
    with open(model_dir / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(rows[0])
    metrics = json.loads((model_dir / "metrics.json").read_text())
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "precision", "recall", "confusion_matrix"):
        assert key in metrics
    split = DataSplit.load(tiny_run / "split.json")
    assert metrics["n_images"] == len(split.records_for("test"))
    assert np.sum(metrics["confusion_matrix"]) == metrics["n_images"]
    run = json.loads((model_dir / "run.json").read_text())
    assert run["preprocessing"]["input_size"] == 64
    assert run["weights"].startswith("none")


def test_convert_writes_both_variants_with_cards_measured_through_the_edge_runtime(tiny_run):
    split = DataSplit.load(tiny_run / "split.json")
    n_test = len(split.records_for("test"))
    probabilities = {}
    for variant in ("float32", "float16", "dynamic", "int8"):
        path = tiny_run / "custom_cnn" / "tflite" / f"custom_cnn_{variant}.tflite"
        card = load_card(path)
        assert card.variant == variant
        assert card.tflite_sha256 == sha256_file(path)
        assert card.labels == list(LABEL_KEYS)
        assert card.preprocessing.input_size == 64
        assert card.measured_with == "ai_edge_litert"
        assert card.test_metrics is not None and card.test_metrics.n_images == n_test
        assert card.training["distinct_images_per_split"]["test"]
        assert card.agreement_with_keras.n_images == n_test
        # The float32 file is the Keras model: same labels, probabilities equal to rounding.
        if variant == "float32":
            assert card.agreement_with_keras.same_label_share == 1.0
            assert card.agreement_with_keras.max_probability_difference < 1e-4
        classifier = EcgClassifier.create_from_model_path(path)
        image = np.full((64, 64), 200, dtype=np.uint8)
        probabilities[variant] = classifier.predict_raw(image)
        assert abs(probabilities[variant].sum() - 1) < 1e-6
    # Every variant approximates the float model; float16 nearly exactly.
    assert np.abs(probabilities["float16"] - probabilities["float32"]).max() < 0.01
    for variant in ("dynamic", "int8"):
        assert np.abs(probabilities[variant] - probabilities["float32"]).max() < 0.1
    sizes = {v: (tiny_run / "custom_cnn" / "tflite" / f"custom_cnn_{v}.tflite").stat().st_size for v in probabilities}
    assert sizes["float16"] < 0.6 * sizes["float32"] and sizes["int8"] < 0.35 * sizes["float32"]
    int8 = EcgClassifier.create_from_model_path(tiny_run / "custom_cnn" / "tflite" / "custom_cnn_int8.tflite")
    assert int8.input_dtype == np.uint8


def test_a_lead_panel_model_trains_and_reads_6x2_printouts(tiny_dataset, tmp_path):
    """`--view traces` and `--group-by day` through the CLI; the model is evaluated in every layout."""
    pytest.importorskip("tensorflow")
    from typer.testing import CliRunner

    from train.cli import app

    runner = CliRunner()
    args = ["fit", "--data", str(tiny_dataset), "--out", str(tmp_path), "--view", "traces", "--image-size", "64",
            "--epochs", "1", "--batch-size", "8", "--repeats", "1", "--seed", "1", "--group-by", "day"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "custom_cnn" / "run.json").read_text())
    assert run["preprocessing"]["view"] == "traces" and "deskew_max_degrees" in run["preprocessing"]["leads"]
    assert "grouped by day" in DataSplit.load(tmp_path / "split.json").description
    out = tmp_path / "layouts.json"
    model = tmp_path / "custom_cnn" / "model.keras"
    result = runner.invoke(app, ["evaluate", str(model), "-d", str(tiny_dataset), "--layout", "all", "-o", str(out)])
    assert result.exit_code == 0, result.output
    reports = {r["layout"]: r for r in json.loads(out.read_text())}
    # Every layout was read lead by lead (a page whose leads are not found fails the evaluation).
    n_test = len(DataSplit.load(tmp_path / "split.json").records_for("test"))
    assert set(reports) == {"3x4", "3x4-nogrid", "6x2-rhythm", "6x2-rhythm-nogrid", "6x2-text", "6x2-nogrid"}
    assert all(len(r["probabilities"]) == n_test for r in reports.values())


def test_the_signal_model_trains_converts_and_classifies_a_scan(tiny_dataset, tmp_path):
    """`--view signals --model signal_cnn` through fit and convert: every variant takes the lead
    matrix the runtime makes from a scan, and the card records the signals view."""
    pytest.importorskip("tensorflow")
    from typer.testing import CliRunner

    from convert.cli import app as convert_app
    from edge.lead_matrix import SIGNAL_SAMPLES
    from train.cli import app

    runner = CliRunner()
    args = ["fit", "--data", str(tiny_dataset), "--out", str(tmp_path), "--view", "signals", "--model",
            "signal_cnn", "--epochs", "1", "--batch-size", "8", "--repeats", "1", "--seed", "1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "signal_cnn" / "run.json").read_text())
    assert run["preprocessing"]["view"] == "signals"
    # Options given are kept; the others are signal_cnn's recipe (the shipped model's), not the image nets'.
    settings = run["settings"]
    assert (settings["epochs"], settings["repeats"]) == (1, 1)
    assert (settings["learning_rate"], settings["monitor"], settings["patience"]) == (1e-3, "val_macro_f1", 30)
    result = runner.invoke(convert_app, [str(tmp_path), "--variants", "float32,int8", "--no-layouts"])
    assert result.exit_code == 0, result.output
    scan = next(tiny_dataset.glob("*/*.jpg"))
    probabilities = {}
    for variant in ("float32", "int8"):
        path = tmp_path / "signal_cnn" / "tflite" / f"signal_cnn_{variant}.tflite"
        card = load_card(path)
        assert card.preprocessing.view == "signals" and card.architecture == "signal_cnn"
        classifier = EcgClassifier.create_from_model_path(path)
        result, pre = classifier.classify_with_input(scan)
        assert pre.image.shape == (SIGNAL_SAMPLES, 12) and pre.image.dtype == np.float32
        assert pre.ecg is not None and result.layout is not None
        probabilities[variant] = np.array(list(result.probabilities.values()))
    assert np.abs(probabilities["int8"] - probabilities["float32"]).max() < 0.15


def test_an_image_network_refuses_the_signals_view_and_back(tiny_dataset, tmp_path):
    from typer.testing import CliRunner

    from train.cli import app

    runner = CliRunner()
    for model, view in (("custom_cnn", "signals"), ("signal_cnn", "traces")):
        args = ["fit", "--data", str(tiny_dataset), "--out", str(tmp_path / model), "--view", view, "--model", model]
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "does not take the" in result.output, result.output
    # The paper's protocol augments images offline: not lead matrices.
    args = ["fit", "--data", str(tiny_dataset), "--out", str(tmp_path / "paper"), "--view", "signals", "--model",
            "signal_cnn", "--protocol", "paper"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "augments images" in result.output, result.output
