from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from typer.testing import CliRunner

from edge.classifier import EcgClassifier
from edge.cli import app
from edge.explain import occlusion_map, overlay
from edge.preprocess import decode_image
from edge.report import ReportInput, write_report
from tests.conftest import SAMPLES, SHIPPED_MODEL, SHIPPED_TRACES

SCAN = SAMPLES / "mi" / "MI(29).jpg"


@pytest.fixture(scope="module")
def classifier() -> EcgClassifier:
    return EcgClassifier.create_from_model_path(SHIPPED_MODEL)


@pytest.mark.parametrize("model", [SHIPPED_MODEL, SHIPPED_TRACES], ids=["default", "traces"])
def test_occlusion_map_covers_the_input_and_is_normalised(model):
    classifier = EcgClassifier.create_from_model_path(model)
    pre = classifier.preprocess(SCAN)
    heat = occlusion_map(classifier, pre)
    if classifier.card.preprocessing.view == "signals":  # a quarter second of each lead at a time
        assert heat.heat.shape == (12, 10)
        # This scan's answer is so sure (int8 output 1.0) that no window moves it: whole leads do.
        assert (heat.unit, heat.evaluations) in (("window", 120), ("lead", 132))
        if heat.unit == "lead":
            assert (heat.heat == heat.heat[:, :1]).all()
    else:
        size = classifier.card.preprocessing.input_size
        assert heat.heat.shape == (size, size) and heat.evaluations == 15 * 15
    assert heat.heat.min() >= 0 and heat.heat.max() == pytest.approx(1.0)
    assert heat.label_index == int(np.argmax(classifier.predict_preprocessed(pre.image, pre.member_inputs)))
    bgr = decode_image(SCAN)
    laid = overlay(bgr, pre, heat.heat)
    assert laid.shape == bgr.shape
    # Only what the model saw is coloured: the lead panels (lead models) or the grid region.
    if pre.layout is not None:
        boxes = [[int(round(v / pre.layout.scale)) for v in (b.x0, b.y0, b.x1, b.y1)] for b in pre.layout.panels]
        top = max(0, min(b[1] for b in boxes))
        assert np.array_equal(laid[: top - 1], bgr[: top - 1])  # the header is untouched
        assert any(
            not np.array_equal(laid[max(y0, 0) : y1, max(x0, 0) : x1], bgr[max(y0, 0) : y1, max(x0, 0) : x1])
            for x0, y0, x1, y1 in boxes
        )
    else:
        g = pre.grid
        assert np.array_equal(laid[: g.y0 - 1], bgr[: g.y0 - 1])
        assert not np.array_equal(laid[g.y0 : g.y1, g.x0 : g.x1], bgr[g.y0 : g.y1, g.x0 : g.x1])


def _report(classifier, name: str) -> ReportInput:
    bgr = decode_image(SCAN)
    return ReportInput(
        name, bgr, None, classifier.classify(bgr), classifier.card, datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    )


def pdf_text(path) -> str:
    from pypdf import PdfReader

    return " ".join(page.extract_text() for page in PdfReader(path).pages)


def test_report_holds_the_prediction_model_identity_and_disclaimer(classifier, tmp_path):
    path = write_report(_report(classifier, "scan.jpg"), tmp_path / "r.pdf")
    assert path.read_bytes().startswith(b"%PDF")
    text = pdf_text(path)
    result = classifier.classify(SCAN)
    assert f"Predicted: {result.label.display_name}" in text
    assert classifier.card.tflite_sha256 in text
    assert "2026-01-02 03:04:05" in text
    assert "not a diagnosis" in text
    for label_name in ("Normal", "Myocardial Infarction", "Abnormal Heartbeat", "History of MI"):
        assert label_name in text


def test_input_text_is_not_interpreted_as_markup(classifier, tmp_path):
    name = "<b>bold</b> &amp; <font color=red>x</font>.jpg"
    text = pdf_text(write_report(_report(classifier, name), tmp_path / "r.pdf"))
    assert "<b>bold</b> &amp; <font color=red>x</font>.jpg" in text


def test_a_failed_report_leaves_no_file_behind(classifier, tmp_path, monkeypatch):
    import edge.report

    def broken_save(self):
        raise OSError("disk full")

    monkeypatch.setattr(edge.report.Canvas, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_report(_report(classifier, "scan.jpg"), tmp_path / "r.pdf")
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_a_pdf_for_one_file_and_refuses_several(tmp_path):
    runner = CliRunner()
    pdf = tmp_path / "report.pdf"
    result = runner.invoke(app, ["classify", str(SCAN), "--pdf", str(pdf)])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    assert runner.invoke(app, ["classify", str(SAMPLES), "--pdf", str(pdf)]).exit_code == 2


def test_a_page_that_is_not_an_ecg_gets_no_heat_map_and_a_report_without_a_label(classifier, tmp_path):
    from edge.explain import explained_scan
    from tests.test_gate import _text_page

    page = _text_page()
    result, pre = classifier.classify_with_input(page)
    assert not result.is_ecg and explained_scan(classifier, page, pre, result) is None
    bgr = decode_image(SCAN)
    ecg_result, ecg_pre = classifier.classify_with_input(bgr)
    assert explained_scan(classifier, bgr, ecg_pre, ecg_result).shape == bgr.shape
    path = write_report(ReportInput("page.png", page, None, result, classifier.card), tmp_path / "r.pdf")
    text = pdf_text(path)
    assert "Not an ECG printout" in text and "Predicted:" not in text


def test_many_statements_and_warnings_flow_onto_another_page(tmp_path):
    """The signals page never draws over its disclaimer: what does not fit goes on a new page."""
    from dataclasses import replace

    from pypdf import PdfReader

    from edge.classifier import EcgClassifier
    from edge.report import ReportInput, write_report
    from edge.statements import Statement
    from tests.conftest import SAMPLES, SHIPPED_MODEL

    classifier = EcgClassifier.create_from_model_path(SHIPPED_MODEL)
    classifier.options = replace(classifier.options, measure=True)
    bgr = classifier.load_scan(SAMPLES / "mi" / "MI(15).jpg")
    result = classifier.classify(bgr)
    many = tuple(Statement(f"s{k}", f"Statement number {k}", "evidence " * 12) for k in range(40))
    result = replace(result, reading=replace(result.reading, statements=many))
    pdf = write_report(ReportInput("MI(15).jpg", bgr, None, result, classifier.card), tmp_path / "r.pdf")
    pages = PdfReader(pdf).pages
    assert len(pages) >= 3
    text = " ".join(page.extract_text() for page in pages)
    assert "Statement number 0" in text and "Statement number 39" in text


class _LeadWatcher:
    """A stand-in signal model: its answer rests on lead V1's (index 6) swing in 0.5-0.75 s, and,
    once ``saturated``, on nothing a single window can move."""

    def __init__(self, saturated: bool = False):
        self.saturated = saturated

    def predict_preprocessed(self, matrix: np.ndarray, member_inputs: tuple = ()) -> np.ndarray:
        assert member_inputs == ()  # a single model: no other member's input is passed along
        if self.saturated:
            sure = float(np.abs(matrix[:, 6]).max() > 0 and np.abs(matrix[:, 7]).max() > 0)
            return np.array([1.0 - 0.5 * (1 - sure), 0.5 * (1 - sure), 0.0, 0.0])
        swing = float(np.abs(matrix[125:187, 6]).max())
        return np.array([0.2 + 0.6 * min(swing, 1.0), 0.8 - 0.6 * min(swing, 1.0), 0.0, 0.0])


def test_the_signal_occlusion_finds_the_lead_and_moment_an_answer_rests_on():
    from edge.explain import lead_occlusion_map
    from edge.preprocess import PreprocessedImage

    matrix = np.full((625, 12), 0.5, np.float32)
    pre = PreprocessedImage(matrix, None, (100, 100))
    heat = lead_occlusion_map(_LeadWatcher(), pre)
    assert heat.unit == "window" and heat.evaluations == 120
    assert np.unravel_index(np.argmax(heat.heat), heat.heat.shape) == (6, 2)
    assert heat.heat[6, 2] == 1.0 and np.count_nonzero(heat.heat) == 1
    # No window moves a saturated answer: whole leads are flattened, and V1 and V2 both matter.
    heat = lead_occlusion_map(_LeadWatcher(saturated=True), pre)
    assert heat.unit == "lead" and heat.evaluations == 132
    assert set(np.flatnonzero(heat.heat[:, 0])) == {6, 7} and (heat.heat == heat.heat[:, :1]).all()
