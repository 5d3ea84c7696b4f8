"""ecg-edge runtime: preprocessing and TFLite inference with minimal dependencies.

Nothing here may import TensorFlow, Keras, or the ``train``/``convert`` packages.
"""

from edge.labels import LABELS, Label, label_by_key

__all__ = ["LABELS", "Label", "label_by_key"]
__version__ = "0.1.0"
