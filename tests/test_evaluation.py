"""Evaluation CLI, bootstrap intervals, the paper's leaky protocol and the figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge.preprocess import PreprocessConfig
from train import paper_protocol
from train.cli import app
from train.dataset import DataSplit
from train.figures import run_figures
from train.metrics import bootstrap_ci

runner = CliRunner()


def test_bootstrap_interval_brackets_the_estimate_and_collapses_when_perfect():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.uniform(size=200) < 0.7, y_true, (y_true + 1) % 4)
    ci = bootstrap_ci(y_true, y_pred, n_resamples=300)
    accuracy = (y_true == y_pred).mean()
    assert ci.accuracy.low < accuracy < ci.accuracy.high
    assert 0.05 < ci.accuracy.high - ci.accuracy.low < 0.2  # ~ 4 standard errors of a proportion
    perfect = bootstrap_ci(y_true, y_true, n_resamples=50)
    assert perfect.accuracy.low == perfect.accuracy.high == 1.0


@pytest.mark.parametrize("model_file", ["model.keras", "tflite/custom_cnn_int8.tflite"])
def test_evaluate_on_the_saved_test_split(tiny_run, tiny_dataset, tmp_path, model_file):
    out = tmp_path / "report.json"
    model = tiny_run / "custom_cnn" / model_file
    result = runner.invoke(app, ["evaluate", str(model), "--data", str(tiny_dataset), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    n_test = len(DataSplit.load(tiny_run / "split.json").records_for("test"))
    assert report["split"] == "test" and report["metrics"]["n_images"] == n_test
    assert report["ci"]["accuracy"]["low"] <= report["metrics"]["accuracy"] <= report["ci"]["accuracy"]["high"]
    assert "macro-F1" in result.output and "Myocardial" in result.output
    if model_file.endswith(".tflite"):
        card = json.loads((tiny_run / "custom_cnn" / "tflite" / "custom_cnn_int8.card.json").read_text())
        assert report["metrics"] == card["test_metrics"]  # the card's numbers are reproducible


def test_evaluate_an_external_folder_counts_each_distinct_image_once(tiny_run, tiny_dataset, tmp_path):
    out = tmp_path / "external.json"
    model = tiny_run / "custom_cnn" / "tflite" / "custom_cnn_float32.tflite"
    result = runner.invoke(
        app, ["evaluate", str(model), "--data", str(tiny_dataset), "--split", "all", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metrics"]["n_images"] == 32  # 64 files, 32 distinct


def test_evaluate_reports_a_missing_split_file_cleanly(tiny_run, tiny_dataset, tmp_path):
    result = runner.invoke(
        app,
        ["evaluate", str(tiny_run / "custom_cnn" / "model.keras"), "--data", str(tiny_dataset),
         "--split-file", str(tmp_path / "none.json")],
    )  # fmt: skip
    assert result.exit_code == 1 and "no split file" in result.output


def _tiny_manifest(data: Path, path: Path) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["class_folder", "file", "sha256", "bytes", "same_image_as"])
        for file in sorted(data.rglob("*.jpg")):
            writer.writerow([file.parent.name, file.name, "", file.stat().st_size, file.name.replace("_copy", "")])
    return path


def test_paper_protocol_puts_augmented_copies_of_one_image_on_both_sides(tiny_dataset, tmp_path):
    manifest = _tiny_manifest(tiny_dataset, tmp_path / "manifest.csv")
    prepared = paper_protocol.build(tiny_dataset, manifest, PreprocessConfig(input_size=32), seed=0)
    assert prepared.n_files == 64 and prepared.n_distinct == 32
    expected = 16 * sum(paper_protocol.PAPER_MULTIPLIERS.values())  # 16 files per class
    assert len(prepared.train.labels) + len(prepared.val.labels) == expected
    assert len(prepared.val.labels) == pytest.approx(0.2 * expected, abs=1)
    # The leak: nearly every validation image has a sibling (augmentation or copy) in train.
    assert prepared.val_leak_share > 0.9
    assert set(prepared.val.paths) & set(prepared.train.paths)


def test_paper_protocol_fit_writes_leaky_validation_metrics(tiny_dataset, tmp_path):
    manifest = _tiny_manifest(tiny_dataset, tmp_path / "manifest.csv")
    out = tmp_path / "run"
    args = ["fit", "--data", str(tiny_dataset), "--out", str(out), "--protocol", "paper", "--manifest", str(manifest),
            "--image-size", "32", "--epochs", "1", "--batch-size", "32"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "custom_cnn_paper" / "metrics.json").read_text())
    protocol = json.loads((out / "custom_cnn_paper" / "protocol.json").read_text())
    assert metrics["split"] == "val" and metrics["n_images"] == protocol["n_val"]
    assert protocol["val_leak_share"] > 0.9


def test_figures_are_written_for_each_model_and_the_comparison(tiny_run):
    written = {p.name for p in run_figures(tiny_run)}
    assert {"curves.png", "confusion_matrix.png", "per_class_accuracy.png", "comparison.png"} <= written
    assert (tiny_run / "custom_cnn" / "curves.png").stat().st_size > 5000


def test_training_results_table_lists_each_run_with_intervals(tiny_run):
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("training_results", REPO / "benchmarks" / "training_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.collect([tiny_run])
    assert [r["model"] for r in rows] == ["custom_cnn"]
    row = rows[0]
    assert row["accuracy_ci"][0] <= row["accuracy"] <= row["accuracy_ci"][1]
    assert row["protocol"] == "grouped" and row["evaluated_on"] == "test"
    table = module.markdown(rows, {"cpu": "x", "cores": 2, "memory_gib": 1, "python": "3", "packages": {}})
    assert f"{row['accuracy']:.3f} [" in table and "422,692" in table


def test_cross_validation_retrains_per_fold_and_reports_mean_and_sd(tiny_run, tiny_dataset, tmp_path):
    out = tmp_path / "cv.json"
    model = tiny_run / "custom_cnn" / "model.keras"
    result = runner.invoke(app, ["evaluate", str(model), "--data", str(tiny_dataset), "--cv", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["folds"] == 2 and len(report["accuracy"]) == 2
    assert report["summary"]["accuracy"][0] == pytest.approx(np.mean(report["accuracy"]))
    assert "2-fold stratified group CV" in result.output
    # Each fold's test images are distinct images never seen by that fold's training.
    for k in range(2):
        fold = json.loads((tmp_path / "cv" / f"fold{k}" / "run.json").read_text())
        assert fold["n_train"] + fold["n_val"] + fold["n_test"] == 32


def test_evaluate_in_other_layouts_reports_each_and_matches_the_card(tiny_run, tiny_dataset, tmp_path):
    out = tmp_path / "layouts.json"
    model = tiny_run / "custom_cnn" / "tflite" / "custom_cnn_float32.tflite"
    args = ["evaluate", str(model), "--data", str(tiny_dataset), "--layout", "6x2-nogrid", "--layout", "3x4"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    reports = json.loads(out.read_text())
    assert [r["layout"] for r in reports] == ["6x2-nogrid", "3x4"]
    n_test = len(DataSplit.load(tiny_run / "split.json").records_for("test"))
    for report in reports:
        assert report["metrics"]["n_images"] == len(report["probabilities"]) == len(report["y_true"]) == n_test
    card = json.loads((tiny_run / "custom_cnn" / "tflite" / "custom_cnn_float32.card.json").read_text())
    assert reports[1]["metrics"] == card["test_metrics"]  # 3x4 is the scans as they are
    scores = {s["layout"]: s for s in card["layout_scores"]}
    assert set(scores) == {"3x4-nogrid", "6x2-rhythm", "6x2-rhythm-nogrid", "6x2-text", "6x2-nogrid"}
    assert scores["6x2-nogrid"]["macro_f1"] == reports[0]["metrics"]["macro_f1"]
    assert "layout 6x2-nogrid" in result.output


def test_evaluate_rejects_an_unknown_layout(tiny_run, tiny_dataset):
    model = tiny_run / "custom_cnn" / "model.keras"
    result = runner.invoke(app, ["evaluate", str(model), "--data", str(tiny_dataset), "--layout", "5x5"])
    assert result.exit_code == 2 and "unknown --layout" in result.output


def test_the_fused_default_evaluates_on_an_external_folder_as_it_classifies(tiny_dataset, tmp_path):
    """An external set is measured with `ecg-train evaluate --split all`: a fused model's card too."""
    from edge.classifier import EcgClassifier
    from tests.conftest import SHIPPED_MODEL

    out = tmp_path / "external.json"
    result = runner.invoke(
        app, ["evaluate", str(SHIPPED_MODEL), "--data", str(tiny_dataset), "--split", "all", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["metrics"]["n_images"] == 32
    classifier = EcgClassifier.create_from_model_path(SHIPPED_MODEL)
    first = Path(tiny_dataset) / report["paths"][0]
    expected = classifier.classify(first).probabilities
    assert np.allclose(report["probabilities"][0], [expected[k] for k in expected], atol=1e-4)
