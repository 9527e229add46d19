"""The ten Fashion-MNIST classes, in label order (label k is ``FASHION_MNIST_CLASSES[k]``)."""

from __future__ import annotations

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def indefinite_article(name: str) -> str:
    """ "an" before a class name that starts with a vowel sound ("an Ankle boot"), else "a"."""
    return "an" if name[:1].lower() in "aeiou" else "a"
