"""Online augmentation of preprocessed training images (train split only, after splitting)."""

from __future__ import annotations

import albumentations as A
import numpy as np


def train_augmentation(seed: int) -> A.Compose:
    # Mild geometric and photometric changes that a reprint or rescan could cause; no flips
    # (a mirrored ECG is a different ECG).
    return A.Compose(
        [
            A.Affine(scale=(0.95, 1.05), translate_percent=(-0.03, 0.03), rotate=(-3, 3), fill=255, p=0.8),
            A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
            A.GaussNoise(std_range=(0.01, 0.05), p=0.3),
            A.GaussianBlur(blur_limit=(3, 3), p=0.2),
        ],
        seed=seed,
    )


def augment_batch(transform: A.Compose, images: np.ndarray) -> np.ndarray:
    return np.stack([transform(image=img)["image"] for img in images])
