"""How well printouts are read back into signals.

    python benchmarks/digitization.py [--data DATA] [--signals 6] [--out benchmarks/digitization]

1. Ground truth: known 12-lead signals (train.render.synthetic_ecg: a moving heart vector, see its
   docstring for its limits) drawn as printouts (train.render.render_printout) in the shared data's
   3x4 + rhythm template and in 6x2, with and without grid, at scan and half resolution, as JPEG,
   and with photo-like degradations (albumentations), then digitized. Scored per lead with the
   PhysioNet Challenge 2024 SNR (best over time shifts up to 20 ms, each signal's mean removed),
   beside it the same SNR at the best continuous shift (the shapes, whatever the page's clock) and
   the rhythm strips' SNR, and every measurement against the same measurement made on the known signal itself.
2. Without ground truth, over every scan of the shared data set: failures, Einthoven's law,
   aVR + aVL + aVF = 0, the rhythm strip against its lead, and our heart rate against the one the
   device printed in the footer (train.footer, when it can be read). The worst cases are drawn in
   docs/figures/digitization/.

Writes benchmarks/digitization.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import albumentations as A
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from machine import describe, summary  # noqa: E402

from edge.leads import LEAD_NAMES, PAPER_SPEED_MM_S, LayoutError  # noqa: E402
from edge.measure import measure  # noqa: E402
from edge.page import DETAIL_SIZE  # noqa: E402
from edge.pipeline import DEFAULT_CONFIG, read_ecg  # noqa: E402
from edge.preprocess import ImageDecodeError  # noqa: E402
from edge.signals import FS, Ecg, LeadSignal, Scale  # noqa: E402
from train.render import render_printout, synthetic_ecg  # noqa: E402

WHITE = (255, 255, 255)
MAX_SHIFT = int(0.02 * FS)


def _album(transform: A.BasicTransform):
    compose = A.Compose([transform], seed=11)
    return lambda image: compose(image=image)["image"]


def _jpeg(quality: int):
    def apply(image: np.ndarray) -> np.ndarray:
        return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)

    return apply


def _half(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


CLEAN = {
    "3x4 + rhythm, grid": ("3x4", True, []),
    "3x4 + rhythm, no grid": ("3x4", False, []),
    "6x2 + rhythm, grid": ("6x2", True, []),
    "6x2 + rhythm, no grid": ("6x2", False, []),
    "3x4, grid, half resolution": ("3x4", True, [_half]),
    "3x4, grid, JPEG 90": ("3x4", True, [_jpeg(90)]),
}
PHOTO = {
    "3x4, blur (Gaussian 5-7 px) + JPEG 80": ("3x4", True, [_album(A.GaussianBlur(blur_limit=(5, 7), p=1)), _jpeg(80)]),
    "3x4, noise + JPEG 80": ("3x4", True, [_album(A.GaussNoise(std_range=(0.03, 0.06), p=1)), _jpeg(80)]),
    "3x4, rotation 3 degrees": (
        "3x4", True, [_album(A.Rotate(limit=(3, 3), border_mode=cv2.BORDER_CONSTANT, fill=WHITE, p=1))]
    ),
    "3x4, uneven lighting + JPEG 80": (
        "3x4", True, [_album(A.Illumination(mode="linear", intensity_range=(0.15, 0.2), p=1)), _jpeg(80)]
    ),
    "3x4, half resolution + blur + JPEG 70": (
        "3x4", True, [_half, _album(A.GaussianBlur(blur_limit=(3, 3), p=1)), _jpeg(70)]
    ),
}  # fmt: skip
MEASURES = ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "axis_deg")


def _snr_db(truth: np.ndarray, digitized: np.ndarray) -> float:
    """The SNR of ``digitized`` against ``truth`` (the same instants), each one's mean removed."""
    x, y = truth - truth.mean(), digitized - digitized.mean()
    noise = float(np.sum((x - y) ** 2))
    return 10 * math.log10(float(np.sum(x**2)) / noise) if noise > 0 else 99.0


def aligned_snr_db(truth: np.ndarray, digitized: np.ndarray) -> float | None:
    best = None
    for k in range(-MAX_SHIFT, MAX_SHIFT + 1):
        a = truth[max(0, k) : len(truth) + min(0, k)]
        b = digitized[max(0, -k) : len(digitized) + min(0, -k)]
        known = ~np.isnan(b)
        if known.sum() < 0.5 * len(b):
            continue
        snr = _snr_db(a[known], b[known])
        best = snr if best is None else max(best, snr)
    return best


FINE = 10  # the known signals are also drawn at FINE x FS, to shift them by a tenth of a sample


def subsample_snr_db(fine: np.ndarray, start_s: float, digitized: np.ndarray) -> float | None:
    """The SNR at the best *continuous* time shift (steps of 1 / (FINE x FS) s, up to MAX_SHIFT
    samples): how well the shapes were read, whatever the page's clock. The Challenge's SNR shifts
    by whole samples (2 ms at 500 Hz), which leaves up to 1 ms of the clock's error in it."""
    known = ~np.isnan(digitized)
    if known.sum() < 0.5 * len(digitized):
        return None
    at = (np.flatnonzero(known) + int(round(start_s * FS))) * FINE
    values = digitized[known]
    best = None
    for k in range(-MAX_SHIFT * FINE, MAX_SHIFT * FINE + 1):
        inside = (at + k >= 0) & (at + k < len(fine))  # the page's ends: the overlap, as aligned_snr_db
        if inside.sum() < 0.5 * len(digitized):
            continue
        snr = _snr_db(fine[at[inside] + k], values[inside])
        best = snr if best is None else max(best, snr)
    return best


def _truth_ecg(truth: dict[str, np.ndarray], layout: str) -> Ecg:
    """The known signals cut as the printout shows them, to measure them the same way."""
    column_s = 2.5 if layout == "3x4" else 5.0
    rows = 3 if layout == "3x4" else 6
    leads = {}
    for index, name in enumerate(LEAD_NAMES):
        start = (index // rows) * column_s
        mv = truth[name][int(start * FS) : int((start + column_s) * FS)]
        leads[name] = LeadSignal(name, start, mv - np.median(mv), 1.0)
    strip = LeadSignal("II", 0.0, truth["II"] - np.median(truth["II"]), 1.0)
    return Ecg(FS, layout, leads, (strip,), Scale(1.0, 1.0, "known"))


RATES = [48, 62, 75, 90, 110, 135, 70, 82]  # bpm of the known signals, in turn


def known_signal(k: int, fs: float = FS) -> dict[str, np.ndarray]:
    """The ``k``-th known 12-lead signal (10 s at ``fs``: the same beats at any rate) of the
    ground-truth conditions."""
    return synthetic_ecg(heart_rate=RATES[k % len(RATES)], seed=100 + k, rr_jitter=0.02, fs=fs)


def lead_snrs(truth: dict[str, np.ndarray], ecg: Ecg, fine: dict[str, np.ndarray] | None = None) -> list[float]:
    """The SNR of every lead read, against the known signal over the same seconds of the page; with
    ``fine`` (the known signal at FINE x FS), at the best continuous shift instead
    (``subsample_snr_db``)."""
    snrs = []
    for name, signal in ecg.leads.items():
        if not signal.ok:
            continue
        if fine is not None:
            snr = subsample_snr_db(fine[name], signal.start_s, signal.mv)
        else:
            i0 = int(round(signal.start_s * ecg.fs))
            snr = aligned_snr_db(truth[name][i0 : i0 + len(signal.mv)], signal.mv)
        if snr is not None:
            snrs.append(snr)
    return snrs


def strip_snrs(truth: dict[str, np.ndarray], ecg: Ecg) -> list[float]:
    """The SNR of every rhythm strip read (the renderings' strips are lead II), against the known
    signal over the same seconds of the page."""
    snrs = []
    for strip in ecg.rhythm:
        if not strip.ok:
            continue
        i0 = int(round(strip.start_s * ecg.fs))
        mv = strip.mv[max(0, -i0) :]  # a strip found to start a little before the rows' clock
        snr = aligned_snr_db(truth["II"][max(0, i0) : max(0, i0) + len(mv)], mv)
        if snr is not None:
            snrs.append(snr)
    return snrs


def ground_truth(n_signals: int) -> dict:
    rows = {}
    for title, (layout, grid, steps) in {**CLEAN, **PHOTO}.items():
        snrs, fine_snrs, strips, errors, failures, ms = [], [], [], {k: [] for k in MEASURES}, 0, []
        for k in range(n_signals):
            truth = known_signal(k)
            known = measure(_truth_ecg(truth, layout))
            image = render_printout(truth, layout=layout, grid=grid).image
            for step in steps:
                image = step(image)
            t0 = time.perf_counter()
            try:
                reading = read_ecg(image)
            except LayoutError:
                failures += 1
                continue
            ms.append((time.perf_counter() - t0) * 1e3)
            snrs += lead_snrs(truth, reading.ecg)
            fine_snrs += lead_snrs(truth, reading.ecg, known_signal(k, FS * FINE))
            strips += strip_snrs(truth, reading.ecg)
            got = reading.measurements
            for key in MEASURES:
                a, b = getattr(got, key), getattr(known, key)
                if a is not None and b is not None:
                    errors[key].append(a - b)
        rows[title] = {
            "kind": "clean" if title in CLEAN else "photo-like",
            "scans": n_signals,
            "failures": failures,
            "median_snr_db": float(np.median(snrs)) if snrs else None,
            "p10_snr_db": float(np.percentile(snrs, 10)) if snrs else None,
            "median_subsample_snr_db": float(np.median(fine_snrs)) if fine_snrs else None,
            "strips": len(strips),
            "median_strip_snr_db": float(np.median(strips)) if strips else None,
            "min_strip_snr_db": float(np.min(strips)) if strips else None,
            "median_abs_error": {k: float(np.median(np.abs(v))) if v else None for k, v in errors.items()},
            "median_ms": float(np.median(ms)) if ms else None,
        }
        print(f"{title}: SNR median {rows[title]['median_snr_db']}", file=sys.stderr)
    return rows


def sampling_ceiling(n_signals: int) -> dict:
    """The best a column-by-column reader could do on the working page (1024 px) and on the detail
    page the leads handed out are read from (2048 px): each lead's known signal taken exactly at
    the centre of every page column (one value per column) and joined linearly, as a reader that
    gets every column right would give it. Pixels per second from the rendering's own scale."""
    rendering = render_printout(synthetic_ecg(heart_rate=75.0, seed=100))
    source_px_per_second = PAPER_SPEED_MM_S * rendering.px_per_mm
    longest = max(rendering.image.shape[:2])
    pages = {
        f"working page ({DEFAULT_CONFIG.work_size} px)": DEFAULT_CONFIG.work_size,
        f"detail page ({DETAIL_SIZE} px, the leads handed out)": DETAIL_SIZE,
    }
    rows = {}
    for label, rate in ((k, source_px_per_second * size / longest) for k, size in pages.items()):
        snrs = []
        for k in range(n_signals):
            truth = synthetic_ecg(heart_rate=[48, 62, 75, 90, 110, 135][k % 6], seed=100 + k, rr_jitter=0.02)
            for index, name in enumerate(LEAD_NAMES):
                start = (index // 3) * 2.5
                segment = truth[name][int(start * FS) : int((start + 2.5) * FS)]
                t = np.arange(segment.size) / FS
                columns = (np.arange(int(2.5 * rate)) + 0.5) / rate
                snr = aligned_snr_db(segment, np.interp(t, columns, np.interp(columns, t, segment)))
                if snr is not None:
                    snrs.append(snr)
        rows[label] = {"px_per_second": round(rate, 1), "median_snr_db": float(np.median(snrs))}
        print(f"sampling ceiling, {label}: {rows[label]}", file=sys.stderr)
    return rows


def shared_scans(data: Path, figures: Path) -> dict:
    files = sorted((data / "images").rglob("*.jpg")) + sorted((data / "fullres").rglob("*.jpg"))
    try:
        from train.footer import read_printed_heart_rates
    except ImportError:
        read_printed_heart_rates = None
    printed: list[int | None] = [None] * len(files)
    if read_printed_heart_rates is not None:
        grays = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
        printed = read_printed_heart_rates(grays)
    results = []
    for path, device_rate in zip(files, printed):
        t0 = time.perf_counter()
        try:
            reading = read_ecg(path)
        except (LayoutError, ImageDecodeError) as exc:
            results.append({"file": str(path.relative_to(data)), "error": str(exc)})
            continue
        q, m = reading.quality, reading.measurements
        results.append(
            {
                "file": str(path.relative_to(data)),
                "error": None,
                "ms": (time.perf_counter() - t0) * 1e3,
                "digitize_ms": reading.digitize_ms,
                "einthoven_db": q.einthoven_db,
                "augmented_db": q.augmented_db,
                "rhythm_db": q.rhythm_db,
                "missing": len(q.missing),
                "warnings": list(q.warnings),
                "heart_rate_bpm": m.heart_rate_bpm,
                "printed_heart_rate": device_rate,
            }
        )
    ok = [r for r in results if r["error"] is None]
    summaries = {
        SHARED_ALL: _summary(results),
        # The full-resolution originals are read from a detail page (edge.page.detail_page); the
        # half-resolution copies hold no more detail than the working page.
        SHARED_FULL: _summary([r for r in results if r["file"].startswith("fullres/")]),
    }
    _draw_worst(data, ok, figures)
    return {"summary": summaries[SHARED_ALL], "summaries": summaries, "scans": results}


SHARED_ALL = "all scans (491 half-resolution copies, 8 full-resolution originals)"
SHARED_FULL = "the 8 full-resolution originals"


def _summary(results: list[dict]) -> dict:
    ok = [r for r in results if r["error"] is None]

    def med(key: str) -> float | None:
        values = [r[key] for r in ok if r[key] is not None]
        return float(np.median(values)) if values else None

    compared = [r for r in ok if r["printed_heart_rate"] and r["heart_rate_bpm"]]
    within = [abs(r["heart_rate_bpm"] - r["printed_heart_rate"]) <= 3 for r in compared]
    return {
        "scans": len(results),
        "failures": len(results) - len(ok),
        "median_einthoven_db": med("einthoven_db"),
        "median_augmented_db": med("augmented_db"),
        "median_rhythm_db": med("rhythm_db"),
        "share_with_warnings": sum(bool(r["warnings"]) for r in ok) / max(1, len(ok)),
        "printed_rates_read": len([r for r in results if r["printed_heart_rate"]]),
        "rate_compared": len(compared),
        "rate_within_3_bpm": float(np.mean(within)) if within else None,
        "median_digitize_ms": med("digitize_ms"),
        "median_total_ms": med("ms"),
    }


def _draw_worst(data: Path, ok: list[dict], figures: Path) -> None:
    from edge.plot import draw_leads

    figures.mkdir(parents=True, exist_ok=True)
    for old in figures.glob("worst-*.png"):
        old.unlink()
    scored = [r for r in ok if r["einthoven_db"] is not None]
    for rank, row in enumerate(sorted(scored, key=lambda r: r["einthoven_db"])[:3]):
        path = data / row["file"]
        scan = cv2.imread(str(path))
        leads = draw_leads(read_ecg(path).ecg)
        scan = cv2.resize(scan, (leads.shape[1], int(scan.shape[0] * leads.shape[1] / scan.shape[1])))
        cv2.imwrite(str(figures / f"worst-{rank + 1}-einthoven.png"), np.vstack([scan, leads]))


def markdown(truth_rows: dict, shared: dict | None, machine: dict, ceiling: dict | None = None) -> str:
    lines = [
        "| condition | kind | scans | failures | median SNR (dB) | 10th pct SNR (dB) | "
        "median SNR, sub-sample shift (dB) | rhythm strips: median / lowest SNR (dB) | heart rate err. (bpm) | "
        "PR err. (ms) | QRS err. (ms) | QT err. (ms) | axis err. (deg) | ms per scan |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    for title, r in truth_rows.items():
        e = r["median_abs_error"]
        lines.append(
            f"| {title} | {r['kind']} | {r['scans']} | {r['failures']} | {f(r['median_snr_db'])} | "
            f"{f(r['p10_snr_db'])} | {f(r.get('median_subsample_snr_db'))} | "
            f"{f(r.get('median_strip_snr_db'))} / {f(r.get('min_strip_snr_db'))} | {f(e['heart_rate_bpm'])} | "
            f"{f(e['pr_ms'], 0)} | {f(e['qrs_ms'], 0)} | "
            f"{f(e['qt_ms'], 0)} | {f(e['axis_deg'], 0)} | {f(r['median_ms'], 0)} |"
        )
    lines.append("")
    lines.append("Errors are medians of |digitized - known|, each measurement made the same way on the known signal. "
                 "*Sub-sample shift*: the SNR at the best continuous time shift (0.2 ms steps), the shapes' fidelity "
                 "whatever the page's clock; the Challenge's SNR shifts by whole samples (2 ms), so up to 1 ms of the "
                 "clock's error stays in it.")  # fmt: skip
    if ceiling:
        lines += ["", "Sampling ceiling of a column-by-column reader (3x4 panels, every column read exactly; the rows "
                  "read steep strokes row by row on detail pages):", ""]  # fmt: skip
        lines += [f"- {k}, {v['px_per_second']} px/s: {v['median_snr_db']:.1f} dB median" for k, v in ceiling.items()]
    if shared:
        lines += [
            "",
            "Shared data set, no ground truth:",
            "",
            "| scans | failures | Einthoven median (dB) | aVR+aVL+aVF median (dB) | rhythm strip median (dB) | "
            "scans with a warning | printed rates read | rate within 3 bpm of the printed one | "
            "digitize ms (median) | read_ecg ms (median) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for title, s in shared.get("summaries", {SHARED_ALL: shared["summary"]}).items():
            lines.append(
                f"| {title}: {s['scans']} | {s['failures']} | {f(s['median_einthoven_db'])} | "
                f"{f(s['median_augmented_db'])} | {f(s['median_rhythm_db'])} | {s['share_with_warnings']:.0%} | "
                f"{s['printed_rates_read']} | "
                f"{'-' if s['rate_within_3_bpm'] is None else format(s['rate_within_3_bpm'], '.0%')} "
                f"(of {s['rate_compared']}) | {f(s['median_digitize_ms'], 0)} | {f(s['median_total_ms'], 0)} |"
            )
    lines += ["", summary(machine)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ecg-cardiac-928")
    parser.add_argument("--signals", type=int, default=6, help="known signals per condition")
    parser.add_argument("--out", type=Path, default=HERE / "digitization")
    parser.add_argument("--figures", type=Path, default=REPO / "docs" / "figures" / "digitization")
    parser.add_argument("--no-shared", action="store_true", help="skip the shared data set")
    args = parser.parse_args()
    truth_rows = ground_truth(args.signals)
    ceiling = sampling_ceiling(args.signals)
    shared = None
    if not args.no_shared and (args.data / "images").is_dir():
        shared = shared_scans(args.data, args.figures)
    machine = describe(("numpy", "opencv-python-headless", "ai-edge-litert"))
    args.out.with_suffix(".json").write_text(
        json.dumps({"machine": machine, "ground_truth": truth_rows, "ceiling": ceiling, "shared": shared}, indent=1)
        + "\n"
    )
    table = markdown(truth_rows, shared, machine, ceiling)
    args.out.with_suffix(".md").write_text(
        "# Digitization benchmark\n\nWritten by `python benchmarks/digitization.py`.\n\n" + table
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
