"""Accuracy of a model on test-split scans transformed as phone photos of printouts would be.

    python benchmarks/phone_photos.py --data DATA [--model models/X.tflite] [--split-file FILE]

Each transform (albumentations, fixed seed) is applied to the decoded scan before the one
preprocessing function; writes benchmarks/phone_photos.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import albumentations as A
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from machine import describe, summary  # noqa: E402

from edge.classifier import EcgClassifier, default_model_path  # noqa: E402
from edge.labels import LABEL_KEYS  # noqa: E402
from edge.preprocess import decode_image  # noqa: E402
from train.dataset import DataSplit  # noqa: E402
from train.metrics import compute_metrics  # noqa: E402

WHITE = (255, 255, 255)


def _scale(factor: float):
    def apply(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)

    return apply


def _album(transform: A.BasicTransform):
    compose = A.Compose([transform], seed=7)
    return lambda image: compose(image=image)["image"]


TRANSFORMS = {
    "none": lambda image: image,
    "perspective (scale 0.05-0.10)": _album(A.Perspective(scale=(0.05, 0.10), fill=WHITE, p=1)),
    "rotation up to 10 degrees": _album(A.Rotate(limit=10, border_mode=cv2.BORDER_CONSTANT, fill=WHITE, p=1)),
    "blur (Gaussian, 5-9 px)": _album(A.GaussianBlur(blur_limit=(5, 9), p=1)),
    "motion blur (7-13 px)": _album(A.MotionBlur(blur_limit=(7, 13), p=1)),
    "uneven lighting": _album(A.Illumination(mode="linear", intensity_range=(0.15, 0.2), p=1)),
    "shadow": _album(A.RandomShadow(shadow_roi=(0, 0, 1, 1), num_shadows_limit=(1, 2), p=1)),
    "JPEG quality 30": _album(A.ImageCompression(quality_range=(30, 30), p=1)),
    "half resolution": _scale(0.5),
    "quarter resolution": _scale(0.25),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--split-file", type=Path, default=HERE / "splits" / "grouped_seed42.json")
    parser.add_argument("--out", type=Path, default=HERE / "phone_photos")
    args = parser.parse_args()
    model = args.model or default_model_path()
    classifier = EcgClassifier.create_from_model_path(model)
    records = DataSplit.load(args.split_file).records_for("test")
    scans = [decode_image(args.data / r.path) for r in records]
    truth = np.array([LABEL_KEYS.index(r.label) for r in records])
    rows = []
    page_model = classifier.card.preprocessing.view == "page"
    for name, transform in TRANSFORMS.items():
        results = [classifier.classify(transform(scan)) for scan in scans]
        predicted = np.array([LABEL_KEYS.index(r.label.key) for r in results])
        answered = np.array([r.is_ecg for r in results])  # passed the gate, leads found
        correct = predicted == truth
        metrics = compute_metrics(truth[answered], predicted[answered]) if answered.any() else None
        rows.append(
            {
                "transform": name,
                "answered": float(answered.mean()),
                "accuracy": metrics.accuracy if metrics else float("nan"),
                "macro_f1": metrics.macro_f1 if metrics else float("nan"),
                "accuracy_refusals_wrong": float((correct & answered).mean()),
                "input_found": float(np.mean([r.grid_found if page_model else r.layout is not None for r in results])),
                "n_images": len(results),
            }
        )
        print(f"{name}: answered {answered.mean():.0%}, accuracy on those {rows[-1]['accuracy']:.3f}", flush=True)
    machine = describe()
    args.out.with_suffix(".json").write_text(
        json.dumps({"model": str(model), "machine": machine, "rows": rows}, indent=2) + "\n"
    )
    found = "grid found" if page_model else "12 leads found"
    lines = [
        f"| transform | answered | accuracy on answered | macro-F1 on answered | accuracy, refusals counted wrong "
        f"| {found} |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['transform']} | {r['answered']:.0%} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} "
            f"| {r['accuracy_refusals_wrong']:.3f} | {r['input_found']:.0%} |"
            for r in rows
        ],
        "",
        f"Model `{model.name}` on the {rows[0]['n_images']} test-split scans (half-resolution copies of the "
        "originals), each transform applied to the decoded scan before preprocessing. *Answered*: given a label "
        "(not refused by the ECG gate or, for lead-panel models, for leads not found).",
        summary(machine),
    ]
    args.out.with_suffix(".md").write_text(
        "# Phone-photo robustness\n\nWritten by `python benchmarks/phone_photos.py`.\n\n" + "\n".join(lines) + "\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
