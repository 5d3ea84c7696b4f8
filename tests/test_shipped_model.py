"""The shipped default model: present, intact, honest card, quoted as-is in the README."""

from __future__ import annotations

import pytest

from edge.card import load_card, sha256_file
from edge.classifier import EcgClassifier
from edge.labels import LABEL_KEYS
from tests.conftest import REPO, SHIPPED_INT8, SHIPPED_MODEL, sample_files


@pytest.mark.parametrize("model", [SHIPPED_MODEL, SHIPPED_INT8], ids=["default", "int8"])
def test_shipped_models_have_matching_cards_with_test_metrics(model):
    card = load_card(model)
    assert card.tflite_sha256 == sha256_file(model)
    assert card.architecture in ("custom_cnn", "signal_cnn")
    assert card.measured_with == "ai_edge_litert"
    metrics = card.test_metrics
    assert metrics is not None
    assert metrics.n_images == sum(card.training["distinct_images_per_split"]["test"].values())
    assert sum(map(sum, metrics.confusion_matrix)) == metrics.n_images
    assert "CC BY 4.0" in card.training["data"]
    c = card.calibration
    assert c is not None and c.ece_val_after <= c.ece_val_before and 0 < c.test_coverage <= 1
    # Quantization must not change what the model says (it once did: int8 0.39 vs float 0.79).
    assert card.agreement_with_keras.same_label_share >= 0.9


@pytest.mark.parametrize("model", [SHIPPED_MODEL, SHIPPED_INT8], ids=["default", "int8"])
def test_readme_quotes_the_shipped_cards_as_they_are(model):
    metrics = load_card(model).test_metrics
    readme = (REPO / "README.md").read_text()
    for value in (metrics.accuracy, metrics.balanced_accuracy, metrics.macro_f1):
        assert f"{value:.3f}" in readme
    assert f"{metrics.n_images} " in readme
    assert f"`models/{model.name}`" in readme
    if model == SHIPPED_MODEL:
        c = load_card(model).calibration
        for value in (c.ece_test_before, c.ece_test_after, c.test_accuracy_covered):
            assert f"{value:.3f}" in readme
        assert f"temperature {c.temperature:.2f}" in readme and f"threshold {c.threshold:.2f}" in readme


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_default_model_classifies_every_sample(path):
    result = EcgClassifier.create_from_model_path(SHIPPED_MODEL).classify(path)
    assert result.label.key in LABEL_KEYS
    assert result.layout == "3x4 + 1 rhythm"
    assert abs(sum(result.probabilities.values()) - 1.0) < 1e-6


def test_samples_are_credited_in_the_readme():
    readme = (REPO / "README.md").read_text()
    assert "10.17632/gwbz3fsgp8.2" in readme and "CC BY 4.0" in readme
    for path in sample_files():
        assert path.name in readme


@pytest.fixture(scope="module")
def default_classifier() -> EcgClassifier:
    return EcgClassifier.create_from_model_path(SHIPPED_MODEL)


@pytest.mark.parametrize("layout", ["3x4-nogrid", "6x2-rhythm", "6x2-nogrid", "6x2-text"])
def test_default_model_reads_other_layouts_as_it_reads_the_original(default_classifier, layout):
    """6x2 and grid-less printouts (synthetic re-layouts of the samples) are read lead by lead:
    the layout is reported and the label is, for nearly every sample, the original's."""
    from edge.preprocess import decode_image
    from train.relayout import LAYOUTS

    same = 0
    for path in sample_files():
        scan = decode_image(path)
        original = default_classifier.classify(scan)
        relaid = default_classifier.classify(LAYOUTS[layout].make(scan))
        assert relaid.is_ecg, relaid.gate.reason
        assert relaid.layout.startswith(layout[:3]), relaid.layout
        same += relaid.label == original.label
    assert same >= len(sample_files()) - 1


def test_card_reports_the_generalization_protocol_and_other_layouts():
    card = load_card(SHIPPED_MODEL)
    assert card.preprocessing.view in ("leads", "traces", "signals")
    scored = {s.layout for s in card.layout_scores}
    assert {"3x4-nogrid", "6x2-rhythm", "6x2-rhythm-nogrid", "6x2-text", "6x2-nogrid"} <= scored
    assert all(s.n_images == card.test_metrics.n_images for s in card.layout_scores)
    splits = {row["split"] for row in card.protocol["rows"]}
    assert "image-fold0" in splits and sum(s.startswith("day-fold") for s in splits) >= 3


def test_a_signal_model_digitizes_once_and_its_measurements_come_from_the_same_leads():
    """--measure with a signals-view model reuses the leads its input was made from."""
    from edge.classifier import ClassifierOptions

    card = load_card(SHIPPED_MODEL)
    if card.preprocessing.view != "signals":
        pytest.skip("the default model does not read the signals view")
    classifier = EcgClassifier.create_from_options(ClassifierOptions(SHIPPED_MODEL, measure=True))
    result, pre = classifier.classify_with_input(sample_files()[0])
    assert result.reading is not None and result.reading.ecg.leads is pre.ecg.leads
    assert pre.ecg.rhythm == () and result.reading.ecg.rhythm  # strips read only for measuring
