"""How much the upload pipeline costs a model: Fashion-MNIST test images sent through it as photos.

Each test image is made into what a student's photo of that garment could be: upscaled
(bicubic) to 280 px, inverted to dark on light, saved as JPEG. Those bytes go through
:func:`softmax_core.garment_upload.prepare`, exactly as an upload does, and the model
classifies the 28x28 that comes out. The accuracy on those is compared with the accuracy
on the original images.

    python -m scripts.upload_accuracy [--images 10000] [--data-dir DIR]

trains the chapter's model (scratch, batch 256, lr 0.1, 10 epochs, seed 0) and prints both.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from softmax_core.garment_upload import prepare  # noqa: E402
from softmax_core.training import predicted_classes  # noqa: E402

PHOTO_SIDE = 280
JPEG_QUALITY = 90


def as_photo(pixels: np.ndarray, side: int = PHOTO_SIDE, quality: int = JPEG_QUALITY) -> bytes:
    """A 28x28 Fashion-MNIST image (light on black) as a photo's JPEG bytes: upscaled, dark on light."""
    image = Image.fromarray(255 - np.asarray(pixels, dtype=np.uint8)).resize((side, side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def through_upload(images: torch.Tensor) -> torch.Tensor:
    """Each image as a photo, then through the upload pipeline: (n, 28, 28) uint8."""
    return torch.from_numpy(np.stack([prepare(as_photo(image)).pixels for image in images.numpy()]))


def accuracies(weight, bias, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(accuracy on the images, accuracy on the same images sent through the upload pipeline)."""
    original = (predicted_classes(weight, bias, images) == labels).double().mean().item()
    uploaded = (predicted_classes(weight, bias, through_upload(images)) == labels).double().mean().item()
    return original, uploaded


def main(argv: list[str] | None = None) -> int:
    from softmax_core.data import load_fashion_mnist
    from softmax_core.training import TrainConfig, train

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="the first N test images (default all 10,000)")
    parser.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default: the app's)")
    args = parser.parse_args(argv)
    data = load_fashion_mnist(args.data_dir, download=False)
    config = TrainConfig(impl="scratch", lr=0.1, batch_size=256, epochs=10, seed=0)
    result = train(config, data)
    n = max(1, min(args.images, len(data.test_images)))
    original, uploaded = accuracies(result.weight, result.bias, data.test_images[:n], data.test_labels[:n])
    print(f"model: scratch, batch 256, lr 0.1, 10 epochs, seed 0 (test accuracy {result.history[-1].test_acc:.4f})")
    print(f"{n} test images: original {original:.4f}, as photos through the upload pipeline {uploaded:.4f}")
    print(f"difference: {100 * (uploaded - original):+.1f} percentage points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
