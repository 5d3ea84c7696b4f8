"""Patient ID and acquisition date read from the printed header and footer, for grouped splits
that keep one patient (or one day) on one side.

No OCR engine is needed: this data set's device prints them in one font at one place, so each
field is cut into glyphs (connected components), the glyphs of all pages are clustered by shape,
and a field is "read" as its sequence of glyph clusters. Two pages with the same sequence show the
same ID (or date); which digit each cluster is never matters. A field that cannot be cut (no
glyphs found) reads as None and the page keeps its own group.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Field boxes as shares of the page (x0, y0, x1, y1), measured on the data set's layout.
ID_BOX = (0.050, 0.038, 0.122, 0.066)
DATE_BOX = (0.800, 0.970, 0.876, 0.995)
GLYPH_SHAPE = (12, 8)  # (rows, columns) every glyph is resized to before comparison
GLYPH_DISTANCE = 0.12  # mean absolute difference under which two glyphs are the same character


@dataclass(frozen=True)
class HeaderFields:
    patient: str | None  # glyph-cluster sequence of the patient ID
    day: str | None  # glyph-cluster sequence of the acquisition date


def _glyphs(gray: np.ndarray, box: tuple[float, float, float, float]) -> list[np.ndarray]:
    h, w = gray.shape
    crop = gray[int(box[1] * h) : int(box[3] * h), int(box[0] * w) : int(box[2] * w)]
    if crop.size == 0:
        return []
    _, ink = cv2.threshold(crop, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    glyphs = []
    for i in np.argsort(stats[1:, cv2.CC_STAT_LEFT]) + 1:
        x, y, gw, gh, area = stats[i]
        if area < 3 or gh < 0.25 * crop.shape[0]:
            continue  # specks and the dashes between date parts are not informative enough
        glyph = ink[y : y + gh, x : x + gw].astype(np.float32)
        glyphs.append(cv2.resize(glyph, GLYPH_SHAPE[::-1], interpolation=cv2.INTER_AREA))
    return glyphs


def read_fields(grays: list[np.ndarray]) -> list[HeaderFields]:
    """Patient and day keys of each page (grayscale, any resolution), comparable across pages."""
    prototypes: list[np.ndarray] = []

    def label(glyph: np.ndarray) -> str:
        for k, proto in enumerate(prototypes):
            if float(np.abs(proto - glyph).mean()) < GLYPH_DISTANCE:
                return chr(ord("A") + k % 26) + str(k // 26)
        prototypes.append(glyph)
        return label(glyph)

    fields = []
    for gray in grays:
        ids = [label(g) for g in _glyphs(gray, ID_BOX)]
        dates = [label(g) for g in _glyphs(gray, DATE_BOX)]
        fields.append(HeaderFields(" ".join(ids) or None, " ".join(dates) or None))
    return fields
