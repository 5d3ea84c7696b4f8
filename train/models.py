"""The paper's networks in backend-agnostic Keras 3 (no tf.* here, so KERAS_BACKEND=torch trains too).

Every model takes the preprocessed grayscale image as float values 0-255, shape (S, S, 1), and
rescales inside the graph: the int8 TFLite model then takes the uint8 image unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from edge.labels import LABELS


def custom_cnn(input_size: int, n_classes: int = len(LABELS)) -> keras.Model:
    """The paper's Custom CNN: 4 x (Conv2D 32/64/128/256 + BatchNorm + MaxPool), GAP, Dense 128 ReLU,
    Dropout 0.5, Dense softmax. 423,172 parameters with our 1-channel input (the paper's 423K is the
    same network on a 3-channel copy of the grayscale image; its 576 extra weights add nothing)."""
    inputs = keras.Input((input_size, input_size, 1), name="image")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for filters in (32, 64, 128, 256):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="custom_cnn")


ARCHITECTURES: dict[str, Callable[[int], keras.Model]] = {
    "custom_cnn": custom_cnn,
}


def build_model(name: str, input_size: int) -> keras.Model:
    try:
        factory = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(ARCHITECTURES)}") from None
    return factory(input_size)
