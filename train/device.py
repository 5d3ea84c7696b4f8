"""Accelerator detection, mixed precision and the multi-GPU strategy: the one place where
backend-specific calls live, so model and training code stay pure Keras 3."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class DeviceInfo:
    backend: str
    gpus: int
    mixed_precision: bool
    distributed: bool

    def describe(self) -> str:
        where = f"{self.gpus} GPU(s)" if self.gpus else "CPU"
        precision = "mixed_float16" if self.mixed_precision else "float32"
        spread = ", MirroredStrategy" if self.distributed else ""
        return f"Keras {keras.__version__} ({self.backend}) on {where}, {precision}{spread}"


def count_gpus() -> int:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "torch":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if backend == "jax":
        import jax

        return sum(d.platform == "gpu" for d in jax.devices())
    return 0


def configure(
    mixed_precision: bool | None = None, distribute: bool = False
) -> tuple[DeviceInfo, contextlib.AbstractContextManager]:
    """Pick precision and strategy for this machine. ``mixed_precision=None`` means: on when a GPU
    is present. Returns the device description and the scope to build and compile models in."""
    backend = keras.backend.backend()
    gpus = count_gpus()
    use_mixed = bool(gpus) if mixed_precision is None else mixed_precision
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    scope: contextlib.AbstractContextManager = contextlib.nullcontext()
    if distribute:
        if backend != "tensorflow":
            raise ValueError("--distribute uses tf.distribute.MirroredStrategy and needs KERAS_BACKEND=tensorflow")
        import tensorflow as tf

        scope = tf.distribute.MirroredStrategy().scope()
    return DeviceInfo(backend, gpus, use_mixed, distribute), scope
