"""The Gradio app, launched on loopback and driven through gradio_client."""

from __future__ import annotations

import socket
import threading

import pytest
from typer.testing import CliRunner

from edge.card import load_card
from edge.cli import app as cli_app
from tests.conftest import SAMPLES, SHIPPED_MODEL

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def running_app():
    import app_gradio

    port = _free_port()
    demo = app_gradio.launch(port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()
    demo.scratch.remove()


@pytest.fixture(scope="module")
def client(running_app):
    return gradio_client.Client(running_app, verbose=False)


def _analyse(client, path):
    return client.predict(gradio_client.handle_file(str(path)), str(SHIPPED_MODEL), api_name="/analyse")


def test_upload_gives_label_probabilities_and_a_pdf_naming_the_class_and_model(client):
    from pypdf import PdfReader

    label, message, model_input, heatmap, leads, pdf = _analyse(client, SAMPLES / "mi" / "MI(29).jpg")
    names = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(names) == {"Normal", "Myocardial Infarction", "Abnormal Heartbeat", "History of MI"}
    assert abs(sum(names.values()) - 1) < 1e-3
    predicted = label["label"]
    assert predicted in message
    assert model_input and heatmap and leads
    # The measurements table: the device printed 50 bpm in this scan's footer.
    assert "| Heart rate |" in message and "QT / QTc" in message
    rate = float(message.split("| Heart rate | ")[1].split(" bpm")[0])
    assert 45 <= rate <= 57
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert f"Predicted: {predicted}" in text
    card = load_card(SHIPPED_MODEL)  # a fused default's members' files, each with its sha256
    shas = [m["sha256"] for m in card.training["members"].values()] if card.is_fused else [card.tflite_sha256]
    assert shas and all(len(sha) == 64 and sha in text for sha in shas)
    assert "Digitized leads and measurements" in text and "Heart rate" in text


def test_a_phone_photo_of_the_printout_on_a_desk_shows_the_page_it_read(client, tmp_path):
    import cv2
    from pypdf import PdfReader

    from edge.preprocess import decode_image
    from train.scenes import SceneOptions, compose_scene

    scene = compose_scene(decode_image(SAMPLES / "mi" / "MI(29).jpg"), SceneOptions(megapixels=3.0, bend=0.3))
    photo = tmp_path / "IMG_0001.jpg"
    cv2.imwrite(str(photo), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    label, message, model_input, heatmap, leads, pdf = _analyse(client, photo)
    assert label["label"] in message and "found in the photo and flattened" in message
    shown = cv2.imread(heatmap)  # the flattened page (A4, 1.41), with the model's regions laid over it
    assert abs(shown.shape[1] / shown.shape[0] - 297 / 210) < 0.03  # not the 4:3 photo
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Page as read" in text


def test_a_bad_upload_gives_a_message_and_the_app_keeps_serving(client, tmp_path):
    bad = tmp_path / "scan.png"
    bad.write_text("not an image at all")
    label, message, *_ = _analyse(client, bad)
    assert not label or not label.get("label")
    assert "Cannot read this file" in message and "Traceback" not in message
    label, *_ = _analyse(client, SAMPLES / "normal" / "Normal(108).jpg")
    assert label["label"]


def test_concurrent_users_get_their_own_results(client, running_app):
    files = [SAMPLES / "mi" / "MI(29).jpg", SAMPLES / "abnormal_heartbeat" / "HB(102).jpg"] * 2
    expected = {str(f): _analyse(client, f)[0]["label"] for f in files[:2]}
    results, errors = {}, []

    def work(i, path):
        try:
            own = gradio_client.Client(running_app, verbose=False)
            results[i] = (str(path), _analyse(own, path)[0]["label"])
        except Exception as exc:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i, f)) for i, f in enumerate(files)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == len(files), errors
    for path, predicted in results.values():
        assert predicted == expected[path], (path, predicted, expected)


def test_share_without_authentication_is_refused():
    result = CliRunner().invoke(cli_app, ["serve", "--share"], env={"ECG_EDGE_AUTH": ""})
    assert result.exit_code == 2
    assert "patient identifiers" in result.stderr


def test_malformed_auth_is_refused():
    import app_gradio

    with pytest.raises(ValueError, match="user:password"):
        app_gradio.parse_auth("nopassword")
    assert app_gradio.parse_auth("a:b:c") == ("a", "b:c")


def test_reports_are_swept_once_old(tmp_path):
    import os
    import time

    import app_gradio

    scratch = app_gradio.ScratchDir()
    try:
        path = scratch.new_file("ecg-report-<x>/../y.pdf")
        assert path.parent.parent == scratch.path and "/" not in path.name and "<" not in path.name
        path.write_bytes(b"%PDF")
        scratch.sweep()
        assert path.exists()
        old = time.time() - app_gradio.KEEP_FILES_S - 10
        os.utime(path.parent, (old, old))
        scratch.sweep()
        assert not path.exists()
    finally:
        scratch.remove()


def test_uploads_over_the_size_limit_are_refused(client, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes((SAMPLES / "mi" / "MI(29).jpg").read_bytes() + b"\0" * (21 * 1024 * 1024))
    with pytest.raises(Exception, match="(?i)(too large|exceeds|413|size)"):
        _analyse(client, big)
    label, *_ = _analyse(client, SAMPLES / "mi" / "MI(29).jpg")  # and the app still serves
    assert label["label"]
