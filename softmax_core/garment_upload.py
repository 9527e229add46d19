"""Turn an uploaded photo or drawing of a garment into a 28x28 picture made the way Fashion-MNIST's were.

Zalando made Fashion-MNIST from product photos on white (Xiao, Rasul and Vollgraf 2017,
and the dataset's README): trim the edges close to the corners' colour, resize the longest
edge to 28 by skipping rows and columns, sharpen, extend the shorter edge to 28 with the
garment centred, negate, convert to 8-bit grey. :func:`prepare` runs those steps and keeps
a picture of each so a page can show them. A student's photo is not on white, so one step
comes first: the picture is inverted if its corners are dark, and each colour channel is
divided by the corners' colour, which makes the background white.

Everything happens on the bytes in memory: nothing is written to disk. The memory a file
may take is bounded before any pixel is decoded: the header gives the size and kind, from
which :func:`decode_bytes` tells the largest buffer the decoder will need; a file over
:data:`DECODE_BUDGET` is refused with a sentence. A JPEG is decoded straight at a reduced
scale, other formats shrink once decoded, and no full-size copy is made after that. Files
are prepared on :data:`CONCURRENT_DECODES` worker threads per process, so a class uploading
together cannot add up the peaks.

Bad files raise :class:`UploadError` with a sentence for the student.
"""

from __future__ import annotations

import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # the only decoders Pillow may try
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "gif")
MAX_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; larger is refused before decoding, whatever its kind
DECODE_BUDGET = 60 * 2**20  # the largest buffers one file's decoding may take, in bytes
CONCURRENT_DECODES = 2
MIN_SIDE = 8
WORK_SIDE = 512  # decode/shrink to at most this before the steps (JPEG decodes at reduced size directly)
SHRINK_GAP = 2.0  # shrink by a whole factor to at most SHRINK_GAP x WORK_SIDE first, then smoothly
THUMBNAIL_SIDE = 73  # Zalando's thumbnails were 51 x 73: the longest edge, smoothly, before skipping to 28
SIDE = 28
TRIM_FUZZ = 0.05  # Zalando's "closeness": within 5 % of the largest distance in RGB space
PREVIEW_SIDE = 256
WHITE, BLACK = 255, 0

# Every file is prepared on one of these threads: no more than CONCURRENT_DECODES decode at once, and
# only these threads' allocator arenas ever hold a decode's buffers (glibc keeps a freed buffer in the
# arena of the thread that allocated it, so decoding on each session's own thread lets each keep one peak).
_workers = ThreadPoolExecutor(max_workers=CONCURRENT_DECODES, thread_name_prefix="garment-upload")


class UploadError(ValueError):
    """The file cannot be used; the message is one sentence saying why and what to do."""


@dataclass(frozen=True)
class Step:
    title: str
    image: np.ndarray  # uint8, (h, w) grayscale or (h, w, 3) RGB
    note: str
    background: int | None = None  # the background's grey level once known (white before "Negated", then black)


@dataclass(frozen=True)
class PreparedImage:
    steps: tuple[Step, ...]
    pixels: np.ndarray  # (28, 28) uint8, garment light on black, as Fashion-MNIST
    dark_background: bool  # the picture was light on dark, so it was inverted before the steps


# ---------------------------------------------------------------- reading the file, bounded


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
    _check_decode_budget(image)
    return image


# Bytes per pixel of Pillow's buffer for a mode (RGB is stored as 4 bytes, like RGBA).
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I": 4, "F": 4}


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def decode_bytes(image: Image.Image) -> int:
    """The largest buffers (bytes) that decoding and shrinking ``image`` to WORK_SIDE will hold at once.

    Read from the header only. A JPEG decodes at a reduced scale (its decoder's draft mode);
    a progressive JPEG still keeps every DCT coefficient of the full image (2 bytes per
    coefficient, per component as sampled). WebP's decoder holds its canvas, the frame it
    hands over and Pillow's copy of it. Other formats hold the full image; one with
    transparency is shrunk through a premultiplied copy, and a palette image is turned into
    RGB(A) first so that it can be shrunk smoothly.
    """
    width, height = image.size
    pixels = width * height
    return _decoder_bytes(image, width, height, pixels) + _STEPS_BYTES


# The steps after decoding work on at most WORK_SIDE x WORK_SIDE: a few float32 copies of it.
_STEPS_BYTES = 8 * 2**20


def _shrink_bytes(width: int, height: int) -> int:
    """What Pillow's thumbnail holds besides the decoded image: the whole-factor reduction and the result."""
    scale = min(WORK_SIDE / width, WORK_SIDE / height, 1.0)
    target_w, target_h = max(1, round(width * scale)), max(1, round(height * scale))
    factor_w = max(1, int(width / target_w / SHRINK_GAP))
    factor_h = max(1, int(height / target_h / SHRINK_GAP))
    reduced = 0 if factor_w == factor_h == 1 else -(-width // factor_w) * -(-height // factor_h)
    return 4 * (reduced + target_w * target_h)


def _decoder_bytes(image: Image.Image, width: int, height: int, pixels: int) -> int:
    if image.format == "JPEG":
        scale = 1  # the draft's 1/2, 1/4 or 1/8: the smallest that keeps both edges at WORK_SIDE or more
        while scale < 8 and min(width, height) // (2 * scale) >= WORK_SIDE:
            scale *= 2
        drafted_w, drafted_h = -(-width // scale), -(-height // scale)
        drafted = 4 * drafted_w * drafted_h + _shrink_bytes(drafted_w, drafted_h)
        if not image.info.get("progressive"):
            return drafted
        layers = getattr(image, "layer", None) or [(0, 1, 1, 0)] * len(image.getbands())
        most = max(h * v for _, h, v, _ in layers)
        return drafted + int(2 * pixels * sum(h * v for _, h, v, _ in layers) / most)
    if image.format == "WEBP":
        return 16 * pixels + _shrink_bytes(width, height)
    stored = _STORED_BYTES.get(image.mode, 4)
    if image.mode == "P":
        stored += 4  # the RGB or RGBA copy to shrink from
    if _has_alpha(image):
        stored += 4  # the premultiplied copy Pillow makes to shrink an image with alpha
    return stored * pixels + _shrink_bytes(width, height)


def _check_decode_budget(image: Image.Image) -> None:
    needed = decode_bytes(image)
    if needed > DECODE_BUDGET:
        width, height = image.size
        most = DECODE_BUDGET / needed * width * height / 1e6
        raise UploadError(
            f"This {image.format} picture of {width} x {height} pixels would take about {needed / 2**20:.0f} MB "
            f"of the server's memory to decode, more than the {DECODE_BUDGET / 2**20:.0f} MB allowed (about "
            f"{most:.1f} million pixels for this kind of file). It was refused before decoding: save it smaller, "
            "or as a JPEG."
        )


def _decode(image: Image.Image) -> Image.Image:
    """Decode at a working size (JPEG straight at a reduced scale), shrink in place, then turn upright."""
    try:
        if image.format == "JPEG":
            image.draft("RGB", (WORK_SIDE, WORK_SIDE))
        elif image.mode == "P":  # a palette can only be shrunk pixel by pixel: give it colours first
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        image.load()
        image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS, reducing_gap=SHRINK_GAP)
        return ImageOps.exif_transpose(image)  # on the small image: no full-size copy
    except (OSError, SyntaxError, ValueError, EOFError):
        raise UploadError("The picture is damaged or cut off (truncated): upload the whole file again.") from None


def _flatten_transparency(image: Image.Image) -> tuple[Image.Image, str]:
    """RGB without alpha: transparent parts become a background that contrasts with the object."""
    if image.mode.startswith("I") or image.mode == "F":  # 16-bit or float grayscale: RGB would clip at 255
        values = np.asarray(image, dtype=np.float64)
        values = values / 257 if values.max() > 255 else values
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8)).convert("RGB"), ""
    if not _has_alpha(image):
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
        " Transparent parts filled with " + ("white" if object_is_dark else "black") + ", the opposite of the object."
    )


# ---------------------------------------------------------------- the steps


def corner_colour(rgb: np.ndarray) -> np.ndarray:
    """The colour of the four corner pixels (their median per channel, so one odd corner does not count)."""
    corners = rgb[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.float64)
    return np.median(corners, axis=0)


def _luminance(rgb) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def whiten_background(rgb: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray]:
    """(picture dark on white, whether it was inverted first, the corners' colour that became white)."""
    dark = _luminance(corner_colour(rgb)) < 128
    light_background = 255 - rgb if dark else rgb
    corner = corner_colour(light_background)
    scaled = light_background.astype(np.float32) * (255.0 / np.maximum(corner, 1.0)).astype(np.float32)
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8), dark, corner


def trim_box(rgb: np.ndarray, fuzz: float = TRIM_FUZZ) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of what differs from the corners' colour by more than ``fuzz``; None if nothing.

    The distance is Euclidean in RGB, ``fuzz`` a share of the largest one (black to white).
    """
    difference = rgb.astype(np.float32) - corner_colour(rgb).astype(np.float32)
    far = np.einsum("...c,...c->...", difference, difference) > 3 * (fuzz * 255) ** 2
    rows, cols = np.nonzero(far)
    if rows.size == 0:
        return None
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def longest_edge_to(image: Image.Image, side: int, resample: Image.Resampling) -> Image.Image:
    width, height = image.size
    scale = side / max(width, height)
    return image.resize((max(1, round(width * scale)), max(1, round(height * scale))), resample)


def resize_longest_edge(image: Image.Image) -> Image.Image:
    """Smoothly to Zalando's thumbnail size if larger, then to 28 by skipping rows and columns (nearest pixel)."""
    if max(image.size) > THUMBNAIL_SIDE:
        image = longest_edge_to(image, THUMBNAIL_SIDE, Image.Resampling.LANCZOS)
    return longest_edge_to(image, SIDE, Image.Resampling.NEAREST)


def sharpen(image: Image.Image) -> Image.Image:
    """An unsharp mask with a Gaussian of radius and standard deviation 1: strongest where the outline is."""
    return image.filter(ImageFilter.UnsharpMask(radius=1.0, percent=100, threshold=0))


def extend_to_square(image: Image.Image, fill=(WHITE, WHITE, WHITE)) -> Image.Image:
    canvas = Image.new(image.mode, (SIDE, SIDE), fill)
    canvas.paste(image, ((SIDE - image.width) // 2, (SIDE - image.height) // 2))
    return canvas


def _preview(image: Image.Image) -> np.ndarray:
    if max(image.size) <= PREVIEW_SIDE:
        return np.asarray(image)
    return np.asarray(longest_edge_to(image, PREVIEW_SIDE, Image.Resampling.BOX))  # for the eye only


def prepare(data: bytes) -> PreparedImage:
    """Bytes of an uploaded file -> the 28x28 model input and every step on the way (or UploadError)."""
    return _workers.submit(_prepare, data).result()


def _prepare(data: bytes) -> PreparedImage:
    image = _open(data)
    file_size = image.size
    image = _decode(image)
    rgb_image, transparency_note = _flatten_transparency(image)
    del image
    steps = [
        Step(
            "Your picture",
            _preview(rgb_image),
            f"Decoded in memory (Zalando's first step made a PNG): {file_size[0]} x {file_size[1]} pixels"
            + (f", shrunk to {rgb_image.width} x {rgb_image.height}." if rgb_image.size != file_size else ".")
            + transparency_note,
        )
    ]

    white, dark, corner = whiten_background(np.asarray(rgb_image))
    steps.append(
        Step(
            "White background",
            _preview(Image.fromarray(white)),
            ("Inverted first (the corners were dark), then each" if dark else "Each")
            + " colour channel divided by the corners' colour "
            + f"({', '.join(str(round(c)) for c in corner)}), so the background is white as in Zalando's "
            "product photos (not one of their steps: their photos were on white already).",
            WHITE,
        )
    )

    box = trim_box(white)
    if box is None:
        raise UploadError("The picture is almost one flat colour: no garment stands out from the background.")
    top, bottom, left, right = box
    trimmed = Image.fromarray(white[top:bottom, left:right])
    steps.append(
        Step(
            "Trimmed",
            _preview(trimmed),
            f"Edges within {TRIM_FUZZ:.0%} of the corners' colour cut off: {trimmed.width} x {trimmed.height} left.",
            WHITE,
        )
    )

    small = resize_longest_edge(trimmed)
    steps.append(
        Step(
            "Longest edge 28",
            np.asarray(small),
            f"{small.width} x {small.height}: smoothly to {THUMBNAIL_SIDE} px (Zalando's thumbnail size) if larger, "
            f"then to {SIDE} by skipping rows and columns, as Zalando did.",
            WHITE,
        )
    )

    sharp = sharpen(small)
    steps.append(
        Step(
            "Sharpened",
            np.asarray(sharp),
            "The picture plus its difference from a Gaussian blur (radius and standard deviation 1): "
            "outlines gain contrast.",
            WHITE,
        )
    )

    square = extend_to_square(sharp)
    steps.append(Step("Extended to 28 x 28", np.asarray(square), "The shorter edge filled with white, centred.", WHITE))

    negated = ImageOps.invert(square)
    steps.append(Step("Negated", np.asarray(negated), "Each value v became 255 - v: the background is black.", BLACK))

    gray = np.asarray(negated.convert("L"))
    steps.append(
        Step(
            "8-bit grey",
            gray,
            "0.299 R + 0.587 G + 0.114 B, from 0 to 255: the 784 pixels the model gets, divided by 255.",
            BLACK,
        )
    )
    return PreparedImage(tuple(steps), gray, dark)
