"""A trained model's predictions: ``softmax(X @ W + b)``, its classes, and the confusion matrix.

Accuracy counts ``argmax`` of the scores ``X @ W + b``, the same class as the
argmax of their softmax. Images may be uint8 (0-255) or floats in [0, 1];
:func:`as_pixels` reads them as ``transforms.ToTensor`` does.
"""

from __future__ import annotations

import torch

from softmax_core.models import NUM_INPUTS, NUM_OUTPUTS
from softmax_core.softmax import softmax
from softmax_core.tensors import tensor_of

EVAL_BATCH = 10_000


def as_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1], as ``transforms.ToTensor`` does (``x.float() / 255``)."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255)
    return images.to(torch.float32)


def _flat_pixels(images) -> torch.Tensor:
    X = as_pixels(torch.as_tensor(images))
    if X.dim() == 2 and X.shape[1] == NUM_INPUTS:
        return X
    if X.dim() >= 2 and X.shape[-2:] == (28, 28):
        return X.reshape(-1, NUM_INPUTS)
    raise ValueError(f"images must have shape (n, 28, 28) or (n, 784), got {tuple(X.shape)}")


def _scores(weight, bias, images) -> torch.Tensor:
    W, b = tensor_of(weight, torch.float32), tensor_of(bias, torch.float32)  # read-only when a server shares them
    if W.shape != (NUM_INPUTS, NUM_OUTPUTS) or b.shape != (NUM_OUTPUTS,):
        raise ValueError(f"weight must be (784, 10) and bias (10,), got {tuple(W.shape)} and {tuple(b.shape)}")
    return _flat_pixels(images) @ W + b


def predict_probs(weight, bias, images) -> torch.Tensor:
    """``softmax(X @ W + b)`` for uint8 (0-255) or float ([0, 1]) images: (n, 10)."""
    with torch.inference_mode():
        return softmax(_scores(weight, bias, images), dim=1)


def predicted_classes(weight, bias, images) -> torch.Tensor:
    """``argmax(X @ W + b)`` per image, in batches of 10,000 (d2l's ``evaluate_accuracy`` counts these).

    Training's test accuracy and :func:`confusion_matrix` both call this, so
    the matrix's diagonal always agrees with the reported accuracy.
    """
    if len(images) == 0:
        return torch.zeros(0, dtype=torch.int64)
    with torch.inference_mode():
        return torch.cat(
            [_scores(weight, bias, images[i : i + EVAL_BATCH]).argmax(1) for i in range(0, len(images), EVAL_BATCH)]
        )


def confusion_matrix(weight, bias, images, labels) -> torch.Tensor:
    """(10, 10) int64 counts: row = true class, column = predicted class."""
    y = torch.as_tensor(labels, dtype=torch.int64)
    predicted = predicted_classes(weight, bias, images)
    if predicted.shape != y.shape:
        raise ValueError(f"{len(predicted)} images but {len(y)} labels: give one label per image")
    if len(y) and (y.min() < 0 or y.max() >= NUM_OUTPUTS):
        raise ValueError(f"labels must be class numbers 0-{NUM_OUTPUTS - 1}")
    return torch.bincount(y * NUM_OUTPUTS + predicted, minlength=NUM_OUTPUTS**2).reshape(NUM_OUTPUTS, NUM_OUTPUTS)
