"""The PDF report a clinician can file (ReportLab). Text from the input (file names, anything read
from the image) is drawn as plain strings, never parsed as markup; the file is written atomically."""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfgen.canvas import Canvas

from edge.card import ModelCard
from edge.classifier import ClassificationResult
from edge.labels import DISCLAIMER, LABELS
from edge.leads import LEAD_NAMES, SECONDS_PER_ROW
from edge.pipeline import EcgReading


@dataclass(frozen=True)
class ReportInput:
    source_name: str  # shown as given, e.g. the uploaded file's name
    scan_bgr: np.ndarray
    heatmap_bgr: np.ndarray | None  # the scan with the occlusion map laid over it
    result: ClassificationResult
    card: ModelCard
    created: datetime | None = None


def _image(bgr: np.ndarray, max_side: int = 1600) -> ImageReader:
    scale = min(1.0, max_side / max(bgr.shape[:2]))
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else bgr
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise ValueError("could not encode the scan for the report")
    return ImageReader(io.BytesIO(jpeg.tobytes()))


def _lines(canvas: Canvas, text: str, x: float, y: float, width: float, font: str, size: float) -> float:
    canvas.setFont(font, size)
    for line in simpleSplit(text, font, size, width):
        canvas.drawString(x, y, line)
        y -= size * 1.3
    return y


def _prediction_block(c: Canvas, result: ClassificationResult, margin: float, y: float, width: float, page_w: float):
    """The uncertainty note, the class message and one bar per class; returns the new y."""
    if result.uncertain:
        c.setFillColor(colors.darkorange)
        y = _lines(
            c, "Uncertain: the model's confidence is below its review threshold. Refer for review.",
            margin, y, width, "Helvetica-Bold", 10,
        )  # fmt: skip
        c.setFillColor(colors.black)
    y = _lines(c, result.label.message, margin, y, width, "Helvetica", 10)
    y -= 4
    bar_w = width - 55 * mm
    for label in LABELS:
        p = result.probabilities[label.key]
        c.setFont("Helvetica", 9)
        c.drawString(margin, y - 8, label.display_name)
        c.setFillColor(colors.lightgrey)
        c.rect(margin + 45 * mm, y - 9, bar_w, 8, stroke=0, fill=1)
        c.setFillColor(colors.darkred if label is result.label else colors.steelblue)
        c.rect(margin + 45 * mm, y - 9, bar_w * p, 8, stroke=0, fill=1)
        c.setFillColor(colors.black)
        c.drawRightString(page_w - margin, y - 8, f"{p:.1%}")
        y -= 13
    return y


def write_report(data: ReportInput, path: Path) -> Path:
    """Write the report to ``path`` (atomically: a temporary file renamed into place)."""
    path = Path(path)
    page_w, page_h = A4
    margin = 15 * mm
    width = page_w - 2 * margin
    fd, tmp_name = tempfile.mkstemp(prefix=".ecg-report-", suffix=".pdf", dir=path.parent)
    os.close(fd)
    try:
        c = Canvas(tmp_name, pagesize=A4)
        c.setTitle("ECG classification report")
        c.setAuthor("ecg-edge")
        y = page_h - margin
        c.setFont("Helvetica-Bold", 16)
        c.drawString(margin, y - 12, "ECG classification report (decision aid)")
        y -= 26
        created = (data.created or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S %Z")
        y = _lines(c, f"Scan: {data.source_name}", margin, y, width, "Helvetica", 9)
        y = _lines(c, f"Created: {created}", margin, y, width, "Helvetica", 9)
        card = data.card
        if card.is_fused:  # its members' files, each with the sha256 its card and the runtime checked
            members = card.training.get("members", {})
            described = ", ".join(f"{m} (sha256 {members.get(m, {}).get('sha256', '?')})" for m in card.members)
            model_line = f"Model: {card.name} (fused, {card.variant}): mean of {described}"
        else:
            model_line = f"Model: {card.name} ({card.architecture}, {card.variant}), sha256 {card.tflite_sha256}"
        y = _lines(c, model_line, margin, y, width, "Helvetica", 8)
        y -= 4
        result = data.result
        c.setFont("Helvetica-Bold", 13)
        if not result.is_ecg:
            # Refusal reasons read "<what>: <detail>" (the gate's and the lead finder's alike).
            what = result.gate.reason.split(":", 1)[0]
            c.drawString(margin, y - 12, f"{what[:1].upper()}{what[1:]}: no cardiac label is given")
            y -= 34
            y = _lines(c, f"Reason: {result.gate.reason}.", margin, y, width, "Helvetica", 10)
        else:
            c.drawString(
                margin, y - 12, f"Predicted: {result.label.display_name} ({result.confidence:.0%} model probability)"
            )
            y -= 34
            y = _prediction_block(c, result, margin, y, width, page_w)
        if result.is_ecg and result.layout:
            y -= 8  # _lines writes above its baseline: clear the last bar
            y = _lines(c, f"Leads read from a {result.layout} printout.", margin, y, width, "Helvetica", 9)
        if card.test_metrics is not None:
            m = card.test_metrics
            y -= 8
            y = _lines(
                c, f"Model test-split figures ({m.n_images} images held out from training): accuracy {m.accuracy:.3f}, "
                f"macro-F1 {m.macro_f1:.3f}. Accuracy on scans from other sources is lower.",
                margin, y, width, "Helvetica-Oblique", 8,
            )  # fmt: skip
        days = [r["macro_f1"]["3x4"] for r in card.protocol.get("rows", []) if r["split"].startswith("day")]
        if days:
            y = _lines(
                c, f"On acquisition days never seen in training ({len(days)} test folds): macro-F1 "
                f"{sum(days) / len(days):.3f} on average, from {min(days):.3f} to {max(days):.3f}.",
                margin, y, width, "Helvetica-Oblique", 8,
            )  # fmt: skip
        y -= 6
        flattened = data.result.sheet is not None and data.result.sheet.rectified
        scan_title = f"Page as read ({data.result.sheet.taken})" if flattened else "Scan"
        images = [(scan_title, data.scan_bgr)] + ([("Regions the model relied on", data.heatmap_bgr)]
                                               if data.heatmap_bgr is not None else [])  # fmt: skip
        available = (y - margin - 40 - 20 * len(images)) / len(images)
        for title, bgr in images:
            img_h = min(width * bgr.shape[0] / bgr.shape[1], available)
            img_w = img_h * bgr.shape[1] / bgr.shape[0]
            c.setFont("Helvetica-Bold", 9)
            c.drawString(margin, y - 9, title)
            y -= 12
            c.drawImage(_image(bgr), margin, y - img_h, img_w, img_h)
            y -= img_h + 8
        c.setFillColor(colors.darkred)
        _lines(c, DISCLAIMER, margin, margin + 22, width, "Helvetica-Bold", 9)
        c.showPage()
        if result.is_ecg and result.reading is not None:
            _signals_page(c, result.reading, margin, width, page_h)
            c.setFillColor(colors.darkred)
            _lines(c, DISCLAIMER, margin, margin + 22, width, "Helvetica-Bold", 9)
            c.showPage()
        c.save()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _figure(value: float | None, unit: str, digits: int = 0) -> str:
    return "not measured" if value is None else f"{value:.{digits}f} {unit}"


def measurement_rows(reading: EcgReading) -> list[tuple[str, str]]:
    """(name, value) rows of the measurements, as the report and the app show them."""
    m = reading.measurements
    rows = [
        ("Heart rate", _figure(m.heart_rate_bpm, "bpm")),
        ("RR irregularity (SD/mean)", _figure(m.rr_irregularity, "", 3).strip()),
        ("PR interval", _figure(m.pr_ms, "ms")),
        ("QRS duration", _figure(m.qrs_ms, "ms")),
        ("QT / QTc (Bazett)", f"{_figure(m.qt_ms, 'ms')} / {_figure(m.qtc_ms, 'ms')}"),
        ("QRS axis", _figure(m.axis_deg, "degrees")),
    ]
    st = ", ".join(f"{lead} {v:+.2f}" for lead, v in m.st_mv.items() if v is not None and abs(v) >= 0.1)
    rows.append(("ST level, 60 ms after J (mV, leads beyond 0.1)", st or "none beyond 0.1 mV"))
    rows.append(("Q waves of pathological size", ", ".join(k for k, v in m.q_wave.items() if v) or "none"))
    rows.append(("T waves inverted", ", ".join(k for k, v in m.t_inverted.items() if v) or "none"))
    rows.append(("Rate and intervals from", f"{m.rate_from or '-'} ({m.beats} beats)"))
    return rows


def _trace(c: Canvas, mv: np.ndarray, x0: float, y0: float, px_s: float, px_mv: float, fs: float) -> None:
    """One signal as a polyline (breaks where it is NaN), baseline at y0."""
    path, drawing = c.beginPath(), False
    for i in range(0, len(mv), 2):  # 250 points per second is plenty at this size
        v = mv[i]
        if np.isnan(v):
            drawing = False
            continue
        x, y = x0 + i / fs * px_s, y0 + float(np.clip(v, -2.5, 2.5)) * px_mv
        if drawing:
            path.lineTo(x, y)
        else:
            path.moveTo(x, y)
            drawing = True
    c.drawPath(path, stroke=1, fill=0)


def _signals_page(c: Canvas, reading: EcgReading, margin: float, width: float, page_h: float) -> None:
    """The digitized leads, redrawn at 25 mm/s-like proportions, the measurements and the checks."""
    ecg = reading.ecg
    y = page_h - margin
    c.setFont("Helvetica-Bold", 13)
    c.drawString(margin, y - 12, "Digitized leads and measurements")
    y -= 24
    y = _lines(
        c, f"Read from a {ecg.layout} printout; {ecg.scale.px_per_mm:.2f} px/mm, mV scale from the "
        f"{ecg.scale.mv_from}. Grid: 0.2 s and 0.5 mV.", margin, y, width, "Helvetica", 8,
    )  # fmt: skip
    # As printed: leads that start together share a column, so the rows are the layout's lead rows.
    lead_rows = max(1, sum(1 for s in ecg.leads.values() if s.start_s == 0))
    rows = lead_rows + len(ecg.rhythm)
    row_h = (24 if rows <= 5 else 19) * mm
    px_s = width / SECONDS_PER_ROW
    px_mv = 8 * mm
    top = y - 4
    c.setStrokeColor(colors.Color(1.0, 0.8, 0.8))
    c.setLineWidth(0.3)
    for k in range(int(SECONDS_PER_ROW / 0.2) + 1):
        c.line(margin + k * 0.2 * px_s, top - rows * row_h, margin + k * 0.2 * px_s, top)
    for k in range(int(rows * row_h / (0.5 * px_mv)) + 1):
        c.line(margin, top - k * 0.5 * px_mv, margin + width, top - k * 0.5 * px_mv)
    c.setStrokeColor(colors.black)
    c.setLineWidth(0.6)
    for index, name in enumerate(LEAD_NAMES):
        signal = ecg.leads[name]
        baseline = top - (index % lead_rows + 0.55) * row_h
        x0 = margin + signal.start_s * px_s
        c.setFont("Helvetica", 7)
        c.drawString(x0 + 1, baseline + 0.35 * row_h, name + ("" if signal.ok else f": {signal.reason}"))
        if signal.ok:
            _trace(c, signal.mv, x0, baseline, px_s, px_mv, ecg.fs)
    for k, strip in enumerate(ecg.rhythm):
        baseline = top - (lead_rows + k + 0.55) * row_h
        c.drawString(margin + 1, baseline + 0.35 * row_h, f"rhythm {strip.lead or '(lead not identified)'}")
        if strip.ok:
            _trace(c, strip.mv, margin + strip.start_s * px_s, baseline, px_s, px_mv, ecg.fs)
    y = top - rows * row_h - 10
    for name, value in measurement_rows(reading):
        c.setFont("Helvetica-Bold", 9)
        c.drawString(margin, y - 9, name)
        y = _lines(c, value, margin + 80 * mm, y - 9, width - 80 * mm, "Helvetica", 9) + 9 - 3

    def room(y: float) -> float:
        """A new page when the next lines would reach the disclaimer at the foot of this one."""
        if y > margin + 55:
            return y
        c.setFillColor(colors.darkred)
        _lines(c, DISCLAIMER, margin, margin + 22, width, "Helvetica-Bold", 9)
        c.showPage()
        c.setFillColor(colors.black)
        return page_h - margin

    if reading.statements:
        y = room(y - 4)
        c.setFont("Helvetica-Bold", 9)
        c.drawString(margin, y - 9, "Statements from published criteria (not the model's label)")
        y -= 12
        for statement in reading.statements:
            y = room(y)
            y = _lines(c, f"{statement.text} ({statement.evidence})", margin + 4 * mm, y - 9, width - 4 * mm,
                       "Helvetica", 8) + 9 - 1  # fmt: skip
    q = reading.quality
    y = room(y - 10)
    if q.ok:
        y = _lines(c, "Checks: Einthoven's law, aVR + aVL + aVF = 0 and the rhythm strip agree with the leads read.",
                   margin, y, width, "Helvetica-Oblique", 8)  # fmt: skip
    else:
        for warning in q.warnings:
            y = room(y)
            c.setFillColor(colors.darkorange)
            y = _lines(c, f"Warning: {warning}.", margin, y, width, "Helvetica-Bold", 8)
        c.setFillColor(colors.black)
