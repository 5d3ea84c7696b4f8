from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge.card import card_path_for
from edge.classifier import ClassifierOptions, EcgClassifier, ModelIntegrityError
from edge.interpreter import NoInterpreterError, pick_backend
from edge.labels import LABEL_KEYS
from edge.preprocess import ImageDecodeError
from tests.conftest import REPO, SAMPLES


@pytest.fixture()
def model_copy(tiny_run, tmp_path) -> Path:
    src = tiny_run / "custom_cnn" / "tflite" / "custom_cnn_int8.tflite"
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(card_path_for(src), card_path_for(dst))
    return dst


def test_picker_prefers_ai_edge_litert():
    assert pick_backend().name == "ai_edge_litert"


def test_picker_explains_how_to_install_when_no_interpreter_exists(monkeypatch):
    import edge.interpreter

    def no_interpreters(name, package=None):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(edge.interpreter.importlib, "import_module", no_interpreters)
    with pytest.raises(NoInterpreterError, match="pip install ai-edge-litert") as info:
        pick_backend()
    for name in ("ai_edge_litert", "tflite_runtime", "tensorflow.lite"):
        assert name in str(info.value)


def test_picker_falls_back_in_order(monkeypatch):
    import importlib

    import edge.interpreter

    real_import_module = importlib.import_module

    def without_litert(name, package=None):
        if name.startswith(("ai_edge_litert", "tflite_runtime")):
            raise ImportError(name)
        return real_import_module(name, package)

    monkeypatch.setattr(edge.interpreter.importlib, "import_module", without_litert)
    assert pick_backend().name == "tensorflow.lite"


def test_classify_returns_a_typed_result(model_copy):
    classifier = EcgClassifier.create_from_model_path(model_copy)
    result = classifier.classify(SAMPLES / "mi" / "MI(15).jpg")
    assert list(result.probabilities) == list(LABEL_KEYS)
    assert abs(sum(result.probabilities.values()) - 1.0) < 1e-6
    assert result.label.key == max(result.probabilities, key=result.probabilities.get)
    assert result.grid_found
    assert result.timings.preprocess_ms > 0 and result.timings.inference_ms > 0
    with pytest.raises(ImageDecodeError):
        classifier.classify(b"not an image")


def test_altered_model_is_refused(model_copy):
    data = bytearray(model_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match its card"):
        EcgClassifier.create_from_model_path(model_copy)


def test_truncated_model_is_refused_before_the_interpreter_sees_it(model_copy):
    model_copy.write_bytes(model_copy.read_bytes()[:1000])
    with pytest.raises(ModelIntegrityError, match="does not match its card"):
        EcgClassifier.create_from_model_path(model_copy)


def test_missing_or_mismatched_card_is_refused(model_copy):
    card_path = card_path_for(model_copy)
    card = json.loads(card_path.read_text())
    card["labels"] = ["a", "b", "c", "d"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(ValueError, match="labels"):
        EcgClassifier.create_from_model_path(model_copy)
    card_path.unlink()
    with pytest.raises(FileNotFoundError, match="no model card"):
        EcgClassifier.create_from_options(ClassifierOptions(model_path=model_copy))


def test_edge_path_never_imports_tensorflow(model_copy):
    code = (
        "import sys; from edge.classifier import EcgClassifier; "
        f"c = EcgClassifier.create_from_model_path({str(model_copy)!r}); "
        f"c.classify({str(SAMPLES / 'mi' / 'MI(15).jpg')!r}); "
        "import edge.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'train', 'convert')]; "
        "print(c.interpreter_name); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "ai_edge_litert"


def test_core_install_does_not_depend_on_tensorflow():
    tomllib = pytest.importorskip("tomllib")

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    assert "tensorflow" not in core and "keras" not in core
    assert "tensorflow" in " ".join(project["optional-dependencies"]["train"])


def test_predict_handles_a_blank_page(model_copy):
    classifier = EcgClassifier.create_from_model_path(model_copy)
    probs = classifier.predict_preprocessed(np.full((64, 64), 255, dtype=np.uint8))
    assert probs.shape == (4,) and np.all(probs >= 0)


def test_tensorflow_lite_fallback_gives_the_same_probabilities(model_copy):
    pytest.importorskip("tensorflow")
    litert = EcgClassifier.create_from_model_path(model_copy)
    tf_lite = EcgClassifier.create_from_options(ClassifierOptions(model_path=model_copy, interpreter="tensorflow.lite"))
    assert tf_lite.interpreter_name == "tensorflow.lite"
    image = SAMPLES / "normal" / "Normal(108).jpg"
    a = litert.classify(image).probabilities
    b = tf_lite.classify(image).probabilities
    assert max(abs(a[k] - b[k]) for k in a) < 0.02


def test_classify_files_keeps_order_and_matches_one_by_one(model_copy, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("no")
    files = sorted(SAMPLES.rglob("*.jpg"))
    files.insert(3, bad)
    classifier = EcgClassifier.create_from_model_path(model_copy)
    for workers in (1, 3):
        outcomes = list(classifier.classify_files(files, workers=workers))
        assert [o.path for o in outcomes] == files
        assert outcomes[3].result is None and "not a readable image" in outcomes[3].error
        for outcome in outcomes[:3] + outcomes[4:]:
            assert outcome.error is None
            assert outcome.result.probabilities == classifier.classify(outcome.path).probabilities


def test_a_folder_pass_stopped_early_does_not_prepare_the_rest(model_copy, monkeypatch):
    classifier = EcgClassifier.create_from_model_path(model_copy)
    prepared = []

    def slow_prepare(path):
        prepared.append(path)
        time.sleep(0.02)
        raise ImageDecodeError(f"{path}: not a readable image")

    monkeypatch.setattr(classifier, "_prepare", slow_prepare)
    paths = [Path(f"scan{i}.jpg") for i in range(40)]
    outcomes = classifier.classify_files(paths, workers=2)
    assert next(outcomes).error == "not a readable image"
    outcomes.close()
    assert len(prepared) <= 6  # the two workers' scans in hand, not the 16 queued behind them


def test_card_threshold_flags_uncertain_results_and_temperature_keeps_the_label(model_copy):
    card_path = card_path_for(model_copy)
    card = json.loads(card_path.read_text())
    assert card["calibration"]["temperature"] > 0
    scan = SAMPLES / "mi" / "MI(15).jpg"
    results = {}
    for threshold, temperature in ((1.01, 1.0), (0.0, 1.0), (0.0, 0.5)):
        card["calibration"].update(threshold=threshold, temperature=temperature)
        card_path.write_text(json.dumps(card))
        results[(threshold, temperature)] = EcgClassifier.create_from_model_path(model_copy).classify(scan)
    assert results[(1.01, 1.0)].uncertain and not results[(0.0, 1.0)].uncertain
    sharp, plain = results[(0.0, 0.5)], results[(0.0, 1.0)]
    assert sharp.label == plain.label and sharp.confidence > plain.confidence


def test_loading_a_model_prints_nothing_on_stderr(capfd):
    from tests.conftest import SHIPPED_MODEL

    capfd.readouterr()
    EcgClassifier.create_from_model_path(SHIPPED_MODEL).classify(SAMPLES / "mi" / "MI(29).jpg")
    assert capfd.readouterr().err == ""
