"""Heart rate the ECG device printed in the footer of each page (``... 4*2.5s+1r ♥68  SE-3 ...``).

No OCR engine is needed: the device renders one font at one place, pixel for pixel the same on
every page. Each page is brought to the device's own scale (2213 px wide, 200 dpi) and read by
itself (no page depends on the others in the batch):

1. the heart glyph, the one solid blob of the footer line, anchors the line (its rows and x);
2. the digits 0-7 are cut from the fixed text of the same page, whose content never changes
   (``0.67~25Hz AC50 25mm/s 10mm/mV``, ``4*2.5s+1r``, ``SE-3 V1.0 ... V1.7``), so their templates
   carry that page's resolution, blur and JPEG noise;
3. 8 and 9 never occur in the fixed text: their bitmaps below were cut from the full-resolution
   originals (MI(1) prints 81, HB(1) prints 92) and are blurred down to the page's resolution.
   Which is which follows from shape (in this font 9 is 6 turned half a turn) and was checked
   against the glyphs of the dates and rates of all 499 pages;
4. the field from the heart to the gap before ``SE-3`` is decoded as the sequence of templates
   that explains its ink best (a dynamic programme over columns, so touching digits split too).

A page reads as None when no heart is found, the field cannot be delimited, a glyph matches no
template well, ink stays unexplained (a trace crossing the footer), or the number is no plausible
rate (two or three digits, 20-300).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

CANON_WIDTH = 2213  # page width of the device's originals; every position below is in their pixels
BAND_TOP = 0.955  # the footer band starts this far down the page (the grid ends at ~0.966)
INK = 0.5  # ink level (0 paper .. 1 black) above which a pixel is ink
BLANK = 0.3  # a column whose ink stays under this level is blank
FIELD_GAP = 7  # blank columns that end the rate field (the space before "SE-3" is 9 or more)
FIELD_MAX = 60  # the rate field never runs further than this right of the heart
MAX_GLYPH_DISTANCE = 0.1  # worst normalized distance of a digit to its template (0 same .. 1 disjoint); seen: <= 0.04
MIN_MARGIN = 0.04  # least lead of a digit over every other digit's templates; seen: >= 0.08
MAX_LEFTOVER = 0.05  # share of the field's ink pixels that no digit covers
RATE_RANGE = (20, 300)
DRAWN_LEVELS = (0.75, 0.5)  # coarser resolutions (shares of the device's) the drawn digits are also tried at
REFERENCE_GLYPHS = (("0", 0, 10), ("6", 18, 28))  # fixed-text glyphs also drawn below, to fit the drawing to the page

# Glyphs of the fixed text: (digit, first column, column after the last) at the device's scale.
LINE_GLYPHS = (  # from the line's first ink column ("0" of "0.67~25Hz" at x=69)
    ("0", 0, 10),
    ("6", 18, 28),
    ("7", 30, 39),
    ("2", 54, 63),
    ("5", 66, 74),
    ("5", 148, 156),
    ("0", 158, 168),
    ("2", 182, 191),
    ("5", 194, 202),
    ("1", 269, 273),
    ("0", 277, 287),
)
HEART_GLYPHS = (("4", -103, -93), ("2", -78, -69), ("5", -61, -53), ("1", -27, -23))  # "4*2.5s+1r", from the heart
SE3_GLYPHS = (("3", 38, 46), ("1", 74, 78), ("0", 87, 97), ("1", 201, 205), ("7", 216, 225))  # from the "S" of SE-3

# Digits as the device draws them (15 rows; "#": ink), cut from the full-resolution originals: 8 and 9
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
    digits: str  # the digit sequence decoded from the field ("" when no field was found)
    distance: float  # worst normalized distance of a digit to its template (0 same .. 1 disjoint)
    margin: float  # least lead of a digit's template over the best template of another digit
    leftover: float  # share of the field's ink pixels that no digit covers
    reason: str | None = None  # why rate is None


def _footer_ink(gray: np.ndarray) -> np.ndarray:
    """The bottom band of the page at the device's scale, as ink (0 paper .. 1 black)."""
    h, w = gray.shape[:2]
    band = gray[int(BAND_TOP * h) :, :]
    height = max(1, round(band.shape[0] * CANON_WIDTH / w))
    interpolation = cv2.INTER_CUBIC if w < CANON_WIDTH else cv2.INTER_AREA
    band = cv2.resize(band, (CANON_WIDTH, height), interpolation=interpolation)
    band = band.astype(np.float32)
    paper, black = float(np.median(band)), float(np.percentile(band, 0.5))
    return np.clip((paper - band) / max(paper - black, 32.0), 0.0, 1.0)


def _find_heart(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the heart: the one blob that survives an opening wider than any stroke."""
    mask = (ink > INK).astype(np.uint8)
    solid = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    best = None
    for x, y, w, h, area in stats[1:count]:
        if 8 <= w <= 20 and 8 <= h <= 18 and area >= 0.6 * w * h and 300 < x < 0.6 * CANON_WIDTH:
            if best is None or area > best[4]:
                best = (int(x), int(y), int(w), int(h), int(area))
    return None if best is None else best[:4]


def _drawn_template(rows: tuple[str, ...], height: int, level: float, phase: tuple[int, int]) -> np.ndarray:
    """A drawn digit centred in `height` rows, blurred as on a page `level` times the device's size
    whose pixel grid starts `phase` (x, y) device pixels before the glyph."""
    glyph = np.array([[c == "#" for c in row] for row in rows], np.float32)
    gh, gw = glyph.shape
    pad = 4
    px, py = phase
    canvas = np.zeros((height + 2 * pad + 2, gw + 2 * pad + 2), np.float32)
    top, left = pad + py + (height - gh) // 2, pad + px
    canvas[top : top + gh, left : left + gw] = glyph
    if level < 0.95:
        small = (max(1, round(canvas.shape[1] * level)), max(1, round(canvas.shape[0] * level)))
        canvas = cv2.resize(canvas, small, interpolation=cv2.INTER_AREA)
        canvas = cv2.resize(canvas, (gw + 2 * pad + 2, height + 2 * pad + 2), interpolation=cv2.INTER_CUBIC)
    return np.clip(canvas[pad + py : pad + py + height, left : left + gw], 0.0, 1.0)


def _phases(level: float) -> range:
    return range(min(3, max(1, round(1 / level))))


def _fit_drawing(line: np.ndarray, first: int, scale: float) -> tuple[float, int, float]:
    """(level, vertical phase, gain) under which the drawn 0 and 6 look most like this line's own:
    the page may be blurrier than its size says (an upscaled copy) and its strokes lighter or darker."""
    best = (np.inf, scale, 0, 1.0)
    for level in [scale] + [level for level in DRAWN_LEVELS if level < scale - 0.05]:
        for py in _phases(level):
            error, gains = 0.0, []
            for digit, a, b in REFERENCE_GLYPHS:
                page = line[:, first + a : first + b]
                fits = []
                for px in _phases(level):
                    drawn = _drawn_template(DRAWN_DIGITS[digit], line.shape[0], level, (px, py))
                    if page.shape != drawn.shape:
                        continue
                    gain = float(np.clip((page * drawn).sum() / max(float((drawn**2).sum()), 1e-6), 0.5, 2.0))
                    drawn = np.clip(gain * drawn, 0.0, 1.0)
                    fits.append((_mismatch(page, drawn), gain))
                if not fits:
                    return best[1:]
                err, gain = min(fits)
                error += err
                gains.append(gain)
            if error < best[0]:
                best = (error, level, py, float(np.mean(gains)))
    return best[1:]


def _field_end(line: np.ndarray, start: int) -> int | None:
    """First column of the gap that closes the rate field (before "SE-3")."""
    blank = line.max(axis=0) < BLANK
    stop = min(start + FIELD_MAX, line.shape[1])
    run = 0
    for c in range(start, stop):
        run = run + 1 if blank[c] else 0
        if run >= FIELD_GAP and c - run + 1 > start + 2:
            return c - run + 1
    return None


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


def _templates(line: np.ndarray, first: int, heart_x: int, se3_x: int, scale: float) -> list[tuple[str, np.ndarray]]:
    """(digit, template) pairs: the fixed text's digits cut from this line, then the drawn 8 and 9
    blurred and inked as this line draws its 0 and 6."""
    templates = []
    for anchor, glyphs in ((first, LINE_GLYPHS), (heart_x, HEART_GLYPHS), (se3_x, SE3_GLYPHS)):
        for digit, a, b in glyphs:
            if 0 <= anchor + a and anchor + b <= line.shape[1]:
                templates.append((digit, line[:, anchor + a : anchor + b]))
    level, py, gain = _fit_drawing(line, first, scale)
    for px in _phases(level):
        for digit in "89":
            drawn = _drawn_template(DRAWN_DIGITS[digit], line.shape[0], level, (px, py))
            templates.append((digit, np.clip(gain * drawn, 0.0, 1.0)))
    return templates


def _mismatch(window: np.ndarray, template: np.ndarray) -> float:
    """Normalized squared difference of two ink patches: 0 the same .. 1 disjoint ink."""
    if window.shape != template.shape:
        return 1.0
    return float(((window - template) ** 2).sum()) / max(float((window**2).sum() + (template**2).sum()), 1e-6)


def read_footer(gray: np.ndarray) -> FooterReading:
    """The printed heart rate of one page (grayscale, any resolution), with how well it was read."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    ink = _footer_ink(gray)
    heart = _find_heart(ink)
    if heart is None:
        return FooterReading(None, "", 1.0, 0.0, 1.0, "no heart glyph")
    hx, hy, hw, hh = heart
    line = ink[max(0, hy - 3) : hy + hh + 3]
    start = hx + hw + 1
    end = _field_end(line, start)
    if end is None:
        return FooterReading(None, "", 1.0, 0.0, 1.0, "rate field not delimited")
    blank = line.max(axis=0) < BLANK
    se3_x = end + FIELD_GAP  # first ink after the gap: the "S" of "SE-3"
    while se3_x < min(end + 30, line.shape[1] - 1) and blank[se3_x]:
        se3_x += 1
    first = int(np.argmax((line > INK).any(axis=0)))
    templates = _templates(line, first, hx - 1, se3_x, min(1.0, gray.shape[1] / CANON_WIDTH))

    field = line[:, start:end]
    placed = _decode(field, templates)
    digits = "".join(templates[i][0] for i, _ in placed)
    strong = field > INK
    if not placed or not strong.any():
        return FooterReading(None, digits, 1.0, 0.0, 1.0, "no digits")
    distance, margin = 0.0, 1.0
    covered = np.zeros(field.shape[1], bool)
    for i, c in placed:
        digit, template = templates[i]
        own = _mismatch(field[:, c : c + template.shape[1]], template)
        others = [t for d, t in templates if d != digit]
        shifts = [c + shift for shift in range(-2, 3) if c + shift >= 0]
        runner_up = min(_mismatch(field[:, x : x + t.shape[1]], t) for t in others for x in shifts)
        distance, margin = max(distance, own), min(margin, runner_up - own)
        covered[max(0, c - 2) : c + template.shape[1] + 2] = True  # with the blur either side
    leftover = float(strong[:, ~covered].sum() / strong.sum())
    reading = FooterReading(None, digits, distance, margin, leftover)
    if distance > MAX_GLYPH_DISTANCE or margin < MIN_MARGIN:
        return dataclasses.replace(reading, reason="a glyph matches no digit well")
    if leftover > MAX_LEFTOVER:
        return dataclasses.replace(reading, reason="ink the digits do not explain")
    if not (2 <= len(digits) <= 3) or digits[0] == "0" or not RATE_RANGE[0] <= int(digits) <= RATE_RANGE[1]:
        return dataclasses.replace(reading, reason="no plausible rate")
    return dataclasses.replace(reading, rate=int(digits))


def read_footers(grays: list[np.ndarray]) -> list[FooterReading]:
    return [read_footer(gray) for gray in grays]


def read_printed_heart_rates(grays: list[np.ndarray]) -> list[int | None]:
    """The heart rate printed in the footer of each page (grayscale, any resolution); None where it
    cannot be read. Pages are read independently of one another."""
    return [reading.rate for reading in read_footers(grays)]
