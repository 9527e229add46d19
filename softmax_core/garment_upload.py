"""Turn an uploaded photo or drawing of a garment into what the model expects: a Fashion-MNIST-like 28x28.

The steps, each kept so a page can show it: grayscale; the object made light on a
dark background (inverted when the background is light, then stretched so the
background is 0); cropped to the object; fitted into 20x20 keeping its aspect;
centred in 28x28. Everything happens on the bytes in memory: nothing is written
to disk.

Bad files raise :class:`UploadError` with a sentence for the student. The pixel
count is read from the file's header and checked *before* any pixel is decoded,
so a decompression bomb (a small file that decodes to gigabytes) is refused
without using that memory.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # the only decoders Pillow may try
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "gif")
MAX_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; larger is refused before decoding
MIN_SIDE = 8
WORK_SIDE = 512  # decode/shrink to at most this before the steps (JPEG decodes at reduced size directly)
SIDE, BOX = 28, 20
PREVIEW_SIDE = 256


class UploadError(ValueError):
    """The file cannot be used; the message is one sentence saying why and what to do."""


@dataclass(frozen=True)
class Step:
    title: str
    image: np.ndarray  # uint8, (h, w) grayscale or (h, w, 3) RGB
    note: str
    background: int | None = None  # the background's grey level once known (0 after "Light on dark")


@dataclass(frozen=True)
class PreparedImage:
    steps: tuple[Step, ...]
    pixels: np.ndarray  # (28, 28) uint8, object light on black, as Fashion-MNIST
    inverted: bool


def _open(data: bytes) -> Image.Image:
    if not data:
        raise UploadError("The file is empty (0 bytes): choose a PNG, JPEG or WebP picture of a garment.")
    if len(data) > MAX_BYTES:
        raise UploadError(
            f"The file is {len(data) / 2**20:.1f} MB; pictures up to {MAX_BYTES // 2**20} MB are accepted."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(
            "The picture is far too large (a decompression bomb?): it was refused before decoding."
        ) from None
    except UnidentifiedImageError:
        raise UploadError("This file is not a PNG, JPEG, WebP or GIF picture: choose a photo or drawing.") from None
    except Exception as exc:  # malformed headers raise various errors inside Pillow
        raise UploadError(f"The picture cannot be read ({type(exc).__name__}): it may be damaged.") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise UploadError(
            f"The picture has {width} x {height} = {width * height / 1e6:.0f} million pixels; "
            f"at most {MAX_PIXELS / 1e6:.0f} million are accepted. It was refused before decoding."
        )
    if getattr(image, "n_frames", 1) > 1:
        raise UploadError(f"This is an animation ({image.n_frames} frames): upload a single still picture.")
    if min(width, height) < MIN_SIDE:
        raise UploadError(
            f"The picture is only {width} x {height} pixels: it needs at least "
            f"{MIN_SIDE} x {MIN_SIDE} to show a garment."
        )
    return image


def _decode(image: Image.Image) -> Image.Image:
    """Decode at a working size (JPEG straight at a reduced scale), upright as the camera meant."""
    try:
        if image.format == "JPEG":
            image.draft("RGB", (WORK_SIDE, WORK_SIDE))
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError):
        raise UploadError("The picture is damaged or cut off (truncated): upload the whole file again.") from None
    if max(image.size) > WORK_SIDE:
        image = image.copy()
        image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    return image


def _flatten_transparency(image: Image.Image) -> tuple[Image.Image, str]:
    """RGB without alpha: transparent parts become a background that contrasts with the object."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if image.mode.startswith("I") or image.mode == "F":  # 16-bit or float grayscale: RGB would clip at 255
        values = np.asarray(image, dtype=np.float64)
        values = values / 257 if values.max() > 255 else values
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8)).convert("RGB"), ""
    if not has_alpha:
        return image.convert("RGB"), ""
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba)[..., 3]
    if alpha.max() == 0:
        raise UploadError("The picture is completely transparent: there is nothing in it to recognise.")
    luminance = np.asarray(rgba.convert("L"), dtype=np.float64)
    object_is_dark = luminance[alpha > 127].mean() < 128 if (alpha > 127).any() else True
    background = (255, 255, 255) if object_is_dark else (0, 0, 0)
    flat = Image.new("RGB", rgba.size, background)
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat, (
        "Transparent parts filled with " + ("white" if object_is_dark else "black") + ", the opposite of the object."
    )


def _preview(image: Image.Image) -> np.ndarray:
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(small)


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def prepare(data: bytes) -> PreparedImage:
    """Bytes of an uploaded file -> the 28x28 model input and every step on the way (or UploadError)."""
    image = _decode(_open(data))
    rgb, transparency_note = _flatten_transparency(image)
    steps = [Step("Your picture", _preview(rgb), transparency_note or f"{image.width} x {image.height} pixels.")]

    gray = np.asarray(rgb.convert("L"), dtype=np.float64)
    steps.append(
        Step(
            "Grayscale",
            _preview(Image.fromarray(gray.astype(np.uint8))),
            "Colour dropped: the model sees brightness only.",
        )
    )

    inverted = bool(np.median(_border(gray)) > 127)
    light = 255.0 - gray if inverted else gray
    background = float(np.median(_border(light)))
    peak = float(light.max())
    if peak - background < 20:
        raise UploadError("The picture is almost one flat colour: no garment stands out from the background.")
    stretched = np.clip((light - background) / (peak - background), 0, 1) * 255
    steps.append(
        Step(
            "Light on dark",
            _preview(Image.fromarray(stretched.astype(np.uint8))),
            ("Inverted (the background was light), " if inverted else "Kept (the background was already dark), ")
            + "then stretched so the background is 0, as in Fashion-MNIST.",
            0,
        )
    )

    rows, cols = np.nonzero(stretched > 0.25 * 255)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    cropped = stretched[top:bottom, left:right]
    crop_image = Image.fromarray(cropped.astype(np.uint8))
    steps.append(Step("Cropped", _preview(crop_image), f"To the object: {right - left} x {bottom - top} pixels.", 0))

    height, width = cropped.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fitted = np.asarray(Image.fromarray(cropped.astype(np.float32)).resize(size, Image.Resampling.LANCZOS))
    fitted = np.clip(fitted, 0, 255).round().astype(np.uint8)
    steps.append(Step("Fitted into 20 x 20", fitted, f"Scaled to {size[0]} x {size[1]}, keeping its aspect.", 0))

    canvas = np.zeros((SIDE, SIDE), dtype=np.uint8)
    y0, x0 = (SIDE - size[1]) // 2, (SIDE - size[0]) // 2
    canvas[y0 : y0 + size[1], x0 : x0 + size[0]] = fitted
    steps.append(
        Step("Centred in 28 x 28", canvas, "What the model gets: 784 pixels in [0, 1] after dividing by 255.", 0)
    )
    return PreparedImage(tuple(steps), canvas, inverted)
