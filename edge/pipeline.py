"""Decode -> sheet -> page -> layout -> signals -> measurements and quality, for `ecg-edge digitize` and for
everything else that wants the signals of a scan (the classifier hands over the page and layout it
already found, so nothing is computed twice)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge.delineate import Delineator
from edge.gate import check_ecg
from edge.keystone import straighten
from edge.layout import find_layout
from edge.leads import LayoutError, LeadLayout
from edge.measure import Measurements, json_number, measure
from edge.orientation import portrait_turns, quarter_turns, turned_if_upside_down, upside_down
from edge.page import DETAIL_SIZE, Page, detail_factor, detail_page, read_page, turned
from edge.preprocess import ImageDecodeError, PreprocessConfig, declared_size, load_scan
from edge.quality import EcgQuality, check
from edge.sheet import Sheet, find_sheet
from edge.signals import Ecg, digitize, with_rhythm
from edge.statements import Statement, interpret

DEFAULT_CONFIG = PreprocessConfig()


@dataclass(frozen=True)
class EcgReading:
    """A scan read back into signals, with what was measured on them and how far to trust them."""

    ecg: Ecg
    measurements: Measurements
    quality: EcgQuality
    digitize_ms: float = 0.0
    measure_ms: float = 0.0
    statements: tuple[Statement, ...] = ()  # criteria-based interpretation (edge.statements)
    sheet: Sheet | None = None  # how the page was taken from the image (read_ecg: a photo flattened, a scan turned)


def read_signals(
    page: Page, layout: LeadLayout, interpreter: str | None = None, ecg: Ecg | None = None,
    source: np.ndarray | None = None, config: PreprocessConfig = DEFAULT_CONFIG,
) -> EcgReading:  # fmt: skip
    """Signals, measurements (the boundary model on ``interpreter``; None: the first installed),
    checks and statements of a page whose layout was found. ``ecg``: its leads when they were
    already digitized (a signals-view model's input was made from them; its rhythm strips are
    read here). ``source``: the (flattened) scan the page was read from; the leads are then read
    from its detail page instead (edge.page.detail_page, DETAIL_SIZE px, enlarged from a smaller
    scan), steep strokes row by row, with the layout found on the page."""
    t0 = time.perf_counter()
    detail = detail_page(source, page, DETAIL_SIZE, config.leads) if source is not None else None
    if detail is not None:
        ecg = digitize(detail, layout.rescaled(detail_factor(detail, page), detail.scale), by_rows=True)
    else:
        ecg = digitize(page, layout) if ecg is None else with_rhythm(ecg, page, layout)
    t1 = time.perf_counter()
    measurements = measure(ecg, Delineator.for_thread(interpreter))
    t2 = time.perf_counter()
    return EcgReading(ecg, measurements, check(ecg), (t1 - t0) * 1e3, (t2 - t1) * 1e3, tuple(interpret(measurements)))


def detail_source(source, sheet: Sheet, decoded: tuple[int, ...], config: PreprocessConfig) -> np.ndarray:
    """The image a detail page is read from (read_signals' ``source``): the sheet's own, unless the
    sheet is the scan itself (turned at most) and its decode, to ``decoded``'s shape, was reduced to
    the working size: then the file decoded again, keeping DETAIL_SIZE, turned as the sheet is. (A
    photo's flattened sheet is taken as the classifier decoded it: a 12 MP photo gives a ~1700 px
    sheet here, where `read_ecg`, decoding at full size, flattens it to 2048 px.)"""
    if sheet.rectified or isinstance(source, np.ndarray) or max(decoded[:2]) >= DETAIL_SIZE:
        return sheet.image
    try:  # the header says whether the file holds more than was decoded (a reduced JPEG decode)
        data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else Path(source).read_bytes()
    except OSError:
        return sheet.image
    size = declared_size(data)
    if size is None or max(size) <= max(decoded[:2]):
        return sheet.image
    try:
        full = load_scan(data, config, keep=DETAIL_SIZE)
    except ImageDecodeError:  # it decoded once: measure on the working page rather than not at all
        return sheet.image
    return turned(full, sheet.quarter_turns)


def flatten_photo(bgr: np.ndarray, config: PreprocessConfig = DEFAULT_CONFIG) -> Sheet:
    """The sheet stage: a photo of a printout on a desk found, flattened and (a portrait page, or one
    placed by its grid frame) turned upright; a scan
    (the sheet fills the frame) comes back as the same array, unless it is portrait and its
    calibration pulses show only turned a quarter (edge.orientation.portrait_turns). Upside-down
    landscape scans, and photos whose flattened page comes out landscape (Sheet.half_turn_open), are
    turned later, once their lead rows are read (``turn_upside_down``, ``settle_half_turn``)."""
    sheet = _find_sheet(bgr, config)
    if sheet.rectified or bgr.shape[0] <= bgr.shape[1]:
        return sheet
    turns = portrait_turns(bgr, config.work_size, config.leads)
    return Sheet(turned(bgr, turns), None, "frame", turns) if turns else sheet


def turn_upside_down(sheet: Sheet, page: Page, layout: LeadLayout, config: PreprocessConfig) -> Sheet | None:
    """The scan turned half way when it was read as it is and is upside down (edge.orientation),
    else None. (A photo's flattened sheet is turned by the sheet stage, or by settle_half_turn.)"""
    if sheet.rectified or not upside_down(sheet.image, page, layout, config.work_size // 2, config.leads):
        return None
    return _turned_sheet(sheet, 2)


def straighten_keystone(sheet: Sheet, page: Page, layout: LeadLayout, config: PreprocessConfig) -> Sheet | None:
    """The image taken as it is (no sheet found round the page), warped straight when its page as
    read is keystoned (a photo the page fills, taken at a slant: edge.keystone), else None."""
    return straighten(sheet, page, layout, config.leads)


def _turned_sheet(sheet: Sheet, turns: int) -> Sheet:
    """``sheet`` turned ``turns`` quarters counter-clockwise more, its half turn settled."""
    corners = None if sheet.corners is None else np.roll(sheet.corners, -turns, axis=0)
    return Sheet(turned(sheet.image, turns), corners, sheet.found_by, (sheet.quarter_turns + turns) % 4)


def _find_sheet(bgr: np.ndarray, config: PreprocessConfig) -> Sheet:
    # Which way up is judged on a half-size page: pulses stay ~17 px tall there, at a quarter the cost;
    # and without levelling it: a flattened sheet is level by construction (the search for its angle,
    # 50 trial rotations, was a third of each look).
    return find_sheet(bgr, upright=lambda page, first: _quarter_turns(page, first, config), half_turn_later=True)


def _quarter_turns(page: np.ndarray, first: int, config: PreprocessConfig) -> int:
    leads = replace(config.leads, deskew_max_degrees=0.0)
    return quarter_turns(page, first, config.work_size // 2, leads)


def settle_half_turn(
    sheet: Sheet, config: PreprocessConfig, red: np.ndarray | None = None
) -> tuple[Sheet, tuple[Page, LeadLayout | LayoutError] | None]:
    """A sheet whose half turn is open (Sheet.half_turn_open) read once at the working size: the
    sheet the right way up (no longer open), and the page the stages after take (edge.preprocess's
    ``read``: the page and its layout, or why no layout was found) unless the sheet had to be read
    again. Upright, that is the page read here, so the look costs nothing more; upside down, that
    page turned (orientation.half_turned); with no lead rows found, the sheet stage's full look
    decides (a steep tilt can make a page on its side come out landscape), and a sheet it turns is
    read again. ``red``: the sheet's red channel at the working size, when the caller has it."""
    page = read_page(sheet.image, config.work_size, config.leads, red)
    try:
        layout: LeadLayout | LayoutError = find_layout(page, config.leads)
    except LayoutError as exc:
        layout = exc
    if isinstance(layout, LayoutError):
        turns = _quarter_turns(sheet.image, 0, config)
        if turns:
            return _turned_sheet(sheet, turns), None
    elif (flipped := turned_if_upside_down(page, layout, config.leads)) is not None:
        return _turned_sheet(sheet, 2), flipped
    return replace(sheet, half_turn_open=False), (page, layout)


def read_ecg(
    source, config: PreprocessConfig = DEFAULT_CONFIG, gate: bool = False, interpreter: str | None = None
) -> EcgReading:
    """A path, encoded bytes or a BGR array, all the way to signals (a photo's sheet found and
    flattened first, edge.sheet). Raises ImageDecodeError for
    unreadable files and LayoutError when no 12-lead layout is found (or, with ``gate``, when the
    image is not an ECG printout: the reason is the gate's, as classify gives it)."""
    sheet = flatten_photo(load_scan(source, config, keep=DETAIL_SIZE), config)
    read = None
    if sheet.half_turn_open:  # the right way up first: the gate judges the page as it will be read
        sheet, read = settle_half_turn(sheet, config)
    if gate:
        verdict = check_ecg(sheet.image)
        if not verdict.is_ecg:
            raise LayoutError(verdict.reason)
    page, layout = _page_and_layout(sheet.image, config, read)
    turned = turn_upside_down(sheet, page, layout, config)
    if turned is not None:
        sheet = turned
        page, layout = _page_and_layout(sheet.image, config)
    straight = straighten_keystone(sheet, page, layout, config)
    if straight is not None:  # read again, straight, unless no layout is found that way
        try:
            page, layout = _page_and_layout(straight.image, config)
            sheet = straight
        except LayoutError:
            pass
    return replace(read_signals(page, layout, interpreter, source=sheet.image, config=config), sheet=sheet)


def _page_and_layout(
    bgr: np.ndarray, config: PreprocessConfig, read: tuple[Page, LeadLayout | LayoutError] | None = None
) -> tuple[Page, LeadLayout]:
    """The page and its layout, as ``read`` already (settle_half_turn) or read now."""
    page, layout = read if read is not None else (read_page(bgr, config.work_size, config.leads), None)
    if layout is None:
        try:
            layout = find_layout(page, config.leads)
        except LayoutError as exc:
            layout = exc
    if isinstance(layout, LayoutError):
        raise LayoutError(f"ECG layout not recognised: {layout}") from layout
    return page, layout


def _samples(mv: np.ndarray) -> list[float | None]:
    """JSON-ready samples: NaN becomes null, values rounded to the microvolt."""
    return [json_number(v, 4) for v in mv]


def reading_to_json(reading: EcgReading) -> dict:
    """The `digitize --json` contract, less "file" and "error" (the CLI adds them)."""
    ecg = reading.ecg
    return {
        "fs": ecg.fs,
        "layout": ecg.layout,
        "leads": {name: {"start_s": s.start_s, "mv": _samples(s.mv)} for name, s in ecg.leads.items()},
        "rhythm": [{"lead": r.lead, "start_s": r.start_s, "mv": _samples(r.mv)} for r in ecg.rhythm],
        "measurements": reading.measurements.to_json(),
        "statements": [statement.to_json() for statement in reading.statements],
        "quality": quality_to_json(reading),
    }


def quality_to_json(reading: EcgReading) -> dict:
    q, scale = reading.quality, reading.ecg.scale
    return {
        "ok": q.ok,
        "warnings": list(q.warnings),
        "einthoven_db": json_number(q.einthoven_db),
        "augmented_db": json_number(q.augmented_db),
        "rhythm_db": json_number(q.rhythm_db),
        "coverage": q.coverage,
        "missing": q.missing,
        "px_per_mm": json_number(scale.px_per_mm, 3),
        "px_per_mv": json_number(scale.px_per_mv, 3),
        "mv_scale_from": scale.mv_from,
    }
