"""The paper's four networks on the best image view (`traces`), at a budget that converges, on a GPU.

    python benchmarks/four_networks.py prepare --data DATA --out runs/four/arrays.npz   # here (CPU)
    KERAS_BACKEND=torch python benchmarks/four_networks.py train --arrays runs/four/arrays.npz \\
        --out /tmp/four --bundle OUT/four.tar.gz                                          # on the GPU machine
    python benchmarks/four_networks.py report RESULTS_DIR                                  # here

`prepare` preprocesses every scan once, through edge.preprocess (the one preprocessing path), into
compact arrays: all 491 distinct images as scanned, and the test images of each split re-laid out
in the five other layouts (train.relayout), with the plain split and the three day folds of the
generalization protocol (`ecg-train split`). Only these arrays travel to the GPU machine (no JPEGs).
`train` fits each network on each split with train.fit.fit_model (the same code as `ecg-train
fit`), scores the test split in every layout, and bundles the small result files (metrics, run
settings, history, layout scores); it stops starting new fits when --budget-s is spent. `report`
writes benchmarks/four_networks.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

NETWORKS = ("custom_cnn", "optimized_cnn", "mobilenet_v2", "resnet50")
SPLITS = {"plain": ("image", 0), "day-fold0": ("day", 0), "day-fold1": ("day", 1), "day-fold2": ("day", 2)}


def prepare(args: argparse.Namespace) -> int:
    from edge.labels import LABEL_KEYS
    from edge.preprocess import PreprocessConfig
    from train.arrays import load_arrays
    from train.dataset import DataSplit
    from train.relayout import AS_SCANNED, LAYOUTS

    work = args.out.parent
    work.mkdir(parents=True, exist_ok=True)
    splits = {}
    for name, (group_by, fold) in SPLITS.items():
        path = work / f"split-{name}.json"
        if not path.is_file():
            subprocess.run([sys.executable, "-m", "train.cli", "split", "-d", str(args.data), "-o", str(path),
                            "--group-by", group_by, "--fold", str(fold)], check=True, cwd=REPO)  # fmt: skip
        splits[name] = DataSplit.load(path)
    records = sorted({r.path: r for s in splits.values() for r in s.records_for("train") + s.records_for("val")
                      + s.records_for("test")}.values(), key=lambda r: r.path)  # fmt: skip
    index = {r.path: i for i, r in enumerate(records)}
    config = replace(PreprocessConfig(), input_size=args.image_size, view="traces")
    arrays = {"config": np.array(json.dumps(config.to_dict())), "paths": np.array([r.path for r in records])}
    arrays["labels"] = np.array([LABEL_KEYS.index(r.label) for r in records], dtype=np.int64)
    arrays[f"images_{AS_SCANNED}"] = load_arrays(records, args.data, config, "as scanned").images
    for name, split in splits.items():
        for side in ("train", "val", "test"):
            arrays[f"{name}_{side}"] = np.array([index[r.path] for r in split.records_for(side)], dtype=np.int64)
    tested = sorted({i for name in splits for i in arrays[f"{name}_test"]})
    arrays["tested"] = np.array(tested, dtype=np.int64)
    for layout_name, layout in LAYOUTS.items():
        if layout_name == AS_SCANNED:
            continue
        subset = [records[i] for i in tested]
        arrays[f"images_{layout_name}"] = load_arrays(subset, args.data, config, layout_name, layout.make).images
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB): {len(records)} scans, "
          f"{len(tested)} tested in {len(LAYOUTS) - 1} other layouts")  # fmt: skip
    return 0


def train(args: argparse.Namespace) -> int:
    if args.jobs > 1:
        return _train_in_parallel(args)
    import cv2

    cv2.setNumThreads(args.threads)  # several fits share the machine's cores with --jobs
    from edge.preprocess import PreprocessConfig
    from train.arrays import SplitArrays
    from train.fit import FitSettings, fit_model, predict_probabilities
    from train.metrics import compute_metrics
    from train.relayout import AS_SCANNED, LAYOUTS

    data = np.load(args.arrays)
    config = PreprocessConfig.from_dict(json.loads(str(data["config"])))
    labels, paths = data["labels"], data["paths"]
    tested = {int(i): k for k, i in enumerate(data["tested"])}

    def subset(indices: np.ndarray, layout: str = AS_SCANNED) -> SplitArrays:
        if layout == AS_SCANNED:
            images = data[f"images_{AS_SCANNED}"][indices]
        else:
            images = data[f"images_{layout}"][[tested[int(i)] for i in indices]]
        return SplitArrays(images, labels[indices], [str(paths[i]) for i in indices])

    start = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    done = []
    for split in args.splits:
        for net in args.nets:
            if time.monotonic() - start > args.budget_s:
                print(f"budget spent: skipping {net} on {split}", flush=True)
                continue
            out_dir = args.out / split / net
            train_arr, val_arr, test_arr = (subset(data[f"{split}_{side}"]) for side in ("train", "val", "test"))
            settings = FitSettings(model=net, epochs=args.epochs, batch_size=args.batch_size, patience=args.patience,
                                   repeats=args.repeats, learning_rate=args.learning_rate)  # fmt: skip
            t0 = time.monotonic()
            split_file = args.arrays.parent / f"split-{split}.json"  # written by `prepare` beside the arrays
            result = fit_model(settings, config, train_arr, val_arr, test_arr, out_dir, split_file)
            import keras

            model = keras.models.load_model(result.model_path, compile=False)
            layouts = {}
            for layout in LAYOUTS:
                arr = subset(data[f"{split}_test"], layout)
                probabilities = predict_probabilities(model, arr)
                predicted = np.argmax(probabilities, axis=1)
                m = compute_metrics(arr.labels, predicted)
                # Probabilities and paths let benchmarks/signal_direction.py fuse these models with the signal model.
                layouts[layout] = {"macro_f1": m.macro_f1, "accuracy": m.accuracy, "recall": m.recall,
                                   "y_pred": predicted.tolist(), "paths": arr.paths,
                                   "probabilities": probabilities.astype(float).round(5).tolist()}  # fmt: skip
            (out_dir / "layouts.json").write_text(json.dumps(layouts) + "\n")
            val_p = predict_probabilities(model, val_arr)
            val_record = {"paths": val_arr.paths, "y_true": val_arr.labels.tolist(),
                          "probabilities": val_p.astype(float).round(5).tolist()}  # fmt: skip
            (out_dir / "val.json").write_text(json.dumps(val_record) + "\n")
            if f"{split}/{net}" in args.keep:
                model.save(out_dir / "model.keras")  # loaded without its optimizer: the weights alone
            else:
                result.model_path.unlink()  # large (ResNet50: ~95 MB) and not shipped
            done.append(f"{split}/{net}")
            print(f"{split} {net}: {result.epochs_run} epochs, {time.monotonic() - t0:.0f} s, test macro-F1 "
                  f"{layouts[AS_SCANNED]['macro_f1']:.3f}", flush=True)  # fmt: skip
            _bundle(args.out, args.bundle)
    print(f"fitted {len(done)}: {', '.join(done)} in {time.monotonic() - start:.0f} s")
    return 0


# Slowest first, so that the long fits start at once (seconds per fit on an H200, one at a time: ~190, ~170, ~40, ~40).
_SLOWEST_FIRST = ("mobilenet_v2", "resnet50", "optimized_cnn", "custom_cnn")


def _train_in_parallel(args: argparse.Namespace) -> int:
    """One process per (split, network), ``--jobs`` at a time: a small network on a big GPU is bound by
    Python's per-step work, so fits side by side finish sooner than one after another."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    pairs = [(s, n) for n in _SLOWEST_FIRST if n in args.nets for s in args.splits]
    start = time.monotonic()
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    args.out.mkdir(parents=True, exist_ok=True)

    def one(pair: tuple[str, str]) -> int:
        split, net = pair
        if time.monotonic() - start > args.budget_s:
            print(f"budget spent: skipping {net} on {split}", flush=True)
            return 0
        command = [sys.executable, __file__, "train", "--arrays", str(args.arrays), "--out", str(args.out),
                   "--nets", net, "--splits", split, "--epochs", str(args.epochs), "--patience", str(args.patience),
                   "--repeats", str(args.repeats), "--batch-size", str(args.batch_size),
                   "--learning-rate", str(args.learning_rate), "--threads", str(threads),
                   "--keep", *args.keep]  # fmt: skip
        log = args.out / f"log-{split}-{net}.txt"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        with log.open("w") as f:
            rc = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
        tail = log.read_text().strip().splitlines()[-1:] if log.is_file() else []
        print(f"[{time.monotonic() - start:.0f} s] {split} {net}: exit {rc}; {' '.join(tail)[-200:]}", flush=True)
        return rc

    with ThreadPoolExecutor(args.jobs) as pool:
        codes = list(pool.map(one, pairs))
    _bundle(args.out, args.bundle)
    return next((c for c in codes if c), 0)  # a fit killed by a signal (negative code) counts too


def _bundle(results: Path, bundle: Path | None) -> None:
    if bundle is None:
        return
    bundle.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(bundle, "w:gz") as tar:
        for path in sorted(results.rglob("*")):
            if path.is_file() and path.suffix in (".json", ".csv", ".txt", ".keras"):
                tar.add(path, arcname=str(path.relative_to(results)))


def report(args: argparse.Namespace) -> int:
    from machine import summary  # noqa: F401  (kept for the footer line's format)

    from train.relayout import AS_SCANNED, OTHER_LAYOUTS

    rows = []
    for metrics_file in sorted(args.results.glob("*/*/metrics.json")):
        if metrics_file.parent.parent.name not in SPLITS:
            continue
        split, net = metrics_file.parent.parent.name, metrics_file.parent.name
        metrics = json.loads(metrics_file.read_text())
        run = json.loads((metrics_file.parent / "run.json").read_text())
        layouts = json.loads((metrics_file.parent / "layouts.json").read_text())
        rows.append({
            "split": split, "network": net, "n_test": metrics["n_images"], "accuracy": metrics["accuracy"],
            "accuracy_ci": [metrics["ci"]["accuracy"]["low"], metrics["ci"]["accuracy"]["high"]],
            "balanced_accuracy": metrics["balanced_accuracy"], "macro_f1": metrics["macro_f1"],
            "macro_f1_ci": [metrics["ci"]["macro_f1"]["low"], metrics["ci"]["macro_f1"]["high"]],
            "recall": metrics["recall"], "labels": metrics["labels"],
            "layout_macro_f1": {k: v["macro_f1"] for k, v in layouts.items()},
            "parameters": run["parameters"], "epochs_run": run["epochs_run"], "epochs_max": run["settings"]["epochs"],
            "repeats": run["settings"]["repeats"], "train_seconds": run["train_seconds"], "device": run["device"],
            "image_size": run["preprocessing"]["input_size"], "view": run["preprocessing"]["view"],
        })  # fmt: skip
    if not rows:
        print(f"no results under {args.results}", file=sys.stderr)
        return 1
    lines = [
        "| network | split | test images | accuracy [95% CI] | balanced acc. | macro-F1 [95% CI] | other layouts "
        "(mean of 5) | MI recall | history-of-MI recall | parameters | epochs (max) | train time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        other = np.mean([r["layout_macro_f1"][k] for k in OTHER_LAYOUTS])
        recall = dict(zip(r["labels"], r["recall"]))
        lines.append(
            f"| {r['network']} | {r['split']} | {r['n_test']} | {r['accuracy']:.3f} [{r['accuracy_ci'][0]:.3f}, "
            f"{r['accuracy_ci'][1]:.3f}] | {r['balanced_accuracy']:.3f} | {r['macro_f1']:.3f} "
            f"[{r['macro_f1_ci'][0]:.3f}, {r['macro_f1_ci'][1]:.3f}] | {other:.3f} | {recall['mi']:.2f} | "
            f"{recall['history_of_mi']:.2f} | {r['parameters']:,} | {r['epochs_run']} ({r['epochs_max']}) | "
            f"{r['train_seconds'] / 60:.1f} min |"
        )
    summary_lines = ["", "Day folds (mean +/- SD over the folds run), macro-F1:", "",
                     "| network | folds | as scanned | other layouts (mean of 5) |", "|---|---|---|---|"]  # fmt: skip
    for net in NETWORKS:
        folds = [r for r in rows if r["network"] == net and r["split"].startswith("day")]
        if not folds:
            continue
        own = [r["layout_macro_f1"][AS_SCANNED] for r in folds]
        other = [np.mean([r["layout_macro_f1"][k] for k in OTHER_LAYOUTS]) for r in folds]
        summary_lines.append(f"| {net} | {len(folds)} | {np.mean(own):.3f} +/- {np.std(own):.3f} | "
                             f"{np.mean(other):.3f} +/- {np.std(other):.3f} |")  # fmt: skip
    device = rows[0]["device"]
    text = "\n".join(lines + summary_lines) + (
        f"\n\nView `{rows[0]['view']}` at {rows[0]['image_size']} px, trained from scratch; {device}.\n"
    )
    _export_for_fusion(args.results)
    (HERE / "four_networks.json").write_text(json.dumps(rows, indent=1) + "\n")
    (HERE / "four_networks.md").write_text(
        "# The four networks on the traces view\n\nWritten by `python benchmarks/four_networks.py report`.\n\n" + text
    )
    print(text)
    return 0


# benchmarks/signal_direction.py's names for this script's splits.
_FUSION_SPLIT_NAMES = {"plain": "image-fold0", **{f"day-fold{k}": f"day-fold{k}" for k in range(3)}}


def _export_for_fusion(results: Path) -> None:
    """RESULTS/fuse-NET/traces-SPLIT/layouts.json: each network's test probabilities in every layout,
    in the form `benchmarks/signal_direction.py --fuse-with RESULTS/fuse-NET` reads, and val.json
    beside it (its validation probabilities, for `--favour`)."""
    for layouts_file in sorted(results.glob("*/*/layouts.json")):
        split, net = layouts_file.parent.parent.name, layouts_file.parent.name
        layouts = json.loads(layouts_file.read_text())
        if split not in _FUSION_SPLIT_NAMES or "probabilities" not in next(iter(layouts.values())):
            continue
        out = results / f"fuse-{net}" / f"traces-{_FUSION_SPLIT_NAMES[split]}" / "layouts.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        rows = [{"layout": k, "paths": v["paths"], "probabilities": v["probabilities"]} for k, v in layouts.items()]
        out.write_text(json.dumps(rows) + "\n")
        if (layouts_file.parent / "val.json").is_file():
            (out.parent / "val.json").write_text((layouts_file.parent / "val.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ecg-cardiac-928" / "images")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "four" / "arrays.npz")
    p.add_argument("--image-size", type=int, default=128)
    t = sub.add_parser("train")
    t.add_argument("--arrays", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--bundle", type=Path, help="tar.gz of the result files, rewritten after each fit")
    t.add_argument("--nets", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    t.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--patience", type=int, default=6)
    t.add_argument("--repeats", type=int, default=5)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--learning-rate", type=float, default=1e-4)
    t.add_argument("--budget-s", type=float, default=1e9, help="start no new fit after this many seconds")
    t.add_argument("--jobs", type=int, default=1, help="fits run side by side, one process each")
    t.add_argument("--threads", type=int, default=1, help="OpenCV threads of one fit")
    t.add_argument("--keep", nargs="*", default=[], metavar="SPLIT/NET", help="fits whose model.keras is kept")
    r = sub.add_parser("report")
    r.add_argument("results", type=Path)
    args = parser.parse_args()
    return {"prepare": prepare, "train": train, "report": report}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
