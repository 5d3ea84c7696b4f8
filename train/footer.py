"""Heart rate the ECG device printed in the footer of each page (``... 4*2.5s+1r ♥68  SE-3 ...``).

No OCR engine is needed: the device renders one font at fixed places, pixel for pixel the same on
every page. Each page is brought to the device's own scale (2213 px wide, 200 dpi) and read by
itself (a page's reading never depends on the other pages of the batch):

1. the heart glyph, the one solid blob of the footer line, anchors the line (its rows and x);
2. the digits 0-7 are cut from the fixed text of the same line, whose content never changes
   (``0.67~25Hz AC50 25mm/s 10mm/mV``, ``4*2.5s+1r``, ``SE-3 V1.0 ... V1.7``), so these templates
   carry the page's own resolution, blur and JPEG noise;
3. 8 and 9 never occur in the fixed text: their bitmaps (``DRAWN_DIGITS``) were cut from the
   full-resolution originals, where the device's glyphs are exact (MI(1) prints 81, HB(1) 92),
   and are blurred and inked as the page draws its own 0 and 6 (drawn beside them). Their labels
   agree with shape: in this font 9 is 6 turned half a turn (mismatch 0.18, against 0.56 for 8);
4. the field from the heart to the gap before ``SE-3`` is decoded as the sequence of templates
   that explains its ink best (a dynamic programme over columns, so touching digits split too).

On the data set's 499 pages (491 at half and 8 at full resolution) every rate is read, each one
checked by eye; the acceptance thresholds below sit well outside what those pages show. A page
reads as None when no heart is found, the field cannot be delimited, a digit matches its
template poorly or another digit's nearly as well, ink stays unexplained (a trace crossing the
footer), or the number is no plausible rate (two or three digits, 20-300).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

CANON_WIDTH = 2213  # page width of the device's originals; every position below is in their pixels
BAND_TOP = 0.955  # the footer band starts this far down the page (the grid ends at ~0.966)
LINE_HEIGHT = 17  # rows of the footer line kept around the heart's centre (digits are 15 tall)
LINE_SLACK = 2  # rows above and below in which a glyph's ink may sit on a tilted page
INK = 0.5  # ink level (0 paper .. 1 black) above which a pixel is ink
BLANK = 0.3  # a column whose ink stays under this level is blank
FIELD_GAP = 7  # blank columns that end the rate field (the space before "SE-3" is 9 or more)
FIELD_LEAD = 8  # the rate's first digit begins within this many columns right of the heart
FIELD_MAX = 60  # the rate field never runs further than this right of the heart
MAX_GLYPH_DISTANCE = 0.08  # worst distance of a digit to its template (0 same .. 1 disjoint); seen <= 0.03
MIN_MARGIN = 0.05  # least lead of a digit's template over every other digit's; seen >= 0.08
MAX_LEFTOVER = 0.05  # share of the field's ink pixels no digit covers; seen 0
RATE_RANGE = (20, 300)
DRAWN_LEVELS = (0.75, 0.5, 0.35, 0.25)  # coarser resolutions (shares of the device's) the drawn digits may need

# Digits of the fixed text: (digit, first column, column after the last) on the originals. Each group
# is placed by an anchor measured on the page: the ink centroid of the line's first glyph (the "0"
# of "0.67~25Hz", 73.55 on the originals), the heart's centre (557.5; "4*2.5s+1r" moves with it
# when the device inserts "Lead Off"), and for "SE-3" (which moves with the rate's width) the ink
# centroid of that word, 20.44 right of its "S" (the SE3_GLYPHS columns count from that "S").
LINE_ANCHOR, HEART_ANCHOR, SE3_ANCHOR = 73.55, 557.5, 20.44
LINE_GLYPHS = (
    ("0", 69, 79),
    ("6", 87, 97),
    ("7", 99, 108),
    ("2", 123, 132),
    ("5", 135, 143),
    ("5", 217, 225),
    ("0", 227, 237),
    ("2", 251, 260),
    ("5", 263, 271),
    ("1", 338, 342),
    ("0", 346, 356),
)
HEART_GLYPHS = (("4", 447, 457), ("2", 472, 481), ("5", 489, 497), ("1", 523, 527))
SE3_GLYPHS = (("3", 38, 46), ("1", 74, 78), ("0", 87, 97), ("1", 201, 205), ("7", 216, 225))
REFERENCE_GLYPHS = (("0", 69, 79), ("6", 87, 97))  # fixed-text digits also drawn below: the drawing is fit to them

# Digits as the device draws them (15 rows, "#" ink), cut from the full-resolution originals: 8 and 9
# to read them, 0 and 6 (the same on every page) to learn how a page blurs and inks its glyphs.
DRAWN_DIGITS = {
    "0": (
        "....###...",
        "..##...#..",
        "..#....##.",
        ".##....##.",
        ".##.....#.",
        ".##.....##",
        "###.....##",
        "###.....##",
        "###.....##",
        ".##.....##",
        ".##.....##",
        ".##....##.",
        ".##....##.",
        "..##...#..",
        "...##.#...",
    ),
    "6": (
        ".......##.",
        ".....#....",
        "...##.....",
        "..##......",
        "..##......",
        ".##.......",
        ".#######..",
        ".##....##.",
        "###....##.",
        "##......##",
        ".#......##",
        ".##.....#.",
        ".##.....#.",
        "..#....#..",
        "...##.#...",
    ),
    "8": (
        "...####..",
        ".##...##.",
        ".#.....#.",
        ".#.....#.",
        ".##....#.",
        ".###..#..",
        "..####...",
        "...###...",
        "..#.###..",
        ".##...##.",
        ".#....###",
        "##.....##",
        ".#.....##",
        ".##....#.",
        "..##..#..",
    ),
    "9": (
        "...####...",
        "..#...##..",
        ".##....##.",
        ".#.....##.",
        "##.....##.",
        "##......##",
        ".##.....##",
        ".##....###",
        "..##..###.",
        "...##..##.",
        ".......##.",
        "......##..",
        ".....##...",
        "....##....",
        "...##.....",
    ),
}


@dataclass(frozen=True)
class FooterReading:
    """What the footer of one page says about the heart rate, and how well it was read."""

    rate: int | None  # the printed rate in bpm, None where it cannot be read
    digits: str  # the digit sequence decoded from the rate field ("" when no field was found)
    distance: float = 1.0  # worst distance of a decoded digit to its template (0 same .. 1 disjoint ink)
    margin: float = 0.0  # least lead of a decoded digit's template over the best template of another digit
    leftover: float = 1.0  # share of the field's ink pixels that no decoded digit covers
    reason: str | None = None  # why rate is None


def _footer_ink(gray: np.ndarray) -> np.ndarray:
    """The bottom band of the page at the device's scale, as ink (0 paper .. 1 the darkest print)."""
    h, w = gray.shape[:2]
    band = gray[int(BAND_TOP * h) :, :]
    height = max(1, round(band.shape[0] * CANON_WIDTH / w))
    interpolation = cv2.INTER_CUBIC if w < CANON_WIDTH else cv2.INTER_AREA
    band = cv2.resize(band, (CANON_WIDTH, height), interpolation=interpolation).astype(np.float32)
    paper, black = float(np.median(band)), float(np.percentile(band, 0.5))
    return np.clip((paper - band) / max(paper - black, 32.0), 0.0, 1.0)


def _find_heart(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the heart: of the blobs that survive an opening wider than any stroke, the
    darkest of a heart's size."""
    solid = cv2.morphologyEx((ink > INK).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    best, darkest = None, 0.0
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if 8 <= w <= 20 and 8 <= h <= 18 and area >= 0.6 * w * h and 300 < x < 0.6 * CANON_WIDTH:
            darkness = float(ink[labels == i].mean())
            if darkness > darkest:
                best, darkest = (x, y, w, h), darkness
    return best


def _centroid(line: np.ndarray, a: int, b: int) -> float | None:
    """Ink-weighted mean column of line[:, a:b]."""
    a, b = max(a, 0), min(b, line.shape[1])
    weight = line[:, a:b].sum(axis=0) if b > a else np.zeros(0)
    return None if weight.sum() <= 0 else a + float((weight * np.arange(len(weight))).sum() / weight.sum())


def _field_end(line: np.ndarray, start: int) -> int | None:
    """First column of the gap that closes the rate field (before "SE-3"); None unless the field's
    ink begins right after the heart."""
    blank = line.max(axis=0) < BLANK
    stop = min(start + FIELD_MAX, line.shape[1])
    inked = np.nonzero(~blank[start:stop])[0]
    if len(inked) == 0 or inked[0] > FIELD_LEAD:
        return None
    run = 0
    for c in range(start + int(inked[0]), stop):
        run = run + 1 if blank[c] else 0
        if run >= FIELD_GAP:
            return c - run + 1
    return None


def _drawn_template(rows: tuple[str, ...], height: int, level: float, phase: tuple[int, int]) -> np.ndarray:
    """A drawn digit centred in `height` rows, blurred as on a page `level` times the device's size
    whose pixel grid starts `phase` (x, y) device pixels before the glyph."""
    glyph = np.array([[c == "#" for c in row] for row in rows], np.float32)
    gh, gw = glyph.shape
    pad = 4
    px, py = phase
    size = (gw + 2 * pad + 2, height + 2 * pad + 2)  # (width, height) as cv2 counts
    canvas = np.zeros(size[::-1], np.float32)
    top, left = pad + py + (height - gh) // 2, pad + px
    canvas[top : top + gh, left : left + gw] = glyph
    if level < 0.95:
        small = (max(1, round(size[0] * level)), max(1, round(size[1] * level)))
        canvas = cv2.resize(canvas, small, interpolation=cv2.INTER_AREA)
        canvas = cv2.resize(canvas, size, interpolation=cv2.INTER_CUBIC)
    return np.clip(canvas[pad + py : pad + py + height, left : left + gw], 0.0, 1.0)


def _phases(level: float) -> range:
    """Offsets (device pixels) at which a glyph can sit on the pixel grid of a page `level` times its size."""
    return range(min(3, max(1, round(1 / level))))


def _mismatch(window: np.ndarray, template: np.ndarray) -> float:
    """Squared difference of two ink patches over their summed energy: 0 the same .. 1 disjoint ink."""
    if window.shape != template.shape:
        return 1.0
    return float(((window - template) ** 2).sum()) / max(float((window**2).sum() + (template**2).sum()), 1e-6)


def _fit_drawing(references: list[tuple[str, np.ndarray]], scale: float) -> tuple[float, int, float]:
    """(level, vertical phase, gain) under which the drawn references look most like the page's own:
    a page may be blurrier than its size says (an upscaled copy) and its strokes lighter or darker."""
    best = (np.inf, scale, 0, 1.0)
    for level in [scale] + [level for level in DRAWN_LEVELS if level < scale - 0.05]:
        for py in _phases(level):
            error, gains = 0.0, []
            for digit, page in references:
                fits = []
                for px in _phases(level):
                    drawn = _drawn_template(DRAWN_DIGITS[digit], page.shape[0], level, (px, py))
                    if drawn.shape == page.shape:
                        gain = float(np.clip((page * drawn).sum() / max(float((drawn**2).sum()), 1e-6), 0.5, 2.0))
                        fits.append((_mismatch(page, np.clip(gain * drawn, 0.0, 1.0)), gain))
                if fits:
                    err, gain = min(fits)
                    error += err
                    gains.append(gain)
            if gains and error < best[0]:
                best = (error, level, py, float(np.mean(gains)))
    return best[1:]


def _centred(band: np.ndarray, x: int, width: int) -> np.ndarray | None:
    """band[:, x : x + width] cut to LINE_HEIGHT rows centred on its ink (a tilted page moves the
    fixed text a row or two up or down along the line)."""
    if x < 0 or x + width > band.shape[1]:
        return None
    window = band[:, x : x + width]
    rows = np.nonzero(window.max(axis=1) > BLANK)[0]
    if len(rows) == 0:
        return None
    dy = int(np.clip(round((rows[0] + rows[-1] - LINE_HEIGHT + 1) / 2) - LINE_SLACK, -LINE_SLACK, LINE_SLACK))
    return window[LINE_SLACK + dy : LINE_SLACK + dy + LINE_HEIGHT]


def _templates(band: np.ndarray, shifts: dict[str, float], se3: float, scale: float) -> list[tuple[str, np.ndarray]]:
    """(digit, template) pairs: the fixed text's digits cut from this band, then the drawn 8 and 9
    blurred and inked as this page draws its 0 and 6."""
    templates = []
    for glyphs, shift in ((LINE_GLYPHS, shifts["line"]), (HEART_GLYPHS, shifts["heart"]), (SE3_GLYPHS, se3)):
        for digit, a, b in glyphs:
            window = _centred(band, round(a + shift), b - a)
            if window is not None:
                templates.append((digit, window))
    references = []
    for digit, a, b in REFERENCE_GLYPHS:
        window = _centred(band, round(a + shifts["line"]), b - a)
        if window is not None:
            references.append((digit, window))
    level, py, gain = _fit_drawing(references, scale)
    for px in _phases(level):
        for digit in "89":
            drawn = _drawn_template(DRAWN_DIGITS[digit], LINE_HEIGHT, level, (px, py))
            templates.append((digit, np.clip(gain * drawn, 0.0, 1.0)))
    return templates


def _decode(field: np.ndarray, templates: list[tuple[str, np.ndarray]], max_digits: int = 4) -> list[tuple[int, int]]:
    """The templates (index, column) whose sequence explains the field's ink best: every column is
    either blank (its ink counts as error) or covered by one template (its squared difference)."""
    width = field.shape[1]
    blank = (field**2).sum(axis=0)
    starts: list[list[tuple[int, float, int]]] = [[] for _ in range(width)]  # per column: (width, cost, index)
    for i, (_, t) in enumerate(templates):
        w = t.shape[1]
        for c in range(width - w + 1):
            starts[c].append((w, float(((field[:, c : c + w] - t) ** 2).sum()), i))
    best = np.full((width + 1, max_digits + 1), np.inf)
    best[0, 0] = 0.0
    back: dict[tuple[int, int], tuple[int, int, int | None]] = {}
    for c in range(width):
        for k in range(max_digits + 1):
            here = best[c, k]
            if not np.isfinite(here):
                continue
            if here + blank[c] < best[c + 1, k]:
                best[c + 1, k] = here + blank[c]
                back[(c + 1, k)] = (c, k, None)
            if k == max_digits:
                continue
            for w, cost, i in starts[c]:
                if here + cost < best[c + w, k + 1]:
                    best[c + w, k + 1] = here + cost
                    back[(c + w, k + 1)] = (c, k, i)
    k = int(np.argmin(best[width]))
    placed = []
    c = width
    while c > 0:
        c, k, i = back[(c, k)]
        if i is not None:
            placed.append((i, c))
    return placed[::-1]


def read_footer(gray: np.ndarray) -> FooterReading:
    """The printed heart rate of one page (grayscale, any resolution), with how well it was read."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    ink = _footer_ink(gray)
    heart = _find_heart(ink)
    if heart is None:
        return FooterReading(None, "", reason="no heart glyph")
    hx, hy, hw, hh = heart
    top = round(hy + hh / 2 - LINE_HEIGHT / 2) - LINE_SLACK
    band = ink[top : top + LINE_HEIGHT + 2 * LINE_SLACK] if top >= 0 else ink[:0]  # the line, with slack rows
    line = band[LINE_SLACK : LINE_SLACK + LINE_HEIGHT]  # the rows of the heart
    start = hx + hw + 1
    end = _field_end(line, start) if line.shape[0] == LINE_HEIGHT else None
    if end is None:
        return FooterReading(None, "", reason="rate field not delimited")

    blank = line.max(axis=0) < BLANK
    s = end + FIELD_GAP  # the "S" of "SE-3": the first ink after the gap
    while s < min(end + 30, line.shape[1] - 1) and blank[s]:
        s += 1
    first = int(np.argmax((line > INK).any(axis=0)))
    line_anchor, se3_anchor = _centroid(line, first - 3, first + 12), _centroid(line, s - 3, s + 49)
    field = _centred(band, start, end - start)
    if line_anchor is None or se3_anchor is None or field is None:
        return FooterReading(None, "", reason="fixed text not found")
    shifts = {"line": line_anchor - LINE_ANCHOR, "heart": hx + hw / 2 - HEART_ANCHOR}
    templates = _templates(band, shifts, se3_anchor - SE3_ANCHOR, min(1.0, gray.shape[1] / CANON_WIDTH))

    placed = _decode(field, templates)
    digits = "".join(templates[i][0] for i, _ in placed)
    strong = field > INK
    if not placed or not strong.any():
        return FooterReading(None, digits, reason="no digits")
    distance, margin = 0.0, 1.0
    covered = np.zeros(field.shape[1], bool)
    for i, c in placed:
        digit, template = templates[i]
        own = _mismatch(field[:, c : c + template.shape[1]], template)
        others = [t for d, t in templates if d != digit]
        columns = [c + shift for shift in range(-2, 3) if c + shift >= 0]
        runner_up = min(_mismatch(field[:, x : x + t.shape[1]], t) for t in others for x in columns)
        distance, margin = max(distance, own), min(margin, runner_up - own)
        covered[max(0, c - 2) : c + template.shape[1] + 2] = True  # with the blur either side
    leftover = float(strong[:, ~covered].sum() / strong.sum())
    reading = FooterReading(None, digits, distance, margin, leftover)
    if distance > MAX_GLYPH_DISTANCE or margin < MIN_MARGIN:
        return dataclasses.replace(reading, reason="a digit matches no template clearly")
    if leftover > MAX_LEFTOVER:
        return dataclasses.replace(reading, reason="ink the digits do not explain")
    if not 2 <= len(digits) <= 3 or digits[0] == "0" or not RATE_RANGE[0] <= int(digits) <= RATE_RANGE[1]:
        return dataclasses.replace(reading, reason="no plausible rate")
    return dataclasses.replace(reading, rate=int(digits))


def read_footers(grays: list[np.ndarray]) -> list[FooterReading]:
    """read_footer for each page."""
    return [read_footer(gray) for gray in grays]


def read_printed_heart_rates(grays: list[np.ndarray]) -> list[int | None]:
    """The heart rate printed in the footer of each page (grayscale, any resolution); None where it
    cannot be read. Pages are read independently of one another."""
    return [reading.rate for reading in read_footers(grays)]
