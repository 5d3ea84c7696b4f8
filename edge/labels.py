"""The four diagnostic classes: defined here once, in model-output order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    key: str
    display_name: str
    short_name: str  # for narrow tables
    # Folder name in the original Mendeley release ("ECG Images dataset of Cardiac Patients").
    mendeley_folder_prefix: str


LABELS: tuple[Label, ...] = (
    Label("normal", "Normal", "N", "Normal Person ECG Images"),
    Label("mi", "Myocardial Infarction", "MI", "ECG Images of Myocardial Infarction Patients"),
    Label("abnormal_heartbeat", "Abnormal Heartbeat", "AHB", "ECG Images of Patient that have abnormal heartbeat"),
    Label("history_of_mi", "History of MI", "HMI", "ECG Images of Patient that have History of MI"),
)

LABEL_KEYS: tuple[str, ...] = tuple(label.key for label in LABELS)


def label_by_key(key: str) -> Label:
    for label in LABELS:
        if label.key == key:
            return label
    raise KeyError(f"unknown label key {key!r}; expected one of {', '.join(LABEL_KEYS)}")


def label_for_folder(folder_name: str) -> Label | None:
    """Map a class folder (label key or Mendeley folder name) to its label, or None."""
    name = folder_name.strip()
    for label in LABELS:
        if name == label.key or name.startswith(label.mendeley_folder_prefix):
            return label
    return None
