"""Preprocessed arrays of a split, made once through edge.preprocess (the same function the CLI uses)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from edge.labels import LABEL_KEYS
from edge.preprocess import PreprocessConfig, decode_image, model_input_shape, preprocess
from train.dataset import DataSplit, ScanRecord


@dataclass(frozen=True)
class SplitArrays:
    images: np.ndarray  # model inputs: uint8 (N, S, S) images, or float32 (N, samples, leads) for signals
    labels: np.ndarray  # int (N,), index into LABELS
    paths: list[str]


def load_arrays(
    records: list[ScanRecord],
    data_root: Path,
    config: PreprocessConfig,
    description: str = "preprocessing",
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> SplitArrays:
    """Preprocessed images of ``records``; ``transform`` (a BGR scan -> BGR scan, e.g. a re-layout
    of train.relayout) is applied to each decoded scan first."""
    shape = model_input_shape(config)[1:]
    if config.view != "signals":
        shape = shape[:-1]  # the channel axis is added at batching
    images = np.empty((len(records), *shape), dtype=np.float32 if config.view == "signals" else np.uint8)
    with Progress(transient=True) as progress:
        task = progress.add_task(description, total=len(records))
        for i, record in enumerate(records):
            path = Path(data_root) / record.path
            source = path if transform is None else transform(decode_image(path))
            try:
                images[i] = preprocess(source, config).image
            except ValueError as exc:  # edge.leads.LayoutError: name the scan
                raise ValueError(f"{record.path}: {exc}") from exc
            progress.advance(task)
    labels = np.array([LABEL_KEYS.index(r.label) for r in records], dtype=np.int64)
    return SplitArrays(images, labels, [r.path for r in records])


def load_split_arrays(split: DataSplit, name: str, data_root: Path, config: PreprocessConfig) -> SplitArrays:
    return load_arrays(split.records_for(name), data_root, config, f"preprocessing {name} split")
