"""The "is this an ECG printout?" gate: false rejection on ECG scans, false acceptance on others.

    python benchmarks/ecg_gate.py --data DATA

ECGs: every image of the shared data set (and its full-resolution originals), phone-photo
transforms of the test split, and synthetic 6-row x 2-column re-layouts of test scans, with and
without the grid. Non-ECGs: the sample images scikit-image ships, and generated blank pages, text
pages and ruled forms. Writes benchmarks/ecg_gate.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from machine import describe, summary  # noqa: E402
from phone_photos import TRANSFORMS  # noqa: E402

from edge.classifier import EcgClassifier  # noqa: E402
from edge.gate import GateConfig, check_ecg  # noqa: E402
from edge.preprocess import decode_image  # noqa: E402
from edge.resources import default_model_path  # noqa: E402
from train.dataset import DataSplit  # noqa: E402
from train.relayout import OTHER_LAYOUTS  # noqa: E402

SKIMAGE_SAMPLES = (
    "astronaut brick camera chelsea cell checkerboard clock coffee coins colorwheel grass gravel horse "
    "hubble_deep_field immunohistochemistry logo microaneurysms moon page retina rocket shepp_logan_phantom "
    "text binary_blobs"
).split()


def generated_pages() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    pages = {"blank page": np.full((1572, 2213, 3), 255, np.uint8)}
    text = pages["blank page"].copy()
    words = "patient report summary the of and heart rate normal findings date clinic".split()
    for y in range(80, 1500, 45):
        line = " ".join(rng.choice(words, 12))
        cv2.putText(text, line, (60, y), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (20, 20, 20), 2)
    pages["text page"] = text
    form = pages["blank page"].copy()
    for y in range(100, 1500, 70):
        cv2.line(form, (60, y), (2150, y), (0, 0, 0), 2)
    for x in (60, 700, 1400, 2150):
        cv2.line(form, (x, 100), (x, 1430), (0, 0, 0), 2)
    pages["ruled form"] = form
    pages["grey photo-like noise"] = rng.integers(0, 255, (800, 1100, 3), dtype=np.uint8)
    return pages


def skimage_images() -> dict[str, np.ndarray]:
    import skimage.data

    images = {}
    for name in SKIMAGE_SAMPLES:
        try:
            image = np.asarray(getattr(skimage.data, name)())
        except Exception:  # some samples need a download this machine cannot make
            continue
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        elif image.dtype != np.uint8:
            image = (255 * (image - image.min()) / (np.ptp(image) + 1e-9)).astype(np.uint8)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        images[f"scikit-image {name}"] = np.ascontiguousarray(image[..., :3][..., ::-1])
    return images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the data set's images/ folder")
    parser.add_argument("--split-file", type=Path, default=HERE / "splits" / "grouped_seed42.json")
    parser.add_argument("--out", type=Path, default=HERE / "ecg_gate")
    args = parser.parse_args()
    config = GateConfig()
    classifier = EcgClassifier.create_from_model_path(default_model_path())
    ecg_groups: dict[str, list[float]] = {}
    refused_groups: dict[str, list[bool]] = {}

    def ecg(group: str, image: np.ndarray) -> None:
        # The classifier runs the gate (GateConfig defaults) and keeps its trace coverage; what a
        # user gets also refuses pages whose lead rows the default model cannot find.
        result = classifier.classify(image)
        ecg_groups.setdefault(group, []).append(result.gate.trace_widths)
        refused_groups.setdefault(group, []).append(not result.is_ecg)

    for path in sorted(args.data.rglob("*.jpg")) + sorted((args.data.parent / "fullres").rglob("*.jpg")):
        ecg("shared data set, every image", decode_image(path))
    test = [decode_image(args.data / r.path) for r in DataSplit.load(args.split_file).records_for("test")]
    for name, transform in TRANSFORMS.items():
        if name != "none":
            for scan in test:
                ecg(f"test split, {name}", transform(scan))
    for layout in OTHER_LAYOUTS.values():
        for scan in test:
            ecg(f"test split, re-laid out: {layout.description}", layout.make(scan))
    others = {**skimage_images(), **generated_pages()}
    accepted = {name: check_ecg(image, config).is_ecg for name, image in others.items()}
    labelled = {name: classifier.classify(image).is_ecg for name, image in others.items()}
    rows = [
        {
            "set": group,
            "images": len(values),
            "rejected": int(sum(v < config.min_trace_widths for v in values)),
            "refused_by_default_model": int(sum(refused_groups[group])),
            "min_trace_widths": float(min(values)),
        }
        for group, values in ecg_groups.items()
    ]

    def names(flags: dict[str, bool]) -> str:
        return f" ({', '.join(n for n, a in flags.items() if a)})" if any(flags.values()) else ""

    lines = [
        "| ECG images | images | rejected by the gate (false rejection) | refused by the default model "
        "(gate, or lead rows not found) | lowest trace coverage |",
        "|---|---|---|---|---|",
        *[
            f"| {r['set']} | {r['images']} | {r['rejected']} | {r['refused_by_default_model']} "
            f"| {r['min_trace_widths']:.2f} |"
            for r in rows
        ],
        "",
        f"Non-ECG images accepted by the gate (false acceptance): {sum(accepted.values())} of {len(accepted)}"
        + names(accepted)
        + f"; given a cardiac label by the default model `{classifier.card.name}`: {sum(labelled.values())} of "
        f"{len(labelled)}"
        + names(labelled)
        + f". Gate threshold: trace coverage >= {config.min_trace_widths} page widths and >= "
        f"{config.min_paper_fraction:.0%} paper.",
        "",
        "Non-ECG set: " + ", ".join(others) + ".",
        summary(describe()),
    ]
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {
                "config": config.to_dict(),
                "model": classifier.card.name,
                "ecg": rows,
                "non_ecg_accepted": accepted,
                "non_ecg_labelled": labelled,
            },
            indent=2,
        )
        + "\n"
    )
    args.out.with_suffix(".md").write_text(
        "# ECG gate\n\nWritten by `python benchmarks/ecg_gate.py --data DATA`.\n\n" + "\n".join(lines) + "\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
