from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
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


def _page_with(patient: str, date: str) -> np.ndarray:
    """A white 1106x786 page with an ID and a date printed where this device prints them."""
    from train.header import DATE_BOX, ID_BOX

    page = np.full((786, 1106), 255, np.uint8)
    for text, box in ((patient, ID_BOX), (date, DATE_BOX)):
        x, y = int(box[0] * 1106) + 2, int(box[3] * 786) - 4
        cv2.putText(page, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1, cv2.LINE_AA)
    return page


def test_header_fields_match_equal_ids_and_dates_and_only_those():
    from train.header import read_fields

    pages = [
        _page_with("168616", "2020-08-06"),
        _page_with("168616", "2020-10-17"),
        _page_with("177151", "2020-10-17"),
        _page_with("177158", "2020-08-06"),
    ]
    fields = read_fields(pages)
    assert fields[0].patient == fields[1].patient
    assert len({fields[0].patient, fields[2].patient, fields[3].patient}) == 3  # one digit apart still differs
    assert fields[0].day == fields[3].day and fields[1].day == fields[2].day
    assert fields[0].day != fields[1].day
    assert read_fields([np.full((786, 1106), 255, np.uint8)])[0].patient is None  # nothing printed


@pytest.mark.parametrize("group_by", ["patient", "day"])
def test_splits_grouped_by_patient_or_day_keep_each_group_on_one_side(tmp_path, group_by):
    rng = np.random.default_rng(0)
    for c, label in enumerate(("normal", "mi", "abnormal_heartbeat", "history_of_mi")):
        (tmp_path / label).mkdir()
        for k in range(12):
            # 4 patients per class with 3 pages each; 12 dates shared across classes.
            page = _page_with(f"1{k % 4}{c}000", f"2020-{k % 9 + 1:02d}-1{k % 2}")
            noise = rng.integers(0, 30, page.shape).astype(np.uint8)  # distinct bytes per file
            cv2.imwrite(
                str(tmp_path / label / f"{k}.png"), cv2.cvtColor(np.maximum(page, 3) - noise % 3, cv2.COLOR_GRAY2BGR)
            )
    records = scan_folder(tmp_path)
    split = make_split(records, tmp_path, seed=0, group_by=group_by, fold=1)
    sides: dict[str, set[str]] = {}
    for r in split.records:
        sides.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in sides.values())
    assert len(sides) < len(records)  # pages were grouped, not each on its own
    assert {r.split for r in split.records} == {"train", "val", "test"}
    assert "grouped by " + group_by in split.description
