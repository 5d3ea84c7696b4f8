"""Checks of a digitized ECG that need no ground truth.

- Einthoven: leads printed at the same instant obey I - II + III = 0 and aVR + aVL + aVF = 0 (the
  limb leads are all computed from the same two electrode differences), so a digitizer that read
  them right makes the residual small. Reported as an SNR in dB: the power of the largest of the
  three leads over the residual's (the smallest lead, often nearly flat, would make any error
  look large).
- Rhythm strip: it repeats the lead it shows over the same seconds as that lead's panel.
- Coverage: the share of each lead that could be followed.

A scan whose checks fail carries warnings; its numbers are still given, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.leads import GAIN_MM_PER_MV
from edge.signals import Ecg, overlap

# Below these, the digitization is reported as doubtful: an agreement under MIN_AGREEMENT_DB whose
# residual is also larger than MAX_RESIDUAL_MV (RMS). On low-voltage pages a pixel is a large share
# of the signal, so the dB figure alone flagged pages that were read as well as the print allows.
MIN_AGREEMENT_DB = 10.0
MAX_RESIDUAL_MV = 0.04
MIN_COVERAGE = 0.9
# The 1 mV pulse against the time scale: at the standard 25 mm/s and 10 mm/mV it is as tall as
# 0.4 s is long. Beyond this ratio, the rows do not span 10 s (a cropped page) or the printout used
# another speed or gain.
MAX_SCALE_MISMATCH = 0.15


@dataclass(frozen=True)
class EcgQuality:
    einthoven_db: float | None  # I - II + III = 0, where printed at the same instant
    augmented_db: float | None  # aVR + aVL + aVF against 0
    rhythm_db: float | None  # rhythm strip against the panel of the lead it shows
    coverage: dict[str, float]  # lead -> share of samples followed
    missing: dict[str, str]  # lead -> why it could not be read
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.warnings


def _overlap(ecg: Ecg, names: tuple[str, ...]) -> list[np.ndarray] | None:
    """The signals of ``names`` over the samples they share on the page's clock (None when they
    were not printed at the same time or one is missing)."""
    signals = [ecg.leads[n] for n in names]
    if not all(s.ok for s in signals) or len({s.start_s for s in signals}) != 1:
        return None
    n = min(len(s.mv) for s in signals)
    return [s.mv[:n] for s in signals]


def _rms(residual: np.ndarray) -> float:
    known = residual[~np.isnan(residual)]
    return float(np.sqrt(np.mean((known - known.mean()) ** 2))) if known.size else 0.0


def _snr_db(power_of: list[np.ndarray], residual: np.ndarray) -> float | None:
    known = ~np.isnan(residual)
    for p in power_of:
        known &= ~np.isnan(p)
    if known.sum() < 0.5 * len(residual):
        return None
    r = residual[known] - residual[known].mean()
    power = np.mean([np.mean((p[known] - p[known].mean()) ** 2) for p in power_of])
    noise = float(np.mean(r**2))
    if power == 0:
        return None
    return round(float(10 * np.log10(power / noise)), 2) if noise > 0 else 99.0


def _largest(signals: list[np.ndarray]) -> np.ndarray:
    return max(signals, key=lambda x: float(np.nanmean((x - np.nanmean(x)) ** 2)))


def check(ecg: Ecg) -> EcgQuality:
    warnings = []
    residuals = {}
    limb = _overlap(ecg, ("I", "II", "III"))
    einthoven = None
    if limb:
        residuals["Einthoven (I - II + III = 0)"] = limb[0] - limb[1] + limb[2]
        einthoven = _snr_db([_largest(limb)], residuals["Einthoven (I - II + III = 0)"])
    aug = _overlap(ecg, ("aVR", "aVL", "aVF"))
    augmented = None
    if aug:
        residuals["aVR + aVL + aVF = 0"] = aug[0] + aug[1] + aug[2]
        augmented = _snr_db([_largest(aug)], residuals["aVR + aVL + aVF = 0"])
    rhythm_db = None
    for strip in ecg.rhythm:
        if strip.ok and strip.lead in ecg.leads and ecg.leads[strip.lead].ok:
            panel = ecg.leads[strip.lead]
            panel_part, strip_part = overlap(panel, strip, ecg.fs)
            if len(panel_part) >= 0.5 * len(panel.mv):
                residuals["rhythm strip against its lead"] = strip_part - panel_part
                rhythm_db = _snr_db([panel_part], residuals["rhythm strip against its lead"])
                break
    for name, value in (("Einthoven (I - II + III = 0)", einthoven), ("aVR + aVL + aVF = 0", augmented),
                        ("rhythm strip against its lead", rhythm_db)):  # fmt: skip
        if value is not None and value < MIN_AGREEMENT_DB and _rms(residuals[name]) > MAX_RESIDUAL_MV:
            warnings.append(
                f"{name} agrees to {value:.1f} dB only ({_rms(residuals[name]):.2f} mV RMS): the leads may be misread"
            )
    scale = ecg.scale
    if scale.mv_from == "calibration pulse" and scale.px_per_mm > 0:
        pulse_mm = scale.px_per_mv / scale.px_per_mm
        if abs(pulse_mm / GAIN_MM_PER_MV - 1) > MAX_SCALE_MISMATCH:
            warnings.append(
                f"the 1 mV pulse is {pulse_mm:.1f} mm tall if the rows span 10 s at 25 mm/s: a cropped page, or "
                "another paper speed or gain; times (rate, intervals) may be scaled wrongly"
            )
    missing = {name: s.reason for name, s in ecg.leads.items() if not s.ok}
    if missing:
        warnings.append(f"{len(missing)} lead(s) could not be read: {', '.join(missing)}")
    thin = [name for name, s in ecg.leads.items() if s.ok and s.coverage < MIN_COVERAGE]
    if thin:
        warnings.append(f"trace partly lost in {', '.join(thin)}")
    return EcgQuality(
        einthoven_db=einthoven,
        augmented_db=augmented,
        rhythm_db=rhythm_db,
        coverage={name: round(s.coverage, 3) for name, s in ecg.leads.items()},
        missing=missing,
        warnings=tuple(warnings),
    )
