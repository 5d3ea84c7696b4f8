"""A fused model: a card naming member models whose raw probabilities the runtime averages, each
member reading its own view of one page and layout."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge.card import ModelCard, card_path_for, load_card
from edge.classifier import EcgClassifier, ModelIntegrityError, interpreter_can_run
from edge.labels import LABEL_KEYS
from edge.preprocess import PreprocessConfig, preprocess
from edge.resources import list_models, resolve_model
from tests.conftest import REPO, sample_files

SIGNAL = REPO / "models" / "signal_cnn_int8.tflite"
TRACES = REPO / "models" / "custom_cnn_traces_int8.tflite"


def _fused_card(folder: Path, members: list[Path], name: str = "pair") -> Path:
    for member in members:
        shutil.copy(member, folder / member.name)
        shutil.copy(card_path_for(member), folder / card_path_for(member).name)
    first = load_card(members[0])
    card = ModelCard(
        name=name, architecture="fusion", variant="int8", labels=list(LABEL_KEYS), preprocessing=first.preprocessing,
        tflite_file="", tflite_sha256="", members=[m.name for m in members],
    )  # fmt: skip
    path = folder / f"{name}.card.json"
    card.save(path)
    return path


def test_fused_output_is_the_mean_of_its_members_on_one_page(tmp_path):
    card_path = _fused_card(tmp_path, [SIGNAL, TRACES])
    fused = EcgClassifier.create_from_model_path(card_path)
    signal = EcgClassifier.create_from_model_path(SIGNAL)
    traces = EcgClassifier.create_from_model_path(TRACES)
    scan = sample_files()[0]
    pre = fused.preprocess(scan)
    assert len(pre.member_inputs) == 1
    # Each member's input is exactly what that member alone would read from the scan.
    np.testing.assert_array_equal(pre.image, signal.preprocess(scan).image)
    np.testing.assert_array_equal(pre.member_inputs[0], traces.preprocess(scan).image)
    expected = (signal.predict_raw(pre.image) + traces.predict_raw(pre.member_inputs[0])) / 2
    np.testing.assert_allclose(fused.predict_raw(pre.image, pre.member_inputs), expected, rtol=1e-6)
    result = fused.classify(scan)
    assert result.label.key == LABEL_KEYS[int(np.argmax(expected))]  # no calibration on this card
    with pytest.raises(ValueError, match="takes 2 inputs"):
        fused.predict_raw(pre.image)


def test_fused_card_is_listed_and_named_like_a_model(tmp_path):
    card_path = _fused_card(tmp_path, [SIGNAL, TRACES], name="both")
    names = {e.name: e.path for e in list_models(tmp_path)}
    assert names["both"] == card_path
    assert resolve_model("both", tmp_path) == card_path
    assert "signal_cnn_int8" in names  # the members stay models of their own
    assert interpreter_can_run(card_path)[1]


def test_a_missing_member_or_a_member_reading_another_page_is_refused(tmp_path):
    card_path = _fused_card(tmp_path, [SIGNAL, TRACES])
    (tmp_path / TRACES.name).unlink()
    with pytest.raises(FileNotFoundError, match="member model"):
        EcgClassifier.create_from_model_path(card_path)
    shutil.copy(TRACES, tmp_path / TRACES.name)
    traces_card = load_card(tmp_path / TRACES.name)
    other_page = replace(traces_card, preprocessing=replace(traces_card.preprocessing, work_size=768))
    other_page.save(card_path_for(tmp_path / TRACES.name))
    with pytest.raises(ModelIntegrityError, match="one page and layout"):
        EcgClassifier.create_from_model_path(card_path)


def test_a_tampered_member_is_refused(tmp_path):
    card_path = _fused_card(tmp_path, [SIGNAL, TRACES])
    data = bytearray((tmp_path / TRACES.name).read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / TRACES.name).write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        EcgClassifier.create_from_model_path(card_path)


def test_cards_without_members_still_load_and_are_single_models():
    data = json.loads(card_path_for(SIGNAL).read_text())
    data.pop("members", None)
    card = ModelCard.from_dict(data)
    assert card.members == [] and not card.is_fused


def test_page_view_cannot_be_a_member_view():
    scan = sample_files()[0]
    with pytest.raises(ValueError, match="lead views"):
        preprocess(scan, PreprocessConfig(view="traces", input_size=128), also=(PreprocessConfig(view="page"),))


@pytest.fixture(scope="session")
def tiny_pair(tiny_dataset, tmp_path_factory) -> Path:
    """A signals model and a traces model trained 1 epoch on the tiny data's split, converted to int8."""
    pytest.importorskip("tensorflow")
    from typer.testing import CliRunner

    from convert.cli import app as convert_app
    from train.cli import app as train_app

    run_dir = tmp_path_factory.mktemp("pair")
    runner = CliRunner()
    for view, model, size in (("signals", "signal_cnn", []), ("traces", "custom_cnn", ["--image-size", "64"])):
        args = ["fit", "--data", str(tiny_dataset), "--out", str(run_dir), "--view", view, "--model", model, *size,
                "--epochs", "1", "--repeats", "1", "--batch-size", "8", "--seed", "1"]  # fmt: skip
        result = runner.invoke(train_app, args)
        assert result.exit_code == 0, result.output
    result = runner.invoke(convert_app, [str(run_dir), "--variants", "int8", "--no-layouts"])
    assert result.exit_code == 0, result.output
    return run_dir


def test_ecg_fuse_writes_a_measured_card_the_runtime_runs(tiny_pair, tiny_dataset, tmp_path):
    from typer.testing import CliRunner

    from convert.fuse import app as fuse_app

    members = [tiny_pair / "signal_cnn" / "tflite" / "signal_cnn_int8.tflite",
               tiny_pair / "custom_cnn" / "tflite" / "custom_cnn_int8.tflite"]  # fmt: skip
    out = tmp_path / "models"
    args = [*map(str, members), "--name", "both", "--split", str(tiny_pair / "split.json"), "--out", str(out),
            "--data", str(tiny_dataset), "--default", "--favour", "mi"]  # fmt: skip
    result = CliRunner().invoke(fuse_app, args)
    assert result.exit_code == 0, result.output
    assert "--favour mi: weight" in result.output
    card = load_card(out / "both.card.json")
    assert set(card.label_weights) <= {"mi"}  # {} when weighting MI gained nothing on the validation split
    assert card.members == [m.name for m in members] and card.is_fused
    assert (out / "DEFAULT").read_text().strip() == "both.card.json"
    assert all((out / m.name).is_file() and card_path_for(out / m.name).is_file() for m in members)
    assert card.test_metrics.n_images == sum(card.training["distinct_images_per_split"]["test"].values())
    assert {s.layout for s in card.layout_scores} == {"3x4-nogrid", "6x2-rhythm", "6x2-rhythm-nogrid", "6x2-text",
                                                      "6x2-nogrid"}  # fmt: skip
    assert card.calibration is not None and card.calibration.temperature > 0
    result = EcgClassifier.create_from_model_path(out / "both.card.json").classify(sample_files()[0])
    assert result.label.key in LABEL_KEYS and abs(sum(result.probabilities.values()) - 1) < 1e-6


def test_ecg_fuse_refuses_members_of_another_split(tiny_pair, tiny_dataset, tmp_path):
    from typer.testing import CliRunner

    from convert.fuse import app as fuse_app

    members = [tiny_pair / "signal_cnn" / "tflite" / "signal_cnn_int8.tflite", SIGNAL]
    args = [*map(str, members), "--name", "both", "--split", str(tiny_pair / "split.json"), "--out", str(tmp_path),
            "--data", str(tiny_dataset)]  # fmt: skip
    result = CliRunner().invoke(fuse_app, args)
    assert result.exit_code != 0 and "was not trained on" in result.output
    assert not (tmp_path / "both.card.json").exists()


def test_a_cards_label_weights_move_its_answer_and_bad_ones_are_refused(tmp_path):
    card_path = _fused_card(tmp_path, [SIGNAL, TRACES])
    scan = sample_files()[0]
    plain = EcgClassifier.create_from_model_path(card_path)
    pre = plain.preprocess(scan)
    base = plain.predict_preprocessed(pre.image, pre.member_inputs)
    runner_up = LABEL_KEYS[int(np.argsort(base)[-2])]
    card = load_card(card_path)
    replace(card, label_weights={runner_up: 1e6}).save(card_path)
    favoured = EcgClassifier.create_from_model_path(card_path)
    assert favoured.classify(scan).label.key == runner_up
    assert LABEL_KEYS.index(runner_up) == int(np.argmax(favoured.predict_preprocessed(pre.image, pre.member_inputs)))
    for bad in ({"stemi": 2.0}, {"mi": 0.0}, {"mi": -1.0}, {"mi": True}, {"mi": "2"}, {"mi": 5e-324}, [2.0], None):
        card_path.write_text(json.dumps({**card.to_dict(), "label_weights": bad}))
        with pytest.raises(ValueError, match="label.weight"):
            load_card(card_path)
    # A card written before the field existed loads with no weights.
    data = card.to_dict()
    data.pop("label_weights")
    card_path.write_text(json.dumps(data))
    assert load_card(card_path).label_weights == {}


def test_a_fusion_the_runtime_refuses_leaves_nothing_in_out(tiny_pair, tiny_dataset, tmp_path):
    """Members trained on the split but reading the page at different working sizes: ecg-fuse stops
    at the runtime's check, takes out the card and the member copies it had written, and puts back
    what it overwrote."""
    from typer.testing import CliRunner

    from convert.fuse import app as fuse_app

    source = tmp_path / "source"
    source.mkdir()
    members = []
    for path in (tiny_pair / "signal_cnn" / "tflite" / "signal_cnn_int8.tflite",
                 tiny_pair / "custom_cnn" / "tflite" / "custom_cnn_int8.tflite"):  # fmt: skip
        shutil.copy(path, source / path.name)
        shutil.copy(card_path_for(path), card_path_for(source / path.name))
        members.append(source / path.name)
    card = load_card(members[1])
    replace(card, preprocessing=replace(card.preprocessing, work_size=2048)).save(card_path_for(members[1]))
    out = tmp_path / "models"
    args = [*map(str, members), "--name", "both", "--split", str(tiny_pair / "split.json"), "--out", str(out),
            "--data", str(tiny_dataset)]  # fmt: skip
    result = CliRunner().invoke(fuse_app, args)
    assert result.exit_code != 0
    assert list(out.iterdir()) == []
    # What stood in OUT before (an earlier card of that name, a member file) is put back as it was.
    (out / "both.card.json").write_text("earlier card\n")
    (out / members[0].name).write_bytes(b"earlier model")
    result = CliRunner().invoke(fuse_app, args)
    assert result.exit_code != 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["both.card.json", members[0].name])
    assert (out / "both.card.json").read_text() == "earlier card\n"
    assert (out / members[0].name).read_bytes() == b"earlier model"


def test_a_fused_models_inputs_are_shown_side_by_side(tmp_path):
    from edge.plot import draw_lead_matrix, model_input_picture

    fused = EcgClassifier.create_from_model_path(_fused_card(tmp_path, [SIGNAL, TRACES]))
    pre = fused.preprocess(sample_files()[0])
    picture = model_input_picture(pre.image, pre.member_inputs)
    leads = draw_lead_matrix(pre.image)
    assert picture.shape[0] == leads.shape[0] and picture.shape[1] > leads.shape[1] + leads.shape[0] // 2
    np.testing.assert_array_equal(picture[:, : leads.shape[1]], leads)


def test_a_card_left_without_its_model_is_not_listed_and_cannot_run(tmp_path):
    shutil.copy(card_path_for(TRACES), tmp_path / card_path_for(TRACES).name)  # the .tflite left behind
    assert not [e for e in list_models(tmp_path) if e.path.parent == tmp_path]
    assert not interpreter_can_run(tmp_path / card_path_for(TRACES).name)[1]


def test_members_must_be_the_ones_measured_single_and_lead_views(tmp_path):
    card_path = _fused_card(tmp_path, [SIGNAL, TRACES])
    card = load_card(card_path)
    recorded = {m: {"sha256": load_card(tmp_path / m).tflite_sha256} for m in card.members}
    replace(card, training={"members": recorded}).save(card_path)
    EcgClassifier.create_from_model_path(card_path)  # as measured: loads
    # Another (valid) model under a member's name: its own card matches it, the fused card does not.
    other = REPO / "models" / "custom_cnn_traces_v2_int8.tflite"
    shutil.copy(other, tmp_path / TRACES.name)
    replace(load_card(other), tflite_file=TRACES.name).save(card_path_for(tmp_path / TRACES.name))
    with pytest.raises(ModelIntegrityError, match="not the model this card was measured with"):
        EcgClassifier.create_from_model_path(card_path)
    # A card naming itself would recurse; a page-view member cannot share the page and layout.
    replace(card, members=[card_path.name, TRACES.name]).save(card_path)
    with pytest.raises(ModelIntegrityError, match="itself a fused model"):
        EcgClassifier.create_from_model_path(card_path)
    page_member = tmp_path / "page.tflite"
    shutil.copy(SIGNAL, page_member)
    signal_card = load_card(SIGNAL)
    replace(signal_card, preprocessing=replace(signal_card.preprocessing, view="page")).save(card_path_for(page_member))
    replace(card, members=[TRACES.name, page_member.name]).save(card_path)
    with pytest.raises(ModelIntegrityError, match="page view"):
        EcgClassifier.create_from_model_path(card_path)


def test_an_image_first_fused_model_is_explained_on_its_image(tmp_path):
    from edge.explain import occlusion_map

    fused = EcgClassifier.create_from_model_path(_fused_card(tmp_path, [TRACES, SIGNAL]))
    pre = fused.preprocess(sample_files()[0])
    assert pre.image.dtype == np.uint8 and pre.member_inputs[0].dtype == np.float32
    heat = occlusion_map(fused, pre)
    size = fused.card.preprocessing.input_size
    assert heat.heat.shape == (size, size) and heat.unit == "patch"


def test_ecg_fuse_refuses_an_unknown_favoured_label(tmp_path):
    from typer.testing import CliRunner

    from convert.fuse import app as fuse_app

    args = [str(SIGNAL), str(TRACES), "--name", "both", "--split", str(tmp_path / "split.json"), "--out",
            str(tmp_path), "--favour", "stemi"]  # fmt: skip
    result = CliRunner().invoke(fuse_app, args)
    assert result.exit_code != 0 and "--favour stemi" in result.output


def test_ecg_fuse_refuses_a_members_name(tmp_path):
    from typer.testing import CliRunner

    from convert.fuse import app as fuse_app

    args = [str(SIGNAL), str(TRACES), "--name", SIGNAL.stem, "--split", str(REPO / "benchmarks" / "splits" /
            "grouped_seed42.json"), "--out", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(fuse_app, args)
    assert result.exit_code != 0 and "member's name" in result.output
    assert not any(tmp_path.iterdir())
