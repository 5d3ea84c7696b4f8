"""Peak memory of classifying one file, from an ordinary scan up to the pixel limit.

    python benchmarks/memory.py

Each case runs `EcgClassifier.classify` on one file in a fresh Python process with the shipped
default model and reports that process's peak resident memory (ru_maxrss), so the figure is the
whole cost: interpreter, model, decode and preprocessing (VmHWM, Linux). Files over the limits are refused before
decoding. Writes benchmarks/memory.{md,json}.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from machine import describe, summary  # noqa: E402

from edge.preprocess import MAX_FILE_BYTES, MAX_PIXELS  # noqa: E402

# Peak resident memory from VmHWM: ru_maxrss survives exec on Linux and would include this
# script's own peak (it draws 100 MP pages).
PROBE = """
import sys
def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024

from edge.classifier import EcgClassifier
from edge.resources import default_model_path
from edge.preprocess import ImageDecodeError
classifier = EcgClassifier.create_from_model_path(default_model_path())
try:
    result = classifier.classify(sys.argv[1])
    outcome = result.label.key if result.is_ecg else "not an ECG: " + result.gate.reason
except ImageDecodeError as exc:
    outcome = "refused: " + str(exc).split(": ", 1)[1]
print(peak_mib(), outcome)
"""


def _page(width: int, height: int) -> np.ndarray:
    """An ECG-like page scaled up from a shipped sample (large but compressible)."""
    sample = cv2.imread(str(REPO / "samples" / "normal" / "Normal(108).jpg"))
    return cv2.resize(sample, (width, height), interpolation=cv2.INTER_NEAREST)


def cases(folder: Path) -> dict[str, Path]:
    files = {
        "half-resolution scan (1106x786 JPEG)": REPO / "samples" / "normal" / "Normal(108).jpg",
        "full-resolution scan (2213x1572 JPEG)": REPO / "samples" / "normal" / "Normal(2)-fullres.jpg",
    }
    side = int((MAX_PIXELS * 0.99) ** 0.5)
    for name, (w, h), suffix in (
        ("phone photo size (4000x3000 JPEG)", (4000, 3000), ".jpg"),
        (f"at the pixel limit ({side}x{side} PNG)", (side, side), ".png"),
        (f"at the pixel limit ({side}x{side} JPEG)", (side, side), ".jpg"),
    ):
        path = folder / f"{w}x{h}{suffix}"
        cv2.imwrite(str(path), _page(w, h))
        files[name] = path
    # What most users send: a 12 MP phone photo of the printout lying on a desk (train.scenes), whose
    # sheet is found and flattened before the rest.
    from train.scenes import SceneOptions, compose_scene

    scene = compose_scene(cv2.imread(str(REPO / "samples" / "normal" / "Normal(2)-fullres.jpg")), SceneOptions())
    path = folder / "desk-photo.jpg"
    cv2.imwrite(str(path), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    files["phone photo of the printout on a desk (4000x3000 JPEG)"] = path
    bomb = folder / "bomb.png"
    small = cv2.imencode(".png", np.full((8, 8, 3), 255, np.uint8))[1].tobytes()
    # The same tiny PNG with its header declaring 50000x50000 pixels.
    bomb.write_bytes(small[:16] + (50000).to_bytes(4, "big") * 2 + small[24:])
    files["decompression bomb (PNG declaring 50000x50000)"] = bomb
    return files


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in cases(Path(tmp)).items():
            out = subprocess.run(
                [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, cwd=REPO, check=True
            ).stdout.split(maxsplit=1)
            rows.append({"case": name, "file_mib": path.stat().st_size / 2**20, "peak_mib": int(out[0]),
                         "outcome": out[1].strip()})  # fmt: skip
    loaded_only = PROBE.split("try:")[0] + "print(peak_mib())"
    baseline = subprocess.run(
        [sys.executable, "-c", loaded_only], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout.strip()
    lines = [
        "| file | size on disk | peak memory of the process | outcome |",
        "|---|---|---|---|",
        *[f"| {r['case']} | {r['file_mib']:.1f} MiB | {r['peak_mib']} MiB | {r['outcome']} |" for r in rows],
        "",
        f"Runtime and model loaded, before any file: {baseline} MiB. Limits: {MAX_PIXELS:,} pixels declared "
        f"in the header, {MAX_FILE_BYTES // 2**20} MiB per file. `--workers N` prepares up to N files at once.",
        summary(describe()),
    ]
    HERE.joinpath("memory.json").write_text(json.dumps({"baseline_mib": int(baseline), "rows": rows}, indent=2) + "\n")
    HERE.joinpath("memory.md").write_text(
        "# Peak memory per file\n\nWritten by `python benchmarks/memory.py`.\n\n" + "\n".join(lines) + "\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
