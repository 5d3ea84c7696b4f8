"""Where models and sample scans live, and how a model is named on the command line.

The repository keeps them in ``models/`` and ``samples/`` beside ``edge/``; the wheel carries the
same files as package data under ``edge/models`` and ``edge/samples`` (pyproject's package-dir
mapping), so an installed copy and a checkout find them the same way. A user's own models folder
(``--models-dir`` or $ECG_EDGE_MODELS) is searched before the shipped one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from edge.card import CARD_SUFFIX  # a card with no .tflite beside it is a fused model

_PACKAGE = Path(__file__).resolve().parent
# models/DEFAULT names the default model file of its folder.
DEFAULT_POINTER = "DEFAULT"
MODEL_ENV_VAR = "ECG_EDGE_MODEL"  # one model: a path or a listed name
MODELS_DIR_ENV_VAR = "ECG_EDGE_MODELS"  # a folder of the user's models (or several, os.pathsep-separated)
MODEL_SUFFIX = ".tflite"


def _packaged_or_checkout(name: str) -> Path:
    """``edge/<name>`` in an installed wheel, ``<repo>/<name>`` in a checkout or editable install."""
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _PACKAGE.parent / name


def shipped_models_dir() -> Path:
    return _packaged_or_checkout("models")


def samples_dir() -> Path:
    """The shipped sample scans (one folder per label key)."""
    return _packaged_or_checkout("samples")


def sample_files() -> list[Path]:
    folder = samples_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})


def model_dirs(user_dir: Path | None = None) -> list[Path]:
    """Folders searched for models, first match wins: ``user_dir``, then $ECG_EDGE_MODELS, then the
    shipped models."""
    dirs = [user_dir] if user_dir is not None else []
    dirs += [Path(p) for p in os.environ.get(MODELS_DIR_ENV_VAR, "").split(os.pathsep) if p]
    dirs.append(shipped_models_dir())
    return dirs


@dataclass(frozen=True)
class ModelEntry:
    name: str  # file stem: what --model NAME takes
    path: Path


def list_models(user_dir: Path | None = None) -> list[ModelEntry]:
    """Every .tflite in the searched folders, and every fused model's card (a card with no .tflite
    beside it); a name found twice is the first folder's."""
    seen: dict[str, ModelEntry] = {}
    for folder in model_dirs(user_dir):
        if folder.is_dir():
            for path in sorted(folder.glob("*" + MODEL_SUFFIX)):
                seen.setdefault(path.stem, ModelEntry(path.stem, path))
            for path in sorted(folder.glob("*" + CARD_SUFFIX)):
                name = path.name.removesuffix(CARD_SUFFIX)
                if not (folder / (name + MODEL_SUFFIX)).exists() and _names_members(path):
                    seen.setdefault(name, ModelEntry(name, path))
    return list(seen.values())


def _names_members(card_path: Path) -> bool:
    """Whether a card is a fused model's (it names members); a card left without its .tflite is not."""
    try:
        return bool(json.loads(card_path.read_text()).get("members"))
    except (OSError, ValueError, AttributeError):
        return False


def model_name(path: Path) -> str:
    """What ``--model NAME`` takes for a model file: a .tflite's stem, a fused card's name."""
    return path.name.removesuffix(CARD_SUFFIX).removesuffix(MODEL_SUFFIX)


def _looks_like_path(spec: str) -> bool:
    return (
        os.sep in spec
        or (os.altsep is not None and os.altsep in spec)
        or spec.endswith((MODEL_SUFFIX, CARD_SUFFIX))
    )


def resolve_model(spec: str | os.PathLike, user_dir: Path | None = None) -> Path:
    """A model given as a path (``models/x.tflite``) or as a listed name (``x``)."""
    spec_str = os.fspath(spec)
    as_path = Path(spec_str).expanduser()
    if as_path.is_file() or _looks_like_path(spec_str):
        if not as_path.is_file():
            raise FileNotFoundError(f"model file not found: {as_path}")
        return as_path
    for entry in list_models(user_dir):
        if entry.name == spec_str:
            return entry.path
    names = ", ".join(e.name for e in list_models(user_dir)) or "none"
    raise FileNotFoundError(
        f"no model named {spec_str!r}; installed: {names} (or give a path to a .tflite file or a fused card)"
    )


def default_model_path(user_dir: Path | None = None) -> Path:
    """$ECG_EDGE_MODEL (a path or a name), else the model named by the DEFAULT file of the first
    searched folder that has one (the shipped folder always does)."""
    env = os.environ.get(MODEL_ENV_VAR)
    if env:
        return resolve_model(env, user_dir)
    for folder in model_dirs(user_dir):
        pointer = folder / DEFAULT_POINTER
        if pointer.is_file():
            return folder / pointer.read_text().strip()
    raise FileNotFoundError(
        f"no default model: {shipped_models_dir() / DEFAULT_POINTER} is missing "
        f"(pass --model or set {MODEL_ENV_VAR})"
    )
