"""Data set folders, duplicate grouping and the saved grouped split.

A data folder holds one sub-folder per class, named either by label key (``normal/``) or as in
the Mendeley release (``Normal Person ECG Images (284x12=3408)/``). Files with identical bytes
are one *group*; a split never puts one group on two sides.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from edge.labels import LABEL_KEYS, label_for_folder

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
SPLITS = ("train", "val", "test")
GROUP_BY = ("image", "patient", "day")
HEADER_WIDTH = 1106  # px: pages are read for patient ID and date at this width (the data set's)


@dataclass(frozen=True)
class ScanRecord:
    path: str  # relative to the data root, POSIX separators
    label: str  # label key
    sha256: str  # of the file's bytes
    split: str = ""
    group: str = ""  # what a split keeps on one side: sha256, or a patient/day key (see make_split)


@dataclass(frozen=True)
class DataSplit:
    data_root: str
    seed: int
    description: str
    records: tuple[ScanRecord, ...]

    def records_for(self, split: str, distinct: bool = True) -> list[ScanRecord]:
        """Records of one split; with ``distinct`` only the first file of each group (copies add
        no information, and counting them would weight some images several times)."""
        chosen = [r for r in self.records if r.split == split]
        return distinct_records(chosen) if distinct else chosen

    def summary(self) -> dict[str, dict[str, int]]:
        """Distinct images per split and label."""
        return {split: dict(Counter(r.label for r in self.records_for(split)).most_common()) for split in SPLITS}

    def save(self, path: Path) -> None:
        data = {
            "data_root": self.data_root,
            "seed": self.seed,
            "description": self.description,
            "n_files": len(self.records),
            "n_groups": len({r.group or r.sha256 for r in self.records}),
            "distinct_per_split": self.summary(),
            "records": [asdict(r) for r in self.records],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> DataSplit:
        data = json.loads(Path(path).read_text())
        return cls(
            data_root=data["data_root"],
            seed=data["seed"],
            description=data["description"],
            records=tuple(ScanRecord(**r) for r in data["records"]),
        )


def distinct_records(records: list[ScanRecord]) -> list[ScanRecord]:
    """The first record of each group (byte-identical files), in order."""
    seen: set[str] = set()
    return [r for r in records if not (r.sha256 in seen or seen.add(r.sha256))]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scan_folder(root: Path) -> list[ScanRecord]:
    """All image files under the class folders of ``root``, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    records = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = label_for_folder(class_dir.name)
        if label is None:
            continue
        for file in sorted(class_dir.rglob("*")):
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                records.append(ScanRecord(file.relative_to(root).as_posix(), label.key, _sha256(file)))
    if not records:
        raise ValueError(
            f"no images found under {root}: expected class folders named {', '.join(LABEL_KEYS)} "
            "or as in the Mendeley release"
        )
    conflicts = {s for s, labels in _labels_by_group(records).items() if len(labels) > 1}
    if conflicts:
        raise ValueError(f"{len(conflicts)} identical image(s) appear under two classes, e.g. sha256 {min(conflicts)}")
    return records


def _labels_by_group(records: list[ScanRecord]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for r in records:
        groups.setdefault(r.sha256, set()).add(r.label)
    return groups


def folds_for(fraction: float) -> int:
    """How many stratified group folds hold about ``fraction`` of the data each."""
    return max(2, round(1.0 / fraction))


def _one_grouped_fold(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int, fold: int = 0) -> np.ndarray:
    """Boolean mask of the ``fold``-th stratified group fold, holding about ``fraction`` of the data."""
    n_splits = folds_for(fraction)
    if not 0 <= fold < n_splits:
        raise ValueError(f"fold {fold} out of range: a {fraction:.0%} test share gives folds 0-{n_splits - 1}")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, held = list(splitter.split(np.zeros(len(labels)), labels, groups))[fold]
    mask = np.zeros(len(labels), dtype=bool)
    mask[held] = True
    return mask


def split_groups(records: list[ScanRecord], data_root: Path, group_by: str) -> np.ndarray:
    """Group key of each record. ``image``: identical bytes. ``patient``: also the same patient ID
    read from the header (linked transitively). ``day``: identical bytes or the same acquisition
    date read from the footer, so that a test set holds other days than training, as a clinic's
    next scans do. IDs are not linked in ``day``: 85 IDs recur, some across days, and linking them
    joins 336 of the 491 images into one group, which no split can hold out. On the shared data
    set: 307 patient-ID keys (85 of them on more than one page, 65 of those on pages of two or more
    classes) and 23 days."""
    if group_by not in GROUP_BY:
        raise ValueError(f"unknown grouping {group_by!r}: one of {', '.join(GROUP_BY)}")
    keys = [[f"sha:{r.sha256}"] for r in records]
    if group_by != "image":
        import cv2

        from train.header import read_fields

        grays = []
        for r in records:
            gray = cv2.imread(str(Path(data_root) / r.path), cv2.IMREAD_GRAYSCALE)
            if gray is None:
                gray = np.full((8, 8), 255, np.uint8)
            # One text size for every resolution: the glyphs are compared by shape.
            scale = HEADER_WIDTH / gray.shape[1]
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            grays.append(cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation))
        for key, fields in zip(keys, read_fields(grays)):
            if group_by == "patient" and fields.patient:
                key.append(f"id:{fields.patient}")
            if group_by == "day" and fields.day:
                key.append(f"day:{fields.day}")
    parent: dict[str, str] = {}

    def root(k: str) -> str:
        while parent.setdefault(k, k) != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for key in keys:
        for other in key[1:]:
            parent[root(other)] = root(key[0])
    return np.array([root(key[0]) for key in keys])


def make_split(
    records: list[ScanRecord],
    data_root: Path,
    seed: int = 42,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    group_by: str = "image",
    fold: int = 0,
) -> DataSplit:
    """Stratified grouped split into train/val/test (about 70/15/15); see split_groups. ``fold``
    picks which of the folds_for(test_fraction) group folds is the test set: folds 0..K-1 hold
    every group out once (with few large groups, such as days, sklearn's shuffle barely changes a
    split with the seed, so repeated splits are made by fold rather than by seed)."""
    labels = np.array([r.label for r in records])
    groups = split_groups(records, data_root, group_by)
    test = _one_grouped_fold(labels, groups, test_fraction, seed, fold)
    rest = np.flatnonzero(~test)
    val_in_rest = _one_grouped_fold(labels[rest], groups[rest], val_fraction / (1.0 - test_fraction), seed + 1)
    split = np.full(len(records), "train", dtype=object)
    split[test] = "test"
    split[rest[val_in_rest]] = "val"
    assigned = tuple(ScanRecord(r.path, r.label, r.sha256, str(s), str(g)) for r, s, g in zip(records, split, groups))
    what = {
        "image": "files with identical bytes",
        "patient": "files with identical bytes or the same patient ID in the header",
        "day": "files with identical bytes or the same acquisition date",
    }[group_by]
    description = (
        f"stratified group split (sklearn StratifiedGroupKFold, seed {seed}, test fold {fold}, grouped by "
        f"{group_by}): {what} form one group ({len(set(groups))} groups) and never cross splits; "
        f"about {1 - val_fraction - test_fraction:.0%}/"
        f"{val_fraction:.0%}/{test_fraction:.0%} train/val/test; one file per group is used"
    )
    return DataSplit(str(Path(data_root).resolve()), seed, description, assigned)
