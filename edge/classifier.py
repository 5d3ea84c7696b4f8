"""ECG image classifier over a TFLite model and its card (modelled on MediaPipe Tasks:
options object, ``create_from_options`` / ``create_from_model_path``, typed results)."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

import numpy as np

from edge.card import ModelCard, is_card_path, load_card, sha256_file
from edge.gate import GateConfig, GateResult, check_ecg
from edge.interpreter import open_interpreter, pick_backend
from edge.labels import LABEL_KEYS, LABELS, Label
from edge.leads import LayoutError
from edge.page import to_work_scale
from edge.pipeline import (
    EcgReading,
    detail_source,
    flatten_photo,
    read_signals,
    settle_half_turn,
    straighten_keystone,
    turn_upside_down,
)
from edge.preprocess import ImageDecodeError, PreprocessedImage, load_scan, model_input_shape, preprocess
from edge.resources import model_name
from edge.sheet import Sheet

GATE_CONFIG = GateConfig()


class ModelIntegrityError(ValueError):
    """The .tflite file does not match its model card."""


class UnsupportedModelError(RuntimeError):
    """The installed interpreter cannot run this model (tflite-runtime 2.14 and the dynamic-range
    models of newer TensorFlow releases, for instance)."""

    def __init__(self, model_path: Path, interpreter: str, detail: str):
        self.model_path = model_path
        self.interpreter = interpreter
        first_line = detail.strip().splitlines()[0] if detail.strip() else "unknown error"
        hint = "" if interpreter == "ai_edge_litert" else " (ai-edge-litert runs every shipped model)"
        super().__init__(f"{interpreter} cannot run {Path(model_path).name}: {first_line}{hint}")


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of log-probabilities divided by the temperature (rows sum to 1)."""
    logits = np.log(np.clip(probs, 1e-12, None)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def apply_label_weights(probs: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """``probs`` (LABELS order, rows) with each named label's column multiplied by its weight, rows
    renormalised (a shift of that label's log-prior: ModelCard.label_weights)."""
    if not weights:
        return probs
    factors = np.array([weights.get(key, 1.0) for key in LABEL_KEYS])
    weighted = probs * factors
    return weighted / weighted.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class ClassifierOptions:
    model_path: Path
    num_threads: int = 1
    verify_sha256: bool = True
    interpreter: str | None = None  # force one backend by name; None picks the lightest installed
    # Also digitize the leads and measure them (models that read lead panels; edge.pipeline). Off by
    # default: it costs more than the rest of a scan's preparation (see README).
    measure: bool = False


@dataclass(frozen=True)
class Timings:
    """Milliseconds per stage of one scan. ``preprocess_ms`` is everything before inference
    (decoding and the ECG check included), as it always was; its parts are broken out beside it."""

    preprocess_ms: float
    inference_ms: float
    decode_ms: float = 0.0
    gate_ms: float = 0.0  # the "is this an ECG printout?" check
    signals_ms: float = 0.0  # digitizing and measuring (part of preprocess_ms)
    sheet_ms: float = 0.0  # finding the sheet in a photo and flattening it (part of preprocess_ms)

    @property
    def page_ms(self) -> float:
        """Page and lead finding, down to the model input."""
        return self.preprocess_ms - self.decode_ms - self.sheet_ms - self.gate_ms - self.signals_ms

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms


@dataclass(frozen=True)
class ClassificationResult:
    label: Label
    probabilities: dict[str, float]  # label key -> probability, in LABELS order
    grid_found: bool
    timings: Timings
    # Calibrated confidence below the card's threshold: "uncertain, refer for review".
    uncertain: bool = False
    gate: GateResult | None = None  # the "is this an ECG printout?" check, when it ran
    layout: str | None = None  # the lead layout found (models that see lead panels), e.g. "6x2 + 1 rhythm"
    reading: EcgReading | None = None  # the digitized leads, their measurements and checks
    signals_error: str | None = None  # why the leads could not be digitized, when that was asked for
    sheet: Sheet | None = None  # the page as read: a photo's sheet flattened, or the scan as it is

    @property
    def page_bgr(self) -> np.ndarray | None:
        """The image every stage after the sheet read (a photo's flattened sheet), to show users."""
        return self.sheet.image if self.sheet is not None else None

    @property
    def is_ecg(self) -> bool:
        return self.gate is None or self.gate.is_ecg

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label.key]

    def probabilities_by_name(self) -> dict[str, float]:
        return {label.display_name: self.probabilities[label.key] for label in LABELS}


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    result: ClassificationResult | None
    error: str | None  # why the file could not be classified


class EcgClassifier:
    def __init__(self, options: ClassifierOptions, card: ModelCard, members: tuple[EcgClassifier, ...] = ()):
        self.options = options
        self.card = card
        # A fused model (card.members): its members' classifiers, each on its own interpreter.
        self.members = members
        if members:
            self.interpreter_name = members[0].interpreter_name
            self._also = tuple(m.card.preprocessing for m in members[1:])
            return
        self._also: tuple = ()
        backend = pick_backend(options.interpreter)
        self.interpreter_name = backend.name
        try:
            _, self._interpreter = open_interpreter(options.model_path, options.num_threads, backend.name)
        except (ValueError, RuntimeError) as exc:
            raise UnsupportedModelError(Path(options.model_path), backend.name, str(exc)) from exc
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        expected = model_input_shape(card.preprocessing)
        if tuple(self._input["shape"]) != expected:
            raise ModelIntegrityError(
                f"{options.model_path}: input shape {tuple(self._input['shape'])} differs from the card's {expected}"
            )

    @classmethod
    def create_from_options(cls, options: ClassifierOptions) -> EcgClassifier:
        path = Path(options.model_path)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        card = load_card(path)
        if card.is_fused:
            return cls(replace(options, model_path=path), card, _open_members(path, card, options))
        if options.verify_sha256:
            actual = sha256_file(path)
            if actual != card.tflite_sha256:
                raise ModelIntegrityError(
                    f"{path}: sha256 {actual[:12]}... does not match its card ({card.tflite_sha256[:12]}...); "
                    "the model file was altered or the card belongs to another model"
                )
        return cls(replace(options, model_path=path), card)

    @classmethod
    def create_from_model_path(cls, model_path: str | os.PathLike, num_threads: int = 1) -> EcgClassifier:
        return cls.create_from_options(ClassifierOptions(model_path=Path(model_path), num_threads=num_threads))

    @property
    def name(self) -> str:
        """The model's name, as ``--model NAME`` takes it."""
        return model_name(self.options.model_path)

    @property
    def input_dtype(self) -> np.dtype:
        return self.members[0].input_dtype if self.members else np.dtype(self._input["dtype"])

    def predict_preprocessed(self, image: np.ndarray, member_inputs: tuple[np.ndarray, ...] = ()) -> np.ndarray:
        """Class probabilities (LABELS order) for one model input (``PreprocessedImage.image``: a
        uint8 image, or the signals view's lead matrix; a fused model also takes
        ``PreprocessedImage.member_inputs``), weighted as the card says (its operating point) and
        calibrated with its temperature when it has them."""
        probs = apply_label_weights(self.predict_raw(image, member_inputs), self.card.label_weights)
        calibration = self.card.calibration
        return probs if calibration is None else apply_temperature(probs, calibration.temperature)

    def predict_raw(self, image: np.ndarray, member_inputs: tuple[np.ndarray, ...] = ()) -> np.ndarray:
        """The model's own output probabilities, before calibration; a fused model's is the mean of
        its members' own outputs."""
        if self.members:
            inputs = (image, *member_inputs)
            if len(inputs) != len(self.members):
                given = len(inputs)
                raise ValueError(f"{self.card.name} takes {len(self.members)} inputs (one per member), {given} given")
            return np.mean([m.predict_raw(x) for m, x in zip(self.members, inputs)], axis=0)
        x = image.astype(np.float32).reshape(self._input["shape"])
        dtype = self._input["dtype"]
        scale, zero_point = self._input["quantization"]
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
        self._interpreter.set_tensor(self._input["index"], x.astype(dtype))
        self._interpreter.invoke()
        y = self._interpreter.get_tensor(self._output["index"])[0]
        out_scale, out_zero = self._output["quantization"]
        if np.issubdtype(y.dtype, np.integer):
            y = (y.astype(np.float32) - out_zero) * out_scale
        y = np.clip(y.astype(np.float64), 0.0, None)
        total = y.sum()
        return y / total if total > 0 else np.full(len(LABELS), 1.0 / len(LABELS))

    def preprocess(self, source) -> PreprocessedImage:
        return preprocess(source, self.card.preprocessing, self._also)

    def _prepare(self, source) -> tuple[PreprocessedImage, GateResult, Timings, EcgReading | str | None, Sheet]:
        """Decode, find the sheet (photos), check that it is an ECG printout, preprocess, digitize;
        milliseconds spent (inference 0). A page whose 12 lead rows cannot be found (models that see
        lead panels) gets a refusing gate result, and its page view as the image shown."""
        t0 = time.perf_counter()
        bgr = self.load_scan(source)
        decoded = bgr.shape
        t1 = time.perf_counter()
        sheet = flatten_photo(bgr, self.card.preprocessing)
        bgr = sheet.image
        ts = time.perf_counter()
        config = self.card.preprocessing
        shared = config.view != "page" and GATE_CONFIG.work_size == config.work_size  # read_page runs
        # The gate and the page reader read the same red channel at the same working size: resized once.
        red, _ = to_work_scale(np.ascontiguousarray(bgr[..., 2]), GATE_CONFIG.work_size)
        read = None
        if sheet.half_turn_open:  # a flattened landscape page: which way up, judged on its rows read once
            sheet, read = settle_half_turn(sheet, config, red if shared else None)
            if sheet.image is not bgr:
                bgr = sheet.image
                red, _ = to_work_scale(np.ascontiguousarray(bgr[..., 2]), GATE_CONFIG.work_size)
        tg = time.perf_counter()
        gate = check_ecg(bgr, GATE_CONFIG, red)
        t2 = time.perf_counter()
        pre, gate = self._model_input(bgr, gate, red if shared else None, read)
        if pre.page is not None and pre.layout is not None:
            turned = turn_upside_down(sheet, pre.page, pre.layout, config)
            if turned is not None:  # an upside-down scan: read it the right way up, if it reads so
                turned_pre, turned_gate = self._model_input(turned.image, gate)
                if turned_pre.layout is not None:
                    sheet, pre, gate = turned, turned_pre, turned_gate
        if pre.page is not None and pre.layout is not None:
            straight = straighten_keystone(sheet, pre.page, pre.layout, config)
            if straight is not None:  # a keystoned page the photo is filled with: read it straight
                straight_pre, straight_gate = self._model_input(straight.image, gate)
                if straight_pre.layout is not None:
                    sheet, pre, gate = straight, straight_pre, straight_gate
        t3 = time.perf_counter()
        reading: EcgReading | str | None = None
        if self.options.measure and gate.is_ecg and pre.page is not None and pre.layout is not None:
            try:
                detail = detail_source(source, sheet, decoded, config)
                reading = read_signals(pre.page, pre.layout, self.options.interpreter, pre.ecg, detail, config)
            except Exception as exc:  # the label stands without measurements; say why
                reading = f"could not digitize the leads: {type(exc).__name__}: {exc}"
        t4 = time.perf_counter()
        timings = Timings(
            (t4 - t0) * 1e3, 0.0, decode_ms=(t1 - t0) * 1e3, gate_ms=(t2 - tg) * 1e3, signals_ms=(t4 - t3) * 1e3,
            sheet_ms=(ts - t1) * 1e3,
        )  # fmt: skip
        return pre, gate, timings, reading, sheet

    def _model_input(
        self, bgr: np.ndarray, gate: GateResult, red: np.ndarray | None = None, read: tuple | None = None
    ) -> tuple[PreprocessedImage, GateResult]:
        """The model's input and the gate's verdict: a page whose 12 lead rows cannot be found (or,
        for a signal model, whose leads cannot be digitized) is refused with the reason, and its page
        view stands in as the image shown."""
        config = self.card.preprocessing
        try:
            return preprocess(bgr, config, self._also, red, read), gate
        except LayoutError as exc:
            reason = f"ECG layout not recognised: {exc}"
        except Exception as exc:  # noqa: BLE001 - a digitizer failure refuses the page, never the folder
            if config.view != "signals" and "signals" not in {c.view for c in self._also}:
                raise
            reason = f"could not digitize the leads: {type(exc).__name__}: {exc}"
        pre = preprocess(bgr, replace(config, view="page"))
        return pre, (replace(gate, is_ecg=False, reason=reason) if gate.is_ecg else gate)

    def load_scan(self, source) -> np.ndarray:
        """Decode as this model's preprocessing would (reduced-scale decode of large JPEGs)."""
        return load_scan(source, self.card.preprocessing)

    def classify(self, source) -> ClassificationResult:
        """Classify a path, encoded bytes or a BGR array. Raises ImageDecodeError for bad images;
        a readable image that is not an ECG printout gives a result whose ``is_ecg`` is False."""
        return self._classify_preprocessed(*self._prepare(source))

    def classify_with_input(self, source) -> tuple[ClassificationResult, PreprocessedImage]:
        """As ``classify``, also returning the model input (for explanations and reports)."""
        pre, gate, timings, reading, sheet = self._prepare(source)
        return self._classify_preprocessed(pre, gate, timings, reading, sheet), pre

    def _classify_preprocessed(
        self,
        pre: PreprocessedImage,
        gate: GateResult | None,
        timings: Timings,
        reading: EcgReading | str | None = None,
        sheet: Sheet | None = None,
    ) -> ClassificationResult:
        t1 = time.perf_counter()
        if gate is not None and not gate.is_ecg:
            # No label is given for a page that is not an ECG printout, and its stand-in input (the
            # page view) need not even fit the model (a signals model reads leads): no inference.
            probs = np.full(len(LABELS), 1.0 / len(LABELS))
        else:
            probs = self.predict_preprocessed(pre.image, pre.member_inputs)
        inference_ms = (time.perf_counter() - t1) * 1e3
        best = int(np.argmax(probs))
        calibration = self.card.calibration
        return ClassificationResult(
            label=LABELS[best],
            probabilities={label.key: float(p) for label, p in zip(LABELS, probs)},
            grid_found=pre.grid is not None,
            timings=replace(timings, inference_ms=inference_ms),
            uncertain=calibration is not None and float(probs[best]) < calibration.threshold,
            gate=gate,
            layout=pre.layout.description if pre.layout else None,
            reading=reading if isinstance(reading, EcgReading) else None,
            signals_error=reading if isinstance(reading, str) else None,
            sheet=sheet,
        )

    def classify_files(self, paths: list[Path], workers: int = 1) -> Iterator[FileOutcome]:
        """Classify files in order. Decoding and preprocessing (OpenCV, which releases the GIL) run
        on ``workers`` threads while the interpreter, which is not thread-safe, stays on this one."""

        def prepare(path: Path):
            try:
                return self._prepare(path), None
            except ImageDecodeError as exc:
                return None, str(exc).removeprefix(f"{path}: ")

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            # A sliding window of look-ahead keeps memory flat on folders of any size, and the
            # workers busy: chunks waited for their slowest scan (~5% of a folder's time).
            queue = iter(paths)
            pending = deque((path, pool.submit(prepare, path)) for path in islice(queue, 8 * max(1, workers)))
            try:
                while pending:
                    path, future = pending.popleft()
                    following = next(queue, None)
                    if following is not None:
                        pending.append((following, pool.submit(prepare, following)))
                    prepared, error = future.result()
                    if prepared is None:
                        yield FileOutcome(path, None, error)
                    else:
                        yield FileOutcome(path, self._classify_preprocessed(*prepared), None)
            finally:  # a caller that stops early, or an error: the scans not started yet are not prepared
                for _, future in pending:
                    future.cancel()


def _open_members(card_path: Path, card: ModelCard, options: ClassifierOptions) -> tuple[EcgClassifier, ...]:
    """A fused card's members (files beside it), each checked against its own card; they must read
    one page and layout (the same page settings), each in its own view."""
    if not card.members:
        raise ModelIntegrityError(f"{card_path.name}: a fused card names no members")
    recorded = card.training.get("members", {})
    members = []
    for name in card.members:
        path = card_path.parent / name
        if not path.is_file():
            raise FileNotFoundError(f"{card_path.name}: member model {name} not found beside it")
        member_card = load_card(path)  # checked before opening: a fused member would recurse
        if member_card.is_fused or is_card_path(path):
            raise ModelIntegrityError(f"{card_path.name}: member {name} is itself a fused model")
        if member_card.preprocessing.view == "page":
            raise ModelIntegrityError(f"{card_path.name}: member {name} reads the page view; members read lead views")
        expected = recorded.get(name, {}).get("sha256")
        if options.verify_sha256 and expected and member_card.tflite_sha256 != expected:
            raise ModelIntegrityError(
                f"{card_path.name}: member {name} is not the model this card was measured with "
                f"(sha256 {member_card.tflite_sha256[:12]}... against {expected[:12]}...)"
            )
        members.append(EcgClassifier.create_from_options(replace(options, model_path=path)))
    first = members[0].card.preprocessing
    for member in members[1:]:
        other = member.card.preprocessing
        if (other.work_size, other.leads) != (first.work_size, first.leads):
            raise ModelIntegrityError(
                f"{card_path.name}: members {card.members[0]} and {member.options.model_path.name} read the page "
                "with different settings (work_size, leads): a fused model reads one page and layout"
            )
    if card.preprocessing != first:
        raise ModelIntegrityError(f"{card_path.name}: its preprocessing differs from its first member's")
    return tuple(members)


def runnable_sibling(options: ClassifierOptions, user_dir: Path | None = None) -> EcgClassifier | None:
    """Another installed variant of the same model (same architecture and preprocessing: the int8
    file beside a dynamic-range one) that this interpreter can run, loaded; None if there is none."""
    from edge.resources import list_models

    try:
        card = load_card(Path(options.model_path))
    except (OSError, ValueError):
        return None
    for entry in list_models(user_dir):
        if entry.path.resolve() == Path(options.model_path).resolve():
            continue
        try:
            other = load_card(entry.path)
        except (OSError, ValueError):
            continue
        if other.architecture != card.architecture or other.preprocessing != card.preprocessing:
            continue
        try:
            return EcgClassifier.create_from_options(replace(options, model_path=entry.path))
        except (OSError, ValueError, RuntimeError):
            continue
    return None


def interpreter_can_run(model_path: Path, interpreter: str | None = None) -> tuple[str, bool]:
    """The interpreter that would be used, and whether it loads this model (every member of a fused one)."""
    backend = pick_backend(interpreter)
    paths = [Path(model_path)]
    if is_card_path(model_path):
        try:
            paths = [Path(model_path).parent / m for m in load_card(model_path).members]
        except (OSError, ValueError):
            return backend.name, False
        if not paths:  # a card without its .tflite and without members: nothing to run
            return backend.name, False
    try:
        for path in paths:
            open_interpreter(path, 1, backend.name)
    except (ValueError, RuntimeError):
        return backend.name, False
    return backend.name, True
