from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import pytest

from train.dataset import DataSplit, make_split, scan_folder


def _groups_by_split(split: DataSplit) -> dict[str, set[str]]:
    sides: dict[str, set[str]] = {}
    for record in split.records:
        sides.setdefault(record.split, set()).add(record.sha256)
    return sides


def assert_no_group_crosses(split: DataSplit) -> None:
    sides = _groups_by_split(split)
    assert sides["train"].isdisjoint(sides["val"])
    assert sides["train"].isdisjoint(sides["test"])
    assert sides["val"].isdisjoint(sides["test"])


def test_tiny_dataset_groups_copies_and_splits_without_leaks(tiny_dataset, tmp_path):
    records = scan_folder(tiny_dataset)
    assert len(records) == 64 and len({r.sha256 for r in records}) == 32
    split = make_split(records, tiny_dataset, seed=3)
    assert_no_group_crosses(split)
    assert {r.split for r in split.records} == {"train", "val", "test"}
    # Copies land together, and only one per group is used.
    assert all(len(split.records_for(s)) == len(_groups_by_split(split)[s]) for s in ("train", "val", "test"))
    path = tmp_path / "split.json"
    split.save(path)
    assert DataSplit.load(path) == split
    # Same seed, same split: every model is compared on the same images.
    assert make_split(records, tiny_dataset, seed=3) == split


def test_scan_folder_rejects_an_image_under_two_classes(tmp_path, tiny_dataset):
    for key in ("normal", "mi"):
        (tmp_path / key).mkdir()
    data = next((tiny_dataset / "normal").glob("*.jpg")).read_bytes()
    (tmp_path / "normal" / "a.jpg").write_bytes(data)
    (tmp_path / "mi" / "b.jpg").write_bytes(data)
    with pytest.raises(ValueError, match="two classes"):
        scan_folder(tmp_path)


def test_scan_folder_without_class_folders_says_what_it_expects(tmp_path):
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="expected class folders"):
        scan_folder(tmp_path)


def rebuild_original_layout(shared: Path, out: Path) -> int:
    """The 928-file Mendeley layout, copies included, as links to the shared images."""
    count = 0
    with open(shared / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            folder = out / row["class_folder"]
            folder.mkdir(parents=True, exist_ok=True)
            os.symlink(shared / "images" / row["class_folder"] / row["same_image_as"], folder / row["file"])
            count += 1
    return count


def test_rebuilt_928_file_layout_has_491_groups_and_no_leak(shared_data, tmp_path):
    assert rebuild_original_layout(shared_data, tmp_path) == 928
    records = scan_folder(tmp_path)
    assert len(records) == 928
    assert len({r.sha256 for r in records}) == 491
    split = make_split(records, tmp_path, seed=42)
    assert_no_group_crosses(split)
    groups = Counter(r.split for r in split.records_for("train") + split.records_for("val") + split.records_for("test"))
    assert sum(groups.values()) == 491
    for name, share in (("train", 0.70), ("val", 0.15), ("test", 0.15)):
        assert abs(groups[name] / 491 - share) < 0.04, groups
    # Every class is in every split.
    for name in ("train", "val", "test"):
        assert len({r.label for r in split.records_for(name)}) == 4
