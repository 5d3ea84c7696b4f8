"""The pretrained-signal-model direction (issue #13): openecg's codec, a single-lead ECG network
pretrained on public annotated recordings (LUDB, QTDB, MIT-BIH, a hospital rhythm set; frame P/QRS/T,
beat and rhythm heads), frozen, its outputs on our digitized leads fed to a regularised classifier,
scored on the generalization protocol's splits and layouts like the other directions.

    pip install -e ".[train]"    # openecg and onnxruntime come with the train extra, not the edge install
    python benchmarks/codec_direction.py --data DATA [--folds 0 1 2] [--jobs 2]

Each scan is read by `edge.pipeline.read_ecg` in its own layout (all images as scanned, the test
scans of every split in the five other layouts), as benchmarks/measurement_direction.py reads them.
The codec (`codec_v6_int8.onnx` from the openecg wheel, run by onnxruntime) takes 10 s at 500 Hz,
rank-normalised, zero-padded when shorter (as openecg's own `OnnxCodec.encode` does); it reads the
10 s rhythm strip (lead II) and each of the 12 lead windows (2.5 s). Features per window: the mean
frame-head probabilities (other, P, QRS, T), the beat-head probabilities averaged over the samples
it calls QRS (none, sinus, VPC, paced, fusion, unknown) and the mean rhythm-head probabilities
(sinus, AV block, paced, AF, BBB, ventricular), over the window's own samples; and the number of
QRS runs on the strip. Classifier: scikit-learn LogisticRegression (balanced, standardised), C by
validation macro-F1. A window that is not read gives zeros and a missing flag; a scan whose layout is
not found gets the training split's majority class and is counted. Not shippable as it stands: the
codec needs onnxruntime (not in the edge install) and no TFLite conversion of it exists.
Writes benchmarks/codec_direction.{md,json}.
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

from edge.labels import LABEL_KEYS, LABELS  # noqa: E402
from edge.leads import LEAD_NAMES  # noqa: E402
from train.dataset import DataSplit  # noqa: E402
from train.metrics import compute_metrics  # noqa: E402
from train.relayout import AS_SCANNED, LAYOUTS, OTHER_LAYOUTS  # noqa: E402

DIRECTION = "pretrained codec (openecg v6, frozen) -> LR"
CODEC_FS, CODEC_SAMPLES = 500, 5000
HEADS = {"frame": 4, "beat": 6, "rhythm": 6}
QRS_FRAME = 2  # the frame head's QRS class
WINDOWS = ("rhythm II", *LEAD_NAMES)
PER_WINDOW = sum(HEADS.values()) + 1  # + a "not read" flag
FEATURES = len(WINDOWS) * PER_WINDOW + 1  # + QRS runs on the strip
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
_SESSION = None


def _codec():
    global _SESSION
    if _SESSION is None:
        import onnxruntime as ort
        from openecg.deploy import bundled_codec_onnx_path

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one process per core (--jobs)
        _SESSION = ort.InferenceSession(str(bundled_codec_onnx_path("v6")), options, providers=["CPUExecutionProvider"])
    return _SESSION


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def window_features(signal: np.ndarray | None, fs: float) -> tuple[np.ndarray, int]:
    """One window's features (and its QRS run count), or zeros with the missing flag set."""
    out = np.zeros(PER_WINDOW)
    if signal is None or not np.isfinite(signal).any():
        out[-1] = 1.0
        return out, 0
    from opendsp import rank_normalize

    x = np.nan_to_num(np.asarray(signal, dtype=np.float64))
    if fs != CODEC_FS:
        t = np.arange(int(round(len(x) * CODEC_FS / fs))) / CODEC_FS
        x = np.interp(t, np.arange(len(x)) / fs, x)
    n = min(len(x), CODEC_SAMPLES)
    padded = np.zeros(CODEC_SAMPLES, np.float32)
    padded[:n] = np.asarray(rank_normalize(x[:n]), np.float32)
    session = _codec()
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {session.get_inputs()[0].name: padded[None]})))
    probs = {head: _softmax(next(v for k, v in outputs.items() if head in k)[0][:n]) for head in HEADS}
    qrs = probs["frame"].argmax(-1) == QRS_FRAME
    beat = probs["beat"][qrs].mean(0) if qrs.any() else np.zeros(HEADS["beat"])
    out[:-1] = np.concatenate([probs["frame"].mean(0), beat, probs["rhythm"].mean(0)])
    runs = int(np.count_nonzero(np.diff(qrs.astype(np.int8)) == 1) + int(qrs[0]))
    return out, runs


def _read_one(task: tuple[str, str, str]) -> tuple[str, dict]:
    root, rel, layout = task
    from edge.leads import LayoutError
    from edge.pipeline import read_ecg
    from edge.preprocess import decode_image

    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    x = np.zeros(FEATURES)
    path = Path(root) / rel
    try:
        source = path if layout == AS_SCANNED else LAYOUTS[layout].make(decode_image(path))
        ecg = read_ecg(source).ecg
    except LayoutError:
        return f"{layout}|{rel}", {"x": x, "status": "layout_error", "ms": (time.perf_counter() - start) * 1e3}
    except Exception as exc:  # noqa: BLE001 - counted and reported
        return f"{layout}|{rel}", {"x": x, "status": f"error: {type(exc).__name__}",
                                   "ms": (time.perf_counter() - start) * 1e3}  # fmt: skip
    strip = next((r for r in ecg.rhythm if r.lead == "II"), ecg.rhythm[0] if ecg.rhythm else None)
    parts, runs = [], 0
    for k, name in enumerate(WINDOWS):
        lead = strip if k == 0 else ecg.leads.get(name)
        values, count = window_features(None if lead is None or not lead.ok else lead.mv, ecg.fs)
        parts.append(values)
        runs = count if k == 0 else runs
    x = np.concatenate([*parts, [runs]])
    return f"{layout}|{rel}", {"x": x, "status": "ok", "ms": (time.perf_counter() - start) * 1e3}


def _matrix(store: dict, records, layout: str):
    entries = [store[f"{layout}|{r.path}"] for r in records]
    return (np.stack([e["x"] for e in entries]), np.array([str(e["status"]).startswith("ok") for e in entries]),
            np.array([LABEL_KEYS.index(r.label) for r in records]))  # fmt: skip


def evaluate_split(store: dict, split: DataSplit, name: str) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, ok_train, y_train = _matrix(store, split.records_for("train"), AS_SCANNED)
    x_val, ok_val, y_val = _matrix(store, split.records_for("val"), AS_SCANNED)
    majority = int(np.bincount(y_train).argmax())

    def fit(c: float):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=5000))
        return model.fit(x_train[ok_train], y_train[ok_train])

    def predict(model, x, ok) -> np.ndarray:
        pred = np.full(len(x), majority)
        if ok.any():
            pred[ok] = model.predict(x[ok])
        return pred

    scores = [compute_metrics(y_val, predict(fit(c), x_val, ok_val)).macro_f1 for c in C_GRID]
    best = C_GRID[int(np.argmax(scores))]
    model = fit(best)
    row = {"direction": DIRECTION, "view": "codec", "split": name, "C": best, "val_macro_f1": float(max(scores)),
           "macro_f1": {}, "accuracy": {}, "recall": {}, "failures": {}}  # fmt: skip
    tests = split.records_for("test")
    for layout in LAYOUTS:
        x, ok, y = _matrix(store, tests, layout)
        m = compute_metrics(y, predict(model, x, ok))
        row["macro_f1"][layout], row["accuracy"][layout], row["recall"][layout] = m.macro_f1, m.accuracy, m.recall
        row["failures"][layout] = int((~ok).sum())
    row["n_test"] = len(tests)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_split_arguments(parser, "codec feature", "codec_features.npz")
    parser.add_argument("--out", type=Path, default=HERE / "codec_direction")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    split_files, split_check = make_splits(args)
    splits = {name: DataSplit.load(path) for name, path in split_files}
    everything = sorted({r.path for s in splits.values() for r in s.records})
    tests = sorted({r.path for s in splits.values() for r in s.records_for("test")})
    tasks = [(rel, AS_SCANNED) for rel in everything] + [(rel, layout) for layout in OTHER_LAYOUTS for rel in tests]

    def compatible(z) -> bool:
        return int(z["n_features"]) == FEATURES

    store = read_cached(args.data, tasks, args.cache or args.work / "codec_features.npz", args.jobs, _read_one,
                        compatible, {"n_features": np.array(FEATURES)})  # fmt: skip
    rows = [evaluate_split(store, split, name) for name, split in splits.items()]
    days = [r for r in rows if r["split"].startswith("day")]
    recall = {label.short_name: np.mean([r["recall"][AS_SCANNED][k] for r in days]) for k, label in enumerate(LABELS)}
    failures = {n: sum(r["failures"][n] for r in rows) for n in LAYOUTS}
    ms = np.median([e["ms"] for e in store.values()])
    reference = []
    for file, direction in (("signal_direction.json", "digitized leads -> 1-D CNN, 3 seeds"),
                            ("measurement_direction.json", "measurements + statements, LR")):  # fmt: skip
        path = HERE / file
        if path.is_file():
            data = json.loads(path.read_text())
            seeds = data.get("seeds")
            for r in data["rows"]:
                name = r["direction"]
                if file == "signal_direction.json" and name.startswith("digitized leads -> 1-D CNN, seed"):
                    reference.append({**r, "direction": f"{direction} ({file})"})
                elif name == direction:
                    reference.append({**r, "direction": f"{direction} ({file})"})
            del seeds
    machine = describe()
    lines = [
        "Macro-F1 on the test splits of the generalization protocol (same splits and layouts as "
        "benchmarks/generalization.py, measurement_direction.py and signal_direction.py). *Day folds*: whole "
        "acquisition days training never saw, mean +/- SD over folds; *other layouts*: the same test scans re-laid "
        "out.",
        "",
        *table(rows + reference),
        "",
        "Per layout, mean over day folds:",
        "",
        *layout_table(rows + reference),
        "",
        f"Day-fold recall, 3x4: {', '.join(f'{k} {v:.2f}' for k, v in recall.items())}. C chosen per split: "
        f"{', '.join(str(r['C']) for r in rows)}. Plain split: {split_check}. Layout not found (majority class "
        f"given), over all splits: " + ", ".join(f"{n} {failures[n]}" for n in LAYOUTS) + ". Reading and codec "
        f"features: median {ms:.0f} ms a scan (13 codec windows, onnxruntime, 1 thread).",
        summary(machine),
        f"Run time: {(time.perf_counter() - start) / 60:.1f} min.",
    ]
    args.out.with_suffix(".json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(
        "# Pretrained codec direction (openecg's codec, frozen, + logistic regression)\n\n"
        "Written by `python benchmarks/codec_direction.py --data DATA`.\n\n" + "\n".join(lines) + "\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
