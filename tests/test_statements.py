"""One test per criterion of edge.statements, on measurements with known values, and end to end
on rendered printouts of synthetic signals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edge.leads import LEAD_NAMES
from edge.measure import Measurements
from edge.pipeline import read_ecg
from edge.statements import interpret
from train.render import render_printout, synthetic_ecg

FLAT = {lead: 0.0 for lead in LEAD_NAMES}
NORMAL = Measurements(
    heart_rate_bpm=72.0, rr_irregularity=0.02, pr_ms=160.0, qrs_ms=90.0, qt_ms=380.0, qtc_ms=416.0, axis_deg=45.0,
    st_mv=dict(FLAT), q_wave={lead: False for lead in LEAD_NAMES}, t_inverted={lead: False for lead in LEAD_NAMES},
    beats=12, rate_from="rhythm strip II", rr_s=(0.83,) * 11, st_j_mv=dict(FLAT),
    r_mv={lead: 0.8 for lead in LEAD_NAMES},
)  # fmt: skip


def codes(m: Measurements) -> set[str]:
    return {s.code for s in interpret(m)}


def test_a_normal_ecg_is_sinus_rhythm_and_nothing_else():
    (only,) = interpret(NORMAL)
    assert only.code == "sinus" and "72 bpm" in only.evidence


@pytest.mark.parametrize(("rate", "code"), [(48, "sinus_bradycardia"), (59.9, "sinus_bradycardia"),
                                            (60, "sinus"), (100, "sinus"), (101, "sinus_tachycardia")])  # fmt: skip
def test_rate_thresholds(rate, code):
    assert code in codes(replace(NORMAL, heart_rate_bpm=rate))


def test_irregular_without_p_waves_is_possible_atrial_fibrillation():
    m = replace(NORMAL, rr_irregularity=0.2, pr_ms=None, rr_s=(0.6, 0.9, 0.7, 1.1, 0.65, 0.8))
    assert "irregular_no_p" in codes(m)
    assert "irregular_rhythm" in codes(replace(m, pr_ms=150.0))
    assert "sinus" not in codes(m)


def test_a_premature_beat_is_found_from_the_rr_intervals():
    m = replace(NORMAL, rr_s=(0.83, 0.83, 0.55, 1.1, 0.83, 0.83), rr_irregularity=0.22)
    statement = next(s for s in interpret(m) if s.code == "premature_beats")
    assert "550 ms" in statement.evidence
    assert "premature_beats" not in codes(NORMAL)


def test_first_degree_av_block_above_200_ms():
    assert "first_degree_av_block" in codes(replace(NORMAL, pr_ms=230.0))
    assert "first_degree_av_block" not in codes(replace(NORMAL, pr_ms=200.0))


def test_wide_qrs_from_120_ms():
    assert "wide_qrs" in codes(replace(NORMAL, qrs_ms=120.0))
    assert "wide_qrs" not in codes(replace(NORMAL, qrs_ms=118.0))


@pytest.mark.parametrize(("axis", "code"), [(-45, "left_axis_deviation"), (120, "right_axis_deviation")])
def test_axis_deviation(axis, code):
    assert code in codes(replace(NORMAL, axis_deg=axis))
    assert not codes(replace(NORMAL, axis_deg=-30)) & {"left_axis_deviation", "right_axis_deviation"}


def test_q_waves_need_two_contiguous_leads_of_a_territory():
    def with_q(*leads):
        return replace(NORMAL, q_wave={lead: lead in leads for lead in LEAD_NAMES})

    assert "q_waves_inferior" in codes(with_q("III", "aVF"))
    assert "q_waves_anterior" in codes(with_q("V2", "V3"))
    assert "q_waves_lateral" in codes(with_q("I", "aVL"))
    assert not any(c.startswith("q_waves") for c in codes(with_q("III")))  # III alone is often normal
    assert not any(c.startswith("q_waves") for c in codes(with_q("V1", "aVL")))  # not contiguous
    assert not any(c.startswith("q_waves") for c in codes(with_q("aVR", "I")))  # aVR does not count


def test_st_elevation_thresholds_of_the_universal_definition():
    def st(**values):
        levels = {**FLAT, **values}
        return replace(NORMAL, st_j_mv=levels, st_mv=levels)

    assert "st_elevation_inferior" in codes(st(II=0.12, aVF=0.15))
    assert "st_elevation_inferior" not in codes(st(II=0.12, aVF=0.08))
    # V2-V3 need 0.2 mV.
    assert "st_elevation_anterior" not in codes(st(V2=0.15, V3=0.15))
    assert "st_elevation_anterior" in codes(st(V2=0.25, V3=0.22))
    assert "st_elevation_anterior" in codes(st(V3=0.25, V4=0.12))
    evidence = next(s.evidence for s in interpret(st(II=0.12, aVF=0.15)) if s.code == "st_elevation_inferior")
    assert "II +0.12 mV" in evidence and "aVF +0.15 mV" in evidence


def test_st_depression_needs_the_j_point_and_60_ms_after_it():
    levels = {**FLAT, "V5": -0.08, "V6": -0.07}
    assert "st_depression_lateral" in codes(replace(NORMAL, st_j_mv=levels, st_mv=levels))
    upsloping = {**FLAT, "V5": 0.02, "V6": 0.01}
    assert "st_depression_lateral" not in codes(replace(NORMAL, st_j_mv=levels, st_mv=upsloping))


def test_t_inversion_by_territory_ignores_avr_v1_and_leads_without_r():
    def inverted(*leads, r=0.8):
        return replace(NORMAL, t_inverted={lead: lead in leads for lead in LEAD_NAMES},
                       r_mv={lead: r for lead in LEAD_NAMES})  # fmt: skip

    assert "t_inversion_anterior" in codes(inverted("V2", "V3"))
    assert "t_inversion_inferior" in codes(inverted("II", "aVF"))
    assert not any(c.startswith("t_inversion") for c in codes(inverted("V1", "aVR")))
    assert not any(c.startswith("t_inversion") for c in codes(inverted("V2", "V3", r=0.05)))


def test_long_qtc_from_460_ms():
    assert "long_qtc" in codes(replace(NORMAL, qtc_ms=470.0, qt_ms=400.0))
    assert "long_qtc" not in codes(replace(NORMAL, qtc_ms=450.0))


def test_unknown_measurements_give_no_statement_about_them():
    assert interpret(Measurements()) == []


def test_rendered_tachycardia_and_bradycardia_are_stated():
    for rate, code in ((130, "tachycardia"), (45, "bradycardia")):
        reading = read_ecg(render_printout(synthetic_ecg(heart_rate=rate, seed=5)).image)
        assert any(code in s.code or code in s.text for s in reading.statements), reading.statements


def test_rendered_st_elevation_is_stated_with_its_leads():
    # The injury current points along the R wave (down and to the left): inferior and lateral leads.
    reading = read_ecg(render_printout(synthetic_ecg(heart_rate=70, seed=2, st_shift_mv=0.35)).image)
    found = {s.code for s in reading.statements}
    assert found & {"st_elevation_inferior", "st_elevation_lateral"}, reading.statements
