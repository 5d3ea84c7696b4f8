"""`ecg-convert RUN_DIR`: every trained model of a run folder to TFLite variants, each with a
model card whose test metrics are measured through the edge runtime on the run's split."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import track

from edge.card import Agreement, LayoutScore, ModelCard, card_path_for, sha256_file
from edge.classifier import EcgClassifier
from edge.labels import LABEL_KEYS
from edge.preprocess import PreprocessConfig

DATA_CREDIT = (
    "ECG Images dataset of Cardiac Patients (Khan & Hussain, Mendeley Data V2, doi:10.17632/gwbz3fsgp8.2, CC BY 4.0)"
)
app = typer.Typer(help="Convert trained models to TFLite and measure each variant through the edge runtime.")
console = Console(highlight=False, soft_wrap=True)


def _model_dirs(run_dir: Path) -> list[Path]:
    return sorted(p.parent for p in run_dir.glob("*/model.keras"))


@app.command()
def convert(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `ecg-train fit`.")],
    variants: Annotated[
        str, typer.Option(help="Comma-separated: float32, float16, dynamic, int8.")
    ] = "float32,float16,dynamic,int8",
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="Data folder, if it moved since the split was made.")
    ] = None,
    layouts: Annotated[
        bool,
        typer.Option(
            "--layouts/--no-layouts",
            help="Also measure each variant on the test split re-laid out in every other layout (train.relayout).",
        ),
    ] = True,
    target_accuracy: Annotated[
        float,
        typer.Option(
            "--target-accuracy",
            min=0.5,
            max=1.0,
            help="Validation accuracy the 'uncertain: refer for review' threshold must reach on the predictions "
            "it keeps. Validation also picked the checkpoint, so its accuracy runs high: 0.90 let a model at "
            "0.90 validation but 0.82 test accuracy flag nothing.",
        ),
    ] = 0.95,
    protocol: Annotated[
        Path | None,
        typer.Option(help="benchmarks/generalization.json: copy the model's direction's protocol figures into cards."),
    ] = None,
) -> None:
    """Write <model>/tflite/<model>_<variant>.tflite and its .card.json for every model in RUN_DIR."""
    from convert.tflite import VARIANTS, convert_keras_file, representative_images
    from train.arrays import load_arrays, load_split_arrays
    from train.calibration import calibrate
    from train.dataset import DataSplit
    from train.metrics import compute_metrics
    from train.relayout import OTHER_LAYOUTS

    wanted = [v.strip() for v in variants.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in VARIANTS]
    if unknown or not wanted:
        console.print(f"[red]error:[/red] unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
        raise typer.Exit(2)
    model_dirs = _model_dirs(run_dir)
    if not model_dirs:
        console.print(f"[red]error:[/red] no <model>/model.keras under {run_dir}")
        raise typer.Exit(2)
    # Models of one run share a split and usually their preprocessing: prepare the arrays once.
    prepared: dict[tuple[str, PreprocessConfig], tuple] = {}
    for model_dir in model_dirs:
        run_info = json.loads((model_dir / "run.json").read_text())
        config = PreprocessConfig.from_dict(run_info["preprocessing"])
        split_file = Path(run_info["split_file"])
        split = DataSplit.load(split_file)
        data_root = data or Path(split.data_root)
        key = (str(split_file), config)
        if key not in prepared:
            arrays = tuple(load_split_arrays(split, name, data_root, config) for name in ("train", "val", "test"))
            relaid = {}
            if layouts:
                records = split.records_for("test")
                for layout in OTHER_LAYOUTS.values():
                    relaid[layout.name] = load_arrays(
                        records, data_root, config, f"test split as {layout.name}", layout.make
                    )
            prepared[key] = (*arrays, relaid)
        train, val, test, relaid = prepared[key]
        name = model_dir.name
        out_dir = model_dir / "tflite"
        out_dir.mkdir(exist_ok=True)
        keras_probabilities = _keras_probabilities(model_dir / "model.keras", test)
        for variant in wanted:
            representative = representative_images(train.images, train.labels) if variant == "int8" else None
            console.print(f"converting {name} -> {variant}")
            tflite_path = out_dir / f"{name}_{variant}.tflite"
            tflite_path.write_bytes(convert_keras_file(model_dir / "model.keras", variant, representative))
            card = ModelCard(
                name=f"{name}_{variant}",
                architecture=run_info["settings"]["model"],
                variant=variant,
                labels=list(LABEL_KEYS),
                preprocessing=config,
                tflite_file=tflite_path.name,
                tflite_sha256=sha256_file(tflite_path),
                training={
                    "data": DATA_CREDIT,
                    "split_description": split.description,
                    "distinct_images_per_split": split.summary(),
                    "epochs_run": run_info["epochs_run"],
                    "weights": run_info["weights"],
                    "keras_backend": run_info["keras_backend"],
                    "representative_images": 0 if representative is None else int(len(representative)),
                },
            )
            card_path = card_path_for(tflite_path)
            card.save(card_path)
            classifier = EcgClassifier.create_from_model_path(tflite_path)
            probabilities = np.stack(
                [
                    classifier.predict_raw(img)
                    for img in track(test.images, description=f"evaluating {card.name}", transient=True)
                ]
            )
            val_probabilities = np.stack([classifier.predict_raw(img) for img in val.images])
            predictions = np.argmax(probabilities, axis=1)
            metrics = compute_metrics(test.labels, predictions)
            agreement = Agreement(
                n_images=len(predictions),
                same_label_share=float(np.mean(predictions == np.argmax(keras_probabilities, axis=1))),
                max_probability_difference=float(np.abs(probabilities - keras_probabilities).max()),
            )
            layout_scores = []
            for layout_name, arrays in relaid.items():
                layout_predictions = np.argmax([classifier.predict_raw(img) for img in arrays.images], axis=1)
                layout_metrics = compute_metrics(arrays.labels, layout_predictions)
                layout_scores.append(
                    LayoutScore(
                        layout_name,
                        OTHER_LAYOUTS[layout_name].description,
                        layout_metrics.n_images,
                        layout_metrics.accuracy,
                        layout_metrics.macro_f1,
                    )
                )
            final = replace(
                card,
                layout_scores=layout_scores,
                protocol=protocol_figures(protocol, config.view) if protocol else {},
                test_metrics=metrics,
                agreement_with_keras=agreement,
                calibration=calibrate(val_probabilities, val.labels, probabilities, test.labels, target_accuracy),
                measured_with=classifier.interpreter_name,
            )
            final.save(card_path)
            console.print(
                f"  {tflite_path} ({tflite_path.stat().st_size / 1024:.0f} KiB): test accuracy "
                f"{metrics.accuracy:.3f}, macro-F1 {metrics.macro_f1:.3f} on {metrics.n_images} images "
                f"({classifier.interpreter_name}); same label as Keras on {agreement.same_label_share:.1%}"
            )
            print_card_figures(final)


def print_card_figures(card: ModelCard) -> None:
    """A measured card's other-layout scores and calibration, one line each."""
    for score in card.layout_scores:
        console.print(f"  {score.description}: macro-F1 {score.macro_f1:.3f}, accuracy {score.accuracy:.3f}")
    c = card.calibration
    console.print(
        f"  calibration: temperature {c.temperature:.2f}, test ECE {c.ece_test_before:.3f} -> "
        f"{c.ece_test_after:.3f}; below {c.threshold:.2f} confidence 'uncertain': test coverage "
        f"{c.test_coverage:.0%}, accuracy on the rest {c.test_accuracy_covered:.3f}"
    )


def protocol_figures(path: Path, view: str) -> dict:
    """The rows of a protocol benchmark's JSON for the direction ``view``: benchmarks/generalization.json
    names its directions by view, benchmarks/signal_direction.json gives the view beside its
    direction's name (a fused direction's: its members' views joined, convert.fuse.fused_view)."""
    data = json.loads(path.read_text())
    rows = [r for r in data["rows"] if view in (r["direction"], r.get("view"))]
    if not rows:
        raise typer.BadParameter(f"{path} has no rows for direction {view!r}")
    return {"benchmark": f"benchmarks/{path.stem}.py", "settings": data.get("settings", {}), "rows": rows}


def _keras_probabilities(keras_path: Path, arrays) -> np.ndarray:
    import keras

    from train.fit import predict_probabilities

    return predict_probabilities(keras.saving.load_model(keras_path, compile=False), arrays)


if __name__ == "__main__":
    app()
