from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.preprocess import ImageDecodeError, PreprocessConfig, decode_image, iter_input_files, locate_grid, preprocess
from tests.conftest import SAMPLES

FULLRES = SAMPLES / "normal" / "Normal(2)-fullres.jpg"
CONFIG = PreprocessConfig(input_size=256)


def _similar(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    mad = float(np.abs(a.astype(np.float64) - b).mean())
    corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    return mad, corr


def _half_resolution_jpeg(path: Path) -> bytes:
    image = cv2.imread(str(path))
    half = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", half, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


@pytest.mark.parametrize("size", [256, 384])
def test_full_and_half_resolution_give_nearly_the_same_input(size):
    config = PreprocessConfig(input_size=size)
    full = preprocess(FULLRES, config)
    half = preprocess(_half_resolution_jpeg(FULLRES), config)
    assert full.image.shape == half.image.shape == (size, size)
    assert full.image.dtype == np.uint8
    mad, corr = _similar(full.image, half.image)
    assert mad < 12 and corr > 0.88, (mad, corr)
    # An unrelated scan is far less similar: the check above can fail.
    other = preprocess(SAMPLES / "mi" / "MI(15).jpg", config)
    assert _similar(full.image, other.image)[1] < corr - 0.1


def test_full_resolution_original_matches_the_shared_half_resolution_copy(shared_data):
    half = shared_data / "images" / "Normal Person ECG Images (284x12=3408)" / "Normal(2).jpg"
    mad, corr = _similar(preprocess(FULLRES, CONFIG).image, preprocess(half, CONFIG).image)
    assert mad < 12 and corr > 0.88, (mad, corr)


def test_grid_is_located_at_any_resolution_in_the_same_place():
    image = decode_image(FULLRES)
    box = locate_grid(image, CONFIG)
    assert box is not None
    h, w = image.shape[:2]
    # The README of the data set gives the grid at about x 68-2176, y 283-1518 at full resolution.
    assert abs(box.x0 - 68) <= 4 and abs(box.x1 - 2177) <= 4
    assert abs(box.y0 - 283) <= 4 and abs(box.y1 - 1518) <= 4
    for factor in (0.3, 0.5, 1.5):
        scaled = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        sbox = locate_grid(scaled, CONFIG)
        assert sbox is not None
        assert abs(sbox.x0 / factor - box.x0) < 4 / factor + 2
        assert abs(sbox.y1 / factor - box.y1) < 4 / factor + 2


def test_scan_without_grid_uses_the_whole_page():
    gray = cv2.cvtColor(decode_image(SAMPLES / "mi" / "MI(15).jpg"), cv2.COLOR_BGR2GRAY)
    result = preprocess(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), CONFIG)
    assert result.grid is None
    assert result.image.shape == (256, 256)


def test_exif_orientation_is_honoured(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    upright = decode_image(SAMPLES / "mi" / "MI(15).jpg")
    # Store the page rotated 90 degrees, with an EXIF tag saying how to turn it back upright.
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    image = pil.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB))
    exif = image.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=95, exif=exif)
    decoded = decode_image(buf.getvalue())
    assert decoded.shape == upright.shape
    assert _similar(preprocess(decoded, CONFIG).image, preprocess(upright, CONFIG).image)[1] > 0.95


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"this is not an image\n", "not a readable image"),
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n", "a PDF document, not an image"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path, content, message):
    path = tmp_path / "scan.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=message) as info:
        decode_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_images_are_rejected(tmp_path, suffix):
    image = decode_image(SAMPLES / "mi" / "MI(15).jpg")
    data = cv2.imencode(suffix, image)[1].tobytes()
    assert decode_image(data).shape == image.shape
    with pytest.raises(ImageDecodeError, match="truncated"):
        decode_image(data[: len(data) // 2])


def test_missing_file_is_a_decode_error(tmp_path):
    with pytest.raises(ImageDecodeError, match="cannot read"):
        decode_image(tmp_path / "nope.jpg")


def test_folders_expand_recursively_and_skip_hidden_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.jpg").write_bytes(b"1")
    (tmp_path / "a" / "report.pdf").write_bytes(b"2")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"3")
    (tmp_path / "c.png").write_bytes(b"4")
    found = iter_input_files([tmp_path / "a", tmp_path / "c.png"])
    assert found == [tmp_path / "a" / "b" / "x.jpg", tmp_path / "a" / "report.pdf", tmp_path / "c.png"]


def test_config_round_trips_and_rejects_unknown_keys():
    config = PreprocessConfig(input_size=128, median_ksize=5)
    assert PreprocessConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        PreprocessConfig.from_dict({**config.to_dict(), "crop_x0": 68})


def test_jpeg_size_is_read_from_the_header_without_decoding():
    from edge.preprocess import jpeg_size

    assert jpeg_size(FULLRES.read_bytes()) == (2213, 1572)
    assert jpeg_size((SAMPLES / "mi" / "MI(15).jpg").read_bytes()) == (1106, 786)
    assert jpeg_size(cv2.imencode(".png", np.zeros((5, 7, 3), np.uint8))[1].tobytes()) is None
    assert jpeg_size(b"\xff\xd8\xff\xe0\x00") is None  # cut inside the header
    assert jpeg_size(b"\xff\xd8" + b"\x00" * 64) is None


def test_large_jpegs_decode_at_a_reduced_scale_that_keeps_the_working_size():
    assert decode_image(FULLRES, min_side=1024).shape == (786, 1107, 3)
    assert decode_image(FULLRES, min_side=500).shape == (393, 554, 3)  # 2213 // 4 = 553 >= 500
    assert decode_image(FULLRES, min_side=3000).shape == (1572, 2213, 3)
    assert decode_image(FULLRES).shape == (1572, 2213, 3)


def _png_declaring(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # A tiny compressed stream that would inflate to width*height*3 bytes of zeros.
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    from edge.preprocess import MAX_PIXELS, declared_size

    bomb = _png_declaring(50_000, 50_000)
    assert len(bomb) < 200 and declared_size(bomb) == (50_000, 50_000)
    with pytest.raises(ImageDecodeError, match="pixel limit"):
        decode_image(bomb)
    assert 50_000 * 50_000 > MAX_PIXELS


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".jpg", ".tiff", ".webp"])
def test_common_formats_decode_and_report_their_size(suffix):
    from edge.preprocess import declared_size

    image = cv2.resize(decode_image(SAMPLES / "mi" / "MI(15).jpg"), (300, 200))
    data = cv2.imencode(suffix, image)[1].tobytes()
    assert decode_image(data).shape == (200, 300, 3)
    if suffix in (".png", ".bmp", ".jpg"):
        assert declared_size(data) == (300, 200)


@pytest.mark.parametrize("kind", ["gray16", "rgba", "gray"])
def test_unusual_but_valid_pixel_formats_are_accepted(kind):
    image = cv2.resize(decode_image(SAMPLES / "mi" / "MI(15).jpg"), (300, 200))
    if kind == "gray16":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    elif kind == "rgba":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    decoded = decode_image(cv2.imencode(".png", image)[1].tobytes())
    assert decoded.shape == (200, 300, 3) and decoded.dtype == np.uint8


@pytest.mark.parametrize("factor", [0.25, 0.15])
def test_small_scans_are_enlarged_to_the_working_scale(factor):
    """A scan smaller than the working size keeps its traces (it once lost them: accuracy 0.37)."""
    full = decode_image(FULLRES)
    small = cv2.resize(full, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    a, b = preprocess(full, CONFIG).image, preprocess(small, CONFIG).image
    assert _similar(a, b)[1] > 0.85
    # Trace pixels survive: the darkest 2% of the small scan's input is as dark as the full one's.
    assert np.percentile(b, 2) < np.percentile(a, 2) + 40


@pytest.mark.parametrize("kind", ["cmyk-jpeg", "palette-png", "animated-gif"])
def test_pillow_written_formats_decode_to_the_same_page(kind):
    """CMYK JPEGs (print workflows), palette PNGs and animated GIFs (the first frame is read) give
    the same page as the original scan."""
    import io

    from PIL import Image

    original = Image.open(SAMPLES / "mi" / "MI(15).jpg")
    buffer = io.BytesIO()
    if kind == "cmyk-jpeg":
        original.convert("CMYK").save(buffer, "JPEG", quality=95)
    elif kind == "palette-png":
        original.convert("P").save(buffer, "PNG")
    else:
        frames = [original.convert("P"), original.rotate(90).convert("P")]
        frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    decoded = decode_image(buffer.getvalue())
    reference = decode_image(SAMPLES / "mi" / "MI(15).jpg")
    assert decoded.shape == reference.shape and decoded.dtype == np.uint8
    # Colours survive conversion (a CMYK file read as inverted or a later GIF frame would not).
    assert np.abs(decoded.astype(int) - reference.astype(int)).mean() < 12
