"""Evaluation of a trained model (.keras through Keras, .tflite or a fused model's card through the
edge runtime) on a split of the saved grouped split, or on every distinct image of any data folder
(an external set)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from edge.card import EvaluationMetrics, is_card_path, load_card
from edge.labels import LABEL_KEYS
from edge.preprocess import PreprocessConfig
from train.arrays import SplitArrays, load_arrays
from train.dataset import DataSplit, distinct_records, scan_folder
from train.metrics import BootstrapCI, bootstrap_ci, compute_metrics
from train.relayout import Layout


@dataclass(frozen=True)
class EvaluationReport:
    model: str
    data: str
    split: str
    measured_with: str
    metrics: EvaluationMetrics
    ci: BootstrapCI
    layout: str = ""  # the train.relayout layout every scan was re-laid out in; "" for as scanned
    paths: list[str] = field(default_factory=list)  # per image, in order: for ensembles and paired tests
    y_true: list[int] = field(default_factory=list)
    probabilities: list[list[float]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


class Predictor:
    """Class probabilities for preprocessed images from a .keras or a .tflite model; a fused model
    (its card) reads each scan itself, every member its own view of one page."""

    def __init__(self, model_path: Path):
        self.path = Path(model_path)
        self.fused = is_card_path(self.path)
        if self.path.suffix == ".tflite" or self.fused:
            from edge.classifier import EcgClassifier

            self._classifier = EcgClassifier.create_from_model_path(self.path)
            self.config = load_card(self.path).preprocessing
            self.measured_with = self._classifier.interpreter_name
            self.run_info: dict = {}
        elif self.path.suffix == ".keras":
            import keras

            run_file = self.path.parent / "run.json"
            if not run_file.is_file():
                raise FileNotFoundError(f"no run.json beside {self.path}: cannot know its preprocessing")
            self.run_info = json.loads(run_file.read_text())
            self.config = PreprocessConfig.from_dict(self.run_info["preprocessing"])
            self._model = keras.saving.load_model(self.path, compile=False)
            self.measured_with = f"keras ({keras.backend.backend()})"
        else:
            raise ValueError(f"{self.path}: expected a .keras or .tflite model or a fused model's card")

    def split_file(self) -> Path | None:
        """The split the model was trained on, when known."""
        if self.run_info:
            return Path(self.run_info["split_file"])
        for parent in self.path.parents:
            if (parent / "split.json").is_file():
                return parent / "split.json"
        return None

    def scan_probabilities(self, records, data: Path, transform=None) -> np.ndarray:
        """A fused model's calibrated probabilities for each scan, read through the runtime."""
        from rich.progress import track

        from edge.preprocess import decode_image

        out = []
        for record in track(records, description="reading scans", transient=True):
            bgr = decode_image(Path(data) / record.path)
            try:
                pre = self._classifier.preprocess(bgr if transform is None else transform(bgr))
            except ValueError as exc:  # edge.leads.LayoutError: name the scan, as load_arrays does
                raise ValueError(f"{record.path}: {exc}") from exc
            out.append(self._classifier.predict_preprocessed(pre.image, pre.member_inputs))
        return np.stack(out)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        if self.path.suffix == ".tflite":
            return np.stack([self._classifier.predict_preprocessed(img) for img in images])
        from train.fit import predict_probabilities

        return predict_probabilities(self._model, SplitArrays(images, np.zeros(len(images), int), []))


def evaluate(
    predictor: Predictor, data: Path, split: str, split_file: Path | None, layout: Layout | None = None
) -> EvaluationReport:
    if split == "all":
        records = distinct_records(scan_folder(data))
    else:
        if split_file is None or not split_file.is_file():
            raise FileNotFoundError("no split file: pass --split-file, or --split all for an external set")
        records = DataSplit.load(split_file).records_for(split)
        missing = [r.path for r in records if not (data / r.path).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} file(s) of the {split} split are not under {data}, e.g. {missing[0]}"
            )
    if predictor.fused:
        labels = np.array([LABEL_KEYS.index(r.label) for r in records], dtype=np.int64)
        arrays = SplitArrays(np.zeros((len(records), 0)), labels, [r.path for r in records])
        probabilities = predictor.scan_probabilities(records, data, layout.make if layout else None)
    else:
        arrays = load_arrays(
            records,
            data,
            predictor.config,
            f"preprocessing {split}" + (f" as {layout.name}" if layout else ""),
            layout.make if layout else None,
        )
        probabilities = predictor.probabilities(arrays.images)
    predictions = np.argmax(probabilities, axis=1)
    return EvaluationReport(
        model=str(predictor.path),
        data=str(data),
        split=split,
        measured_with=predictor.measured_with,
        metrics=compute_metrics(arrays.labels, predictions),
        ci=bootstrap_ci(arrays.labels, predictions),
        layout=layout.name if layout else "",
        paths=arrays.paths,
        y_true=arrays.labels.tolist(),
        probabilities=np.round(probabilities, 5).tolist(),
    )


@dataclass(frozen=True)
class CrossValidationReport:
    model: str
    folds: int
    accuracy: list[float]
    macro_f1: list[float]

    @property
    def summary(self) -> dict[str, tuple[float, float]]:
        return {
            "accuracy": (float(np.mean(self.accuracy)), float(np.std(self.accuracy))),
            "macro_f1": (float(np.mean(self.macro_f1)), float(np.std(self.macro_f1))),
        }


def cross_validate(settings, config: PreprocessConfig, data: Path, folds: int, work_dir: Path) -> CrossValidationReport:
    """Stratified group k-fold over the whole data set: each fold is the test set once; the
    validation set (early stopping) is a grouped fold of the rest."""
    from train.fit import fit_model

    records = distinct_records(scan_folder(data))
    arrays = load_arrays(records, data, config, "preprocessing all images")
    groups = np.array([r.sha256 for r in records])
    outer = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=settings.seed)
    accuracy, macro_f1 = [], []
    for k, (rest, test) in enumerate(outer.split(arrays.images, arrays.labels, groups)):
        inner = StratifiedGroupKFold(n_splits=max(2, folds - 1), shuffle=True, random_state=settings.seed + k)
        train_i, val_i = next(inner.split(arrays.images[rest], arrays.labels[rest], groups[rest]))

        def subset(idx: np.ndarray) -> SplitArrays:
            return SplitArrays(arrays.images[idx], arrays.labels[idx], [arrays.paths[i] for i in idx])

        result = fit_model(
            settings, config, subset(rest[train_i]), subset(rest[val_i]), subset(test), work_dir / f"fold{k}", Path("")
        )
        fold_metrics = json.loads(result.metrics_path.read_text())
        accuracy.append(fold_metrics["accuracy"])
        macro_f1.append(fold_metrics["macro_f1"])
    return CrossValidationReport(settings.model, folds, accuracy, macro_f1)
