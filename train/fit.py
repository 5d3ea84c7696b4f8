"""Training one network on a saved grouped split; writes the run folder for one model."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from edge.labels import LABEL_KEYS
from edge.preprocess import PreprocessConfig
from train.arrays import SplitArrays
from train.augment import augment_batch, train_augmentation
from train.metrics import compute_metrics
from train.models import build_model

N_CLASSES = len(LABEL_KEYS)


class BatchSequence(keras.utils.PyDataset):
    """Batches of preprocessed images as float 0-255 with one-hot labels; augments when asked."""

    def __init__(self, arrays: SplitArrays, batch_size: int, augment: bool, seed: int):
        super().__init__()
        self.arrays = arrays
        self.batch_size = batch_size
        self.augment = train_augmentation(seed) if augment else None
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(arrays.labels))
        if augment:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return int(np.ceil(len(self.order) / self.batch_size))

    def __getitem__(self, index: int):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = self.arrays.images[idx]
        if self.augment is not None:
            images = augment_batch(self.augment, images)
        x = images.astype(np.float32)[..., None]
        y = keras.utils.to_categorical(self.arrays.labels[idx], N_CLASSES)
        return x, y

    def on_epoch_end(self) -> None:
        if self.augment is not None:
            self.rng.shuffle(self.order)


@dataclass(frozen=True)
class FitSettings:
    model: str
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-4
    patience: int = 5
    seed: int = 42


@dataclass(frozen=True)
class FitResult:
    model_path: Path
    history_path: Path
    metrics_path: Path
    epochs_run: int
    train_seconds: float


def predict_classes(model: keras.Model, arrays: SplitArrays, batch_size: int = 32) -> np.ndarray:
    probs = model.predict(BatchSequence(arrays, batch_size, augment=False, seed=0), verbose=0)
    return np.argmax(probs, axis=1)


def fit_model(
    settings: FitSettings,
    config: PreprocessConfig,
    train: SplitArrays,
    val: SplitArrays,
    test: SplitArrays,
    out_dir: Path,
    split_file: Path,
) -> FitResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(settings.seed)
    model = build_model(settings.model, config.input_size)
    model.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    present = np.unique(train.labels)
    weights = compute_class_weight("balanced", classes=present, y=train.labels)
    class_weight = {int(c): float(w) for c, w in zip(present, weights)}
    history_path = out_dir / "history.csv"
    callbacks = [
        keras.callbacks.CSVLogger(str(history_path)),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience, restore_best_weights=True),
    ]
    start = time.perf_counter()
    history = model.fit(
        BatchSequence(train, settings.batch_size, augment=True, seed=settings.seed),
        validation_data=BatchSequence(val, settings.batch_size, augment=False, seed=0),
        epochs=settings.epochs,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=1,
    )
    train_seconds = time.perf_counter() - start
    model_path = out_dir / "model.keras"
    model.save(model_path)
    metrics = compute_metrics(test.labels, predict_classes(model, test))
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(
        json.dumps(
            {"split": "test", "measured_with": f"keras ({keras.backend.backend()})", **asdict(metrics)}, indent=2
        )
        + "\n"
    )
    epochs_run = len(history.history["loss"])
    run_info = {
        "settings": asdict(settings),
        "preprocessing": config.to_dict(),
        "split_file": str(split_file),
        "class_weight": class_weight,
        "epochs_run": epochs_run,
        "train_seconds": round(train_seconds, 1),
        "keras_backend": keras.backend.backend(),
        "weights": "none (trained from scratch)",
        "n_train": len(train.labels),
        "n_val": len(val.labels),
        "n_test": len(test.labels),
    }
    (out_dir / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")
    return FitResult(model_path, history_path, metrics_path, epochs_run, train_seconds)
