"""Model cards: the JSON file beside each .tflite that says what the model is, how its input is
made, what it was trained on and how well it did on the held-out test split."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge.labels import LABEL_KEYS
from edge.preprocess import PreprocessConfig

CARD_SUFFIX = ".card.json"


@dataclass(frozen=True)
class EvaluationMetrics:
    """Classification metrics on one set of images; per-class lists follow ``labels`` order."""

    n_images: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    labels: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    confusion_matrix: list[list[int]]  # rows: true label, columns: predicted label

    @classmethod
    def from_dict(cls, data: dict) -> EvaluationMetrics:
        return cls(**data)


@dataclass(frozen=True)
class Agreement:
    """How closely a converted model follows the Keras model it came from, on the test split."""

    n_images: int
    same_label_share: float
    max_probability_difference: float


@dataclass(frozen=True)
class Calibration:
    """Temperature (fitted on the validation split) applied to every output, and the confidence
    below which a prediction is reported as uncertain; ECE and coverage as measured."""

    temperature: float
    threshold: float
    target_accuracy: float  # the validation accuracy the threshold was chosen to reach
    ece_val_before: float
    ece_val_after: float
    ece_test_before: float
    ece_test_after: float
    test_coverage: float  # share of test images above the threshold
    test_accuracy_covered: float  # accuracy on those
    # Coverage against accuracy on the test split: [threshold, share kept, accuracy on it] rows.
    test_coverage_curve: list[list[float]] = field(default_factory=list)


@dataclass(frozen=True)
class LayoutScore:
    """Metrics on the test split re-laid out in another printout layout (train.relayout)."""

    layout: str
    description: str
    n_images: int
    accuracy: float
    macro_f1: float


@dataclass(frozen=True)
class ModelCard:
    name: str
    architecture: str
    variant: str  # float32 | int8 | ...
    labels: list[str]
    preprocessing: PreprocessConfig
    tflite_file: str
    tflite_sha256: str
    training: dict = field(default_factory=dict)  # data set, split file and description, epochs
    test_metrics: EvaluationMetrics | None = None
    agreement_with_keras: Agreement | None = None
    calibration: Calibration | None = None
    measured_with: str = ""  # interpreter that produced test_metrics
    layout_scores: list[LayoutScore] = field(default_factory=list)  # test split in other layouts
    # The generalization protocol's figures for this model's direction (benchmarks/generalization.py):
    # how the direction fared on splits by acquisition day, beside the plain split.
    protocol: dict = field(default_factory=dict)
    notes: str = ""
    # A fused model: the file names (beside this card) of the models whose raw probabilities it
    # averages, each reading its own view of one page and layout; the calibration and figures are the
    # average's. A fused card has no .tflite of its own (tflite_file and tflite_sha256 empty) and its
    # preprocessing is its first member's. Empty for a single model.
    members: list[str] = field(default_factory=list)
    # An operating point: label key -> factor its raw probability is multiplied by (the row then
    # renormalised) before calibration, chosen on the validation split (`ecg-fuse --favour`: missing
    # an infarction costs more than a false alarm). Empty: the model's own output.
    label_weights: dict[str, float] = field(default_factory=dict)

    @property
    def is_fused(self) -> bool:
        return bool(self.members)

    def day_fold_macro_f1(self) -> float | None:
        """Mean macro-F1 over the protocol's day folds, each the mean over its layouts; None
        without day-fold rows."""
        folds = [
            sum(row["macro_f1"].values()) / len(row["macro_f1"])
            for row in self.protocol.get("rows", [])
            if str(row.get("split", "")).startswith("day-fold") and row.get("macro_f1")
        ]
        return sum(folds) / len(folds) if folds else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["preprocessing"] = self.preprocessing.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelCard:
        data = dict(data)
        data["preprocessing"] = PreprocessConfig.from_dict(data["preprocessing"])
        if data.get("test_metrics") is not None:
            data["test_metrics"] = EvaluationMetrics.from_dict(data["test_metrics"])
        if data.get("agreement_with_keras") is not None:
            data["agreement_with_keras"] = Agreement(**data["agreement_with_keras"])
        if data.get("calibration") is not None:
            data["calibration"] = Calibration(**data["calibration"])
        data["layout_scores"] = [LayoutScore(**score) for score in data.get("layout_scores", [])]
        card = cls(**data)
        if tuple(card.labels) != LABEL_KEYS:
            raise ValueError(f"model card labels {card.labels} differ from this runtime's {list(LABEL_KEYS)}")
        if not isinstance(card.label_weights, dict):
            raise ValueError(f"label_weights: {card.label_weights!r} is not an object of label -> factor")
        for key, weight in card.label_weights.items():
            number = isinstance(weight, (int, float)) and not isinstance(weight, bool)
            if key not in LABEL_KEYS or not (number and 1e-6 <= weight <= 1e6):
                allowed = f"a label of {list(LABEL_KEYS)}, a factor in 1e-6..1e6"
                raise ValueError(f"label weight {key!r}: {weight!r} ({allowed})")
        return card

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(path)


def is_card_path(path: str | os.PathLike) -> bool:
    """Whether a model path names a card itself (a fused model's) rather than a .tflite beside one."""
    return Path(path).name.endswith(CARD_SUFFIX)


def card_path_for(model_path: str | os.PathLike) -> Path:
    """The card beside a .tflite file; a fused model's path is its card."""
    model_path = Path(model_path)
    if is_card_path(model_path):
        return model_path
    return model_path.with_name(model_path.stem + CARD_SUFFIX)


def load_card(model_path: str | os.PathLike) -> ModelCard:
    path = card_path_for(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"no model card {path} beside {model_path}")
    try:
        return ModelCard.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"invalid model card {path}: {exc}") from exc


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
