"""The paper's four networks in backend-agnostic Keras 3 (no tf.* here, so KERAS_BACKEND=torch trains too).

Every model takes the preprocessed grayscale image as float values 0-255, shape (S, S, 1), and
rescales inside the graph: the int8 TFLite model then takes the uint8 image unchanged.

Pretrained bases (MobileNetV2, ResNet50) take ``weights``: ``"none"`` (train from scratch),
``"imagenet"`` (keras.applications downloads or reuses its cache) or a path to a local weights
file for the base. A frozen base only makes sense with pretrained weights: from scratch the whole
network trains, and the run says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
from keras import layers

from edge.labels import LABELS
from edge.lead_matrix import SIGNAL_SAMPLES
from edge.preprocess import IMAGE_VIEWS

N_CLASSES = len(LABELS)

# Keras' default BatchNorm momentum (0.99) suits the paper's ~205 steps per epoch. Our grouped
# split gives ~11-44 steps per epoch, and scans are mostly blank paper, so conv activations have
# tiny variance: with 0.99 the moving variance stays near its initial 1 for hundreds of steps and
# the model predicts a single class at inference (measured: val accuracy 0.06 after 4 epochs,
# against 0.78 with 0.9). 0.9 tracks the real statistics within ~30 steps.
BN_MOMENTUM = 0.9


def _head(x, n_classes: int):
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)


def custom_cnn(input_size: int, weights: str = "none", n_classes: int = N_CLASSES) -> keras.Model:
    """The paper's Custom CNN: 4 x (Conv2D 32/64/128/256 + BatchNorm + MaxPool), GAP, Dense 128 ReLU,
    Dropout 0.5, Dense softmax. 422,692 parameters with our 1-channel input (the paper's 423K is the
    same network on a 3-channel copy of the grayscale image, with conv biases)."""
    _no_pretrained("custom_cnn", weights)
    inputs = keras.Input((input_size, input_size, 1), name="image")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for filters in (32, 64, 128, 256):
        # Conv -> BatchNorm -> ReLU rather than Conv(ReLU) -> BatchNorm: the paper's "Conv2D +
        # BatchNorm" allows both, and only this order lets the converter fold BatchNorm into the
        # convolution. Unfolded, BatchNorm multiplies near-constant channels of mostly blank scans
        # by large factors after per-tensor int8 rounding (measured: int8 test accuracy 0.39
        # against 0.79 for float32).
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    return keras.Model(inputs, _head(x, n_classes), name="custom_cnn")


def optimized_cnn(input_size: int, weights: str = "none", n_classes: int = N_CLASSES) -> keras.Model:
    """The paper's regularised, deeper variant: 4 blocks of stacked 3x3 convolutions (64/128/256/512
    filters; 2, 2, 4 and 2 convolutions), each with BatchNorm, MaxPool and Dropout 0.25, then the
    same head. 5,937,860 parameters (the paper: ~5.9M; it gives no per-layer listing)."""
    _no_pretrained("optimized_cnn", weights)
    inputs = keras.Input((input_size, input_size, 1), name="image")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for filters, convs in ((64, 2), (128, 2), (256, 4), (512, 2)):
        for _ in range(convs):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.25)(x)
    return keras.Model(inputs, _head(x, n_classes), name="optimized_cnn")


def _no_pretrained(name: str, weights: str) -> None:
    if weights != "none":
        raise ValueError(f"{name} is trained from scratch; --weights must be 'none' (got {weights!r})")


def _application_weights(weights: str) -> str | None:
    if weights == "none":
        return None
    if weights == "imagenet":
        return "imagenet"
    if not Path(weights).is_file():
        raise FileNotFoundError(f"weights file not found: {weights}")
    return weights


def _from_scratch_or_frozen(base: keras.Model, weights: str) -> None:
    """Freeze a pretrained base; a random base trains whole, with our BatchNorm momentum."""
    base.trainable = weights == "none"
    if weights == "none":
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM


def _gray_to_rgb(inputs):
    return layers.Concatenate(name="gray_to_rgb")([inputs, inputs, inputs])


def mobilenet_v2(input_size: int, weights: str = "none", n_classes: int = N_CLASSES) -> keras.Model:
    """MobileNetV2 base (frozen when pretrained) + GAP, Dense 128, Dropout 0.5, Dense softmax.
    2,422,468 parameters (164,484 in the head), as in the paper."""
    inputs = keras.Input((input_size, input_size, 1), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(_gray_to_rgb(inputs))  # MobileNetV2 expects [-1, 1]
    base = keras.applications.MobileNetV2(
        input_shape=(input_size, input_size, 3), include_top=False, weights=_application_weights(weights)
    )
    _from_scratch_or_frozen(base, weights)
    return keras.Model(inputs, _head(base(x), n_classes), name="mobilenet_v2")


def resnet50(input_size: int, weights: str = "none", n_classes: int = N_CLASSES) -> keras.Model:
    """ResNet50 base + the same head. With pretrained weights the head trains first on a frozen base,
    then the top 30 layers are unfrozen at a lower learning rate (see ``Architecture``).
    23,850,500 parameters (the paper: 23.6M)."""
    inputs = keras.Input((input_size, input_size, 1), name="image")
    # ResNet50's caffe-style input: BGR with the ImageNet channel means subtracted, no scaling.
    x = layers.Normalization(mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0])(_gray_to_rgb(inputs))
    base = keras.applications.ResNet50(
        input_shape=(input_size, input_size, 3), include_top=False, weights=_application_weights(weights)
    )
    _from_scratch_or_frozen(base, weights)
    return keras.Model(inputs, _head(base(x), n_classes), name="resnet50")


def signal_cnn(samples: int, leads: int = 12, n_classes: int = N_CLASSES) -> keras.Model:
    """A small 1-D CNN over the digitized leads (train.signals): 4 x (Conv1D 32/64/96/128, kernel 7,
    BatchNorm, ReLU, MaxPool 2), global average pooling, Dropout 0.3, Dense softmax. Kernels of 7
    at 250 Hz span 28 ms, a QRS's upstroke; four poolings give the last layer ~0.5 s of view."""
    inputs = keras.Input((samples, leads), name="leads_mv")
    x = inputs
    for filters in (32, 64, 96, 128):
        x = layers.Conv1D(filters, 7, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling1D(2)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="signal_cnn")


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[..., keras.Model]
    # With pretrained weights: after training the head, unfreeze this many top layers of the base.
    fine_tune_top_layers: int = 0
    views: tuple[str, ...] = IMAGE_VIEWS  # the preprocessing views whose input it takes


def _signal_cnn(input_size: int, weights: str = "none", n_classes: int = N_CLASSES) -> keras.Model:
    """signal_cnn behind the image networks' build signature: its input is the signals view's
    (edge.lead_matrix), whatever the image size; it has no pretrained weights."""
    if weights != "none":
        raise ValueError("signal_cnn has no pretrained weights: use weights 'none'")
    return signal_cnn(SIGNAL_SAMPLES, n_classes=n_classes)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("custom_cnn", custom_cnn),
        Architecture("optimized_cnn", optimized_cnn),
        Architecture("mobilenet_v2", mobilenet_v2),
        Architecture("resnet50", resnet50, fine_tune_top_layers=30),
        Architecture("signal_cnn", _signal_cnn, views=("signals",)),
    )
}


def build_model(name: str, input_size: int, weights: str = "none") -> keras.Model:
    try:
        architecture = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(ARCHITECTURES)}") from None
    return architecture.build(input_size, weights)


def unfreeze_top_layers(model: keras.Model, count: int) -> None:
    """Make the top ``count`` layers of the pretrained base trainable; BatchNorm layers stay frozen
    (their statistics come from ImageNet and a small batch would wreck them)."""
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    base.trainable = True
    for layer in base.layers[:-count]:
        layer.trainable = False
    for layer in base.layers[-count:]:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
