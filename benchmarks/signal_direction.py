"""The signal direction (issue #13): the 12 digitized leads fed to a small 1-D CNN, scored on the
generalization protocol's splits and layouts, beside the measurement and image directions.

    python benchmarks/signal_direction.py --data DATA [--folds 0 1 2] [--jobs 2] [--epochs 30] [--seeds 42 0 1]
    python benchmarks/signal_direction.py --data DATA --reuse --fuse-with runs/four-gpu/fuse-optimized_cnn

Fusion (``--fuse-with``): each signal model's probabilities averaged with those of a traces image
model trained on the same split, every seed of the signal model against that one traces model: the
shipped fusion's partner is `benchmarks/four_networks.py`'s optimized CNN (trained on a GPU; its
`report` writes RESULTS/fuse-NET), and `benchmarks/generalization.py --views traces signals --runs
runs/fusion` writes the CPU-budget custom CNN's (runs/fusion).

Splits are the ones benchmarks/measurement_direction.py makes (`ecg-train split`: the plain
image-grouped split, fold 0, and day-grouped test folds), so every test scan is the one the other
directions were scored on. Each scan is read by `edge.pipeline.read_ecg` in its own layout (all
images as scanned, and the test scans of every split re-laid out by train.relayout in the five
other layouts) and turned into the model input by `edge.lead_matrix.lead_matrix` (what the
`signals` preprocessing view gives the runtime); inputs are cached (``--cache``), so a rerun only
trains and scores.

Model: `train.models.signal_cnn` (Keras 3, ~100k parameters) trained by `train.fit.fit_model`, the
function behind `ecg-train fit --view signals --model signal_cnn`: Adam, class-weighted
cross-entropy, `train.signals.augment` on every training batch, early stopping on validation
macro-F1 (`--monitor val_macro_f1`) with the best epoch's weights restored. Each split's run
folder (``--runs``) converts with `ecg-convert`; the plain split's is the one shipped. A scan whose
layout is not found gets the training split's majority class and is counted.
How far it leans on heart rate: the share of its day-fold answers that a rate-only classifier
(logistic regression on the digitizer's heart rate, fitted on the same training split) gives too.
The signal cache is keyed by file and layout only: delete it after changing the digitizer.
Writes benchmarks/signal_direction.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from generalization import layout_table, table  # noqa: E402
from machine import describe, summary  # noqa: E402
from measurement_direction import add_split_arguments, make_splits, read_cached  # noqa: E402

from convert.fuse import fused_view  # noqa: E402
from edge.classifier import apply_label_weights  # noqa: E402
from edge.labels import LABEL_KEYS, LABELS  # noqa: E402
from edge.lead_matrix import SIGNAL_SAMPLES  # noqa: E402
from train.cli import NETWORK_RECIPES  # noqa: E402
from train.dataset import DataSplit  # noqa: E402
from train.metrics import compute_metrics  # noqa: E402
from train.relayout import AS_SCANNED, LAYOUTS, OTHER_LAYOUTS  # noqa: E402

DIRECTION = "digitized leads -> 1-D CNN"
FUSED = "1-D CNN + traces image model (probabilities averaged)"
FAVOURED = "1-D CNN + traces image model, averaged, {label} favoured (weight chosen on validation)"
REFERENCE_DIRECTIONS = {
    "measurement_direction.json": ("measurements + statements, LR", "measurements + statements, random forest",
                                   "rate only (rate + RR irregularity), LR"),
    "generalization.json": ("traces",),
}  # fmt: skip


def _read_one(task: tuple[str, str, str]) -> tuple[str, dict]:
    """(data root, relative path, layout) -> (key, {lead matrix, heart rate or NaN, status})."""
    root, rel, layout = task
    from edge.lead_matrix import lead_matrix
    from edge.leads import LayoutError
    from edge.pipeline import read_ecg
    from edge.preprocess import decode_image

    warnings.filterwarnings("ignore")
    path = Path(root) / rel
    empty = np.zeros((SIGNAL_SAMPLES, 12), np.float32)
    try:
        reading = read_ecg(path if layout == AS_SCANNED else LAYOUTS[layout].make(decode_image(path)))
    except LayoutError:
        return f"{layout}|{rel}", {"x": empty, "rate": np.nan, "status": "layout_error"}
    except Exception as exc:  # noqa: BLE001 - counted and reported, not hidden
        return f"{layout}|{rel}", {"x": empty, "rate": np.nan, "status": f"error: {type(exc).__name__}"}
    rate = reading.measurements.heart_rate_bpm
    x = lead_matrix(reading.ecg)
    return f"{layout}|{rel}", {"x": x, "rate": np.nan if rate is None else float(rate), "status": "ok"}


def read_signals(data: Path, tasks: list[tuple[str, str]], cache: Path, jobs: int) -> dict[str, dict]:
    return read_cached(data, tasks, cache, jobs, _read_one, lambda z: z["x"].shape[1] == SIGNAL_SAMPLES, {})


def _arrays(store: dict, records, layout: str):
    entries = [store[f"{layout}|{r.path}"] for r in records]
    x = np.stack([e["x"] for e in entries])
    rate = np.array([e["rate"] for e in entries])
    ok = np.array([e["status"] == "ok" for e in entries])
    y = np.array([LABEL_KEYS.index(r.label) for r in records])
    return x, rate, ok, y


def _rate_only(train_rate: np.ndarray, y_train: np.ndarray):
    """Logistic regression on heart rate alone (missing: the training median)."""
    from sklearn.linear_model import LogisticRegression

    median = float(np.nanmedian(train_rate))

    def features(rate: np.ndarray) -> np.ndarray:
        r = np.where(np.isnan(rate), median, rate)
        return np.stack([r, r**2 / 100.0], axis=1) / 100.0

    model = LogisticRegression(max_iter=2000, class_weight="balanced").fit(features(train_rate), y_train)
    return lambda rate: model.predict(features(rate))


def fit_split(
    store: dict, split: DataSplit, split_file: Path, name: str, seed: int, args: argparse.Namespace
) -> list[dict]:
    """Train through `ecg-train fit`'s own function (train.fit.fit_model: the recipe a shipped model
    is made with), keep the run folder under ``args.runs`` (with ``--reuse``, a model already there
    is scored again), and score every layout; with ``--fuse-with``, also the average of its
    probabilities and the traces model's of the same split."""
    import keras

    from edge.preprocess import PreprocessConfig
    from train.arrays import SplitArrays
    from train.fit import FitSettings, fit_model, predict_probabilities

    def arrays(part: str) -> tuple[SplitArrays, np.ndarray, np.ndarray]:
        records = split.records_for(part)
        x, rate, ok, y = _arrays(store, records, AS_SCANNED)
        kept = [r.path for r, k in zip(records, ok) if k]
        return SplitArrays(x[ok], y[ok], kept), rate[ok], y

    (train, rate_train, y_all), (val, _, _), (test, _, _) = arrays("train"), arrays("val"), arrays("test")
    settings = FitSettings(model="signal_cnn", epochs=args.epochs, learning_rate=args.learning_rate,
                           patience=args.patience, repeats=args.repeats, seed=seed,
                           monitor=NETWORK_RECIPES["signal_cnn"]["monitor"])  # fmt: skip
    config = PreprocessConfig(view="signals")
    run_dir = args.runs / f"seed{seed}" / name / "signal_cnn"
    if args.reuse and (run_dir / "model.keras").is_file():
        epochs_run = json.loads((run_dir / "run.json").read_text())["epochs_run"]
    else:
        epochs_run = fit_model(settings, config, train, val, test, run_dir, split_file).epochs_run
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    majority = int(np.bincount(y_all).argmax())

    def probabilities(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """A scan whose layout was not found: the training split's majority class."""
        p = np.zeros((len(x), len(LABELS)))
        p[:, majority] = 1.0
        if ok.any():
            p[ok] = predict_probabilities(model, SplitArrays(x[ok], np.zeros(int(ok.sum()), int), []))
        return p

    val_f1 = compute_metrics(val.labels, probabilities(val.images, np.ones(len(val.labels), bool)).argmax(1)).macro_f1
    rate_only = _rate_only(rate_train, train.labels)
    tests = split.records_for("test")
    traces = _traces_probabilities(args.fuse_with / f"traces-{name}" / "layouts.json") if args.fuse_with else None
    weights: dict[str, float] = {}
    if traces is not None and args.favour:
        # The fused operating point, chosen on this split's validation scans as `ecg-fuse --favour` does.
        from train.calibration import favour_label

        val_records = split.records_for("val")
        x, _, ok, y_val = _arrays(store, val_records, AS_SCANNED)
        val_traces = json.loads((args.fuse_with / f"traces-{name}" / "val.json").read_text())
        by_path = {Path(p).as_posix(): q for p, q in zip(val_traces["paths"], val_traces["probabilities"])}
        fused_val = (probabilities(x, ok) + np.array([by_path[Path(r.path).as_posix()] for r in val_records])) / 2
        weights = favour_label(fused_val, y_val, args.favour)
    rows = []
    favoured = FAVOURED.format(label=args.favour) if args.favour else None
    fused = ([FUSED] + ([favoured] if favoured else [])) if traces is not None else []
    for direction in [DIRECTION] + fused:
        favour = args.favour if direction == favoured else None
        view = "signals" if direction == DIRECTION else fused_view(["signals", "traces"], favour)
        row = {"direction": f"{direction}, seed {seed}", "view": view,
               "split": name, "seed": seed, "val_macro_f1": val_f1, "epochs_run": epochs_run, "macro_f1": {},
               "accuracy": {}, "recall": {}, "failures": {}, "same_as_rate_only": {}}  # fmt: skip
        for layout in LAYOUTS:
            x, rate, ok, y = _arrays(store, tests, layout)
            p = probabilities(x, ok)
            if direction != DIRECTION:
                p = (p + np.stack([traces[layout][r.path] for r in tests])) / 2
                p = apply_label_weights(p, weights) if direction == favoured else p
            pred = p.argmax(1)
            m = compute_metrics(y, pred)
            row["macro_f1"][layout] = m.macro_f1
            row["accuracy"][layout] = m.accuracy
            row["recall"][layout] = m.recall
            row["failures"][layout] = int((~ok).sum())
            row["same_as_rate_only"][layout] = float(np.mean(pred == rate_only(rate)))
        row["n_test"] = len(tests)
        if direction == favoured:
            row["label_weights"] = weights
        other = np.mean([row["macro_f1"][n] for n in OTHER_LAYOUTS])
        print(f"{name}, {direction}, seed {seed}: val {val_f1:.3f} ({epochs_run} epochs), "
              f"test 3x4 {row['macro_f1'][AS_SCANNED]:.3f}, other layouts {other:.3f}", flush=True)  # fmt: skip
        rows.append(row)
    return rows


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return path.as_posix()


def _traces_probabilities(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """layout -> scan path -> probabilities, from `ecg-train evaluate --layout all`'s output."""
    if not path.is_file():
        raise SystemExit(f"{path} missing: run benchmarks/generalization.py --views traces signals first")
    return {
        r["layout"]: {Path(p).as_posix(): np.array(q) for p, q in zip(r["paths"], r["probabilities"])}
        for r in json.loads(path.read_text())
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_split_arguments(parser, "signal", "signals.npz")
    recipe = NETWORK_RECIPES["signal_cnn"]  # `ecg-train fit --model signal_cnn`'s, the shipped model's
    parser.add_argument("--epochs", type=int, default=recipe["epochs"], help="at least 1")
    parser.add_argument("--repeats", type=int, default=recipe["repeats"], help="augmented passes per epoch")
    parser.add_argument("--patience", type=int, default=recipe["patience"], help="early stopping on val. macro-F1")
    parser.add_argument("--learning-rate", type=float, default=recipe["learning_rate"])
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[42, 0, 1], help="each split trained once per seed (the first shipped)"
    )
    runs_help = "run folders, one per seed and split (RUNS/seedS/SPLIT/signal_cnn, as `ecg-train fit` writes them)"
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "signal_direction", help=runs_help)
    parser.add_argument("--reuse", action="store_true", help="score run folders already in --runs, not retrain")
    parser.add_argument(
        "--fuse-with", type=Path, default=None,
        help="runs of benchmarks/generalization.py --views traces ...: also score the average with the traces model",
    )  # fmt: skip
    parser.add_argument(
        "--favour", default=None,
        help="with --fuse-with: weight this label (e.g. mi) in the fused rows as far as each split's validation "
             "macro-F1 gains, as `ecg-fuse --favour` does for a shipped card",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=HERE / "signal_direction")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.favour is not None:
        if args.favour not in LABEL_KEYS:
            parser.error(f"--favour {args.favour}: one of {', '.join(LABEL_KEYS)}")
        if args.fuse_with is None:
            parser.error("--favour weights the fused rows: give --fuse-with too")
        missing = [p for p in sorted(args.fuse_with.glob("traces-*")) if not (p / "val.json").is_file()]
        if missing or not any(args.fuse_with.glob("traces-*")):
            parser.error(f"--favour needs each split's validation probabilities (val.json, written by "
                         f"benchmarks/four_networks.py report) in {args.fuse_with}: missing in {missing}")  # fmt: skip
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    split_files, split_check = make_splits(args)
    splits = {name: DataSplit.load(path) for name, path in split_files}
    everything = sorted({r.path for s in splits.values() for r in s.records})
    tests = sorted({r.path for s in splits.values() for r in s.records_for("test")})
    tasks = [(rel, AS_SCANNED) for rel in everything] + [(rel, layout) for layout in OTHER_LAYOUTS for rel in tests]
    store = read_signals(args.data, tasks, args.cache or args.work / "signals.npz", args.jobs)
    rows = [
        row for seed in args.seeds for name, path in split_files for row in fit_split(store, splits[name], path, name,
                                                                                      seed, args)
    ]  # fmt: skip
    # Day folds swing by several points between seeds of one recipe: every seed gets its row, and
    # the direction's row is the mean over all of them (folds x seeds).
    favoured = FAVOURED.format(label=args.favour) if args.favour else None
    everyone = [
        {**r, "direction": f"{d}, {len(args.seeds)} seeds"}
        for d in (DIRECTION, FUSED) + ((favoured,) if favoured else ())
        for r in rows
        if r["direction"].startswith(d + ", seed")
    ]
    own = [r for r in rows if r["direction"].startswith(DIRECTION + ", seed")]
    reference_rows = []
    for file, directions in REFERENCE_DIRECTIONS.items():
        path = HERE / file
        if path.is_file():
            reference_rows += [
                {**r, "direction": f"{r['direction']} ({file})"}
                for r in json.loads(path.read_text())["rows"]
                if r["direction"] in directions and r["split"] in splits
            ]
    days = [r for r in own if r["split"].startswith("day")]
    leaning = float(np.mean([np.mean(list(r["same_as_rate_only"].values())) for r in days])) if days else float("nan")
    recall = {
        label.short_name: float(np.mean([r["recall"][AS_SCANNED][k] for r in days])) if days else float("nan")
        for k, label in enumerate(LABELS)
    }
    failures = {n: sum(r["failures"][n] for r in own if r["seed"] == args.seeds[0]) for n in LAYOUTS}
    def fused_recall_line(prefix: str, what: str) -> str:
        fused_days = [r for r in rows if r["direction"].startswith(prefix) and r["split"].startswith("day")]
        if not fused_days:
            return ""
        leaning_fused = np.mean([np.mean(list(r["same_as_rate_only"].values())) for r in fused_days])
        recalls = ", ".join(
            f"{label.short_name} {np.mean([r['recall'][AS_SCANNED][k] for r in fused_days]):.2f}"
            for k, label in enumerate(LABELS)
        )
        return f"{what}, day-fold recall, 3x4: {recalls}; same answer as rate-only on {leaning_fused:.0%}. "

    source = _relative(args.fuse_with) if args.fuse_with else ""
    fused_recall = fused_recall_line(FUSED, f"Fused with the traces model of {source}")
    if args.favour:
        fused_recall += fused_recall_line(favoured, f"The same, {args.favour} favoured")
    machine = describe()
    lines = [
        "Macro-F1 on the test splits of the generalization protocol (same splits and layouts as "
        "benchmarks/generalization.py and measurement_direction.py). *Day folds*: whole acquisition days "
        "training never saw, mean +/- SD over folds (over folds and seeds in the seeds row); *other layouts*: the "
        "same test scans re-laid out. The plain split's model of the first seed is the one shipped.",
        "",
        *table(everyone + rows + reference_rows),
        "",
        "Per layout, mean over day folds:",
        "",
        *layout_table(everyone + rows + reference_rows),
        "",
        f"Day-fold recall, 3x4, mean over folds and seeds: {', '.join(f'{k} {v:.2f}' for k, v in recall.items())}. "
        f"Same answer as a rate-only classifier on {leaning:.0%} of the day-fold test scans (all layouts). "
        f"{fused_recall}"
        f"Epochs run (early stopping on validation macro-F1): {', '.join(str(r['epochs_run']) for r in own)} of "
        f"{args.epochs}, {args.repeats} passes each. Plain split: {split_check}. "
        "Layout not found (majority class given), per layout: "
        + ", ".join(f"{n} {failures[n]}" for n in LAYOUTS)
        + " over all splits.",
        summary(machine),
        f"Run time: {(time.perf_counter() - start) / 60:.1f} min.",
    ]
    report = {"machine": machine, "epochs": args.epochs, "seeds": args.seeds, "rows": rows}
    report["rate_only_agreement"] = leaning
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(
        "# Signal direction (1-D CNN on the digitized leads)\n\n"
        "Written by `python benchmarks/signal_direction.py --data DATA"
        + (f" --reuse --fuse-with {_relative(args.fuse_with)}" if args.fuse_with else "")
        + (f" --favour {args.favour}" if args.favour else "")
        + "`.\n\n" + "\n".join(lines) + "\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
