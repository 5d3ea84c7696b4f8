"""Training: data set loading, grouped splits, the paper's networks and evaluation (Keras 3)."""
