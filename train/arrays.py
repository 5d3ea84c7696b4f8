"""Preprocessed arrays of a split, made once through edge.preprocess (the same function the CLI uses)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from edge.labels import LABEL_KEYS
from edge.preprocess import PreprocessConfig, preprocess
from train.dataset import DataSplit, ScanRecord


@dataclass(frozen=True)
class SplitArrays:
    images: np.ndarray  # uint8 (N, S, S)
    labels: np.ndarray  # int (N,), index into LABELS
    paths: list[str]


def load_arrays(
    records: list[ScanRecord], data_root: Path, config: PreprocessConfig, description: str = "preprocessing"
) -> SplitArrays:
    size = config.input_size
    images = np.empty((len(records), size, size), dtype=np.uint8)
    with Progress(transient=True) as progress:
        task = progress.add_task(description, total=len(records))
        for i, record in enumerate(records):
            images[i] = preprocess(Path(data_root) / record.path, config).image
            progress.advance(task)
    labels = np.array([LABEL_KEYS.index(r.label) for r in records], dtype=np.int64)
    return SplitArrays(images, labels, [r.path for r in records])


def load_split_arrays(split: DataSplit, name: str, data_root: Path, config: PreprocessConfig) -> SplitArrays:
    return load_arrays(split.records_for(name), data_root, config, f"preprocessing {name} split")
