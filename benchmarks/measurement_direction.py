"""The measurement direction (issue #13): what the digitizer measures on a scan (rate, intervals,
axis, ST levels, R heights, Q waves, T inversion) and the statements it derives, fed to a small
regularised classifier, scored on the generalization protocol's splits and layouts.

    python benchmarks/measurement_direction.py --data DATA [--folds 0 1 2] [--jobs 2]

Splits are made by `ecg-train split` exactly as benchmarks/generalization.py makes them (the plain
image-grouped split, fold 0, and day-grouped test folds), so every test scan is the one the image
directions were scored on. Each scan is read by `edge.pipeline.read_ecg` in its own layout: all
images as scanned (3x4, for training and validation) and the test scans of every split re-laid
out by train.relayout in the five other layouts. Features are cached (``--cache``), so a rerun
only trains and scores.

Classifier: scikit-learn LogisticRegression (multinomial, L2, balanced class weights) on
standardised features, its C picked by validation macro-F1 (3x4) from a small grid, fitted on the
training split only. Also: the same on heart rate and RR irregularity alone ("rate only"), an
ablation without rate and rhythm features, and a random forest for comparison. A scan whose
layout is not found (edge.leads.LayoutError) gets the training split's majority class and is
counted. Writes benchmarks/measurement_direction.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from generalization import layout_table, table  # noqa: E402
from machine import describe, summary  # noqa: E402

from edge.labels import LABEL_KEYS, LABELS  # noqa: E402
from edge.leads import LEAD_NAMES  # noqa: E402
from edge.statements import TERRITORIES  # noqa: E402
from train.dataset import DataSplit  # noqa: E402
from train.metrics import compute_metrics  # noqa: E402
from train.relayout import AS_SCANNED, LAYOUTS, OTHER_LAYOUTS  # noqa: E402

# What read_ecg measures, one column each (NaN when unknown); flags are 0/1.
GLOBAL = ("heart_rate_bpm", "rr_irregularity", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg", "beats")
PER_LEAD = ("st_mv", "st_j_mv", "r_mv", "q_wave", "t_inverted")
RAW = GLOBAL + tuple(f"{kind}_{lead}" for kind in PER_LEAD for lead in LEAD_NAMES)
RHYTHM_CODES = (
    "sinus", "sinus_bradycardia", "sinus_tachycardia", "regular_no_p", "irregular_rhythm", "irregular_no_p",
    "premature_beats",
)  # fmt: skip
CODES = (
    RHYTHM_CODES
    + ("first_degree_av_block", "wide_qrs", "left_axis_deviation", "right_axis_deviation", "long_qtc")
    + tuple(f"{kind}_{t}" for kind in ("q_waves", "st_elevation", "st_depression", "t_inversion") for t in TERRITORIES)
)
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
LEAF_GRID = (1, 3, 8)
SPLITS_REFERENCE = HERE / "splits" / "grouped_seed42.json"
IMAGE_DIRECTIONS = ("traces", "leads + traces", "page + leads + traces")  # reference rows from generalization.json


# ----------------------------------------------------------------------------- reading scans


def _read_one(task: tuple[str, str, str]) -> tuple[str, dict]:
    """(data root, relative path, layout) -> (key, {raw measurement row, statement codes, status, ms})."""
    root, rel, layout = task
    from edge.leads import LayoutError
    from edge.pipeline import read_ecg
    from edge.preprocess import decode_image

    warnings.filterwarnings("ignore")
    raw = np.full(len(RAW), np.nan)
    codes = np.zeros(len(CODES))
    path = Path(root) / rel
    start = time.perf_counter()
    try:
        source = path if layout == AS_SCANNED else LAYOUTS[layout].make(decode_image(path))
        reading = read_ecg(source)
    except LayoutError:
        return _entry(layout, rel, raw, codes, "layout_error", start)
    except Exception as exc:  # noqa: BLE001 - counted and reported, not hidden
        return _entry(layout, rel, raw, codes, f"error: {type(exc).__name__}", start)
    m = reading.measurements
    values = {name: getattr(m, name) for name in GLOBAL}
    for kind in PER_LEAD:
        for lead in LEAD_NAMES:
            values[f"{kind}_{lead}"] = getattr(m, kind).get(lead)
    for i, name in enumerate(RAW):
        v = values[name]
        raw[i] = np.nan if v is None else float(v)
    unknown = []
    for statement in reading.statements:
        if statement.code in CODES:
            codes[CODES.index(statement.code)] = 1.0
        else:
            unknown.append(statement.code)
    status = "ok" if not unknown else "ok, unknown codes " + ",".join(unknown)
    return _entry(layout, rel, raw, codes, status, start)


def _entry(layout: str, rel: str, raw: np.ndarray, codes: np.ndarray, status: str, start: float) -> tuple[str, dict]:
    return f"{layout}|{rel}", {"raw": raw, "codes": codes, "status": status, "ms": (time.perf_counter() - start) * 1e3}


def read_cached(
    data: Path, tasks: list[tuple[str, str]], cache: Path, jobs: int, read_one, compatible, meta: dict[str, np.ndarray]
) -> dict[str, dict]:
    """What ``read_one((root, path, layout)) -> (key, {field: value})`` reads for every (path, layout)
    in ``tasks``, from the cache (.npz, used when ``compatible(npz)``) or read now on ``jobs``
    processes and cached with ``meta`` beside it. Also serves benchmarks/signal_direction.py."""
    store: dict[str, dict] = {}
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if compatible(z):
            # Each column read once: an npz decompresses the whole array at every z[name].
            columns = {f: z[f] for f in z.files if f != "keys" and f not in meta}
            for i, key in enumerate(z["keys"]):
                store[str(key)] = {f: column[i] for f, column in columns.items()}
    todo = [(str(data), rel, layout) for rel, layout in tasks if f"{layout}|{rel}" not in store]
    if todo:
        print(f"reading {len(todo)} scans ({len(store)} cached) with {jobs} process(es) ...", flush=True)
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for n, (key, entry) in enumerate(pool.map(read_one, todo, chunksize=4), 1):
                store[key] = entry
                if n % 200 == 0 or n == len(todo):
                    print(f"  {n}/{len(todo)} in {time.perf_counter() - start:.0f} s", flush=True)
        keys = sorted(store)
        cache.parent.mkdir(parents=True, exist_ok=True)
        columns = {f: np.array([store[k][f] for k in keys]) for f in store[keys[0]]}
        np.savez_compressed(cache, keys=np.array(keys), **columns, **meta)
    return store


def read_features(data: Path, tasks: list[tuple[str, str]], cache: Path, jobs: int) -> dict[str, dict]:
    """Features of every (path, layout) in ``tasks``, from the cache or read now (and cached)."""

    def compatible(z) -> bool:
        return tuple(z["raw_names"]) == RAW and tuple(z["code_names"]) == CODES

    meta = {"raw_names": np.array(RAW), "code_names": np.array(CODES)}
    return read_cached(data, tasks, cache, jobs, _read_one, compatible, meta)


def add_split_arguments(parser: argparse.ArgumentParser, cache_what: str, cache_default: str) -> None:
    """The data, split and reading options both direction benchmarks take."""
    parser.add_argument("--data", type=Path, required=True, help="the data set's images/ folder")
    work_help = f"split files (shared by both direction benchmarks) and the {cache_what} cache"
    parser.add_argument("--work", type=Path, default=Path("/tmp/ecg-measurement-direction"), help=work_help)
    parser.add_argument(
        "--cache", type=Path, default=None, help=f"{cache_what} cache (.npz); default WORK/{cache_default}"
    )
    parser.add_argument("--folds", nargs="+", type=int, default=[0, 1, 2], help="day-grouped test folds (0-6)")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain image-grouped split")
    parser.add_argument("--jobs", type=int, default=2, help="processes reading scans")


# ----------------------------------------------------------------------------- features


def _col(name: str) -> int:
    return RAW.index(name)


class Features:
    """Raw readings -> a fixed vector. Continuous values are clipped to the training split's 1st-99th
    percentiles and missing ones set to its median; flags that are unknown count as absent. Every
    column is then clipped to the range training showed (a count of untraced leads that training
    never saw, say, is not extrapolated by the linear model)."""

    def __init__(self, kind: str):
        if kind not in ("rate", "measurements", "statements", "all", "no_rate"):
            raise ValueError(kind)
        self.kind = kind
        rate = ["heart_rate_bpm", "rr_irregularity"]
        other = ["pr_ms", "qrs_ms", "qt_ms", "qtc_ms"] + [f"{k}_{lead}" for k in ("st_mv", "st_j_mv", "r_mv")
                                                          for lead in LEAD_NAMES]  # fmt: skip
        self.continuous = {"rate": rate, "statements": [], "no_rate": other}.get(kind, rate + other)
        self.flags = [] if kind in ("rate", "statements") else [f"{k}_{lead}" for k in ("q_wave", "t_inverted")
                                                                 for lead in LEAD_NAMES]  # fmt: skip
        self.axis = kind not in ("rate", "statements")
        self.missing = {"rate": ["heart_rate_bpm"], "statements": []}.get(
            kind, ["heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "axis_deg"]
        )
        if kind == "no_rate":
            self.missing = ["pr_ms", "qrs_ms", "qt_ms", "axis_deg"]
        self.codes = {"all": list(CODES), "statements": list(CODES), "no_rate": [c for c in CODES
                                                                                 if c not in RHYTHM_CODES]}.get(
            kind, []
        )  # fmt: skip

    def names(self) -> list[str]:
        out = list(self.continuous) + (["axis_cos", "axis_sin"] if self.axis else []) + list(self.flags)
        out += [f"{name}_missing" for name in self.missing]
        out += ["untraced_leads"] if self.kind not in ("rate", "statements") else []
        return out + [f"stmt_{code}" for code in self.codes]

    def _continuous(self, raw: np.ndarray) -> np.ndarray:
        cols = [raw[:, _col(n)] for n in self.continuous]
        if self.axis:
            axis = np.radians(raw[:, _col("axis_deg")])
            cols += [np.cos(axis), np.sin(axis)]
        return np.stack(cols, axis=1) if cols else np.zeros((len(raw), 0))

    def fit(self, raw: np.ndarray, codes: np.ndarray) -> Features:
        x = self._continuous(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.low = np.nan_to_num(np.nanpercentile(x, 1, axis=0)) if x.shape[1] else np.zeros(0)
            self.high = np.nan_to_num(np.nanpercentile(x, 99, axis=0)) if x.shape[1] else np.zeros(0)
            self.median = np.nan_to_num(np.nanmedian(np.clip(x, self.low, self.high), axis=0)) if x.shape[1] else x[0]
        self.range = None
        seen = self.transform(raw, codes)
        self.range = seen.min(0), seen.max(0)
        return self

    def transform(self, raw: np.ndarray, codes: np.ndarray) -> np.ndarray:
        x = np.clip(self._continuous(raw), self.low, self.high)
        x = np.where(np.isnan(x), self.median, x)
        flags = np.nan_to_num(np.stack([raw[:, _col(n)] for n in self.flags], axis=1)) if self.flags else None
        parts = [x] + ([flags] if flags is not None else [])
        parts += [np.isnan(raw[:, [_col(n) for n in self.missing]]).astype(float)] if self.missing else []
        if self.kind not in ("rate", "statements"):
            parts.append(np.isnan(raw[:, [_col(f"r_mv_{lead}") for lead in LEAD_NAMES]]).sum(1, keepdims=True))
        parts += [codes[:, [CODES.index(c) for c in self.codes]]] if self.codes else []
        out = np.hstack(parts)
        return out if self.range is None else np.clip(out, *self.range)


# ----------------------------------------------------------------------------- models


def _logistic(c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=5000))


def _forest(leaf: int):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=300, min_samples_leaf=leaf, class_weight="balanced_subsample", random_state=0, n_jobs=2
    )


# direction -> (feature kind, model factory, grid, grid parameter name)
DIRECTIONS = {
    "measurements + statements, LR": ("all", _logistic, C_GRID, "C"),
    "measurements only, LR": ("measurements", _logistic, C_GRID, "C"),
    "statements only, LR": ("statements", _logistic, C_GRID, "C"),
    "without rate and rhythm, LR": ("no_rate", _logistic, C_GRID, "C"),
    "rate only (rate + RR irregularity), LR": ("rate", _logistic, C_GRID, "C"),
    "measurements + statements, random forest": ("all", _forest, LEAF_GRID, "min_samples_leaf"),
}
MAIN = "measurements + statements, LR"
RATE_ONLY = "rate only (rate + RR irregularity), LR"


def _matrix(store: dict, records, layout: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    entries = [store[f"{layout}|{r.path}"] for r in records]
    raw = np.stack([e["raw"] for e in entries])
    codes = np.stack([e["codes"] for e in entries])
    ok = np.array([e["status"].startswith("ok") for e in entries])
    labels = np.array([LABEL_KEYS.index(r.label) for r in records])
    return raw, codes, ok, labels


def evaluate_split(store: dict, split: DataSplit, split_name: str, direction: str) -> tuple[dict, object, Features]:
    kind, factory, grid, param = DIRECTIONS[direction]
    train_raw, train_codes, train_ok, y_train = _matrix(store, split.records_for("train"), AS_SCANNED)
    val_raw, val_codes, val_ok, y_val = _matrix(store, split.records_for("val"), AS_SCANNED)
    features = Features(kind).fit(train_raw[train_ok], train_codes[train_ok])
    x_train = features.transform(train_raw[train_ok], train_codes[train_ok])
    majority = int(np.bincount(y_train).argmax())

    def predict(model, raw, codes, ok) -> np.ndarray:
        pred = np.full(len(raw), majority)
        if ok.any():
            pred[ok] = model.predict(features.transform(raw[ok], codes[ok]))
        return pred

    scores = []
    for value in grid:
        model = factory(value).fit(x_train, y_train[train_ok])
        scores.append(compute_metrics(y_val, predict(model, val_raw, val_codes, val_ok)).macro_f1)
    best = grid[int(np.argmax(scores))]  # the first best: the strongest regularisation among ties
    model = factory(best).fit(x_train, y_train[train_ok])
    row = {"direction": direction, "split": split_name, param: best, "val_macro_f1": float(max(scores)),
           "train_failures": int((~train_ok).sum()), "macro_f1": {}, "accuracy": {}, "recall": {},
           "failures": {}, "confusion_matrix": {}, "predictions": {}}  # fmt: skip
    tests = split.records_for("test")
    for layout in LAYOUTS:
        raw, codes, ok, y = _matrix(store, tests, layout)
        pred = predict(model, raw, codes, ok)
        m = compute_metrics(y, pred)
        row["macro_f1"][layout] = m.macro_f1
        row["accuracy"][layout] = m.accuracy
        row["recall"][layout] = m.recall
        row["failures"][layout] = int((~ok).sum())
        row["confusion_matrix"][layout] = m.confusion_matrix
        row["predictions"][layout] = pred.tolist()
    row["n_test"] = len(tests)
    return row, model, features


# ----------------------------------------------------------------------------- report


def recall_table(rows: list[dict]) -> list[str]:
    short = [label.short_name for label in LABELS]
    head = "| direction | " + " | ".join(f"{s} recall, 3x4" for s in short)
    head += " | " + " | ".join(f"{s}, other layouts" for s in short) + " |"
    lines = [head, "|---|" + "---|" * (2 * len(short))]
    for direction in dict.fromkeys(r["direction"] for r in rows):
        days = [r for r in rows if r["direction"] == direction and r["split"].startswith("day") and "recall" in r]
        if not days:
            continue
        own = np.mean([r["recall"][AS_SCANNED] for r in days], axis=0)
        other = np.mean([[r["recall"][name] for name in OTHER_LAYOUTS] for r in days], axis=(0, 1))
        lines.append(f"| {direction} | " + " | ".join(f"{v:.2f}" for v in [*own, *other]) + " |")
    return lines


def coefficient_table(coefficients: dict[str, list[np.ndarray]], names: list[str], top: int = 6) -> list[str]:
    """Per class, the features with the largest mean standardised coefficient over the splits."""
    lines = ["| class | raises the class (mean coefficient, splits agreeing in sign) | lowers it |", "|---|---|---|"]
    stacked = np.stack(coefficients["coef"])  # splits x classes x features
    mean = stacked.mean(0)
    agree = (np.sign(stacked) == np.sign(mean)).sum(0)
    for k, label in enumerate(LABELS):
        order = np.argsort(mean[k])
        up = [f"{names[j]} {mean[k, j]:+.2f} ({agree[k, j]}/{len(stacked)})" for j in order[::-1][:top]]
        down = [f"{names[j]} {mean[k, j]:+.2f} ({agree[k, j]}/{len(stacked)})" for j in order[:top]]
        lines.append(f"| {label.short_name} | {', '.join(up)} | {', '.join(down)} |")
    return lines


def reading_table(store: dict, tests_by_layout: dict[str, list[str]]) -> list[str]:
    """Per layout, over the union of test scans: failures, time, leads measured, rate against 3x4."""
    lines = [
        "| layout | scans | layout not found | other errors | median read ms | leads without measurements (mean) "
        "| rate within 3 bpm of 3x4 | rate found |",
        "|---|---|---|---|---|---|---|---|",
    ]
    r_cols = [_col(f"r_mv_{lead}") for lead in LEAD_NAMES]
    for layout in LAYOUTS:
        entries = [store[f"{layout}|{rel}"] for rel in tests_by_layout[layout]]
        base = [store[f"{AS_SCANNED}|{rel}"] for rel in tests_by_layout[layout]]
        layout_errors = sum(e["status"] == "layout_error" for e in entries)
        errors = sum(e["status"].startswith("error") for e in entries)
        ok = [e for e in entries if e["status"].startswith("ok")]
        untraced = np.mean([np.isnan(e["raw"][r_cols]).sum() for e in ok]) if ok else float("nan")
        rate = np.array([e["raw"][0] for e in entries])
        rate0 = np.array([b["raw"][0] for b in base])
        both = ~np.isnan(rate) & ~np.isnan(rate0)
        close = np.mean(np.abs(rate[both] - rate0[both]) <= 3) if both.any() else float("nan")
        lines.append(
            f"| {layout} | {len(entries)} | {layout_errors} | {errors} | {np.median([e['ms'] for e in entries]):.0f} "
            f"| {untraced:.2f} | {close:.0%} | {np.mean(~np.isnan(rate)):.0%} |"
        )
    return lines


def make_splits(args: argparse.Namespace) -> tuple[list[tuple[str, Path]], str]:
    splits = ([] if args.no_plain else [("image-fold0", "image", 0)]) + [(f"day-fold{f}", "day", f) for f in args.folds]
    out = []
    for name, group_by, fold in splits:
        path = args.work / f"split-{name}.json"
        if not path.is_file():
            cmd = [sys.executable, "-m", "train.cli", "split", "-d", str(args.data), "-o", str(path),
                   "--group-by", group_by, "--fold", str(fold)]  # fmt: skip
            print("$", " ".join(cmd), flush=True)
            subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        out.append((name, path))
    check = "plain split not made"
    if not args.no_plain and SPLITS_REFERENCE.is_file():
        made = {r.path: r.split for r in DataSplit.load(out[0][1]).records}
        reference = {r["path"]: r["split"] for r in json.loads(SPLITS_REFERENCE.read_text())["records"]}
        check = (
            f"identical to {SPLITS_REFERENCE.relative_to(REPO)} ({len(made)} files)"
            if made == reference
            else f"DIFFERS from {SPLITS_REFERENCE.relative_to(REPO)} on "
            f"{sum(made.get(k) != v for k, v in reference.items())} files"
        )
    return out, check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_split_arguments(parser, "feature", "features.npz")
    parser.add_argument("--reference", type=Path, default=HERE / "generalization.json",
                        help="the image directions' rows to show alongside")  # fmt: skip
    parser.add_argument("--out", type=Path, default=HERE / "measurement_direction")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cache = args.cache or args.work / "features.npz"
    start = time.perf_counter()
    split_files, split_check = make_splits(args)
    splits = {name: DataSplit.load(path) for name, path in split_files}
    print(f"plain split: {split_check}", flush=True)

    everything = sorted({r.path for s in splits.values() for r in s.records_for("train") + s.records_for("val")}
                        | {r.path for s in splits.values() for r in s.records_for("test")})  # fmt: skip
    tests = sorted({r.path for s in splits.values() for r in s.records_for("test")})
    tasks = [(rel, AS_SCANNED) for rel in everything] + [(rel, layout) for layout in OTHER_LAYOUTS for rel in tests]
    read_start = time.perf_counter()
    store = read_features(args.data, tasks, cache, args.jobs)
    read_s = time.perf_counter() - read_start
    unknown_codes = sorted({s for k, e in store.items() if "unknown codes" in (s := e["status"])})

    rows, coefficients, names = [], {"coef": []}, []
    for direction in DIRECTIONS:
        for name, split in splits.items():
            row, model, features = evaluate_split(store, split, name, direction)
            rows.append(row)
            if direction == MAIN:
                coefficients["coef"].append(model[-1].coef_)
                names = features.names()
        print(f"{direction}: done", flush=True)

    # How far the main direction's answers are the rate-only direction's answers (day folds, every layout).
    same, total = 0, 0
    for name in splits:
        if name.startswith("day"):
            main_row = next(r for r in rows if r["direction"] == MAIN and r["split"] == name)
            rate_row = next(r for r in rows if r["direction"] == RATE_ONLY and r["split"] == name)
            for layout in LAYOUTS:
                a, b = np.array(main_row["predictions"][layout]), np.array(rate_row["predictions"][layout])
                same, total = same + int((a == b).sum()), total + len(a)
    agreement = same / total if total else float("nan")

    reference_rows = []
    if args.reference.is_file():
        reference = json.loads(args.reference.read_text())
        reference_rows = [
            {**r, "direction": f"image: {r['direction']} (generalization.json)"}
            for r in reference["rows"]
            if r["direction"] in IMAGE_DIRECTIONS and r["split"] in splits
        ]
    scanned = {layout: everything if layout == AS_SCANNED else tests for layout in LAYOUTS}
    statuses = {layout: [store[f"{layout}|{rel}"]["status"] for rel in scanned[layout]] for layout in LAYOUTS}
    failures = {layout: sum(s == "layout_error" for s in statuses[layout]) for layout in LAYOUTS}
    errors = {layout: sum(s.startswith("error") for s in statuses[layout]) for layout in LAYOUTS}
    tests_by_layout = {layout: tests for layout in LAYOUTS}
    chosen = {d: [r.get("C", r.get("min_samples_leaf")) for r in rows if r["direction"] == d] for d in DIRECTIONS}
    run_s = time.perf_counter() - start
    settings = (
        "features from edge.pipeline.read_ecg in each layout; LogisticRegression (multinomial, L2, class_weight "
        f"balanced, standardised features), C from {list(C_GRID)} by validation macro-F1 (3x4), fitted on the "
        "training split only; random forest: 300 trees, balanced_subsample, min_samples_leaf from "
        f"{list(LEAF_GRID)} by validation macro-F1; continuous features clipped to the training 1st-99th "
        "percentiles, missing values set to the training median with missing-value indicators; a scan whose "
        "layout is not found is given the training split's majority class (abnormal heartbeat)"
    )
    lines = [
        "Macro-F1 on the test splits of the generalization protocol (benchmarks/generalization.py), same "
        "splits and layouts. *Plain split*: identical files grouped. *Day folds*: test sets of whole "
        "acquisition days that training never saw, mean +/- SD over folds. *Other layouts*: the same test "
        "scans re-laid out by train.relayout. Rows marked *image* are the image directions' figures, read "
        f"from {args.reference.name}.",
        "",
        *table(rows + reference_rows),
        "",
        "Per layout, mean over day folds:",
        "",
        *layout_table(rows + reference_rows),
        "",
        "Recall per class, mean over day folds (other layouts: mean of the 5); test scans per fold: "
        + "; ".join(
            f"{n} "
            + ", ".join(
                f"{label.short_name} {sum(r.label == label.key for r in s.records_for('test'))}" for label in LABELS
            )
            for n, s in splits.items()
            if n.startswith("day")
        )  # fmt: skip
        + ":",
        "",
        *recall_table(rows),
        "",
        f"Leaning on heart rate: the rate-only direction's row above; without rate and rhythm features (rate, RR "
        f"irregularity, rhythm statements) the row 'without rate and rhythm'. The main direction gives the "
        f"rate-only direction's answer on {agreement:.0%} of day-fold test scans (all layouts).",
        "",
        f"Largest standardised coefficients of '{MAIN}', mean over the {len(coefficients['coef'])} splits' models:",
        "",
        *coefficient_table(coefficients, names),
        "",
        "Reading the scans (union of the test scans of all splits; 3x4 row: the same scans as scanned):",
        "",
        *reading_table(store, tests_by_layout),
        "",
        f"Layout not found: {failures[AS_SCANNED]} of {len(everything)} scans as scanned, "
        + ", ".join(f"{failures[n]} of {len(tests)} in {n}" for n in OTHER_LAYOUTS)
        + f"; other errors: {sum(errors.values())}"
        + (f"; statement codes not in the feature list: {unknown_codes}" if unknown_codes else "")
        + ". Such scans get the training split's majority class (training scans without a reading are left out).",
        "",
        "Chosen hyperparameters per split ("
        + ", ".join(splits)
        + "): "
        + "; ".join(f"{d}: {v}" for d, v in chosen.items())
        + ".",
        f"Plain split: {split_check}.",
        f"Settings: {settings}.",
        f"Run time {run_s:.0f} s, of which reading scans {read_s:.0f} s ({args.jobs} processes; cached readings are "
        "not read again).",
        summary(describe(("numpy", "scikit-learn", "opencv-python-headless", "opencv-python", "ai-edge-litert"))),
    ]
    for row in rows:
        row.pop("predictions")
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {
                "settings": settings,
                "splits": list(splits),
                "plain_split_check": split_check,
                "layout_not_found": failures,
                "other_errors": errors,
                "scans_read": {"as_scanned": len(everything), "test_scans_per_other_layout": len(tests)},
                "agreement_with_rate_only": agreement,
                "feature_names": names,
                "main_coefficients_mean": np.mean(coefficients["coef"], axis=0).round(4).tolist(),
                "labels": list(LABEL_KEYS),
                "run_time_s": round(run_s, 1),
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )
    args.out.with_suffix(".md").write_text(
        "# The measurement direction\n\nWritten by `python benchmarks/measurement_direction.py --data DATA`.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
