from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
SHIPPED_MODEL = REPO / "models" / (REPO / "models" / "DEFAULT").read_text().strip()  # a .tflite or a fused card
SHIPPED_NAME = SHIPPED_MODEL.name.removesuffix(".card.json").removesuffix(".tflite")  # what --model takes
_FUSED = SHIPPED_MODEL.name.endswith(".card.json")
# A full-integer single model of the default (for int8-only accelerators, tflite_runtime): a fused
# default's first member, else the default itself when it is int8, else the file shipped beside it.
SHIPPED_INT8 = (
    REPO / "models" / json.loads(SHIPPED_MODEL.read_text())["members"][0]
    if _FUSED
    else SHIPPED_MODEL.with_name(SHIPPED_MODEL.name.replace("_dynamic", "_int8"))
)
# The image model shipped beside the default (the `traces` view: lead panels redrawn as an image).
SHIPPED_TRACES = REPO / "models" / "custom_cnn_traces_dynamic.tflite"
SHIPPED_TRACES_INT8 = REPO / "models" / "custom_cnn_traces_int8.tflite"
SHIPPED_MODELS = sorted((REPO / "models").glob("*.tflite"))


def shared_data_dir() -> Path | None:
    """The full data set: $ECG_DATA_DIR, else ../shared/data/ecg-cardiac-928 beside the repo."""
    env = os.environ.get("ECG_DATA_DIR")
    candidate = Path(env) if env else REPO.parent / "shared" / "data" / "ecg-cardiac-928"
    return candidate if (candidate / "manifest.csv").is_file() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("shared data set not found (set ECG_DATA_DIR or place it at ../shared/data/ecg-cardiac-928)")
    return path


def sample_files() -> list[Path]:
    from edge.resources import sample_files as shipped_samples  # the same list the CLI and app use

    files = shipped_samples()
    assert all(SAMPLES in f.parents for f in files), "tests read the checkout's samples"
    return files


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """Label-key folders with 8 distinct small scans per class (variants of the shipped samples)
    plus one byte-identical copy of each, so grouping matters."""
    root = tmp_path_factory.mktemp("tiny_data")
    for class_dir in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        out = root / class_dir.name
        out.mkdir()
        for sample in sorted(class_dir.glob("*.jpg")):
            image = cv2.imread(str(sample))
            image = cv2.resize(image, (553, 393), interpolation=cv2.INTER_AREA)
            for k, shift in enumerate((-9, -3, 3, 9)):
                shifted = np.clip(image.astype(np.int16) + shift, 0, 255).astype(np.uint8)
                path = out / f"{sample.stem}_v{k}.jpg"
                cv2.imwrite(str(path), shifted, [cv2.IMWRITE_JPEG_QUALITY, 85])
                shutil.copyfile(path, out / f"{sample.stem}_v{k}_copy.jpg")
    return root


@pytest.fixture(scope="session")
def tiny_run(tiny_dataset, tmp_path_factory) -> Path:
    """A run folder: custom_cnn trained 1 epoch at 64x64 on the tiny data, converted to both variants."""
    pytest.importorskip("tensorflow")
    from typer.testing import CliRunner

    from convert.cli import app as convert_app
    from train.cli import app as train_app

    run_dir = tmp_path_factory.mktemp("run")
    runner = CliRunner()
    fit_args = [
        "fit",
        "--data",
        str(tiny_dataset),
        "--out",
        str(run_dir),
        "--image-size",
        "64",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--repeats",
        "1",
        "--seed",
        "1",
    ]
    result = runner.invoke(train_app, fit_args)
    assert result.exit_code == 0, result.output
    result = runner.invoke(convert_app, [str(run_dir)])
    assert result.exit_code == 0, result.output
    return run_dir
