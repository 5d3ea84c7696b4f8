"""Gradio app: upload an ECG scan, see the prediction, why, and download a PDF report.

    ecg-edge serve [--host 127.0.0.1] [--port 7860] [--model PATH] [--share --auth user:password]

Uses the edge runtime only. ECG printouts carry patient identifiers: the app binds to loopback by
default, refuses a public share link without authentication, limits uploads in size and type,
logs nothing of an upload, and deletes uploads and reports from the server within minutes.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import gradio as gr
import numpy as np

from edge.card import load_card
from edge.classifier import ClassifierOptions, EcgClassifier, ModelIntegrityError
from edge.explain import explained_scan
from edge.labels import DISCLAIMER
from edge.plot import draw_leads, model_input_picture
from edge.preprocess import ImageDecodeError
from edge.report import ReportInput, measurement_rows, write_report
from edge.resources import default_model_path, list_models, model_dirs, samples_dir

MAX_UPLOAD = "20mb"
IMAGE_TYPES = [".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"]
# Requests served at once; each worker thread has its own interpreter (they are not thread-safe).
CONCURRENCY = 2
# Uploads, reports and Gradio's copies of them are deleted once older than this (seconds).
KEEP_FILES_S = 120
AUTH_ENV_VAR = "ECG_EDGE_AUTH"


@dataclass(frozen=True)
class ModelChoice:
    title: str  # what the selector shows
    path: str


def installed_models(default: Path | None = None, models_dir: Path | None = None) -> list[ModelChoice]:
    paths = [entry.path for entry in list_models(models_dir)]
    if default is not None and default.resolve() not in {p.resolve() for p in paths}:
        paths.insert(0, default)
    choices = []
    for path in paths:
        try:
            card = load_card(path)
        except (OSError, ValueError):
            continue
        m = card.test_metrics
        figures = f", test acc. {m.accuracy:.3f}, macro-F1 {m.macro_f1:.3f} (n={m.n_images})" if m else ""
        choices.append(ModelChoice(f"{card.name} [{card.variant}{figures}]", str(path)))
    return choices


class Classifiers:
    """One classifier per (thread, model): interpreters are not thread-safe."""

    def __init__(self):
        self._local = threading.local()

    def get(self, model_path: str) -> EcgClassifier:
        cache = self._local.__dict__.setdefault("by_path", {})
        if model_path not in cache:
            options = ClassifierOptions(model_path=Path(model_path), measure=True)
            cache[model_path] = EcgClassifier.create_from_options(options)
        return cache[model_path]


class ScratchDir:
    """Where reports are written; a daemon thread removes those older than KEEP_FILES_S, and the
    folder goes when the process exits."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="ecg-edge-app-"))
        atexit.register(self.remove)
        threading.Thread(target=self._sweep_forever, daemon=True).start()

    def _sweep_forever(self) -> None:
        while self.path.is_dir():
            self.sweep()
            time.sleep(KEEP_FILES_S / 4)

    def sweep(self, max_age: float = KEEP_FILES_S) -> None:
        now = time.time()
        for old in list(self.path.iterdir()) if self.path.is_dir() else []:
            try:
                if now - old.stat().st_mtime > max_age:
                    shutil.rmtree(old, ignore_errors=True)
            except FileNotFoundError:
                continue

    def new_file(self, name: str) -> Path:
        """A path named ``name`` (reduced to safe characters) in a fresh folder of its own."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "report"
        return Path(tempfile.mkdtemp(dir=self.path)) / safe[:80]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def measurements_markdown(reading) -> str:
    """The measurements as a Markdown table, with the digitizer's checks under it."""
    lines = ["| measurement | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in measurement_rows(reading)]
    if reading.statements:
        lines.append("\n**Statements from published criteria** (not the model's label):\n")
        lines += [f"- {st.text} ({st.evidence})" for st in reading.statements]
    if reading.quality.ok:
        lines.append("\nDigitization checks agree (Einthoven, aVR + aVL + aVF = 0, rhythm strip).")
    else:
        lines += [f"\n**Warning:** {w}." for w in reading.quality.warnings]
    return "\n".join(lines)


def _shown_input(pre) -> np.ndarray:
    """The model input as the app shows it: an image view's as it is, a lead matrix drawn (RGB); a
    fused model's inputs side by side."""
    picture = model_input_picture(pre.image, pre.member_inputs)
    return _rgb(picture) if picture.ndim == 3 else picture


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def sample_examples() -> list[list[str]]:
    """The first shipped sample of each class (from the wheel or the checkout)."""
    folder = samples_dir()
    if not folder.is_dir():
        return []
    firsts = (sorted(d.glob("*.jpg"))[:1] for d in sorted(folder.iterdir()) if d.is_dir())
    return [[str(first[0])] for first in firsts if first]


def build_app(default_model: Path | None = None, models_dir: Path | None = None) -> gr.Blocks:
    default_model = default_model or default_model_path(models_dir)
    choices = installed_models(default_model, models_dir)
    if not choices:
        folders = ", ".join(str(d) for d in model_dirs(models_dir))
        raise FileNotFoundError(f"no usable model (with its card) in {folders} or at {default_model}")
    default_value = next(
        (c.path for c in choices if Path(c.path).resolve() == default_model.resolve()), choices[0].path
    )
    classifiers = Classifiers()
    scratch = ScratchDir()

    def analyse(upload: str | None, model_path: str):
        empty = (None, "", None, None, None, None)
        if not upload:
            return (None, "**Upload an ECG image first.**", *empty[2:])
        name = Path(upload).name
        try:
            classifier = classifiers.get(model_path)
            # From the file, not a decoded copy: measuring reads a full-resolution scan's leads at its
            # own detail (edge.pipeline.detail_source).
            result, pre = classifier.classify_with_input(upload)
            page = result.page_bgr if result.page_bgr is not None else classifier.load_scan(upload)  # a photo's sheet
            laid = explained_scan(classifier, page, pre, result)
            pdf = scratch.new_file(f"ecg-report-{Path(name).stem}.pdf")
            write_report(ReportInput(name, page, laid, result, classifier.card), pdf)
        except ImageDecodeError as exc:
            return (None, f"**Cannot read this file:** {str(exc).removeprefix(upload + ': ')}", *empty[2:])
        except (ModelIntegrityError, OSError, ValueError) as exc:
            return (None, f"**Cannot analyse this file:** {exc}", *empty[2:])
        if not result.is_ecg:
            return (
                None,
                f"**{result.gate.reason.capitalize()}.** No cardiac label is given.",
                _shown_input(pre),
                None,
                None,
                str(pdf),
            )
        if result.layout:
            grid = f"\n\nLeads read from a {result.layout} printout."
        else:
            grid = "" if result.grid_found else "\n\nNo ECG grid was found: the whole page was analysed."
        if result.sheet is not None and result.sheet.rectified:
            grid += f"\n\n{result.sheet.taken.capitalize()}: the page shown is what was read."
        if result.uncertain:
            grid += "\n\n**Uncertain: the model's confidence is below its review threshold. Refer for review.**"
        message = (
            f"### {result.label.display_name} ({result.confidence:.0%})\n\n{result.label.message}{grid}\n\n"
            f"Model: `{classifier.card.name}` ({classifier.card.variant}), interpreter {classifier.interpreter_name}."
        )
        leads = None
        if result.reading is not None:
            message += "\n\n" + measurements_markdown(result.reading)
            leads = _rgb(draw_leads(result.reading.ecg))
        return (result.probabilities_by_name(), message, _shown_input(pre), _rgb(laid), leads, str(pdf))

    with gr.Blocks(title="ecg-edge", analytics_enabled=False, delete_cache=(60, KEEP_FILES_S)) as demo:
        gr.Markdown(
            "# ecg-edge\nUpload a photo or scan of a printed 12-lead ECG (JPEG, PNG, BMP, TIFF or WebP, up to "
            f"{MAX_UPLOAD.upper()}).\n\n**{DISCLAIMER}**"
        )
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="ECG image", file_types=IMAGE_TYPES, type="filepath")
                model = gr.Dropdown(
                    [(c.title, c.path) for c in choices], value=default_value, label="Model (test-split figures)"
                )
                button = gr.Button("Analyse", variant="primary")
                examples = sample_examples()
                if examples:
                    gr.Examples(examples, inputs=[upload], label="Sample scans (one per class, from the test split)")
            with gr.Column():
                label = gr.Label(num_top_classes=4, label="Probabilities")
                message = gr.Markdown()
                report = gr.File(label="Download PDF report")
        with gr.Row():
            model_input = gr.Image(label="What the model saw (preprocessed)", type="numpy")
            heatmap = gr.Image(label="Regions the model relied on (occlusion)", type="numpy")
        leads = gr.Image(label="The 12 leads as digitized (mV over the page's 10 s)", type="numpy")
        button.click(
            analyse,
            inputs=[upload, model],
            outputs=[label, message, model_input, heatmap, leads, report],
            api_name="analyse",
            concurrency_limit=CONCURRENCY,
        )
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=32)
    demo.scratch = scratch  # type: ignore[attr-defined]
    return demo


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("authentication must be given as user:password")
    return user, password


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    model: Path | None = None,
    share: bool = False,
    auth: str | None = None,
    block: bool = True,
    models_dir: Path | None = None,
) -> gr.Blocks:
    credentials = parse_auth(auth or os.environ.get(AUTH_ENV_VAR))
    if share and credentials is None:
        raise PermissionError(
            f"--share publishes scans that carry patient identifiers: set --auth user:password or ${AUTH_ENV_VAR}"
        )
    demo = build_app(model, models_dir)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=credentials,
        max_file_size=MAX_UPLOAD,
        show_error=False,
        quiet=True,
        prevent_thread_lock=not block,
        # The sample scans live inside the installed package, outside the working folder.
        allowed_paths=[str(samples_dir())],
    )
    return demo


if __name__ == "__main__":
    launch()
