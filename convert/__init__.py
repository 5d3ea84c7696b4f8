"""Conversion of trained Keras models to TFLite variants, each measured through the edge runtime."""
