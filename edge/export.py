"""Writing digitized ECGs to files: CSV and WFDB on the page's 10 s clock, or the JSON row."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from edge.leads import LEAD_NAMES, SECONDS_PER_ROW
from edge.signals import Ecg

FORMATS = ("csv", "json", "wfdb")


def page_matrix(ecg: Ecg) -> tuple[list[str], np.ndarray]:
    """Column names and a (samples, columns) array over the page's 10 s: the 12 leads where they
    were printed (NaN elsewhere and where unread), then each rhythm strip."""
    n = int(round(SECONDS_PER_ROW * ecg.fs))
    names = list(LEAD_NAMES)
    signals = [ecg.leads[name] for name in LEAD_NAMES]
    for k, strip in enumerate(ecg.rhythm):
        name = f"rhythm_{strip.lead or k + 1}"
        names.append(name if name not in names else f"{name}_{k + 1}")  # WFDB wants unique names
        signals.append(strip)
    out = np.full((n, len(signals)), np.nan)
    for column, signal in enumerate(signals):
        start = int(round(signal.start_s * ecg.fs))
        lo, hi = max(0, start), min(n, start + len(signal.mv))
        if hi > lo:
            out[lo:hi, column] = signal.mv[lo - start : hi - start]
    return names, out


def _stem(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem).strip("._") or "ecg"


def write_csv(ecg: Ecg, target: Path) -> Path:
    names, matrix = page_matrix(ecg)
    t = np.arange(matrix.shape[0]) / ecg.fs
    lines = ["time_s," + ",".join(names)]
    for i in range(matrix.shape[0]):
        row = ("" if np.isnan(v) else f"{v:.4f}" for v in matrix[i])
        lines.append(f"{t[i]:.4f}," + ",".join(row))
    target.write_text("\n".join(lines) + "\n")
    return target


def write_wfdb(ecg: Ecg, folder: Path, record: str) -> Path:
    """A WFDB record (.hea + .dat, 16-bit, 1 uV per unit); unprinted stretches are WFDB's missing
    value. Needs the `wfdb` package (pip install 'ecg-edge[wfdb]')."""
    import wfdb

    names, matrix = page_matrix(ecg)
    wfdb.wrsamp(
        record,
        fs=ecg.fs,
        units=["mV"] * len(names),
        sig_name=names,
        p_signal=matrix,
        fmt=["16"] * len(names),
        adc_gain=[1000.0] * len(names),
        baseline=[0] * len(names),
        write_dir=str(folder),
        comments=[f"digitized by ecg-edge from a {ecg.layout} printout"],
    )
    return folder / f"{record}.hea"


def export(ecg: Ecg, row: dict, source: Path, folder: Path, fmt: str) -> Path:
    """Write one scan's signals into ``folder`` in ``fmt``; the file written (the header for WFDB)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(source)
    if fmt == "csv":
        return write_csv(ecg, folder / f"{stem}.csv")
    if fmt == "json":
        target = folder / f"{stem}.json"
        target.write_text(json.dumps(row) + "\n")
        return target
    if fmt == "wfdb":
        return write_wfdb(ecg, folder, stem)
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
