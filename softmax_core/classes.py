"""The ten Fashion-MNIST classes, in label order (label k is ``FASHION_MNIST_CLASSES[k]``)."""

from __future__ import annotations

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
