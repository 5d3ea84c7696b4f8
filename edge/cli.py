"""`ecg-edge`: one verb per job. Exit status: 0 all files classified, 1 some failed, 2 wrong usage."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from edge.classifier import ClassifierOptions, EcgClassifier, UnsupportedModelError, runnable_sibling
from edge.interpreter import BACKENDS
from edge.labels import LABELS
from edge.pipeline import quality_to_json
from edge.preprocess import iter_input_files, model_input_shape
from edge.resources import MODELS_DIR_ENV_VAR, default_model_path, model_dirs, resolve_model

app = typer.Typer(help="Classify photos and scans of printed 12-lead ECGs on modest hardware.", no_args_is_help=True)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

# The same model flags on every verb that runs a model.
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="A model name from `ecg-edge models`, or a path to a .tflite with its .card.json beside it. "
        "Default: the shipped default.",
        show_default=False,
    ),
]
ModelsDirOption = Annotated[
    Path | None,
    typer.Option(
        "--models-dir",
        help=f"A folder of your own models, searched before the shipped ones (or set {MODELS_DIR_ENV_VAR}).",
        show_default=False,
    ),
]
InterpreterOption = Annotated[
    str | None,
    typer.Option(
        "--interpreter",
        help="TFLite interpreter: " + ", ".join(name for name, _ in BACKENDS) + ". Default: the first installed.",
        show_default=False,
    ),
]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, help="Interpreter threads.")]
MeasureOption = Annotated[
    bool,
    typer.Option(
        "--measure/--no-measure",
        help="Also digitize the 12 leads and measure them (rate, intervals, axis, ST, Q, T); "
        "about 3x the time per scan. Always on with --pdf.",
    ),
]
DEFAULT_WORKERS = os.cpu_count() or 1


@app.callback()
def main() -> None:
    """ecg-edge: a decision aid for printed ECGs, not a diagnosis."""


def load_classifier(
    model: str | None,
    threads: int,
    models_dir: Path | None = None,
    interpreter: str | None = None,
    measure: bool = False,
) -> EcgClassifier:
    """The model asked for (or the default). When the installed interpreter cannot run the default,
    another variant of it that it can run is used, with a note; an explicit --model is never swapped."""
    path = model or "default model"
    try:
        path = resolve_model(model, models_dir) if model else default_model_path(models_dir)
        options = ClassifierOptions(model_path=path, num_threads=threads, interpreter=interpreter, measure=measure)
        try:
            return EcgClassifier.create_from_options(options)
        except UnsupportedModelError as exc:
            sibling = runnable_sibling(options, models_dir)
            if sibling is None:
                raise
            if model:
                name = escape(sibling.name)
                err.print(
                    f"[red]error:[/red] {escape(str(exc))}\n"
                    f"use --model {name} ({escape(sibling.card.variant)}), which it can run"
                )
                raise typer.Exit(2) from exc
            err.print(
                f"[yellow]note:[/yellow] {escape(str(exc))}; using {escape(sibling.name)} "
                f"({escape(sibling.card.variant)}) instead"
            )
            return sibling
    except typer.Exit:
        raise
    except (OSError, ValueError, RuntimeError) as exc:  # typer.Exit is a RuntimeError too
        err.print(f"[red]error:[/red] cannot load model {escape(str(path))}: {escape(str(exc))}")
        raise typer.Exit(2) from exc


def _input_files(paths: list[Path]) -> list[Path]:
    """The files named or found in the folders named; a usage error (exit 2) when a path does not
    exist or nothing is found."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        err.print(f"[red]error:[/red] no such file or folder: {escape(', '.join(map(str, missing)))}")
        raise typer.Exit(2)
    files = iter_input_files(paths)
    if not files:
        err.print("[red]error:[/red] no files found")
        raise typer.Exit(2)
    return files


@app.command()
def classify(
    paths: Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")],
    model: ModelOption = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    threads: ThreadsOption = 1,
    models_dir: ModelsDirOption = None,
    interpreter: InterpreterOption = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Threads decoding and preprocessing scans. Default: CPU count.")
    ] = DEFAULT_WORKERS,
    measure: MeasureOption = False,
    pdf: Annotated[
        Path | None,
        typer.Option("--pdf", help="Also write a PDF report with an occlusion heat map (one input file only)."),
    ] = None,
) -> None:
    """Classify each scan and print one line per file."""
    files = _input_files(paths)
    if pdf is not None and (len(files) != 1 or paths[0].is_dir()):
        err.print("[red]error:[/red] --pdf takes exactly one input file")
        raise typer.Exit(2)
    classifier = load_classifier(model, threads, models_dir, interpreter, measure or pdf is not None)
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
        f"[dim]{len(files) - failures} classified, {failures} failed · model {classifier.name} "
        f"({classifier.card.variant}) · interpreter {classifier.interpreter_name}[/dim]"
    )
    if failures:
        raise typer.Exit(1)


UNCERTAIN = "uncertain: refer for review"


def _print_error(path: Path, message: str, json_lines: bool) -> None:
    if json_lines:
        row = {"file": str(path), "label": None, "probabilities": None, "uncertain": None, "reason": None}
        row["sheet"] = None
        signals = {"measurements": None, "statements": None, "quality": None}
        print(json.dumps({**row, "layout": None, **signals, "error": message}))
    else:
        out.print(f"{escape(str(path))}  [red]error:[/red] {escape(message)}")


def _sheet_json(sheet) -> dict | None:
    """Where a photo's sheet was found and how it was turned (null for a scan read as it is;
    corners null for a scan that was only turned)."""
    if sheet is None or (not sheet.rectified and not sheet.quarter_turns):
        return None
    corners = None if sheet.corners is None else [[round(float(x), 1), round(float(y), 1)] for x, y in sheet.corners]
    return {"found_by": sheet.found_by, "corners": corners, "quarter_turns": sheet.quarter_turns}


def _json_row(path: Path, result) -> dict:
    if not result.is_ecg:
        return {
            "file": str(path),
            "label": None,
            "probabilities": None,
            "uncertain": None,
            "reason": result.gate.reason,
            "sheet": _sheet_json(result.sheet),
            "layout": None,
            "measurements": None,
            "statements": None,
            "quality": None,
            "error": None,
        }
    return {
        "file": str(path),
        "label": result.label.key,
        "probabilities": result.probabilities,
        "uncertain": result.uncertain,
        "reason": UNCERTAIN if result.uncertain else None,
        "sheet": _sheet_json(result.sheet),
        "layout": result.layout,
        "measurements": result.reading.measurements.to_json() if result.reading else None,
        "statements": [st.to_json() for st in result.reading.statements] if result.reading else None,
        "quality": quality_to_json(result.reading) if result.reading else _failed_quality(result),
        "error": None,
    }


def _sheet_note(sheet) -> str:
    """What the readable lines of classify and digitize say about how the page was taken."""
    if sheet is not None and sheet.rectified:
        return f"[dim]({sheet.taken})[/dim]"
    if sheet is not None and sheet.quarter_turns:
        return f"[dim](scan turned {90 * sheet.quarter_turns} degrees to read it)[/dim]"
    return ""


def _failed_quality(result) -> dict | None:
    return {"ok": False, "warnings": [result.signals_error]} if result.signals_error else None


def _readable_line(path: Path, result) -> str:
    if not result.is_ecg:
        return f"{escape(str(path))}  [yellow]{escape(result.gate.reason)}[/yellow]"
    probs = "  ".join(f"{label.key} {result.probabilities[label.key]:.2f}" for label in LABELS)
    if result.layout:
        grid = f"  [dim]layout {result.layout}[/dim]"
    else:
        grid = "" if result.grid_found else "  [yellow](no grid found: whole page used)[/yellow]"
    if note := _sheet_note(result.sheet):
        grid += f"  {note}"
    doubt = f"  [yellow]({UNCERTAIN})[/yellow]" if result.uncertain else ""
    signals = f"  [yellow]({escape(result.signals_error)})[/yellow]" if result.signals_error else ""
    if result.reading is not None:
        m = result.reading.measurements
        rate = "-" if m.heart_rate_bpm is None else f"{m.heart_rate_bpm:.0f} bpm"
        signals = f"  rate {rate}"
        if not result.reading.quality.ok:
            signals += f"  [yellow]({escape('; '.join(result.reading.quality.warnings))})[/yellow]"
    return (
        f"{escape(str(path))}  [bold]{result.label.display_name}[/bold] ({result.confidence:.0%}){doubt}  "
        f"[dim]{probs}[/dim]{grid}{signals}"
    )


def _classify_with_report(classifier: EcgClassifier, path: Path, pdf: Path, json_lines: bool) -> None:
    from edge.explain import explained_scan
    from edge.preprocess import ImageDecodeError
    from edge.report import ReportInput, write_report

    try:
        # From the file, not a decoded copy: the report's leads are read at the scan's own detail
        # (edge.pipeline.detail_source).
        result, pre = classifier.classify_with_input(path)
    except ImageDecodeError as exc:
        _print_error(path, str(exc).removeprefix(f"{path}: "), json_lines)
        raise typer.Exit(1) from exc
    page = result.page_bgr if result.page_bgr is not None else classifier.load_scan(path)
    try:
        laid = explained_scan(classifier, page, pre, result)
        write_report(ReportInput(path.name, page, laid, result, classifier.card), pdf)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {escape(str(pdf))}: {escape(str(exc))}")
        raise typer.Exit(1) from exc
    if json_lines:
        print(json.dumps({**_json_row(path, result), "report": str(pdf)}))
    else:
        out.print(f"{_readable_line(path, result)}  report: {escape(str(pdf))}")


DIGITIZE_KEYS = ("file", "fs", "layout", "leads", "rhythm", "measurements", "statements", "quality", "error")


def _digitize_error(path: Path, message: str) -> dict:
    return {**dict.fromkeys(DIGITIZE_KEYS), "file": str(path), "error": message}


@app.command()
def digitize(
    paths: Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")],
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line (the signals).")] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Also write each scan's signals into this folder.", show_default=False)
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="File format for --out: csv, json or wfdb.")] = "csv",
) -> None:
    """Read each scan back into 12 calibrated leads (mV, 500 Hz) with measurements and quality
    checks; print one line per file."""
    from edge.export import FORMATS

    if fmt not in FORMATS:
        err.print(f"[red]error:[/red] unknown --format {escape(fmt)}: one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    if fmt == "wfdb" and out_dir is not None:
        try:
            import wfdb  # noqa: F401
        except ImportError as exc:
            hint = escape("pip install 'ecg-edge[wfdb]'")
            err.print(f"[red]error:[/red] --format wfdb needs the wfdb package: {hint}")
            raise typer.Exit(2) from exc
    files = _input_files(paths)
    failures = 0
    for path in files:
        try:
            reading, row, written = _digitize_file(path, out_dir, fmt)
        except ValueError as exc:  # ImageDecodeError and LayoutError included
            failures += 1
            message = str(exc).removeprefix(f"{path}: ")
            if json_lines:
                print(json.dumps(_digitize_error(path, message)))
            else:
                out.print(f"{escape(str(path))}  [red]error:[/red] {escape(message)}")
            continue
        if json_lines:
            print(json.dumps(row))
        else:
            out.print(_digitized_line(path, reading, written))
    err.print(f"[dim]{len(files) - failures} digitized, {failures} failed[/dim]")
    if failures:
        raise typer.Exit(1)


def _digitize_file(path: Path, out_dir: Path | None, fmt: str):
    """(reading, JSON row, file written or None) of one scan; a ValueError says why it failed."""
    from edge.export import export
    from edge.pipeline import read_ecg, reading_to_json

    try:
        reading = read_ecg(path, gate=True)
    except ValueError:  # unreadable, not an ECG, no layout: the message says which
        raise
    except Exception as exc:  # one bad page must not stop a batch: say why, go on
        raise ValueError(f"could not digitize the leads: {type(exc).__name__}: {exc}") from exc
    row = {"file": str(path), **reading_to_json(reading), "error": None}
    written = None
    if out_dir is not None:
        try:
            written = export(reading.ecg, row, path, out_dir, fmt)
        except OSError as exc:
            raise ValueError(f"cannot write into {out_dir}: {exc}") from exc
    return reading, row, written


def _digitized_line(path: Path, reading, written: Path | None) -> str:
    m = reading.measurements

    def fig(value: float | None, unit: str, digits: int = 0) -> str:
        return "-" if value is None else f"{value:.{digits}f}{unit}"

    parts = [
        f"{escape(str(path))}  [bold]{escape(reading.ecg.layout)}[/bold]",
        f"rate {fig(m.heart_rate_bpm, ' bpm')}",
        f"PR {fig(m.pr_ms, ' ms')}",
        f"QRS {fig(m.qrs_ms, ' ms')}",
        f"QT/QTc {fig(m.qt_ms, '')}/{fig(m.qtc_ms, ' ms')}",
        f"axis {fig(m.axis_deg, ' deg')}",
    ]
    if reading.statements:
        parts.append(escape("; ".join(st.text for st in reading.statements)))
    q = reading.quality
    parts.append("[green]checks ok[/green]" if q.ok else f"[yellow]{escape('; '.join(q.warnings))}[/yellow]")
    if note := _sheet_note(reading.sheet):
        parts.append(note)
    if written is not None:
        parts.append(f"[dim]-> {escape(str(written))}[/dim]")
    return "  ".join(parts)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the app to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 7860,
    model: ModelOption = None,
    models_dir: ModelsDirOption = None,
    share: Annotated[bool, typer.Option(help="Public Gradio share link; needs --auth.")] = False,
    auth: Annotated[
        str | None, typer.Option(help="user:password for the app (or set ECG_EDGE_AUTH).", show_default=False)
    ] = None,
) -> None:
    """Start the Gradio app (needs the `app` extra)."""
    try:
        import app_gradio
    except ImportError as exc:
        hint = escape("pip install 'ecg-edge[app]'")
        err.print(f"[red]error:[/red] the app needs Gradio: {hint} ({escape(str(exc))})")
        raise typer.Exit(2) from exc
    try:
        path = resolve_model(model, models_dir) if model else None
        app_gradio.launch(host=host, port=port, model=path, share=share, auth=auth, models_dir=models_dir)
    except (PermissionError, ValueError, FileNotFoundError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


@app.command()
def benchmark(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Scans and/or folders to time. Default: the shipped sample scans.", show_default=False),
    ] = None,
    model: ModelOption = None,
    models_dir: ModelsDirOption = None,
    interpreter: InterpreterOption = None,
    threads: ThreadsOption = 1,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Threads preparing scans in the folder pass. Default: CPU count.")
    ] = DEFAULT_WORKERS,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Warm timed passes over the scans.")] = 5,
    folder_size: Annotated[
        int, typer.Option("--folder-size", min=1, help="Scans in the throughput pass (the inputs repeated).")
    ] = 32,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object instead of the table.")] = False,
    measure: MeasureOption = False,
) -> None:
    """Time this machine: decode, ECG check, page and lead finding, inference and total per scan
    (median and p90, warm), scans/s over a folder, peak memory. Run it on the target machine."""
    from rich.progress import Progress
    from rich.table import Table

    from edge.benchmark import STAGE_TITLES, peak_rss_mib, run_benchmark
    from edge.resources import sample_files

    files = _input_files(paths) if paths else sample_files()
    if not files:
        err.print("[red]error:[/red] no scans to time (the shipped samples are missing: pass files or folders)")
        raise typer.Exit(2)
    classifier = load_classifier(model, threads, models_dir, interpreter, measure)
    loaded = peak_rss_mib()
    with Progress(console=err, transient=True, disable=json_out) as progress:
        task = progress.add_task("timing", total=None)
        try:
            report = run_benchmark(
                classifier,
                files,
                runs=runs,
                workers=workers,
                folder_size=folder_size,
                loaded_rss_mib=loaded,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except ValueError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from exc
    for path in report.failed:
        err.print(f"[yellow]skipped (not a readable image):[/yellow] {escape(path)}")
    if json_out:
        print(json.dumps(report.to_dict()))
        return
    host = report.host
    table = Table(
        title=f"ecg-edge benchmark · {report.model} ({report.variant}) · {report.interpreter}, "
        f"{report.threads} thread(s)",
        caption=f"{report.files} scans x {report.runs} warm runs; {host.cpu}, {host.cores} cores, {host.machine}, "
        f"Python {host.python}; " + ", ".join(f"{k} {v}" for k, v in host.packages.items()),
        caption_justify="left",
    )
    table.add_column("per scan")
    table.add_column("median ms", justify="right")
    table.add_column("p90 ms", justify="right")
    for row in report.latency:
        title = STAGE_TITLES[row.stage]
        style = "bold" if row.stage == "total" else ""
        table.add_row(title, f"{row.median_ms:.1f}", f"{row.p90_ms:.1f}", style=style)
    out.print(table)

    def mib(value: float | None) -> str:
        return "unknown" if value is None else f"{value:.0f} MiB"

    out.print(
        f"folder: [bold]{report.folder_scans_per_s:.1f} scans/s[/bold] "
        f"({report.folder_files} scans, {report.workers} worker(s))\n"
        f"memory: peak {mib(report.peak_rss_mib)} resident; {mib(report.loaded_rss_mib)} with the model loaded, "
        "before any scan"
        + (
            f"; of the resident memory, {mib(report.file_rss_mib)} are library files mapped read-only (shared)"
            if report.file_rss_mib is not None
            else ""
        )
    )


@app.command()
def models(
    models_dir: Annotated[
        Path | None,
        typer.Option(
            "--models-dir",
            "--dir",
            help=f"A folder of your own models, listed before the shipped ones (or set {MODELS_DIR_ENV_VAR}).",
            show_default=False,
        ),
    ] = None,
    interpreter: InterpreterOption = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per model.")] = False,
) -> None:
    """List installed models: variant, size, the card's test and day-fold figures, and whether this
    machine's interpreter can run each. `--model NAME` takes the names shown."""
    from rich import box
    from rich.table import Table

    from edge.card import load_card
    from edge.classifier import interpreter_can_run
    from edge.resources import list_models

    if models_dir is not None and not models_dir.is_dir():
        err.print(f"[red]error:[/red] no such folder: {escape(str(models_dir))}")
        raise typer.Exit(2)
    entries = list_models(models_dir)
    if models_dir is not None and not any(e.path.parent == models_dir for e in entries):
        err.print(f"[red]error:[/red] no .tflite models in {escape(str(models_dir))}")
        raise typer.Exit(2)
    if not entries:
        folders = ", ".join(str(d) for d in model_dirs(models_dir))
        err.print(f"[red]error:[/red] no .tflite models in {escape(folders)}")
        raise typer.Exit(2)
    try:
        default = default_model_path(models_dir).resolve()
    except FileNotFoundError:
        default = None
    rows = []
    for entry in entries:
        row = {"name": entry.name, "path": str(entry.path), "default": entry.path.resolve() == default}
        try:
            card = load_card(entry.path)
        except (OSError, ValueError) as exc:
            rows.append({**row, "error": f"no valid card: {exc}"})
            continue
        m = card.test_metrics
        backend, runs = interpreter_can_run(entry.path, interpreter)
        # A fused model: its members' files and views ("signals+traces"); input_shape is its first member's.
        files = [entry.path, *(entry.path.parent / member for member in card.members)]
        try:
            views = [load_card(f).preprocessing.view for f in files[1:]] or [card.preprocessing.view]
        except (OSError, ValueError) as exc:
            rows.append({**row, "error": f"no valid member card: {exc}"})
            continue
        rows.append(
            {
                **row,
                "variant": card.variant,
                "view": "+".join(views),
                "members": card.members,
                # An image model's side in px; null for a signal model (see input_shape).
                "input": None if card.preprocessing.view == "signals" else card.preprocessing.input_size,
                "input_shape": list(model_input_shape(card.preprocessing)[1:]),
                "kib": round(sum(f.stat().st_size for f in files if f.is_file()) / 1024),
                "test_accuracy": m.accuracy if m else None,
                "test_macro_f1": m.macro_f1 if m else None,
                "test_images": m.n_images if m else None,
                "day_fold_macro_f1": card.day_fold_macro_f1(),
                "interpreter": backend,
                "runs_here": runs,
                "error": None,
            }
        )
    if json_lines:
        for row in rows:
            print(json.dumps(row))
        return
    table = Table(
        box=box.SIMPLE_HEAD,
        caption="acc., F1: accuracy and macro-F1 on the model's held-out test split of n images\n"
        "day F1: macro-F1 on unseen days, mean over folds and layouts (the card's protocol rows)\n"
        "runs: loads in the interpreter named",
        caption_justify="left",
    )
    for column in ("model", "variant", "view", "KiB", "acc.", "F1", "n", "day F1", "runs", "default"):
        table.add_column(column, no_wrap=True)

    def fig(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for row in rows:
        if row["error"]:
            table.add_row(escape(row["name"]), "[red]no valid card[/red]", "", "", "", "", "", "", "", "")
            continue
        runs = f"yes ({row['interpreter']})" if row["runs_here"] else f"[red]no ({row['interpreter']})[/red]"
        table.add_row(
            escape(row["name"]),
            row["variant"],
            row["view"] if row["members"] else f"{row['view']} {'x'.join(str(n) for n in row['input_shape'][:2])}",
            str(row["kib"]),
            fig(row["test_accuracy"]),
            fig(row["test_macro_f1"]),
            str(row["test_images"] or "-"),
            fig(row["day_fold_macro_f1"]),
            runs,
            "yes" if row["default"] else "",
        )
    # Whole names and figures even through a pipe (80 columns) or in a narrow terminal.
    Console(highlight=False, width=max(out.width, 125)).print(table)
    folders = [str(d) for d in model_dirs(models_dir) if d.is_dir()]
    err.print(f"[dim]searched: {escape(', '.join(folders))}[/dim]")


if __name__ == "__main__":
    app()
