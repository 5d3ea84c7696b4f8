"""The TensorFlow/Keras baseline the edge CLI is compared with: same preprocessing, the float
.keras model, one line per scan.  python benchmarks/keras_baseline.py MODEL.keras FILE_OR_DIR..."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np

from edge.labels import LABELS
from edge.preprocess import PreprocessConfig, iter_input_files, model_input_shape, preprocess


def main(argv: list[str]) -> int:
    model_path = Path(argv[0])
    config = PreprocessConfig.from_dict(json.loads((model_path.parent / "run.json").read_text())["preprocessing"])
    model = keras.saving.load_model(model_path, compile=False)
    for path in iter_input_files([Path(a) for a in argv[1:]]):
        x = preprocess(path, config).image.astype(np.float32).reshape(model_input_shape(config))
        probs = np.asarray(model(x, training=False))[0]
        print(path, LABELS[int(np.argmax(probs))].key)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
