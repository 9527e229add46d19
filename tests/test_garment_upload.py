"""The upload pipeline on real files made here with Pillow: good pictures and every kind of bad file."""

from __future__ import annotations

import builtins
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from softmax_core import garment_upload
from softmax_core.garment_upload import UploadError, prepare


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def garment_on(background: int, ink: int, size=(300, 240), box=(40, 60, 200, 180)) -> Image.Image:
    """A flat rectangle 'garment' (rows 40-199, cols 60-179: 160 tall, 120 wide) on a plain background."""
    pixels = np.full(size, background, np.uint8)
    top, left, bottom, right = box
    pixels[top:bottom, left:right] = ink
    return Image.fromarray(pixels)


def bbox(pixels: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(pixels > 0)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def test_dark_garment_on_light_background_is_inverted_cropped_fitted_and_centred():
    result = prepare(encode(garment_on(background=235, ink=20)))
    assert result.inverted
    assert [s.title for s in result.steps] == [
        "Your picture",
        "Grayscale",
        "Light on dark",
        "Cropped",
        "Fitted into 20 x 20",
        "Centred in 28 x 28",
    ]
    pixels = result.pixels
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    top, bottom, left, right = bbox(pixels)
    assert (bottom - top, right - left) == (20, 15)  # 160 x 120 keeps its 4:3 aspect in a 20 x 20 box
    assert (top, 28 - bottom) == (4, 4) and abs(left - (28 - right)) <= 1  # centred
    assert pixels[14, 14] == 255 and pixels[0, 0] == 0  # object light, background black
    assert result.steps[3].image.shape == (160, 120)  # cropped exactly to the object


def test_light_garment_on_dark_background_is_kept_not_inverted():
    result = prepare(encode(garment_on(background=10, ink=220)))
    assert not result.inverted
    assert result.pixels[14, 14] == 255 and result.pixels[0, 0] == 0


def test_wide_object_fills_twenty_columns():
    result = prepare(encode(garment_on(background=250, ink=0, size=(200, 400), box=(80, 50, 120, 350))))
    top, bottom, left, right = bbox(result.pixels)
    assert right - left == 20 and bottom - top in (2, 3)


def test_colour_jpeg_and_webp_photos_work():
    rgb = np.zeros((120, 90, 3), np.uint8)
    rgb[:] = (240, 230, 220)
    rgb[20:100, 20:70] = (150, 20, 20)  # a red garment on a light wall
    for fmt in ("JPEG", "WEBP"):
        result = prepare(encode(Image.fromarray(rgb), fmt, quality=90))
        assert result.inverted and result.steps[0].image.ndim == 3
        top, bottom, _, _ = bbox(result.pixels > 60)
        assert bottom - top == 20


def test_big_photo_is_shrunk_before_the_steps():
    result = prepare(encode(garment_on(background=255, ink=0, size=(3000, 2000), box=(500, 500, 2500, 1500)), "JPEG"))
    assert max(result.steps[0].image.shape[:2]) <= garment_upload.PREVIEW_SIDE
    assert bbox(result.pixels)[1] - bbox(result.pixels)[0] == 20


def test_cutout_with_transparent_background_is_flattened_to_contrast():
    rgba = np.zeros((100, 80, 4), np.uint8)
    rgba[10:90, 20:60] = (30, 30, 30, 255)  # a dark garment, opaque; all else transparent
    result = prepare(encode(Image.fromarray(rgba, "RGBA")))
    assert "white" in result.steps[0].note
    assert result.inverted and bbox(result.pixels)[1] - bbox(result.pixels)[0] == 20


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: b"", "empty"),
        (lambda: b"this is a text file, not a picture\n" * 20, "not a PNG, JPEG, WebP"),
        (lambda: encode(garment_on(235, 20)).replace(b"IHDR", b"IHDX", 1), "not a PNG, JPEG, WebP"),
        (lambda: encode(garment_on(235, 20))[:400], "damaged or cut off"),
        (lambda: encode(garment_on(235, 20), "JPEG")[:500], "damaged or cut off"),
        (lambda: encode(Image.new("L", (1, 1), 128)), "only 1 x 1 pixels"),
        (lambda: encode(Image.new("RGBA", (64, 64), (0, 0, 0, 0))), "completely transparent"),
        (lambda: encode(Image.new("L", (64, 64), 200)), "one flat colour"),
    ],
    ids=["empty", "text", "broken-header", "truncated-png", "truncated-jpeg", "1x1", "transparent", "flat"],
)
def test_bad_files_get_a_sentence(make, message):
    with pytest.raises(UploadError, match=message):
        prepare(make())


def test_animated_gif_is_refused():
    frames = [garment_on(235, ink, size=(40, 40), box=(5, 5, 35, 35)) for ink in (0, 80, 160)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(UploadError, match="animation .3 frames"):
        prepare(buffer.getvalue())
    assert prepare(encode(frames[0], "GIF")).pixels.max() == 255  # a still GIF is fine


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.mark.parametrize("side", [8_000, 20_000, 60_000])
def test_decompression_bomb_is_refused_by_pixel_count_before_decoding(side, monkeypatch):
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self) or None)
    with pytest.raises(UploadError, match="refused before decoding"):
        prepare(png_header_only(side, side))
    assert decoded == []  # no pixel was decoded


def test_a_real_highly_compressible_bomb_is_refused_quickly():
    bomb = encode(Image.new("L", (7_000, 7_000), 0), optimize=False)  # 49 MP of zeros: a ~50 KB file
    assert len(bomb) < 200_000
    with pytest.raises(UploadError, match="49 million pixels"):
        prepare(bomb)


def test_nothing_is_written_anywhere(monkeypatch):
    def no_files(*args, **kwargs):
        raise AssertionError(f"the pipeline opened a file: {args}")

    data = encode(garment_on(235, 20))
    monkeypatch.setattr(builtins, "open", no_files)
    assert prepare(data).pixels.shape == (28, 28)
