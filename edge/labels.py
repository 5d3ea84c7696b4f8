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
    message: str  # shown with a prediction of this class (CLI report, app)


LABELS: tuple[Label, ...] = (
    Label(
        "normal",
        "Normal",
        "N",
        "Normal Person ECG Images",
        "None of the three abnormal patterns was recognised. This does not rule out heart disease.",
    ),
    Label(
        "mi",
        "Myocardial Infarction",
        "MI",
        "ECG Images of Myocardial Infarction Patients",
        "The tracing resembles those of patients with myocardial infarction. Urgent clinical review is advised.",
    ),
    Label(
        "abnormal_heartbeat",
        "Abnormal Heartbeat",
        "AHB",
        "ECG Images of Patient that have abnormal heartbeat",
        "The tracing resembles those of patients with an abnormal heartbeat. Clinical review is advised.",
    ),
    Label(
        "history_of_mi",
        "History of MI",
        "HMI",
        "ECG Images of Patient that have History of MI",
        "The tracing resembles those of patients with a past myocardial infarction. Clinical review is advised.",
    ),
)

DISCLAIMER = (
    "Decision aid only, not a diagnosis: this research model can be wrong, and its accuracy on scans "
    "from outside its training data is much lower than its test figures. A clinician must read the ECG."
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
