"""Interpretation statements from published criteria, computed from the measurements, each with
the measurement that triggered it: what an ECG cart's own program prints (GE 12SL, Philips DXL and
Glasgow are the anchors), independent of any label a model gives.

Criteria and their sources:
- rate: sinus bradycardia < 60 bpm, tachycardia > 100 bpm (AHA/ACCF/HRS 2009 recommendations for
  the standardization and interpretation of the ECG);
- rhythm: irregular when the RR intervals vary by more than 10% (SD/mean); irregular without
  detectable P waves: possible atrial fibrillation; a premature beat: an RR interval under 80% of
  the median followed by a longer one;
- first-degree AV block: PR > 200 ms;
- wide QRS: >= 120 ms (complete bundle-branch block or intraventricular conduction delay);
- axis: left deviation < -30 degrees, right deviation > +90 degrees;
- pathological Q waves (> 0.1 mV deep and >= 40 ms or >= 25% of R) in two contiguous leads of a
  territory (Fourth Universal Definition of MI, 2018);
- ST elevation at the J point in two contiguous leads: >= 0.1 mV, in V2-V3 >= 0.2 mV (the Fourth
  Universal Definition's threshold for men 40 and older; sex and age are not read from the page, so
  the lower thresholds for women, 0.15 mV, and for younger men, 0.25 mV, are not applied);
- ST depression >= 0.05 mV at the J point and 60 ms after it (horizontal or downsloping) in two
  contiguous leads (Fourth Universal Definition);
- T-wave inversion deeper than 0.1 mV in two contiguous leads with an R wave of at least 0.1 mV
  (aVR and V1, where inversion is normal, excluded);
- long QTc (Bazett): >= 460 ms (the AHA threshold for women, the lower of the two, as sex is unknown).

The digitizer's QRS durations run about 15 ms long on rendered printouts (docs/digitization.md), so
"wide QRS" is the statement to read with most care.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.measure import Measurements

BRADY_BPM = 60.0
TACHY_BPM = 100.0
IRREGULAR_CV = 0.10
PREMATURE_RATIO = 0.8
FIRST_DEGREE_PR_MS = 200.0
WIDE_QRS_MS = 120.0
LEFT_AXIS_DEG = -30.0
RIGHT_AXIS_DEG = 90.0
STE_MV = 0.1
STE_V2_V3_MV = 0.2
STD_MV = 0.05
T_INVERSION_MV = -0.1
T_INVERSION_MIN_R_MV = 0.1
LONG_QTC_MS = 460.0

# Contiguous leads, in the order they look at the heart: each territory's neighbours are adjacent.
TERRITORIES = {
    "inferior": ("II", "aVF", "III"),
    "lateral": ("aVL", "I", "V5", "V6"),
    "anterior": ("V1", "V2", "V3", "V4"),
}
CONTIGUOUS = (("aVL", "I"), ("I", "II"), ("II", "aVF"), ("aVF", "III")) + tuple(
    (f"V{k}", f"V{k + 1}") for k in range(1, 6)
)
NORMALLY_INVERTED = {"aVR", "V1"}


@dataclass(frozen=True)
class Statement:
    code: str  # stable key, e.g. "sinus_tachycardia"
    text: str  # what a report prints
    evidence: str  # the measurement that triggered it

    def to_json(self) -> dict:
        return {"code": self.code, "text": self.text, "evidence": self.evidence}


def _contiguous_pairs(leads: set[str]) -> list[tuple[str, str]]:
    return [pair for pair in CONTIGUOUS if pair[0] in leads and pair[1] in leads]


def _territories(leads: set[str]) -> list[str]:
    pairs = _contiguous_pairs(leads)
    return [name for name, group in TERRITORIES.items() if any(a in group and b in group for a, b in pairs)]


def _values(values: dict[str, float | None], leads) -> str:
    return ", ".join(f"{lead} {values[lead]:+.2f} mV" for lead in leads if values.get(lead) is not None)


def interpret(m: Measurements) -> list[Statement]:
    out: list[Statement] = []
    rate = m.heart_rate_bpm
    cv = m.rr_irregularity
    has_p = m.pr_ms is not None
    irregular = cv is not None and cv > IRREGULAR_CV
    if rate is not None:
        if irregular and not has_p:
            text = "Irregular rhythm without detectable P waves: possible atrial fibrillation"
            out.append(Statement("irregular_no_p", text, f"RR SD/mean {cv:.2f}, no P wave found, rate {rate:.0f} bpm"))
        elif irregular:
            out.append(Statement("irregular_rhythm", "Irregular rhythm", f"RR SD/mean {cv:.2f}"))
        else:
            kind = "Sinus rhythm" if has_p else "Regular rhythm, P waves not found"
            code = "sinus" if has_p else "regular_no_p"
            if rate < BRADY_BPM:
                kind, code = ("Sinus bradycardia", "sinus_bradycardia") if has_p else (kind + ", bradycardia", code)
            elif rate > TACHY_BPM:
                kind, code = ("Sinus tachycardia", "sinus_tachycardia") if has_p else (kind + ", tachycardia", code)
            out.append(Statement(code, kind, f"rate {rate:.0f} bpm" + (f", PR {m.pr_ms:.0f} ms" if has_p else "")))
    rr = np.asarray(m.rr_s)
    if rr.size >= 3:
        median = float(np.median(rr))
        early = [i for i in range(rr.size - 1) if rr[i] < PREMATURE_RATIO * median and rr[i + 1] > rr[i]]
        if early:
            shortest = min(rr[i] for i in early)
            out.append(Statement("premature_beats", f"Premature beat{'s' if len(early) > 1 else ''}",
                                 f"{len(early)} RR interval(s) under 80% of the median {median * 1e3:.0f} ms "
                                 f"(shortest {shortest * 1e3:.0f} ms)"))  # fmt: skip
    if m.pr_ms is not None and m.pr_ms > FIRST_DEGREE_PR_MS:
        out.append(Statement("first_degree_av_block", "First-degree AV block", f"PR {m.pr_ms:.0f} ms"))
    if m.qrs_ms is not None and m.qrs_ms >= WIDE_QRS_MS:
        out.append(Statement("wide_qrs", "Wide QRS: bundle-branch block pattern or intraventricular conduction delay",
                             f"QRS {m.qrs_ms:.0f} ms"))  # fmt: skip
    if m.axis_deg is not None:
        if m.axis_deg < LEFT_AXIS_DEG:
            out.append(Statement("left_axis_deviation", "Left axis deviation", f"axis {m.axis_deg:.0f} degrees"))
        elif m.axis_deg > RIGHT_AXIS_DEG:
            out.append(Statement("right_axis_deviation", "Right axis deviation", f"axis {m.axis_deg:.0f} degrees"))
    q_leads = {lead for lead, q in m.q_wave.items() if q and lead != "aVR"}
    for territory in _territories(q_leads):
        leads = [lead for lead in TERRITORIES[territory] if lead in q_leads]
        out.append(Statement(f"q_waves_{territory}", f"Pathological Q waves, {territory} leads "
                             "(possible old infarction)", f"Q waves in {', '.join(leads)}"))  # fmt: skip
    st = m.st_j_mv or m.st_mv
    elevated = {
        lead for lead, v in st.items()
        if v is not None and lead != "aVR" and v >= (STE_V2_V3_MV if lead in ("V2", "V3") else STE_MV)
    }  # fmt: skip
    for territory in _territories(elevated):
        leads = [lead for lead in TERRITORIES[territory] if lead in elevated]
        out.append(Statement(f"st_elevation_{territory}", f"ST elevation, {territory} leads, meeting the "
                             "Universal Definition of MI's thresholds", f"ST at J {_values(st, leads)}"))  # fmt: skip
    depressed = {
        lead for lead, v in st.items()
        if v is not None and lead != "aVR" and v <= -STD_MV and (m.st_mv.get(lead) or 0.0) <= -STD_MV
    }  # fmt: skip
    for territory in _territories(depressed):
        leads = [lead for lead in TERRITORIES[territory] if lead in depressed]
        out.append(Statement(f"st_depression_{territory}", f"ST depression, {territory} leads",
                             f"ST at J {_values(st, leads)}"))  # fmt: skip
    inverted = {
        lead for lead, t in m.t_inverted.items()
        if t and lead not in NORMALLY_INVERTED and (m.r_mv.get(lead) or 0.0) >= T_INVERSION_MIN_R_MV
    }  # fmt: skip
    for territory in _territories(inverted):
        leads = [lead for lead in TERRITORIES[territory] if lead in inverted]
        out.append(Statement(f"t_inversion_{territory}", f"T-wave inversion, {territory} leads",
                             f"T inverted in {', '.join(leads)}"))  # fmt: skip
    if m.qtc_ms is not None and m.qtc_ms >= LONG_QTC_MS:
        out.append(Statement("long_qtc", "Long QTc", f"QTc {m.qtc_ms:.0f} ms (Bazett; QT {m.qt_ms:.0f} ms)"))
    return out
