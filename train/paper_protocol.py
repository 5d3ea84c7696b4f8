"""The paper's protocol, reproduced to measure its leak: offline augmentation of all 928 files
(copies included) with per-class multipliers, then a random 80/20 split of the augmented images.
Augmented versions of one image, and its byte-identical copies, land on both sides."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from edge.labels import LABEL_KEYS, label_for_folder
from edge.preprocess import PreprocessConfig
from train.arrays import SplitArrays, load_arrays
from train.augment import augment_batch, train_augmentation
from train.dataset import ScanRecord

# Augmented images per original file (the paper's Table 2): 284x5 + 239x10 + 233x10 + 172x12 = 8204.
PAPER_MULTIPLIERS = {"normal": 5, "mi": 10, "abnormal_heartbeat": 10, "history_of_mi": 12}


@dataclass(frozen=True)
class PaperProtocolData:
    train: SplitArrays
    val: SplitArrays
    n_files: int  # original files, copies included
    n_distinct: int
    # Share of validation images whose source image (any copy, any augmentation) is also in train.
    val_leak_share: float


def original_files(data: Path, manifest: Path) -> list[ScanRecord]:
    """The original file list (928 for the full set), each pointing at the distinct image it copies."""
    records = []
    with open(manifest, newline="") as fh:
        for row in csv.DictReader(fh):
            label = label_for_folder(row["class_folder"])
            if label is None:
                raise ValueError(f"{manifest}: unknown class folder {row['class_folder']!r}")
            source = f"{row['class_folder']}/{row['same_image_as']}"
            if not (data / source).is_file():
                raise FileNotFoundError(f"{data / source} (listed in {manifest}) not found")
            records.append(ScanRecord(path=source, label=label.key, sha256=source))
    return records


def build(data: Path, manifest: Path, config: PreprocessConfig, seed: int = 42) -> PaperProtocolData:
    files = original_files(data, manifest)
    distinct = sorted({r.path: r for r in files}.values(), key=lambda r: r.path)
    arrays = load_arrays(distinct, data, config, "preprocessing distinct images")
    index = {r.path: i for i, r in enumerate(distinct)}
    transform = train_augmentation(seed)
    images, labels, sources = [], [], []
    for record in files:
        count = PAPER_MULTIPLIERS[record.label]
        source = arrays.images[index[record.path]]
        images.append(augment_batch(transform, np.repeat(source[None], count, axis=0)))
        labels += [LABEL_KEYS.index(record.label)] * count
        sources += [record.path] * count
    x, y, src = np.concatenate(images), np.array(labels), np.array(sources)
    train_i, val_i = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed, shuffle=True)
    leak = float(np.isin(src[val_i], src[train_i]).mean())

    def subset(idx: np.ndarray) -> SplitArrays:
        return SplitArrays(x[idx], y[idx], src[idx].tolist())

    return PaperProtocolData(subset(train_i), subset(val_i), len(files), len(distinct), leak)
