"""`ecg-train`: make the grouped split, fit networks on it, evaluate them.

Run folder layout::

    RUN_DIR/split.json            the grouped split every model and variant is compared on
    RUN_DIR/<model>/model.keras   best checkpoint (lowest validation loss)
    RUN_DIR/<model>/history.csv   per-epoch loss and accuracy
    RUN_DIR/<model>/metrics.json  test-split metrics of the Keras model
    RUN_DIR/<model>/run.json      settings, preprocessing parameters, timings
"""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from edge.preprocess import VIEWS, PreprocessConfig

app = typer.Typer(help="Train and evaluate ECG image classifiers on a grouped split.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

DataOption = Annotated[Path, typer.Option("--data", "-d", help="Data folder: one sub-folder per class.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the split and of training.")]
GroupByOption = Annotated[
    str,
    typer.Option(
        "--group-by",
        help="What a new split keeps on one side: image (identical files), patient (also the header's patient ID) "
        "or day (identical files or the footer's acquisition date).",
    ),
]
FoldOption = Annotated[
    int, typer.Option("--fold", min=0, help="Which grouped fold of a new split is the test set (0-6 at 15%).")
]


@app.callback()
def main() -> None:
    """ecg-train (needs the `train` extra: TensorFlow or another Keras backend)."""


def _make_or_load_split(data: Path, split_file: Path, seed: int, group_by: str = "image", fold: int = 0):
    from train.dataset import GROUP_BY, DataSplit, make_split, scan_folder

    if split_file.is_file():
        console.print(f"using split {split_file}")
        return DataSplit.load(split_file)
    if group_by not in GROUP_BY:
        console.print(f"[red]error:[/red] --group-by must be one of {', '.join(GROUP_BY)} (got {group_by!r})")
        raise typer.Exit(2)
    console.print(f"scanning {data} ...")
    try:
        split = make_split(scan_folder(data), data, seed=seed, group_by=group_by, fold=fold)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    split.save(split_file)
    console.print(f"wrote {split_file}: {split.summary()}")
    return split


@app.command()
def split(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Split file to write (JSON).")],
    seed: SeedOption = 42,
    group_by: GroupByOption = "image",
    fold: FoldOption = 0,
) -> None:
    """Group identical files (and optionally patient or day) and write a stratified train/val/test split."""
    if out.exists():
        console.print(f"[red]error:[/red] {out} exists; delete it first to make a new split")
        raise typer.Exit(2)
    _make_or_load_split(data, out, seed, group_by, fold)


# edge.preprocess is light to import (no Keras), so the choices come from its one list.
View = Enum("View", {view: view for view in VIEWS}, type=str)


class ModelName(str, Enum):
    # Mirrors train.models.ARCHITECTURES (a test keeps them equal) so --help needs no Keras import.
    custom_cnn = "custom_cnn"
    optimized_cnn = "optimized_cnn"
    mobilenet_v2 = "mobilenet_v2"
    resnet50 = "resnet50"
    signal_cnn = "signal_cnn"
    all = "all"


Monitor = Enum("Monitor", {m: m for m in ("val_loss", "val_macro_f1")}, type=str)  # train.fit.MONITORS

# What `fit` uses for the options not given: the image networks' defaults, and the shipped signal
# model's recipe for signal_cnn (docs/models.md; 30 epochs of 2 passes, the best validation
# macro-F1 kept: on 70 validation scans early stopping on the loss stopped it 15-20 epochs early).
IMAGE_RECIPE = {"epochs": 20, "repeats": 4, "patience": 5, "learning_rate": 1e-4, "monitor": "val_loss"}
NETWORK_RECIPES = {
    "signal_cnn": {"epochs": 30, "repeats": 2, "patience": 30, "learning_rate": 1e-3, "monitor": "val_macro_f1"},
}


def _recipe(name: str, given: dict) -> dict:
    """The fit options for network ``name``: those given, else its recipe's, else the image networks'."""
    return {**IMAGE_RECIPE, **NETWORK_RECIPES.get(name, {}), **{k: v for k, v in given.items() if v is not None}}


# The views each network takes (train.models.Architecture.views; a test keeps them equal).
SIGNAL_MODELS = ("signal_cnn",)


def _models_for(model: ModelName, view: str) -> list[str]:
    """The networks to train: ``all`` is every network that takes ``view``."""
    takes = (lambda name: name in SIGNAL_MODELS) if view == "signals" else (lambda name: name not in SIGNAL_MODELS)
    if model is ModelName.all:
        return [m.value for m in ModelName if m is not ModelName.all and takes(m.value)]
    if not takes(model.value):
        wanted = "--view signals" if model.value in SIGNAL_MODELS else "an image view (page, leads or traces)"
        raise typer.BadParameter(f"{model.value} does not take the {view} view: use {wanted}", param_hint="--model")
    return [model.value]


@app.command()
def fit(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder.")],
    model: Annotated[ModelName, typer.Option("--model", help="Network to train; `all`: every one taking --view.")] = (
        ModelName.custom_cnn
    ),
    split_file: Annotated[
        Path | None, typer.Option("--split", help="Existing split file. Default: RUN_DIR/split.json, made if absent.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Default: 20 (signal_cnn: 30).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    image_size: Annotated[int, typer.Option("--image-size", min=32)] = PreprocessConfig.input_size,
    view: Annotated[
        View,
        typer.Option(
            help="What the model sees: page (the grid area, as the paper), leads (the 12 lead panels found "
            "whatever the layout, in canonical order), traces (those panels as redrawn binary traces) or signals "
            "(the 12 digitized leads in mV, for signal_cnn)."
        ),
    ] = View.page,
    patience: Annotated[
        int | None,
        typer.Option(min=1, help="Early-stopping patience (epochs) on --monitor. Default: 5 (signal_cnn: 30)."),
    ] = None,
    monitor: Annotated[
        Monitor | None,
        typer.Option(
            help="What early stopping watches and keeps the best epoch of: validation loss or macro-F1. "
            "Default: val_loss (signal_cnn: val_macro_f1)."
        ),
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option("--learning-rate", min=1e-7, help="Adam's learning rate. Default: 1e-4 (signal_cnn: 1e-3)."),
    ] = None,
    repeats: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Augmented passes over the train split per epoch. The paper trained on ~19 offline-augmented "
            "copies per distinct image; online repeats give comparable steps without copies crossing splits. "
            "Default: 4 (signal_cnn: 2).",
        ),
    ] = None,
    weights: Annotated[
        str,
        typer.Option(help="Base weights of mobilenet_v2/resnet50: none (from scratch), imagenet, or a weights file."),
    ] = "none",
    mixed_precision: Annotated[
        bool | None,
        typer.Option("--mixed-precision/--no-mixed-precision", help="Default: on when a GPU is present."),
    ] = None,
    distribute: Annotated[
        bool, typer.Option(help="Spread one run over all local GPUs (tf.distribute.MirroredStrategy).")
    ] = False,
    protocol: Annotated[
        str,
        typer.Option(
            help="grouped: our leak-free split. paper: the paper's protocol (offline augmentation of all files, "
            "copies included, then a random 80/20 split), kept only to measure its leak.",
        ),
    ] = "grouped",
    manifest: Annotated[
        Path | None,
        typer.Option(help="With --protocol paper: the manifest of the original files. Default: DATA/../manifest.csv."),
    ] = None,
    group_by: GroupByOption = "image",
    fold: FoldOption = 0,
    seed: SeedOption = 42,
) -> None:
    """Train networks with online augmentation and class weighting; save model, history, metrics."""
    from train.arrays import load_split_arrays
    from train.fit import FitSettings, fit_model

    if not data.is_dir():
        console.print(f"[red]error:[/red] data folder not found: {data}")
        raise typer.Exit(2)
    if weights not in ("none", "imagenet") and not Path(weights).is_file():
        console.print(f"[red]error:[/red] --weights must be none, imagenet or an existing file (got {weights!r})")
        raise typer.Exit(2)
    if protocol not in ("grouped", "paper"):
        console.print(f"[red]error:[/red] --protocol must be grouped or paper (got {protocol!r})")
        raise typer.Exit(2)
    names = _models_for(model, view.value)
    out.mkdir(parents=True, exist_ok=True)
    config = replace(PreprocessConfig(), input_size=image_size, view=view.value)
    given = dict(
        epochs=epochs,
        repeats=repeats,
        patience=patience,
        learning_rate=learning_rate,
        monitor=None if monitor is None else Monitor(monitor).value,
    )
    common = dict(batch_size=batch_size, seed=seed, mixed_precision=mixed_precision, distribute=distribute)
    if protocol == "paper":
        paper = {k: v for k, v in _recipe("", given).items() if k != "repeats"}  # one pass: copies made offline
        _fit_paper_protocol(names, data, manifest or data.parent / "manifest.csv", out, config, {**common, **paper})
        return
    split_path = split_file or out / "split.json"
    data_split = _make_or_load_split(data, split_path, seed, group_by, fold)
    train_arr, val_arr, test_arr = (load_split_arrays(data_split, s, data, config) for s in ("train", "val", "test"))
    for name in names:
        model_weights = weights if name in ("mobilenet_v2", "resnet50") else "none"
        console.print(
            f"training {name} (weights: {model_weights}): {len(train_arr.labels)} train / {len(val_arr.labels)} val"
            f" / {len(test_arr.labels)} test distinct images, view {view.value} at {image_size}x{image_size}"
        )
        settings = FitSettings(model=name, weights=model_weights, **_recipe(name, given), **common)
        try:
            result = fit_model(settings, config, train_arr, val_arr, test_arr, out / name, split_path)
        except (ValueError, OSError) as exc:
            console.print(f"[red]error:[/red] {name}: {exc}")
            raise typer.Exit(1) from exc
        console.print(
            f"saved {result.model_path} after {result.epochs_run} epochs ({result.train_seconds:.0f} s); "
            f"test metrics in {result.metrics_path}"
        )
    _write_figures(out)


def _fit_paper_protocol(names: list[str], data: Path, manifest: Path, out: Path, config, common: dict) -> None:
    import json

    from train import paper_protocol
    from train.fit import FitSettings, fit_model

    if config.view == "signals":  # its offline augmentation is the paper's, of images
        console.print("[red]error:[/red] --protocol paper augments images: it takes an image view, not signals")
        raise typer.Exit(2)
    if not manifest.is_file():
        console.print(f"[red]error:[/red] manifest not found: {manifest} (pass --manifest)")
        raise typer.Exit(2)
    prepared = paper_protocol.build(data, manifest, config, seed=common["seed"])
    console.print(
        f"paper protocol: {prepared.n_files} files ({prepared.n_distinct} distinct) augmented to "
        f"{len(prepared.train.labels) + len(prepared.val.labels)} images, random 80/20 split; "
        f"{prepared.val_leak_share:.1%} of validation images have their source image in train"
    )
    for name in names:
        # Offline augmentation replaces online augmentation and repeats, as in the paper.
        settings = FitSettings(model=name, repeats=1, augment=False, **common)
        model_dir = out / f"{name}_paper"
        result = fit_model(settings, config, prepared.train, prepared.val, prepared.val, model_dir, Path(""), "val")
        leak = {
            "protocol": "paper: offline augmentation x5/x10/x10/x12 of all original files, then random 80/20",
            "n_files": prepared.n_files,
            "n_distinct": prepared.n_distinct,
            "n_train": len(prepared.train.labels),
            "n_val": len(prepared.val.labels),
            "val_leak_share": prepared.val_leak_share,
        }
        (model_dir / "protocol.json").write_text(json.dumps(leak, indent=2) + "\n")
        console.print(f"saved {result.model_path}; validation metrics (leaky) in {result.metrics_path}")
    _write_figures(out)


def _write_figures(run_dir: Path) -> None:
    from train.figures import run_figures

    written = run_figures(run_dir)
    console.print(f"wrote {len(written)} figures under {run_dir}")


@app.command()
def figures(run_dir: Annotated[Path, typer.Argument(help="Run folder written by `ecg-train fit`.")]) -> None:
    """Curves, confusion matrices, per-class accuracy and the model comparison chart as PNGs."""
    from train.figures import run_figures

    written = run_figures(run_dir)
    if not written:
        console.print(f"[red]error:[/red] no <model>/metrics.json under {run_dir}")
        raise typer.Exit(2)
    for path in written:
        console.print(f"wrote {path}")


def _print_report(report) -> None:
    from rich.table import Table

    from edge.labels import LABELS

    m, ci = report.metrics, report.ci
    console.print(
        f"{report.model} on {report.split}{f', layout {report.layout}' if report.layout else ''} "
        f"({m.n_images} distinct images, {report.measured_with}): "
        f"accuracy {m.accuracy:.3f} [{ci.accuracy.low:.3f}, {ci.accuracy.high:.3f}], "
        f"balanced accuracy {m.balanced_accuracy:.3f}, "
        f"macro-F1 {m.macro_f1:.3f} [{ci.macro_f1.low:.3f}, {ci.macro_f1.high:.3f}] (bootstrap 95% CI)"
    )
    table = Table(
        "class", "prec.", "recall", "F1", "n", *[f"->{label.short_name}" for label in LABELS], title="rows: true class"
    )
    for i, label in enumerate(LABELS):
        table.add_row(
            f"{label.display_name} ({label.short_name})",
            f"{m.precision[i]:.3f}",
            f"{m.recall[i]:.3f}",
            f"{m.f1[i]:.3f}",
            str(m.support[i]),
            *[str(v) for v in m.confusion_matrix[i]],
        )
    console.print(table)


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="A .keras model in a run folder, or a .tflite with its card.")],
    data: DataOption,
    split: Annotated[
        str, typer.Option("--split", help="train, val or test of the saved split; `all` for every image of --data.")
    ] = "test",
    split_file: Annotated[
        Path | None, typer.Option("--split-file", help="Default: the split the model was trained on.")
    ] = None,
    cv: Annotated[
        int, typer.Option("--cv", min=0, help="Retrain with K-fold stratified group cross-validation (0: off).")
    ] = 0,
    layout: Annotated[
        list[str] | None,
        typer.Option(
            "--layout",
            help="Re-lay out every scan first (train.relayout): 3x4, 3x4-nogrid, 6x2-rhythm, 6x2-rhythm-nogrid, "
            "6x2-text, 6x2-nogrid, or `all`. Repeatable; each gives its own report.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the report as JSON.")] = None,
) -> None:
    """Metrics with bootstrap 95% confidence intervals, per-class figures and the confusion matrix."""
    from train.evaluate import Predictor, cross_validate
    from train.evaluate import evaluate as run_evaluation

    if split not in ("train", "val", "test", "all"):
        console.print(f"[red]error:[/red] --split must be train, val, test or all (got {split!r})")
        raise typer.Exit(2)
    if not data.is_dir():
        console.print(f"[red]error:[/red] data folder not found: {data}")
        raise typer.Exit(2)
    from train.relayout import LAYOUTS

    layouts = list(LAYOUTS) if layout and "all" in layout else list(layout or [])
    unknown = [name for name in layouts if name not in LAYOUTS]
    if unknown:
        console.print(f"[red]error:[/red] unknown --layout {unknown[0]!r}: one of {', '.join(LAYOUTS)} or all")
        raise typer.Exit(2)
    if layouts and cv:
        console.print("[red]error:[/red] --layout and --cv do not combine")
        raise typer.Exit(2)
    try:
        predictor = Predictor(model)
        if cv:
            from train.fit import FitSettings

            if not predictor.run_info:
                raise ValueError("--cv retrains the model's architecture: pass its .keras from a run folder")
            settings = FitSettings(**predictor.run_info["settings"])
            work = out.with_suffix("") if out else model.parent / f"cv{cv}"
            report = cross_validate(settings, predictor.config, data, cv, work)
            (mean_acc, sd_acc), (mean_f1, sd_f1) = report.summary["accuracy"], report.summary["macro_f1"]
            console.print(
                f"{settings.model}, {cv}-fold stratified group CV: accuracy {mean_acc:.3f} +/- {sd_acc:.3f}, "
                f"macro-F1 {mean_f1:.3f} +/- {sd_f1:.3f}"
            )
            if out:
                import json
                from dataclasses import asdict

                out.write_text(json.dumps({**asdict(report), "summary": report.summary}, indent=2) + "\n")
            return
        if layouts:
            reports = [
                run_evaluation(predictor, data, split, split_file or predictor.split_file(), LAYOUTS[name])
                for name in layouts
            ]
        else:
            reports = [run_evaluation(predictor, data, split, split_file or predictor.split_file())]
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    for report in reports:
        _print_report(report)
    if out:
        import json
        from dataclasses import asdict

        if layouts:
            out.write_text(json.dumps([asdict(r) for r in reports], indent=2) + "\n")
        else:
            out.write_text(reports[0].to_json())


if __name__ == "__main__":
    app()
