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
        y = _lines(
            c, f"Model: {card.name} ({card.architecture}, {card.variant}), sha256 {card.tflite_sha256}",
            margin, y, width, "Helvetica", 8,
        )  # fmt: skip
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
        images = [("Scan", data.scan_bgr)] + ([("Regions the model relied on", data.heatmap_bgr)]
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
        c.save()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
