"""Digitizing: known signals drawn as printouts come back as the same millivolts; the JSON
contract of `ecg-edge digitize`; a lead lost on purpose comes out null with a reason."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.delineate import Beat, Delineator
from edge.layout import find_layout
from edge.leads import LEAD_NAMES, LeadConfig
from edge.measure import _qrs_beats, measure
from edge.page import DETAIL_SIZE, detail_page, read_page
from edge.pipeline import read_ecg, read_signals
from edge.signals import Scale, _page_curve, _row_points, _steep, _unclaim
from tests.conftest import SAMPLES
from train.render import render_printout, synthetic_ecg

runner = CliRunner()
FS = 500


def aligned_snr_db(truth: np.ndarray, digitized: np.ndarray, max_shift: int = 10) -> float:
    """The PhysioNet Challenge 2024 style SNR: best over small time shifts, offsets removed."""
    best = -math.inf
    for k in range(-max_shift, max_shift + 1):
        a = truth[max(0, k) : len(truth) + min(0, k)]
        b = digitized[max(0, -k) : len(digitized) + min(0, -k)]
        known = ~np.isnan(b)
        x, y = a[known] - a[known].mean(), b[known] - b[known].mean()
        best = max(best, 10 * math.log10(np.sum(x**2) / np.sum((x - y) ** 2)))
    return best


def _truth_window(truth: dict, name: str, start_s: float, n: int) -> np.ndarray:
    i0 = int(round(start_s * FS))
    return truth[name][i0 : i0 + n]


@pytest.fixture(scope="module")
def rendered():
    truth = synthetic_ecg(heart_rate=72, seed=1)
    return truth, render_printout(truth, layout="3x4", grid=True)


def test_a_rendered_printout_is_read_back_into_its_signals(rendered):
    truth, page = rendered
    reading = read_ecg(page.image)
    ecg = reading.ecg
    assert ecg.layout == "3x4 + 1 rhythm" and ecg.fs == FS
    assert ecg.scale.mv_from == "calibration pulse"
    assert ecg.scale.px_per_mm == pytest.approx(2 * 0.4627 * 7.874, rel=0.02)  # 200 dpi on the 2048 px detail page
    snrs = []
    for name in LEAD_NAMES:
        signal = ecg.leads[name]
        assert signal.ok and signal.coverage > 0.9, (name, signal.reason)
        assert signal.start_s == pytest.approx(2.5 * (LEAD_NAMES.index(name) // 3))
        snrs.append(aligned_snr_db(_truth_window(truth, name, signal.start_s, len(signal.mv)), signal.mv))
    assert np.median(snrs) > 6, snrs  # benchmarks/digitization.py measures this properly
    (strip,) = ecg.rhythm
    assert strip.lead == "II" and len(strip.mv) == 10 * FS
    assert aligned_snr_db(truth["II"], strip.mv) > 6
    # Einthoven holds in the synthetic truth, so it must hold in what was read.
    assert reading.quality.einthoven_db is not None and reading.quality.einthoven_db > 10


def test_a_full_resolution_scan_is_read_from_its_detail_page(rendered, tmp_path):
    """At the 1024 px working page a printed line is ~1 px wide and an R wave's strokes merge; a scan
    with more detail has its leads read from a page at up to 2048 px (the layout found once, on the
    working page), and they come out closer to what was printed."""
    truth, printout = rendered
    config = LeadConfig()
    page = read_page(printout.image, 1024, config)
    layout = find_layout(page, config)
    coarse = read_signals(page, layout)
    fine = read_signals(page, layout, source=printout.image)
    assert fine.ecg.scale.px_per_second == pytest.approx(2 * coarse.ecg.scale.px_per_second, rel=0.01)

    def median_snr(ecg) -> float:
        return float(np.median([
            aligned_snr_db(_truth_window(truth, n, s.start_s, len(s.mv)), s.mv) for n, s in ecg.leads.items()
        ]))  # fmt: skip

    assert median_snr(fine.ecg) > median_snr(coarse.ecg) + 2
    assert fine.quality.einthoven_db > coarse.quality.einthoven_db
    # read_ecg decodes a file keeping that detail (a JPEG this large would be decoded at half size
    # for the working page alone); a half-resolution copy has none to give.
    path = tmp_path / "printout.jpg"
    cv2.imwrite(str(path), printout.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    from_file = read_ecg(path).ecg.scale.px_per_second
    assert from_file == pytest.approx(fine.ecg.scale.px_per_second, rel=0.01)
    # A half-resolution copy holds no more pixels than the working page, but enlarged to the detail
    # page's scale its strokes are placed row by row where at 1024 px they merge.
    half = cv2.resize(printout.image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    half_page = read_page(half, 1024, config)
    half_layout = find_layout(half_page, config)
    enlarged = detail_page(half, half_page, DETAIL_SIZE, config)
    assert enlarged is not None and max(enlarged.gray.shape) == DETAIL_SIZE
    assert median_snr(read_signals(half_page, half_layout, source=half).ecg) > (
        median_snr(read_signals(half_page, half_layout).ecg) + 2
    )
    assert detail_page(half, half_page, 1024, config) is None  # no larger than the working page


def test_a_pink_grid_saved_as_a_colour_subsampled_jpeg_is_not_read_as_ink(rendered):
    """Scanners and phones save JPEGs with colour at half resolution (4:2:0): a pink grid's lines
    then come out grey in the red channel, and at a detail page's scale they touched the trace's
    ink (median SNR 20.7 -> 16.7 dB on rendered printouts). Without them the JPEG reads as the
    clean printout does."""
    truth, printout = rendered
    encoded = cv2.imencode(".jpg", printout.image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
    jpeg = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    config = LeadConfig()
    page = read_page(jpeg, 1024, config)
    detail = detail_page(jpeg, page, DETAIL_SIZE, config)
    clean = detail_page(printout.image, read_page(printout.image, 1024, config), DETAIL_SIZE, config)
    # The grid's lines are where the clean printout has no ink: none of them is left as ink.
    grid_pixels = (printout.image[..., 0] < 240) & (printout.image.min(axis=2) > 100)
    grid = cv2.resize(grid_pixels.astype(np.uint8), detail.ink.shape[::-1], interpolation=cv2.INTER_NEAREST)
    assert (detail.ink & grid & (1 - cv2.dilate(clean.ink, np.ones((5, 5), np.uint8)))).sum() < 0.001 * grid.sum()

    def median_snr(image) -> float:
        ecg = read_ecg(image).ecg
        return float(np.median([
            aligned_snr_db(_truth_window(truth, n, s.start_s, len(s.mv)), s.mv) for n, s in ecg.leads.items()
        ]))  # fmt: skip

    assert median_snr(jpeg) > median_snr(printout.image) - 1


@pytest.mark.parametrize("offset", [0.0, 0.8, -0.8])
def test_a_steep_stroke_is_placed_between_pixels_row_by_row(offset):
    """Each pixel row of a steep anti-aliased stroke gives where the stroke crosses it, to a fraction
    of a pixel, even when the column reading it starts from is most of a pixel off."""
    image = np.full((120, 40), 255, np.uint8)
    cv2.line(image, (round(12.3 * 16), 10 * 16), (round(17.8 * 16), 110 * 16), 20, 2, cv2.LINE_AA, 4)
    # Column positions count from pixel edges (a pixel's centre is at +0.5), rows from centres.
    pos, val = np.array([12.8, 18.3]) + offset, np.array([10.0, 110.0])
    x, y, along = _row_points(image, pos, val, _steep(pos, val))
    assert len(x) > 90 and np.all((along > 0) & (along < 1))
    assert np.median(np.abs(x - (12.8 + (y - 10) / 100 * 5.5))) < 0.2


def test_measurements_of_a_known_rhythm(rendered):
    truth, page = rendered
    m = read_ecg(page.image).measurements
    assert m.heart_rate_bpm == pytest.approx(72, abs=2)
    assert m.rr_irregularity is not None and m.rr_irregularity < 0.05
    assert m.rate_from == "rhythm strip II" and m.beats >= 10
    # The synthetic QRS is narrow and its axis points down and left (about 40-50 degrees).
    assert m.qrs_ms is not None and 40 <= m.qrs_ms <= 140
    assert m.axis_deg is not None and 10 <= m.axis_deg <= 80
    assert all(abs(v) < 0.1 for v in m.st_mv.values() if v is not None)


def test_a_t_wave_the_delineator_calls_qrs_is_not_counted_as_a_beat(rendered):
    truth, page = rendered
    ecg = read_ecg(page.image).ecg
    real = Delineator()

    class CallsTWavesQrs:  # the delineator's mistake on some shared scans (PMI(17): 112 bpm for 73)
        def beats(self, mv, fs):
            beats = real.beats(mv, fs)
            false = [Beat(r=int(b.t_on), qrs_on=b.t_on, qrs_off=b.t_off) for b in beats if np.isfinite(b.t_on)]
            return sorted(beats + false, key=lambda b: b.r)

    honest, fooled = measure(ecg, real), measure(ecg, CallsTWavesQrs())
    assert fooled.beats == honest.beats >= 10
    assert fooled.heart_rate_bpm == pytest.approx(72, abs=2)
    assert fooled.rr_irregularity is not None and fooled.rr_irregularity < 0.05


def _strip_with_beats(peaks_s, swings, fs=500.0, seconds=10.0):
    """A flat strip with a QRS-like triangle of the given swing at each peak, and the beats a
    delineator would give for them."""
    mv = np.zeros(int(seconds * fs))
    beats = []
    for at, swing in zip(peaks_s, swings):
        r = int(at * fs)
        mv[r - 20 : r + 21] = swing * (1 - np.abs(np.arange(-20, 21)) / 20)
        beats.append(Beat(r=r, qrs_on=r - 20.0, qrs_off=r + 20.0))
    return mv, beats


def test_a_small_beat_on_the_rhythm_is_kept_and_a_small_one_between_beats_is_dropped():
    rhythm = np.arange(0.5, 10, 0.8)
    swings = np.ones(rhythm.size)
    swings[5] = 0.3  # a real beat, low (a fusion or an aberrant beat): its RR intervals are the rhythm's
    false_t = rhythm[:-1] + 0.3  # a T wave the delineator called QRS, after every beat
    peaks = np.concatenate([rhythm, false_t])
    mv, beats = _strip_with_beats(peaks, np.concatenate([swings, np.full(false_t.size, 0.2)]))
    kept = _qrs_beats(mv, sorted(beats, key=lambda b: b.r))
    assert [b.r for b in kept] == [int(t * 500) for t in rhythm]
    early = np.array([0.5, 1.3, 2.1, 2.6, 3.7, 4.5, 5.3])  # a small premature beat, then its pause
    mv, beats = _strip_with_beats(early, [1, 1, 1, 0.3, 1, 1, 1])
    assert len(_qrs_beats(mv, beats)) == len(early)


def test_st_elevation_is_measured_where_it_was_drawn():
    truth = synthetic_ecg(heart_rate=70, seed=2, st_shift_mv=0.3)
    m = read_ecg(render_printout(truth, layout="3x4").image).measurements
    # The injury current points along the R wave: up in II, down in aVR.
    assert m.st_mv["II"] is not None and m.st_mv["II"] > 0.1
    assert m.st_mv["aVR"] is not None and m.st_mv["aVR"] < -0.1


def test_grid_or_no_grid_give_the_same_signals(rendered):
    truth, with_grid = rendered
    without = render_printout(truth, layout="3x4", grid=False)
    a, b = read_ecg(with_grid.image).ecg, read_ecg(without.image).ecg
    for name in LEAD_NAMES:
        # The grid may move a steep stroke's sample by a pixel, no more.
        assert aligned_snr_db(a.leads[name].mv, b.leads[name].mv, max_shift=0) > 10, name
        n = len(a.leads[name].mv)
        ref = _truth_window(truth, name, a.leads[name].start_s, n)
        assert min(aligned_snr_db(ref, a.leads[name].mv), aligned_snr_db(ref, b.leads[name].mv)) > 6, name


def test_a_lead_lost_on_purpose_is_null_with_a_reason_and_the_others_still_come_out(rendered, tmp_path):
    truth, page = rendered
    image = page.image.copy()
    # Paint over lead V2 (column 3, row 2 of the 3x4 layout), trace and all.
    config = LeadConfig()
    scan = read_page(image, 1024, config)
    from edge.layout import find_layout

    layout = find_layout(scan, config)
    box = layout.panels[LEAD_NAMES.index("V2")]
    s = 1 / layout.scale
    x0, x1 = int(box.x0 * s) + 15, int(box.x1 * s) + 200
    y0, y1 = int(box.y0 * s), int(box.y1 * s)
    image[y0:y1, x0:x1] = 255
    path = tmp_path / "lost_v2.png"
    cv2.imwrite(str(path), image)
    result = runner.invoke(app, ["digitize", str(path), "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.splitlines()[0])
    assert all(v is None for v in row["leads"]["V2"]["mv"])
    assert "V2" in row["quality"]["missing"] and row["quality"]["missing"]["V2"]
    assert any("V2" in w for w in row["quality"]["warnings"])
    for name in ("I", "V1", "V3", "V4"):
        assert sum(v is not None for v in row["leads"][name]["mv"]) > 0.9 * len(row["leads"][name]["mv"])


def test_the_digitize_json_contract(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    sample = SAMPLES / "normal" / "Normal(108).jpg"
    result = runner.invoke(app, ["digitize", str(sample), str(bad), "--json"])
    assert result.exit_code == 1  # one file failed, as classify
    good, failed = (json.loads(line) for line in result.stdout.splitlines())
    keys = ["file", "fs", "layout", "leads", "rhythm", "measurements", "statements", "quality", "error"]
    assert list(good) == keys and list(failed) == keys
    assert failed["error"] and failed["leads"] is None and failed["fs"] is None
    assert good["error"] is None and good["fs"] == 500
    assert list(good["leads"]) == list(LEAD_NAMES)
    for lead in good["leads"].values():
        assert set(lead) == {"start_s", "mv"} and len(lead["mv"]) == 1250
        assert all(v is None or isinstance(v, float) for v in lead["mv"])
    (strip,) = good["rhythm"]
    assert set(strip) == {"lead", "start_s", "mv"} and strip["lead"] == "II" and len(strip["mv"]) == 5000
    m = good["measurements"]
    assert set(m) == {"heart_rate_bpm", "rr_irregularity", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg",
                      "st_mv", "q_wave", "t_inverted"}  # fmt: skip
    assert set(m["st_mv"]) == set(LEAD_NAMES) and set(m["q_wave"]) == set(LEAD_NAMES)
    assert 55 <= m["heart_rate_bpm"] <= 75  # the device printed its own rate as 66 for this scan
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_digitize_writes_files(tmp_path, fmt):
    sample = SAMPLES / "mi" / "MI(29).jpg"
    result = runner.invoke(app, ["digitize", str(sample), "--out", str(tmp_path / "out"), "--format", fmt])
    assert result.exit_code == 0, result.output
    (written,) = (tmp_path / "out").iterdir()
    if fmt == "csv":
        lines = written.read_text().splitlines()
        header = lines[0].split(",")
        assert header[:13] == ["time_s", *LEAD_NAMES] and header[13] == "rhythm_II"
        assert len(lines) == 1 + 5000
        row = lines[1 + 100].split(",")  # t = 0.2 s: limb leads I-III printed, V1 not yet
        assert row[1] and row[2] and row[7] == ""
    else:
        assert json.loads(written.read_text())["layout"] == "3x4 + 1 rhythm"


def test_wfdb_export_round_trips(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    sample = SAMPLES / "mi" / "MI(29).jpg"
    result = runner.invoke(app, ["digitize", str(sample), "--out", str(tmp_path), "--format", "wfdb"])
    assert result.exit_code == 0, result.output
    record = wfdb.rdrecord(str(tmp_path / "MI_29"))
    assert record.fs == 500 and record.sig_name[:12] == list(LEAD_NAMES)
    row = json.loads(runner.invoke(app, ["digitize", str(sample), "--json"]).stdout.splitlines()[0])
    lead_ii = np.array([np.nan if v is None else v for v in row["leads"]["II"]["mv"]])
    assert np.nanmax(np.abs(record.p_signal[:1250, 1] - lead_ii)) < 0.002


def test_unknown_format_and_missing_paths_are_usage_errors(tmp_path):
    assert runner.invoke(app, ["digitize", str(SAMPLES), "--format", "xls"]).exit_code == 2
    assert runner.invoke(app, ["digitize", str(tmp_path / "nothing.jpg")]).exit_code == 2


def test_a_6x2_page_without_rhythm_strip_is_measured_in_every_lead():
    # Lead II (0-5 s) cannot place the beats of V1-V6 (5-10 s): their own column gives them.
    truth = synthetic_ecg(heart_rate=80, seed=4)
    reading = read_ecg(render_printout(truth, layout="6x2", rhythm_lead=None).image)
    assert reading.ecg.layout == "6x2" and not reading.ecg.rhythm
    m = reading.measurements
    assert m.heart_rate_bpm == pytest.approx(80, abs=3)
    assert all(m.st_mv[lead] is not None for lead in LEAD_NAMES), m.st_mv


def test_the_rhythm_check_works_whichever_starts_first():
    from edge.quality import check
    from edge.signals import Ecg, LeadSignal, Scale

    truth = synthetic_ecg(heart_rate=75, seed=3)
    leads = {name: LeadSignal(name, (i // 3) * 2.5, truth[name][int((i // 3) * 2.5 * FS):][: int(2.5 * FS)], 1.0)
             for i, name in enumerate(LEAD_NAMES)}  # fmt: skip
    for shift_s in (-0.02, 0.0, 0.004, 0.02):  # the strip's ink found a little before or after the rows'
        start = max(0, int(round(shift_s * FS)))
        strip = LeadSignal("II", shift_s, truth["II"][start:], 1.0)
        ecg = Ecg(FS, "3x4 + 1 rhythm", leads, (strip,), Scale(91.0, 36.0, "known"))
        if shift_s < 0:
            strip = LeadSignal("II", shift_s, np.concatenate([np.zeros(-int(round(shift_s * FS))), truth["II"]]), 1.0)
            ecg = Ecg(FS, "3x4 + 1 rhythm", leads, (strip,), Scale(91.0, 36.0, "known"))
        assert check(ecg).rhythm_db is not None and check(ecg).rhythm_db > 40, shift_s


def test_no_beats_still_gives_every_lead_as_unknown():
    from edge.measure import measure
    from edge.signals import Ecg, LeadSignal, Scale

    flat = {name: LeadSignal(name, 0.0, np.zeros(1250), 1.0) for name in LEAD_NAMES}
    m = measure(Ecg(FS, "3x4", flat, (), Scale(91.0, 36.0, "known"))).to_json()
    assert set(m["st_mv"]) == set(LEAD_NAMES) and all(v is None for v in m["st_mv"].values())
    assert set(m["q_wave"]) == set(LEAD_NAMES) and set(m["t_inverted"]) == set(LEAD_NAMES)


def test_two_rhythm_strips_of_one_lead_export_to_wfdb(tmp_path):
    pytest.importorskip("wfdb")
    from edge.export import page_matrix

    reading = read_ecg(render_printout(synthetic_ecg(heart_rate=70, seed=1)).image)
    ecg = reading.ecg
    doubled = type(ecg)(ecg.fs, ecg.layout, ecg.leads, ecg.rhythm * 2, ecg.scale)
    names, _ = page_matrix(doubled)
    assert len(set(names)) == len(names)


def test_a_6x2_rhythm_strip_is_timed_with_the_rows():
    # Its QRS spikes join the row above, so its ink is found only in part: it must not be timed from there.
    reading = read_ecg(render_printout(synthetic_ecg(heart_rate=70, seed=1), layout="6x2", rhythm_lead="II").image)
    (strip,) = reading.ecg.rhythm
    assert strip.ok and strip.lead == "II" and abs(strip.start_s) < 0.05
    assert reading.quality.rhythm_db is not None and reading.quality.rhythm_db > 15


def test_a_cropped_page_warns_that_its_time_scale_is_doubtful(rendered):
    truth, page = rendered
    assert not any("pulse" in w for w in read_ecg(page.image).quality.warnings)
    cropped = page.image[:, : int(page.image.shape[1] * 0.7)].copy()  # the last 3 s cut off
    warnings = read_ecg(cropped).quality.warnings
    assert any("cropped page" in w for w in warnings), warnings


def test_a_folder_that_cannot_be_written_is_each_files_error_not_a_crash(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the output folder should be")
    samples = [SAMPLES / "mi" / "MI(29).jpg", SAMPLES / "normal" / "Normal(108).jpg"]
    result = runner.invoke(app, ["digitize", *map(str, samples), "--json", "--out", str(blocked)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # exit 1 on purpose, not a traceback
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2 and all("cannot write into" in row["error"] for row in rows)


@pytest.mark.parametrize("rows_per_column", [6, 10, 15, 20])
@pytest.mark.parametrize("x0", [20.3, 20.6])
def test_a_steep_r_wave_wider_than_a_column_is_read_without_zigzag_spikes(rows_per_column, x0):
    """At 2048 px a printed line is 2-3 px wide and an R wave rises 10-30 px a column: a stroke's
    runs in neighbouring columns cover nearly the same rows, and their entries and exits alternated
    up and down the stroke (spikes of 5-55 px on these). The up- and downstrokes come out
    monotone, and the apex stays where it was drawn."""
    from edge.signals import _follow

    image = np.full((160, 200), 255, np.uint8)  # mostly flat, as a trace is: the line's thickness from it
    width = 100 / rows_per_column
    points = np.array([[3, 130], [x0, 130], [x0 + width, 30], [x0 + 2 * width, 130], [196, 130]])
    cv2.polylines(image, [np.round(points * 16).astype(np.int32)], False, 20, 2, cv2.LINE_AA, 4)
    ink = (image < 200).astype(np.uint8)
    pos, val = _follow(ink, image, 130, 60, 250, 0.3, by_rows=True)
    centre = x0 + 0.5  # column positions count from pixel edges
    up = (pos > centre + 0.2 * width) & (pos < centre + 0.8 * width)
    down = (pos > centre + 1.2 * width) & (pos < centre + 1.8 * width)
    assert np.all(np.diff(val[up]) <= 1) and np.all(np.diff(val[down]) >= -1)
    assert val.min() == pytest.approx(30, abs=1.5)


def test_a_page_compressed_unevenly_is_timed_by_its_lead_switch_markers(rendered, monkeypatch):
    """A bent sheet photographed from above is drawn compressed towards its lifted ends: evenly
    spread columns then put each lead's beats at the wrong times. The markers printed between the
    columns anchor them (a page pulled by up to 12 px here)."""
    import edge.signals

    truth, printout = rendered
    height, width = printout.image.shape[:2]
    x = np.arange(width, dtype=np.float32)
    map_x = np.tile(x + 12 * np.sin(2 * np.pi * x / width), (height, 1)).astype(np.float32)
    map_y = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    uneven = cv2.remap(printout.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def median_snr() -> float:
        ecg = read_ecg(uneven).ecg
        return float(np.median([
            aligned_snr_db(_truth_window(truth, n, s.start_s, len(s.mv)), s.mv) for n, s in ecg.leads.items()
        ]))  # fmt: skip

    anchored = median_snr()
    monkeypatch.setattr(edge.signals, "MARKER_SLACK", float("inf"))  # columns spread evenly
    assert anchored > 8 and median_snr() < anchored - 6


def test_a_page_is_enlarged_bicubically_in_whole_numbers():
    """The detail page of a small scan is enlarged by doubling (edge.page.enlarge_twice): OpenCV's
    bicubic weights, to a grey level, summed in whole numbers so that a Pi gets the same pixels
    (scripts/arm64_check.sh compares the digitized leads)."""
    from edge.page import enlarge_twice

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    image[10:20, 5:40] = 20  # a dark stroke: the kernel's overshoot must clip, not wrap
    doubled = enlarge_twice(image)
    reference = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    assert doubled.shape == (74, 106) and doubled.dtype == np.uint8
    assert np.abs(doubled.astype(int) - reference).max() <= 1

    def exact(rows: np.ndarray) -> np.ndarray:  # doubled along axis 0 in int64: no rounding until /1024
        padded = np.concatenate([rows[:1], rows[:1], rows, rows[-1:], rows[-1:]]).astype(np.int64)
        n = rows.shape[0]
        near = -36 * padded[0:n] + 268 * padded[1 : n + 1] + 900 * padded[2 : n + 2] - 108 * padded[3 : n + 3]
        far = -108 * padded[1 : n + 1] + 900 * padded[2 : n + 2] + 268 * padded[3 : n + 3] - 36 * padded[4 : n + 4]
        out = np.empty((2 * n, *rows.shape[1:]), np.int64)
        out[0::2], out[1::2] = np.rint(near / 1024), np.rint(far / 1024)
        return out

    np.testing.assert_array_equal(doubled, np.clip(exact(exact(image.T).T), 0, 255))
    assert (enlarge_twice(np.full((5, 7), 200, np.uint8)) == 200).all()


def test_a_detail_pages_leads_are_smoothed_to_its_pixel_grid_and_the_working_page_is_not(rendered, monkeypatch):
    """Points read at pixel level jitter faster than the grid can show: a detail page's leads pass
    through a Gaussian of ANTI_ALIAS_PX px and come out closer to what was printed; the working
    page the models read is left as it was (their inputs are qualified bit for bit)."""
    import edge.signals as signals

    truth, printout = rendered
    config = LeadConfig()
    page = read_page(printout.image, 1024, config)
    layout = find_layout(page, config)

    def read() -> tuple[float, dict]:
        fine = read_signals(page, layout, source=printout.image).ecg
        snrs = [aligned_snr_db(_truth_window(truth, n, s.start_s, len(s.mv)), s.mv) for n, s in fine.leads.items()]
        return float(np.median(snrs)), signals.digitize(page, layout).leads

    smoothed, working = read()
    monkeypatch.setattr(signals, "ANTI_ALIAS_PX", 0.0)
    raw, working_raw = read()
    assert smoothed > raw + 0.3
    for name in LEAD_NAMES:
        np.testing.assert_array_equal(working[name].mv, working_raw[name].mv)


def test_smoothing_keeps_unknown_samples_unknown_and_does_not_pull_their_neighbours():
    from edge.signals import _smoothed

    mv = np.full(200, 0.7)
    mv[90:110] = np.nan
    out = _smoothed(mv, 2.0)
    assert np.isnan(out[90:110]).all()
    np.testing.assert_allclose(out[~np.isnan(mv)], 0.7, rtol=1e-12)
    spike = np.zeros(101)
    spike[50] = 1.0
    spread = _smoothed(spike, 2.0)
    assert spread.sum() == pytest.approx(1.0) and spread.argmax() == 50 and spread[50] < 0.25


def test_an_out_of_focus_photo_is_sharpened_before_its_leads_are_read_and_a_scan_is_not(monkeypatch):
    """A defocused photo fades a trace's ink (edge.page.BLURRED_CORE): its detail page is sharpened
    and its leads come out closer to what was printed; a scan's ink is dark enough to be left alone."""
    from dataclasses import replace

    import edge.page
    from train.scenes import CONDITIONS, compose_scene

    truth = synthetic_ecg(heart_rate=90, seed=103, rr_jitter=0.02)
    scene = compose_scene(render_printout(truth).image, replace(CONDITIONS["defocus"], seed=1003)).image
    photo = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()

    def median_snr(ecg) -> float:
        return float(np.median([
            aligned_snr_db(_truth_window(truth, n, s.start_s, len(s.mv)), s.mv) for n, s in ecg.leads.items() if s.ok
        ]))  # fmt: skip

    darkness = []
    real = edge.page.core_darkness
    monkeypatch.setattr(edge.page, "core_darkness", lambda gray, ink: darkness.append(real(gray, ink)) or darkness[-1])
    sharpened = median_snr(read_ecg(photo).ecg)
    threshold = edge.page.BLURRED_CORE
    assert darkness and darkness[-1] < threshold
    monkeypatch.setattr(edge.page, "BLURRED_CORE", 0.0)
    assert sharpened > median_snr(read_ecg(photo).ecg) + 1
    for path in SAMPLES.rglob("*.jpg"):
        darkness.clear()
        read_ecg(path)
        assert darkness and darkness[-1] > threshold + 20


def test_a_6x2_lead_does_not_climb_the_deep_wave_of_the_row_above():
    # aVR's S wave (-1.5 mV) reaches down to aVL's small R wave on a 6x2 page (rows ~18 mm apart):
    # aVL used to follow aVR's stroke up (-9 dB, R waves read at +1.5 mV).
    truth = synthetic_ecg(heart_rate=48, seed=100, rr_jitter=0.02)
    reading = read_ecg(render_printout(truth, layout="6x2").image)
    avl = reading.ecg.leads["aVL"]
    assert avl.ok
    assert 0.3 < np.nanmax(avl.mv) < 0.8  # its own R wave, 0.45 mV above the median, neither climbed nor cut
    assert aligned_snr_db(_truth_window(truth, "aVL", avl.start_s, len(avl.mv)), avl.mv) > 12
    avr = reading.ecg.leads["aVR"]
    assert aligned_snr_db(_truth_window(truth, "aVR", avr.start_s, len(avr.mv)), avr.mv) > 12


def test_the_row_above_takes_exactly_the_pixels_its_trace_was_read_at():
    # A band (top-left at page pixel (100, 50)) with a one-pixel horizontal line at band row 3 and a
    # vertical one at band column 20; the row above's trace read along them, as _follow gives points
    # (a column's centre at x + 0.5, rows as pixel indices), clears them and nothing else.
    ink = np.zeros((40, 60), np.uint8)
    ink[3, :] = 1
    ink[:, 20] = 1
    ink[30, :] = 1  # this row's own trace, near its baseline (band row 32)
    scale = Scale(10.0, 4.0, "known")
    along = (np.arange(60) + 0.5, np.full(60, (82.0 - 53.0) / scale.px_per_mv))  # page row 53 = band row 3
    curve = _page_curve(along, 100.0, 82.0, scale)
    down = np.stack([np.full(25, 120.5), np.arange(50.0, 75.0)], axis=1)  # column 20, band rows 0-24
    left = ink.copy()
    _unclaim(left, [curve, down], (100, 50), 0.0, (40.0, 82.0))  # baselines 42 px apart: page rows < 69 claimed
    cleared = ink.astype(bool) & ~left.astype(bool)
    assert cleared[3].all() and cleared[:19, 20].all()
    assert not cleared[30].any() and not cleared[19:, 20].any()  # 30% of the gap from this row's baseline is its own
    assert cleared.sum() == 60 + 18


def test_the_working_page_reads_each_row_on_its_own(monkeypatch):
    # The models' input (the 1024 px working page) must not change: only a detail page claims ink.
    import edge.signals as signals

    def refuse(*args, **kwargs):
        raise AssertionError("the working page claimed ink")

    monkeypatch.setattr(signals, "_unclaim", refuse)
    truth = synthetic_ecg(heart_rate=48, seed=100, rr_jitter=0.02)
    page = read_page(render_printout(truth, layout="6x2").image, 1024, LeadConfig())
    signals.digitize(page, find_layout(page, LeadConfig()))
