"""Every image mode and every kind of bad image input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import (
    ImageDecodeError,
    ImageNotFoundError,
    ImageTooLargeError,
    ImageTooSmallError,
    load_image,
    load_sample,
    sample_path,
)


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    return load_sample("cat")


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def cat_share(starter, image) -> float:
    result = starter.segment(image)
    return float((result.labels == 8).mean())


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16"])
def test_odd_modes_become_rgb_and_still_find_the_cat(starter, cat, mode: str) -> None:
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(cat.convert("L"), np.uint16) * 257)
        data = encode(converted, "PNG")
    elif mode == "CMYK":
        data = encode(cat.convert("CMYK"), "JPEG", quality=95)
    else:
        data = encode(cat.convert(mode), "PNG")
    assert Image.open(io.BytesIO(data)).mode == mode
    image = load_image(data)
    assert image.mode == "RGB" and image.size == cat.size
    assert cat_share(starter, data) > 0.25


def test_sixteen_bit_png_keeps_its_brightness(cat) -> None:
    grey = np.asarray(cat.convert("L"))
    data = encode(Image.fromarray(grey.astype(np.uint16) * 257), "PNG")
    restored = np.asarray(load_image(data))[..., 0]
    assert np.abs(restored.astype(int) - grey).max() <= 1


def test_rgba_transparency_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    assert np.asarray(load_image(encode(rgba, "PNG"))).min() == 255


def test_exif_orientation_is_applied(cat) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = encode(cat, "JPEG", exif=exif, quality=95)
    assert load_image(data).size == (cat.height, cat.width)


def test_exif_rotated_photo_segments_at_its_upright_size(starter, cat) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    result = starter.segment(encode(cat, "JPEG", exif=exif, quality=95))
    assert result.labels.shape == (cat.width, cat.height)


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_one_upright_size_from_a_file_or_decoded(
    starter, cat, tmp_path, fmt: str, orientation: int
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"cat.{fmt.lower()}"
    cat.save(path, format=fmt, exif=exif)
    upright = load_image(path)
    turned = orientation >= 5
    assert upright.size == ((cat.height, cat.width) if turned else cat.size)
    from_file, from_decoded = starter.segment(path), starter.segment(upright)
    assert from_file.labels.shape == from_decoded.labels.shape == (upright.height, upright.width)
    assert (from_file.labels == 8).mean() > 0.25


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((20, 30), np.uint8), (30, 20)),
        (np.zeros((20, 30, 3), np.uint8), (30, 20)),
        (np.zeros((20, 30, 4), np.uint8), (30, 20)),
        (np.full((20, 30, 3), 65535, np.uint16), (30, 20)),
        (np.full((20, 30, 3), 0.5, np.float32), (30, 20)),
    ],
)
def test_numpy_arrays(array: np.ndarray, expected: tuple[int, int]) -> None:
    image = load_image(array)
    assert image.mode == "RGB" and image.size == expected


def test_numpy_float_array_is_scaled_from_unit_range(cat) -> None:
    arr = np.asarray(cat, np.float32) / 255
    assert np.abs(np.asarray(load_image(arr)).astype(int) - np.asarray(cat)).max() <= 1


def test_bad_arrays() -> None:
    with pytest.raises(ImageDecodeError, match="float image arrays must hold values in"):
        load_image(np.full((20, 20, 3), 2.0))
    with pytest.raises(ImageDecodeError, match="is not an image"):
        load_image(np.zeros((2, 20, 20, 3), np.uint8))
    with pytest.raises(ImageDecodeError, match="must be uint8, uint16 or float"):
        load_image(np.zeros((20, 20, 3), np.int64))


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ImageNotFoundError, match="image not found: .*nope.jpg"):
        load_image(tmp_path / "nope.jpg")


def test_not_an_image(tmp_path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is text, not a photo")
    with pytest.raises(ImageDecodeError, match="notes.jpg is not an image in a format that can be read"):
        load_image(path)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_images(tmp_path, cat, fmt: str) -> None:
    data = encode(cat, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="could not be decoded: the file is damaged or cut short"):
        load_image(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("L", (10000, 10000)).save(path)  # 100 MP of zeros: a small file
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageTooLargeError, match="10000x10000 = 100,000,000 pixels, above the limit of 64,000,000"):
        load_image(path)
    with pytest.raises(ImageTooLargeError, match="above the limit of 1,000"):
        load_image(sample_path("cat"), max_pixels=1000)


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature, header chunk and an empty data chunk: its size, and no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", b"")
    )


def test_an_image_too_large_to_open_at_all_is_refused_in_plain_words() -> None:
    # 400 million pixels: the decoder refuses to open it (its "decompression bomb DOS attack" is not repeated).
    with pytest.raises(ImageTooLargeError) as refused:
        load_image(png_header(20000, 20000))
    assert str(refused.value) == "the file is 400,000,000 pixels, above the limit of 64,000,000 (max_pixels)"
    with pytest.raises(ImageTooLargeError, match=r"above the [\d,]+ the image decoder opens at all$"):
        load_image(png_header(20000, 20000), max_pixels=10**9)


def test_one_pixel_image_is_refused(starter) -> None:
    data = encode(Image.new("RGB", (1, 1)), "PNG")
    with pytest.raises(ImageTooSmallError, match="is 1x1; images need at least 8 pixels per side"):
        starter.segment(data)


def test_huge_limit_is_configurable_on_the_segmenter(starter) -> None:
    from deeplab_widgets import Segmenter

    strict = Segmenter(starter.spec, max_pixels=100_000)
    with pytest.raises(ImageTooLargeError):
        strict.segment(sample_path("kite_and_cold"))
