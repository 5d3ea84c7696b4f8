"""`ecg-edge`: one verb per job. Exit status: 0 all files classified, 1 some failed, 2 wrong usage."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from edge.classifier import MODELS_DIR, ClassifierOptions, EcgClassifier, default_model_path
from edge.labels import LABELS
from edge.preprocess import iter_input_files

app = typer.Typer(help="Classify photos and scans of printed 12-lead ECGs on modest hardware.", no_args_is_help=True)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

ModelOption = Annotated[
    Path | None,
    typer.Option("--model", "-m", help="A .tflite model with its .card.json beside it. Default: the shipped model."),
]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, help="Interpreter threads.")]
DEFAULT_WORKERS = os.cpu_count() or 1


@app.callback()
def main() -> None:
    """ecg-edge: a decision aid for printed ECGs, not a diagnosis."""


def load_classifier(model: Path | None, threads: int) -> EcgClassifier:
    path = model or "default model"
    try:
        path = model or default_model_path()
        return EcgClassifier.create_from_options(ClassifierOptions(model_path=path, num_threads=threads))
    except (OSError, ValueError, RuntimeError) as exc:
        err.print(f"[red]error:[/red] cannot load model {escape(str(path))}: {escape(str(exc))}")
        raise typer.Exit(2) from exc


@app.command()
def classify(
    paths: Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")],
    model: ModelOption = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    threads: ThreadsOption = 1,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Threads decoding and preprocessing scans. Default: CPU count.")
    ] = DEFAULT_WORKERS,
    pdf: Annotated[
        Path | None,
        typer.Option("--pdf", help="Also write a PDF report with an occlusion heat map (one input file only)."),
    ] = None,
) -> None:
    """Classify each scan and print one line per file."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        err.print(f"[red]error:[/red] no such file or folder: {escape(', '.join(map(str, missing)))}")
        raise typer.Exit(2)
    files = iter_input_files(paths)
    if not files:
        err.print("[red]error:[/red] no files found")
        raise typer.Exit(2)
    if pdf is not None and (len(files) != 1 or paths[0].is_dir()):
        err.print("[red]error:[/red] --pdf takes exactly one input file")
        raise typer.Exit(2)
    classifier = load_classifier(model, threads)
    if pdf is not None:
        _classify_with_report(classifier, files[0], pdf, json_lines)
        return
    failures = 0
    for outcome in classifier.classify_files(files, workers=workers):
        path, result = outcome.path, outcome.result
        if result is None:
            failures += 1
            _print_error(path, outcome.error or "", json_lines)
            continue
        if json_lines:
            print(json.dumps(_json_row(path, result)))
        else:
            out.print(_readable_line(path, result))
    err.print(
        f"[dim]{len(files) - failures} classified, {failures} failed · model {classifier.card.name} "
        f"({classifier.card.variant}) · interpreter {classifier.interpreter_name}[/dim]"
    )
    if failures:
        raise typer.Exit(1)


UNCERTAIN = "uncertain: refer for review"


def _print_error(path: Path, message: str, json_lines: bool) -> None:
    if json_lines:
        row = {"file": str(path), "label": None, "probabilities": None, "uncertain": None, "reason": None}
        print(json.dumps({**row, "layout": None, "error": message}))
    else:
        out.print(f"{escape(str(path))}  [red]error:[/red] {escape(message)}")


def _json_row(path: Path, result) -> dict:
    if not result.is_ecg:
        return {
            "file": str(path),
            "label": None,
            "probabilities": None,
            "uncertain": None,
            "reason": result.gate.reason,
            "layout": None,
            "error": None,
        }
    return {
        "file": str(path),
        "label": result.label.key,
        "probabilities": result.probabilities,
        "uncertain": result.uncertain,
        "reason": UNCERTAIN if result.uncertain else None,
        "layout": result.layout,
        "error": None,
    }


def _readable_line(path: Path, result) -> str:
    if not result.is_ecg:
        return f"{escape(str(path))}  [yellow]{escape(result.gate.reason)}[/yellow]"
    probs = "  ".join(f"{label.key} {result.probabilities[label.key]:.2f}" for label in LABELS)
    if result.layout:
        grid = f"  [dim]layout {result.layout}[/dim]"
    else:
        grid = "" if result.grid_found else "  [yellow](no grid found: whole page used)[/yellow]"
    doubt = f"  [yellow]({UNCERTAIN})[/yellow]" if result.uncertain else ""
    return (
        f"{escape(str(path))}  [bold]{result.label.display_name}[/bold] ({result.confidence:.0%}){doubt}  "
        f"[dim]{probs}[/dim]{grid}"
    )


def _classify_with_report(classifier: EcgClassifier, path: Path, pdf: Path, json_lines: bool) -> None:
    from edge.explain import explained_scan
    from edge.preprocess import ImageDecodeError
    from edge.report import ReportInput, write_report

    try:
        bgr = classifier.load_scan(path)
    except ImageDecodeError as exc:
        _print_error(path, str(exc).removeprefix(f"{path}: "), json_lines)
        raise typer.Exit(1) from exc
    result, pre = classifier.classify_with_input(bgr)
    try:
        laid = explained_scan(classifier, bgr, pre, result)
        write_report(ReportInput(path.name, bgr, laid, result, classifier.card), pdf)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {escape(str(pdf))}: {escape(str(exc))}")
        raise typer.Exit(1) from exc
    if json_lines:
        print(json.dumps({**_json_row(path, result), "report": str(pdf)}))
    else:
        out.print(f"{_readable_line(path, result)}  report: {escape(str(pdf))}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the app to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 7860,
    model: ModelOption = None,
    share: Annotated[bool, typer.Option(help="Public Gradio share link; needs --auth.")] = False,
    auth: Annotated[
        str | None, typer.Option(help="user:password for the app (or set ECG_EDGE_AUTH).", show_default=False)
    ] = None,
) -> None:
    """Start the Gradio app (needs the `app` extra)."""
    try:
        import app_gradio
    except ImportError as exc:
        err.print(f"[red]error:[/red] the app needs Gradio: pip install 'ecg-edge[app]' ({escape(str(exc))})")
        raise typer.Exit(2) from exc
    try:
        app_gradio.launch(host=host, port=port, model=model, share=share, auth=auth)
    except (PermissionError, ValueError, FileNotFoundError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


@app.command()
def models(
    folder: Annotated[Path | None, typer.Option("--dir", help="Folder of models. Default: the shipped models.")] = None,
) -> None:
    """List installed models with their variant, size and test-split metrics."""
    from rich.table import Table

    from edge.card import load_card

    folder = folder or MODELS_DIR
    paths = sorted(folder.glob("*.tflite"))
    if not paths:
        err.print(f"[red]error:[/red] no .tflite models in {escape(str(folder))}")
        raise typer.Exit(2)
    try:
        default = default_model_path().resolve()
    except FileNotFoundError:
        default = None
    table = Table(caption="acc., macro-F1: on each model's held-out test split of n images")
    table.add_column("model", no_wrap=True, min_width=max(len(p.stem) for p in paths))
    for column in ("variant", "KiB", "input", "acc.", "macro-F1", "n", "default"):
        table.add_column(column)
    for path in paths:
        try:
            card = load_card(path)
        except (OSError, ValueError) as exc:
            table.add_row(escape(path.stem), "[red]no valid card[/red]", "", "", "", "", "", escape(str(exc))[:40])
            continue
        m = card.test_metrics
        table.add_row(
            escape(path.stem),
            card.variant,
            f"{path.stat().st_size / 1024:.0f}",
            f"{card.preprocessing.input_size}px",
            f"{m.accuracy:.3f}" if m else "-",
            f"{m.macro_f1:.3f}" if m else "-",
            str(m.n_images) if m else "-",
            "yes" if path.resolve() == default else "",
        )
    out.print(table)


if __name__ == "__main__":
    app()
