"""Keras -> TFLite (float32, full-integer int8). TensorFlow is imported here and nowhere in edge/."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# float32: the Keras model as is. float16: weights stored as float16 (half the size, float
# compute). dynamic: int8 weights, float activations (dynamic-range; tflite-runtime 2.14 cannot
# load TF 2.21's). int8: full-integer, activations calibrated on train-split images.
VARIANTS = ("float32", "float16", "dynamic", "int8")


def representative_images(images: np.ndarray, labels: np.ndarray, limit: int = 200, seed: int = 0) -> np.ndarray:
    """Up to ``limit`` train model inputs (uint8 images, or the signals view's float lead matrices),
    drawn round-robin across classes so every class is covered."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == c)).tolist() for c in np.unique(labels)]
    chosen: list[int] = []
    while len(chosen) < min(limit, len(labels)):
        for idx in per_class:
            if idx and len(chosen) < limit:
                chosen.append(idx.pop())
    return images[np.array(chosen)]


_HALF_POLICIES = ('"mixed_float16"', '"mixed_bfloat16"', '"float16"', '"bfloat16"')


def load_float32(keras_path: Path):
    """The saved model with every layer computing in float32. A model trained under mixed precision
    (the GPU default, train.device) keeps float32 weights but float16 layers, which TFLite's builtin
    kernels do not take: rebuild it from its config with float32 policies and the same weights."""
    import json

    import keras

    model = keras.saving.load_model(keras_path, compile=False)
    text = json.dumps(model.get_config())
    if not any(policy in text for policy in _HALF_POLICIES):
        return model
    for policy in _HALF_POLICIES:
        text = text.replace(policy, '"float32"')
    rebuilt = model.__class__.from_config(json.loads(text))
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def convert_keras_file(keras_path: Path, variant: str, representative: np.ndarray | None = None) -> bytes:
    """Convert a saved .keras model (any backend) to TFLite bytes of the given variant."""
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    model = load_float32(keras_path)
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if variant == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif variant == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif variant == "int8":
            if representative is None or len(representative) == 0:
                raise ValueError("int8 conversion needs representative images from the train split")

            image_input = representative.dtype == np.uint8

            def dataset() -> Iterator[list[np.ndarray]]:
                for x in representative:
                    yield [x.astype(np.float32)[None, ..., None] if image_input else x.astype(np.float32)[None]]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if image_input:
                # The model input is the preprocessed uint8 image itself (rescaling is inside the
                # graph), so a uint8 input quantizes losslessly with scale 1.
                converter.inference_input_type = tf.uint8
                converter.inference_output_type = tf.uint8
            # Lead matrices (mV) keep a float input and output: the model quantizes them inside,
            # on the scale calibrated from the representative leads.
        return converter.convert()
