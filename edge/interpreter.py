"""Picks a TFLite interpreter without ever importing TensorFlow unless nothing lighter exists."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Order matters: ai_edge_litert runs int8 ~6x faster than tflite-runtime 2.14, and TensorFlow
# costs ~2.9 s and ~555 MB just to import, so it is the last resort.
BACKENDS: tuple[tuple[str, str], ...] = (
    ("ai_edge_litert", "ai_edge_litert.interpreter"),
    ("tflite_runtime", "tflite_runtime.interpreter"),
    ("tensorflow.lite", "tensorflow.lite.python.interpreter"),
)


class NoInterpreterError(RuntimeError):
    pass


@dataclass(frozen=True)
class InterpreterBackend:
    name: str
    interpreter_class: Any


def pick_backend(preferred: str | None = None) -> InterpreterBackend:
    """Return the first importable interpreter (or the ``preferred`` one by name)."""
    candidates = [b for b in BACKENDS if preferred is None or b[0] == preferred]
    if not candidates:
        raise ValueError(f"unknown interpreter {preferred!r}; choose from {[b[0] for b in BACKENDS]}")
    errors = []
    for name, module_name in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        return InterpreterBackend(name=name, interpreter_class=module.Interpreter)
    raise NoInterpreterError(
        "no TFLite interpreter is installed; install one with `pip install ai-edge-litert` "
        "(or tflite-runtime, which needs numpy<2). Tried: " + "; ".join(errors)
    )


def open_interpreter(model_path: str | os.PathLike, num_threads: int = 1, preferred: str | None = None):
    """(backend, interpreter with its tensors allocated) for a model file. Raises what the
    interpreter raises (ValueError, RuntimeError) when it cannot run the model."""
    backend = pick_backend(preferred)
    with quiet_native_stderr():
        interpreter = backend.interpreter_class(model_path=str(model_path), num_threads=num_threads)
        interpreter.allocate_tensors()
    return backend, interpreter


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native code writes to file descriptor 2 (LiteRT announces its XNNPACK delegate
    on every start with an INFO line that means nothing to a user). Python's own stderr is flushed
    first; if the descriptor cannot be swapped, nothing is silenced."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
