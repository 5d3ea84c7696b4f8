from __future__ import annotations

import os
import subprocess
import sys
from importlib.util import find_spec

import keras
import pytest

from tests.conftest import REPO
from train.cli import ModelName
from train.models import ARCHITECTURES, BN_MOMENTUM, build_model, unfreeze_top_layers

# Parameter counts do not depend on the input size (global average pooling before the head).
EXPECTED_PARAMETERS = {
    "custom_cnn": 422_692,
    "optimized_cnn": 5_937_860,
    "mobilenet_v2": 2_422_468,
    "resnet50": 23_850_500,
}


def test_cli_choices_match_the_architectures():
    assert [m.value for m in ModelName if m is not ModelName.all] == list(ARCHITECTURES)
    from train.cli import IMAGE_RECIPE, NETWORK_RECIPES, SIGNAL_MODELS, Monitor
    from train.fit import MONITORS, FitSettings

    # The CLI's copies of facts that live with Keras (kept apart so --help needs no Keras import).
    assert SIGNAL_MODELS == tuple(name for name, a in ARCHITECTURES.items() if a.views == ("signals",))
    defaults = FitSettings(model="custom_cnn")
    assert IMAGE_RECIPE == {k: getattr(defaults, k) for k in IMAGE_RECIPE}
    assert set(NETWORK_RECIPES) <= set(ARCHITECTURES)
    assert tuple(m.value for m in Monitor) == MONITORS


@pytest.mark.parametrize("name", list(EXPECTED_PARAMETERS))
def test_each_network_has_its_documented_size_and_four_softmax_outputs(name):
    model = build_model(name, 64)
    assert model.count_params() == EXPECTED_PARAMETERS[name]
    assert f"{EXPECTED_PARAMETERS[name]:,}" in ARCHITECTURES[name].build.__doc__
    assert tuple(model.output.shape) == (None, 4)
    assert tuple(model.input.shape) == (None, 64, 64, 1)


def test_from_scratch_bases_train_whole_and_use_our_batchnorm_momentum():
    model = build_model("mobilenet_v2", 64)
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert base.trainable
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == BN_MOMENTUM for layer in norms)


def test_weights_option_is_checked():
    with pytest.raises(ValueError, match="from scratch"):
        build_model("custom_cnn", 64, weights="imagenet")
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        build_model("resnet50", 64, weights="/no/such/weights.h5")


def test_local_weights_file_loads_into_the_base(tmp_path):
    source = keras.applications.MobileNetV2(input_shape=(64, 64, 3), include_top=False, weights=None)
    path = tmp_path / "base.weights.h5"
    source.save_weights(path)
    model = build_model("mobilenet_v2", 64, weights=str(path))
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert not base.trainable  # pretrained: frozen, as in the paper
    assert all((a == b).all() for a, b in zip(base.get_weights(), source.get_weights()))


def test_fine_tuning_unfreezes_the_top_30_layers_but_not_batchnorm():
    model = build_model("resnet50", 64)
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    base.trainable = False
    unfreeze_top_layers(model, ARCHITECTURES["resnet50"].fine_tune_top_layers)
    top = base.layers[-30:]
    assert all(layer.trainable != isinstance(layer, keras.layers.BatchNormalization) for layer in top)
    assert not any(layer.trainable for layer in base.layers[:-30])


STEP_SCRIPT = """
import numpy as np, keras
from train.models import build_model
model = build_model("custom_cnn", 32)
model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy")
x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 1)).astype("float32")
y = keras.utils.to_categorical([0, 1, 2, 3], 4)
losses = [float(model.train_on_batch(x, y)) for _ in range(2)]
assert all(np.isfinite(losses)), losses
print(keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_two_training_steps_under_each_installed_backend(backend):
    if find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (optional backend)")
    env = {**os.environ, "KERAS_BACKEND": backend}
    proc = subprocess.run(
        [sys.executable, "-c", STEP_SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == backend
