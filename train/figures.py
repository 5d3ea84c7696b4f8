"""The paper's figures for a run folder (matplotlib PNGs): curves, confusion matrix and per-class
accuracy per model, and one comparison chart across the models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from edge.labels import LABELS  # noqa: E402


def _history(path: Path) -> dict[str, list[float]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {key: [float(r[key]) for r in rows] for key in rows[0]} if rows else {}


def model_figures(model_dir: Path) -> list[Path]:
    """curves.png, confusion_matrix.png and per_class_accuracy.png in ``model_dir``."""
    written = []
    history = _history(model_dir / "history.csv")
    if history:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        epochs = np.arange(1, len(history["loss"]) + 1)
        for ax, key in zip(axes, ("accuracy", "loss")):
            ax.plot(epochs, history[key], label=f"train {key}")
            ax.plot(epochs, history[f"val_{key}"], label=f"validation {key}")
            ax.set_xlabel("epoch")
            ax.set_title(f"{model_dir.name}: {key}")
            ax.legend()
        fig.tight_layout()
        written.append(_save(fig, model_dir / "curves.png"))
    metrics = json.loads((model_dir / "metrics.json").read_text())
    names = [label.display_name for label in LABELS]
    fig, ax = plt.subplots(figsize=(6, 5))
    ConfusionMatrixDisplay(np.array(metrics["confusion_matrix"]), display_labels=names).plot(
        ax=ax, colorbar=False, xticks_rotation=30
    )
    ax.set_title(f"{model_dir.name}: {metrics['split']} split, {metrics['n_images']} images")
    fig.tight_layout()
    written.append(_save(fig, model_dir / "confusion_matrix.png"))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(names, metrics["recall"], color="tab:blue")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy within class (recall)")
    ax.set_title(f"{model_dir.name}: per-class accuracy ({metrics['split']})")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    written.append(_save(fig, model_dir / "per_class_accuracy.png"))
    return written


def comparison_figure(run_dir: Path) -> Path | None:
    """comparison.png: accuracy and macro precision, recall and F1 of every grouped-protocol model."""
    rows = []
    for metrics_file in sorted(run_dir.glob("*/metrics.json")):
        m = json.loads(metrics_file.read_text())
        if m["split"] != "test":
            continue
        rows.append(
            (metrics_file.parent.name, m["accuracy"], np.mean(m["precision"]), np.mean(m["recall"]), m["macro_f1"])
        )
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(rows)
    for i, (name, *values) in enumerate(rows):
        ax.bar(np.arange(4) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(4) + width * (len(rows) - 1) / 2, ["accuracy", "precision", "recall", "F1"])
    ax.set_ylim(0, 1)
    ax.set_title("test split (grouped, macro averages)")
    ax.legend()
    fig.tight_layout()
    return _save(fig, run_dir / "comparison.png")


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_figures(run_dir: Path) -> list[Path]:
    written = []
    for metrics_file in sorted(run_dir.glob("*/metrics.json")):
        written += model_figures(metrics_file.parent)
    comparison = comparison_figure(run_dir)
    return written + ([comparison] if comparison else [])
