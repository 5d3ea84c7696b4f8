"""Known 12-lead signals drawn as printouts, to score the digitizer against ground truth.

``synthetic_ecg`` makes a 12-lead ECG from a moving heart vector (P, QRS and T waves as Gaussian
bumps, each with its own direction), read by electrode potentials, so the limb leads obey
Einthoven's law exactly as real ones do. It is a test signal, not physiology: no noise model, no
beat-to-beat variation beyond an optional RR jitter. ``render_printout`` draws signals in the
shared data's device template (3x4 + a 10 s rhythm strip: 2213x1572 px at 200 dpi, pink grid,
1 mV calibration pulses, lead labels, lead-switch markers) or 6x2, with or without the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.leads import GAIN_MM_PER_MV, LEAD_NAMES, PAPER_SPEED_MM_S, SECONDS_PER_ROW

# Directions (x: patient's left, y: feet, z: front) of the electrodes seen from the heart.
_ELECTRODES = {
    "RA": (-0.87, -0.5, 0.0),
    "LA": (0.87, -0.5, 0.0),
    "LL": (0.0, 1.0, 0.0),
    "V1": (-0.45, 0.1, 0.89),
    "V2": (-0.1, 0.1, 1.0),
    "V3": (0.3, 0.1, 0.95),
    "V4": (0.6, 0.15, 0.78),
    "V5": (0.85, 0.1, 0.5),
    "V6": (1.0, 0.05, 0.1),
}
# (name, centre after the beat's start in s, width in s, heart vector in mV): P, Q, R, S, T.
_WAVES = (
    ("P", 0.10, 0.022, (0.1, 0.12, 0.02)),
    ("Q", 0.245, 0.009, (-0.08, -0.06, 0.12)),
    ("R", 0.27, 0.012, (0.75, 0.7, -0.4)),
    ("S", 0.295, 0.011, (-0.15, -0.2, 0.6)),
    ("T", 0.55, 0.05, (0.2, 0.18, -0.1)),
)


@dataclass(frozen=True)
class Rendering:
    image: np.ndarray  # BGR page
    layout: str
    px_per_mm: float


def synthetic_ecg(
    heart_rate: float = 70.0, seconds: float = SECONDS_PER_ROW, fs: float = 500.0, rr_jitter: float = 0.0,
    seed: int = 0, st_shift_mv: float = 0.0,
) -> dict[str, np.ndarray]:  # fmt: skip
    """12 leads (LEAD_NAMES) in mV at ``fs``. ``st_shift_mv`` lifts the ST segment along the R wave's
    direction (an injury current)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    vector = np.zeros((n, 3))
    rr = 60.0 / heart_rate
    beat = -rng.uniform(0, rr)  # the page starts anywhere in a beat
    while beat < seconds:
        for _name, centre, width, direction in _WAVES:
            vector += np.exp(-0.5 * ((t - beat - centre) / width) ** 2)[:, None] * np.array(direction)
        if st_shift_mv:
            st = ((t > beat + 0.31) & (t < beat + 0.45)).astype(float)
            vector += np.convolve(st, np.ones(15) / 15, mode="same")[:, None] * st_shift_mv * np.array(_WAVES[2][3])
        beat += rr * (1 + rr_jitter * rng.standard_normal())
    potential = {name: vector @ np.array(direction) for name, direction in _ELECTRODES.items()}
    ra, la, ll = potential["RA"], potential["LA"], potential["LL"]
    wct = (ra + la + ll) / 3
    leads = {
        "I": la - ra,
        "II": ll - ra,
        "III": ll - la,
        "aVR": ra - (la + ll) / 2,
        "aVL": la - (ra + ll) / 2,
        "aVF": ll - (ra + la) / 2,
    }
    leads.update({f"V{k}": potential[f"V{k}"] - wct for k in range(1, 7)})
    return {name: leads[name] for name in LEAD_NAMES}


def _draw_grid(page: np.ndarray, box: tuple[int, int, int, int], px_mm: float) -> None:
    x0, y0, x1, y1 = box
    minor, major = (215, 205, 255), (160, 150, 250)  # BGR pink
    for k in range(int((x1 - x0) / px_mm) + 1):
        x = int(round(x0 + k * px_mm))
        cv2.line(page, (x, y0), (x, y1), major if k % 5 == 0 else minor, 1)
    for k in range(int((y1 - y0) / px_mm) + 1):
        y = int(round(y0 + k * px_mm))
        cv2.line(page, (x0, y), (x1, y), major if k % 5 == 0 else minor, 1)


def _polyline(page: np.ndarray, xs: np.ndarray, ys: np.ndarray, thickness: int) -> None:
    points = np.stack([xs, ys], axis=1)
    shift = 4  # sub-pixel vertices
    cv2.polylines(page, [np.round(points * (1 << shift)).astype(np.int32)], False, (20, 20, 20), thickness,
                  cv2.LINE_AA, shift)  # fmt: skip


def render_printout(
    leads: dict[str, np.ndarray],
    fs: float = 500.0,
    layout: str = "3x4",
    grid: bool = True,
    rhythm_lead: str | None = "II",
    dpi: float = 200.0,
    thickness: int = 2,
    labels: bool = True,
) -> Rendering:
    """``leads`` (10 s each) drawn as a printout. ``layout``: 3x4 (2.5 s per lead) or 6x2 (5 s)."""
    px_mm = dpi / 25.4
    width, height = int(round(2213 * dpi / 200)), int(round(1572 * dpi / 200))
    page = np.full((height, width, 3), 255, np.uint8)
    box = (int(68 * px_mm / 7.874), int(283 * px_mm / 7.874), int(2176 * px_mm / 7.874), int(1518 * px_mm / 7.874))
    if grid:
        _draw_grid(page, box, px_mm)
    columns, lead_rows = (4, 3) if layout == "3x4" else (2, 6)
    rows = lead_rows + (1 if rhythm_lead else 0)
    top, bottom = box[1] + 18 * px_mm, box[3] - 12 * px_mm
    baselines = [top + (bottom - top) * (r + 0.5) / rows for r in range(rows)]
    x_start = box[0] + 11 * px_mm
    px_s = PAPER_SPEED_MM_S * px_mm
    px_mv = GAIN_MM_PER_MV * px_mm
    column_s = SECONDS_PER_ROW / columns
    for r, baseline in enumerate(baselines):
        # 1 mV calibration pulse, 0.2 s wide, ending 3 mm before the trace (as the device prints it).
        p0 = x_start - 9 * px_mm
        xs = np.array([p0 - 1.5 * px_mm, p0, p0, p0 + 0.2 * px_s, p0 + 0.2 * px_s, p0 + 0.2 * px_s + 1 * px_mm])
        ys = np.array([baseline, baseline, baseline - px_mv, baseline - px_mv, baseline, baseline])
        _polyline(page, xs, ys, thickness)
        if r < lead_rows:
            names = [LEAD_NAMES[c * lead_rows + r] for c in range(columns)]
            spans = [(c * column_s, (c + 1) * column_s) for c in range(columns)]
        else:
            names, spans = [rhythm_lead], [(0.0, SECONDS_PER_ROW)]
        for name, (t0, t1) in zip(names, spans):
            i0, i1 = int(round(t0 * fs)), int(round(t1 * fs))
            signal = leads[name][i0:i1]
            xs = x_start + (t0 + np.arange(len(signal)) / fs) * px_s
            _polyline(page, xs, baseline - signal * px_mv, thickness)
            if labels:
                cv2.putText(page, name, (int(xs[0] + 1.5 * px_mm), int(baseline - 1.5 * px_mm)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.035 * px_mm, (40, 40, 40), 1, cv2.LINE_AA)  # fmt: skip
            if r == 0 and t0 > 0:  # lead-switch marker, across the lead rows as the device draws it
                x = int(round(xs[0]))
                y0, y1 = int(baselines[0] - 10 * px_mm), int(baselines[lead_rows - 1] + 10 * px_mm)
                cv2.line(page, (x, y0), (x, y1), (20, 20, 20), thickness)
    cv2.putText(page, f"25mm/s 10mm/mV {layout}", (box[0], int(box[3] + 8 * px_mm)), cv2.FONT_HERSHEY_SIMPLEX,
                0.04 * px_mm, (30, 30, 30), 1, cv2.LINE_AA)  # fmt: skip
    return Rendering(page, layout, px_mm)
