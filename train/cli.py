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
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from edge.preprocess import PreprocessConfig

app = typer.Typer(help="Train and evaluate ECG image classifiers on a grouped split.", no_args_is_help=True)
console = Console(highlight=False)

DataOption = Annotated[Path, typer.Option("--data", "-d", help="Data folder: one sub-folder per class.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the split and of training.")]


@app.callback()
def main() -> None:
    """ecg-train (needs the `train` extra: TensorFlow or another Keras backend)."""


def _make_or_load_split(data: Path, split_file: Path, seed: int):
    from train.dataset import DataSplit, make_split, scan_folder

    if split_file.is_file():
        console.print(f"using split {split_file}")
        return DataSplit.load(split_file)
    console.print(f"scanning {data} ...")
    split = make_split(scan_folder(data), data, seed=seed)
    split.save(split_file)
    console.print(f"wrote {split_file}: {split.summary()}")
    return split


@app.command()
def split(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Split file to write (JSON).")],
    seed: SeedOption = 42,
) -> None:
    """Group identical files and write a stratified train/val/test split."""
    if out.exists():
        console.print(f"[red]error:[/red] {out} exists; delete it first to make a new split")
        raise typer.Exit(2)
    _make_or_load_split(data, out, seed)


@app.command()
def fit(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder.")],
    model: Annotated[str, typer.Option("--model", help="Network to train.")] = "custom_cnn",
    split_file: Annotated[
        Path | None, typer.Option("--split", help="Existing split file. Default: RUN_DIR/split.json, made if absent.")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    image_size: Annotated[int, typer.Option("--image-size", min=32)] = PreprocessConfig.input_size,
    patience: Annotated[int, typer.Option(min=1, help="Early-stopping patience on validation loss.")] = 5,
    seed: SeedOption = 42,
) -> None:
    """Train one network with online augmentation and class weighting; save model, history, metrics."""
    from train.arrays import load_split_arrays
    from train.fit import FitSettings, fit_model
    from train.models import ARCHITECTURES

    if model not in ARCHITECTURES:
        console.print(f"[red]error:[/red] unknown model {model!r}; choose from {', '.join(ARCHITECTURES)}")
        raise typer.Exit(2)
    if not data.is_dir():
        console.print(f"[red]error:[/red] data folder not found: {data}")
        raise typer.Exit(2)
    out.mkdir(parents=True, exist_ok=True)
    split_path = split_file or out / "split.json"
    data_split = _make_or_load_split(data, split_path, seed)
    config = replace(PreprocessConfig(), input_size=image_size)
    train_arr, val_arr, test_arr = (load_split_arrays(data_split, s, data, config) for s in ("train", "val", "test"))
    console.print(
        f"training {model}: {len(train_arr.labels)} train / {len(val_arr.labels)} val / "
        f"{len(test_arr.labels)} test distinct images at {image_size}x{image_size}"
    )
    settings = FitSettings(model=model, epochs=epochs, batch_size=batch_size, patience=patience, seed=seed)
    result = fit_model(settings, config, train_arr, val_arr, test_arr, out / model, split_path)
    console.print(
        f"saved {result.model_path} after {result.epochs_run} epochs ({result.train_seconds:.0f} s); "
        f"test metrics in {result.metrics_path}"
    )


if __name__ == "__main__":
    app()
