"""Collect the results of `ecg-train fit` runs into benchmarks/training_results.{md,json}.

    python benchmarks/training_results.py RUN_DIR [RUN_DIR ...]

Grouped-protocol models report test-split metrics with bootstrap 95% intervals; paper-protocol
models (`<model>_paper/`) report their leaky validation accuracy beside them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import describe, summary  # noqa: E402


def collect(run_dirs: list[Path]) -> list[dict]:
    rows = []
    for run_dir in run_dirs:
        for metrics_file in sorted(run_dir.glob("*/metrics.json")):
            model_dir = metrics_file.parent
            metrics = json.loads(metrics_file.read_text())
            run = json.loads((model_dir / "run.json").read_text())
            protocol = "paper" if (model_dir / "protocol.json").is_file() else "grouped"
            rows.append(
                {
                    "run": str(model_dir),
                    "model": run["settings"]["model"],
                    "protocol": protocol,
                    "evaluated_on": metrics["split"],
                    "n_images": metrics["n_images"],
                    "accuracy": metrics["accuracy"],
                    "accuracy_ci": [metrics["ci"]["accuracy"]["low"], metrics["ci"]["accuracy"]["high"]],
                    "balanced_accuracy": metrics["balanced_accuracy"],
                    "macro_f1": metrics["macro_f1"],
                    "macro_f1_ci": [metrics["ci"]["macro_f1"]["low"], metrics["ci"]["macro_f1"]["high"]],
                    "parameters": run["parameters"],
                    "image_size": run["preprocessing"]["input_size"],
                    "epochs_run": run["epochs_run"],
                    "epochs_max": run["settings"]["epochs"],
                    "repeats": run["settings"]["repeats"],
                    "train_images_per_epoch": run["n_train"] * run["settings"]["repeats"],
                    "train_seconds": run["train_seconds"],
                    "weights": run["weights"],
                    "device": run["device"],
                }
            )
    return rows


def markdown(rows: list[dict], machine: dict) -> str:
    lines = [
        "| model | protocol | evaluated on | images | accuracy [95% CI] | balanced acc. | macro-F1 [95% CI] "
        "| parameters | input | epochs (max) | train images per epoch | train time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['protocol']} | {r['evaluated_on']} | {r['n_images']} "
            f"| {r['accuracy']:.3f} [{r['accuracy_ci'][0]:.3f}, {r['accuracy_ci'][1]:.3f}] "
            f"| {r['balanced_accuracy']:.3f} "
            f"| {r['macro_f1']:.3f} [{r['macro_f1_ci'][0]:.3f}, {r['macro_f1_ci'][1]:.3f}] "
            f"| {r['parameters']:,} | {r['image_size']} | {r['epochs_run']} ({r['epochs_max']}) "
            f"| {r['train_images_per_epoch']:,} | {r['train_seconds'] / 60:.1f} min |"
        )
    lines += [
        "",
        summary(machine),
        f"Training device: {rows[0]['device'] if rows else '-'}. Weights: "
        + "; ".join(sorted({f"{r['model']}: {r['weights']}" for r in rows}))
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    rows = collect([Path(a) for a in argv])
    if not rows:
        print("no <model>/metrics.json with run.json found", file=sys.stderr)
        return 1
    machine = describe()
    (HERE / "training_results.json").write_text(json.dumps({"machine": machine, "runs": rows}, indent=2) + "\n")
    table = markdown(rows, machine)
    (HERE / "training_results.md").write_text(
        "# Training results\n\nWritten by `benchmarks/training_results.py`.\n\n" + table
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
