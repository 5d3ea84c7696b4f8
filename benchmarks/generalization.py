"""The generalization protocol: every direction trained and evaluated through `ecg-train` on
splits that mimic a clinic's next scans, and on synthetic printouts in other layouts.

    python benchmarks/generalization.py --data DATA [--folds 0 1 2] [--views page leads traces]
    python benchmarks/generalization.py --data DATA --views traces signals --runs runs/fusion --out benchmarks/fusion

Splits (made by `ecg-train split`):
- ``image``: the plain grouped split (identical files grouped), fold 0, as reported so far;
- ``day``: grouped by acquisition date read from the footer, test folds 0..K-1, so every test set
  is a set of days training never saw (the external scans were other days of the same hospital).

For each split and view, `ecg-train fit` trains the Custom CNN and `ecg-train evaluate --layout
all` scores its test split in six layouts (the scans as they are, no grid, and 6x2 re-layouts with
and without grid, rhythm strip and header text). Ensembles average the probabilities of views
trained on the same split. Steps whose output exists are skipped, so an interrupted run resumes.
Writes benchmarks/generalization.{md,json}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from machine import describe, summary  # noqa: E402

from train.metrics import compute_metrics  # noqa: E402
from train.relayout import AS_SCANNED, LAYOUTS, OTHER_LAYOUTS  # noqa: E402

DEFAULT_VIEWS = ("page", "leads", "traces")
# The network of a view other than the image views' Custom CNN (trained with --image-size, --epochs,
# --repeats): signal_cnn, with `ecg-train fit`'s own recipe for it (train.cli.NETWORK_RECIPES), as the
# default ships.
VIEW_NETWORKS = {"signals": "signal_cnn"}


def _run(args: list[str], log: Path) -> None:
    print("$", " ".join(args), flush=True)
    with log.open("a") as fh:
        result = subprocess.run(args, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(args)}; see {log}")


def train_and_evaluate(args: argparse.Namespace, split_name: str, group_by: str, fold: int, view: str) -> Path:
    work = args.runs
    split_file = work / f"split-{split_name}.json"
    log = work / "log.txt"
    train_cli = [sys.executable, "-m", "train.cli"]
    if not split_file.is_file():
        _run([*train_cli, "split", "-d", str(args.data), "-o", str(split_file), "--group-by", group_by,
              "--fold", str(fold)], log)  # fmt: skip
    run_dir = work / f"{view}-{split_name}"
    network = VIEW_NETWORKS.get(view, "custom_cnn")
    recipe = [] if view in VIEW_NETWORKS else ["--image-size", str(args.image_size), "--epochs", str(args.epochs),
                                               "--repeats", str(args.repeats)]  # fmt: skip
    model = run_dir / network / "model.keras"
    if not model.is_file():
        _run([*train_cli, "fit", "-d", str(args.data), "-o", str(run_dir), "--split", str(split_file),
              "--view", view, "--model", network, *recipe, "--seed", str(args.seed)], log)  # fmt: skip
    layouts = run_dir / "layouts.json"
    if not layouts.is_file():
        _run([*train_cli, "evaluate", str(model), "-d", str(args.data), "--layout", "all", "-o", str(layouts)], log)
    return layouts


def _macro_f1(y_true: list[int], probabilities: np.ndarray) -> float:
    return compute_metrics(np.array(y_true), np.argmax(probabilities, axis=1)).macro_f1


def collect(results: dict[tuple[str, str], Path], views: list[str], ensembles: list[tuple[str, ...]]) -> list[dict]:
    """One row per direction and split: macro-F1 per layout."""
    rows = []
    loaded = {key: json.loads(path.read_text()) for key, path in results.items()}
    splits = sorted({split for split, _ in results})
    directions = [(v,) for v in views] + ensembles
    for direction, split in itertools.product(directions, splits):
        if not all((split, v) in loaded for v in direction):
            continue
        reports = [{r["layout"]: r for r in loaded[(split, v)]} for v in direction]
        row = {"direction": " + ".join(direction), "split": split, "macro_f1": {}, "accuracy": {}}
        for layout in LAYOUTS:
            probs = np.mean([np.array(r[layout]["probabilities"]) for r in reports], axis=0)
            y_true = reports[0][layout]["y_true"]
            m = compute_metrics(np.array(y_true), np.argmax(probs, axis=1))
            row["macro_f1"][layout] = m.macro_f1
            row["accuracy"][layout] = m.accuracy
        row["n_test"] = len(reports[0][AS_SCANNED]["y_true"])
        rows.append(row)
    return rows


def table(rows: list[dict]) -> list[str]:
    """Mean macro-F1 (SD over day folds) per direction: plain split, day folds, other layouts."""
    directions = list(dict.fromkeys(r["direction"] for r in rows))
    other = list(OTHER_LAYOUTS)
    head = (
        "| direction | plain split, 3x4 | plain split, other layouts (mean of 5) | day folds, 3x4 "
        "| day folds, other layouts (mean of 5) | day folds, worst layout |"
    )
    lines = [head, "|---|---|---|---|---|---|"]
    for direction in directions:
        plain = [r for r in rows if r["direction"] == direction and r["split"].startswith("image")]
        days = [r for r in rows if r["direction"] == direction and r["split"].startswith("day")]
        plain_cells = (
            f"{plain[0]['macro_f1'][AS_SCANNED]:.3f} | {np.mean([plain[0]['macro_f1'][n] for n in other]):.3f}"
            if plain
            else "- | -"
        )
        if not days:
            lines.append(f"| {direction} | {plain_cells} | - | - | - |")
            continue
        own = [r["macro_f1"][AS_SCANNED] for r in days]
        others = [np.mean([r["macro_f1"][name] for name in other]) for r in days]
        per_layout = {name: np.mean([r["macro_f1"][name] for r in days]) for name in other}
        worst = min(per_layout, key=per_layout.get)
        lines.append(
            f"| {direction} | {plain_cells} | {np.mean(own):.3f} +/- {np.std(own):.3f} ({len(days)} folds) | "
            f"{np.mean(others):.3f} +/- {np.std(others):.3f} | {worst} {per_layout[worst]:.3f} |"
        )
    return lines


def layout_table(rows: list[dict]) -> list[str]:
    directions = list(dict.fromkeys(r["direction"] for r in rows))
    lines = ["| direction | " + " | ".join(LAYOUTS) + " |", "|---|" + "---|" * len(LAYOUTS)]
    for direction in directions:
        days = [r for r in rows if r["direction"] == direction and r["split"].startswith("day")]
        if days:
            cells = [f"{np.mean([r['macro_f1'][name] for r in days]):.3f}" for name in LAYOUTS]
            lines.append(f"| {direction} | " + " | ".join(cells) + " |")
    return lines


def figure(rows: list[dict], path: Path) -> None:
    """Mean day-fold macro-F1 per layout, one group of bars per direction trained on the folds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directions = [d for d in dict.fromkeys(r["direction"] for r in rows) if any(
        r["direction"] == d and r["split"].startswith("day") for r in rows)]  # fmt: skip
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(LAYOUTS)
    for k, layout in enumerate(LAYOUTS):
        means = [
            np.mean([r["macro_f1"][layout] for r in rows if r["direction"] == d and r["split"].startswith("day")])
            for d in directions
        ]
        ax.bar(np.arange(len(directions)) + k * width, means, width, label=layout)
    ax.set_xticks(np.arange(len(directions)) + 0.4 - width / 2, directions)
    ax.set_ylabel("macro-F1, mean over day folds")
    ax.set_ylim(0, 1)
    ax.legend(ncol=3, fontsize=8)
    ax.set_title("Test days never seen in training, as scanned and re-laid out")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _extra(args: argparse.Namespace) -> str:
    """The options a run was written with, beyond the defaults, for its title line."""
    extra = "" if list(args.views) == list(DEFAULT_VIEWS) else " --views " + " ".join(args.views)
    out = args.out.resolve()
    shown = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    return extra + ("" if out == HERE / "generalization" else f" --out {shown}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the data set's images/ folder")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "generalization")
    parser.add_argument("--views", nargs="+", default=list(DEFAULT_VIEWS))
    parser.add_argument("--folds", nargs="+", type=int, default=[0, 1, 2], help="day-grouped test folds (0-6)")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain image-grouped split")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--also",
        nargs="*",
        type=Path,
        default=[],
        help="models already trained on the plain split (RUN/<model>/model.keras): evaluated in every layout",
    )
    parser.add_argument("--out", type=Path, default=HERE / "generalization")
    args = parser.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)
    splits = ([] if args.no_plain else [("image-fold0", "image", 0)]) + [(f"day-fold{f}", "day", f) for f in args.folds]
    start = time.perf_counter()
    results = {}
    for (name, group_by, fold), view in itertools.product(splits, args.views):
        results[(name, view)] = train_and_evaluate(args, name, group_by, fold, view)
    ensembles = [tuple(c) for c in itertools.combinations([v for v in args.views if v != "page"], 2)]
    ensembles += [tuple(args.views)] if len(args.views) > 2 else []
    rows = collect(results, args.views, ensembles)
    for model in args.also:
        layouts = model.parent / "layouts.json"
        if not layouts.is_file():
            _run([sys.executable, "-m", "train.cli", "evaluate", str(model), "-d", str(args.data), "--layout", "all",
                  "-o", str(layouts)], args.runs / "log.txt")  # fmt: skip
        run = json.loads((model.parent / "run.json").read_text())
        direction = f"page, {run['settings']['model']} ({model.parent.parent.name}: {run['settings']['epochs']} epochs)"
        rows += collect({("image-fold0", direction): layouts}, [direction], [])
    settings = (
        f"Custom CNN, {args.image_size} px, {args.epochs} epochs x {args.repeats} augmented passes, seed {args.seed}, "
        "trained from scratch on this machine's CPU"
    )
    if "signals" in args.views:
        from train.cli import NETWORK_RECIPES

        settings += f"; signals: signal_cnn, {NETWORK_RECIPES['signal_cnn']}, seed {args.seed}"
    lines = [
        "Macro-F1 on test splits. *Plain split*: identical files grouped (the split used so far). *Day folds*: "
        "test sets of whole acquisition days (read from the footer) that training never saw, mean +/- SD over "
        "folds. *Other layouts*: the same test scans re-laid out by train.relayout (3x4 without grid; 6x2 with "
        "and without grid, rhythm strip, header text), which no training image shows.",
        "",
        *table(rows),
        "",
        "Per layout, mean over day folds:",
        "",
        *layout_table(rows),
        "",
        f"Settings: {settings}. Ensembles average the probabilities of models trained on the same split.",
        f"Run time {time.perf_counter() - start:.0f} s (steps already done are skipped).",
        summary(describe()),
    ]
    args.out.with_suffix(".json").write_text(
        json.dumps({"settings": settings, "splits": [s[0] for s in splits], "rows": rows}, indent=2) + "\n"
    )
    args.out.with_suffix(".md").write_text(
        f"# Generalization protocol\n\nWritten by `python benchmarks/generalization.py --data DATA{_extra(args)}`.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    figure(rows, REPO / "docs" / "figures" / f"{args.out.stem}.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
