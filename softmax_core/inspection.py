r"""Look inside a trained softmax regression: its weights as pictures, and why one image got its label.

The model scores an image :math:`\mathbf{x} \in [0, 1]^{784}` per class as
:math:`o_j = \mathbf{x} \cdot \mathbf{w}_j + b_j = \sum_p x_p W_{pj} + b_j`. Each term
:math:`x_p W_{pj}` is one pixel's vote for class ``j``; as a 28x28 picture, that is the
*contribution map* of class ``j``, and its sum plus :math:`b_j` is exactly the score.

Everything here is plain numpy/torch on values a page hands in: no streamlit, no files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
import torch

from softmax_core.logit_presets import LABEL_SETS, format_logits

SIDE = 28
NUM_PIXELS = SIDE * SIDE
NUM_CLASSES = 10
SOFTMAX_PAGE = "/softmax_temperature"
FASHION_LABEL_SET = "fashion"


def as_pixels(image) -> np.ndarray:
    """One image (28x28 or 784; uint8 0..255 or float 0..1) as float64 pixels in [0, 1], shape (784,).

    float64 so that sums of contribution maps are exact enough to compare with the score.
    """
    array = np.asarray(image.numpy() if isinstance(image, torch.Tensor) else image)
    if array.size != NUM_PIXELS:
        raise ValueError(f"an image has {NUM_PIXELS} pixels (28x28), got shape {array.shape}")
    flat = array.reshape(NUM_PIXELS)
    return flat.astype(np.float64) / 255.0 if array.dtype == np.uint8 else flat.astype(np.float64)


def _weights(weight, bias) -> tuple[np.ndarray, np.ndarray]:
    W = np.asarray(weight.numpy() if isinstance(weight, torch.Tensor) else weight, dtype=np.float64)
    b = np.asarray(bias.numpy() if isinstance(bias, torch.Tensor) else bias, dtype=np.float64)
    if W.shape != (NUM_PIXELS, NUM_CLASSES) or b.shape != (NUM_CLASSES,):
        raise ValueError(f"weight must be (784, 10) and bias (10,), got {W.shape} and {b.shape}")
    return W, b


def templates(weight) -> np.ndarray:
    """The ten columns of W as (10, 28, 28) pictures: what each class looks for."""
    W = np.asarray(weight.numpy() if isinstance(weight, torch.Tensor) else weight, dtype=np.float64)
    if W.shape != (NUM_PIXELS, NUM_CLASSES):
        raise ValueError(f"weight must be (784, 10), got {W.shape}")
    return W.T.reshape(NUM_CLASSES, SIDE, SIDE)


def symmetric_limit(*arrays) -> float:
    """One colour limit for a diverging scale centred at 0: the largest |value| over all arrays (> 0)."""
    largest = max((float(np.max(np.abs(np.asarray(a)))) for a in arrays if np.asarray(a).size), default=0.0)
    return largest if largest > 0 else 1.0


@dataclass(frozen=True)
class Explanation:
    """Why one image got its label: scores, probabilities and every class's contribution map."""

    pixels: np.ndarray  # (784,) in [0, 1]
    scores: np.ndarray  # (10,) o = x W + b
    probs: np.ndarray  # (10,) softmax(o)
    contributions: np.ndarray  # (10, 28, 28): x * w_j per class
    bias: np.ndarray  # (10,)
    predicted: int

    def check(self, j: int) -> tuple[float, float, float]:
        """(sum of class j's map, b_j, their total): the total is the score o_j."""
        total = float(self.contributions[j].sum())
        return total, float(self.bias[j]), total + float(self.bias[j])


def softmax_np(scores) -> np.ndarray:
    o = np.asarray(scores, dtype=np.float64)
    e = np.exp(o - o.max())
    return e / e.sum()


def explain(weight, bias, image) -> Explanation:
    """Scores, softmax and the ten contribution maps x * w_j of one image."""
    W, b = _weights(weight, bias)
    x = as_pixels(image)
    contributions = (x[:, None] * W).T.reshape(NUM_CLASSES, SIDE, SIDE)
    scores = x @ W + b
    return Explanation(x, scores, softmax_np(scores), contributions, b, int(np.argmax(scores)))


def explained_classes(explanation: Explanation, true_label: int | None = None) -> list[tuple[int, str]]:
    """The two classes whose contribution maps explain a prediction: predicted and true for a mistake,
    else predicted and runner-up (the class it was most nearly taken for)."""
    if true_label is not None and true_label != explanation.predicted:
        return [(explanation.predicted, "predicted"), (int(true_label), "true")]
    runner_up = int(np.argsort(explanation.scores)[-2])
    return [(explanation.predicted, "predicted"), (runner_up, "runner-up")]


@dataclass(frozen=True)
class Difference:
    """Where two weight sets differ most."""

    largest: float  # max |W_a - W_b| over all 7,840 weights and |b_a - b_b| over the 10 biases
    what: str  # "weight" or "bias"
    class_index: int
    pixel: int | None  # row-major pixel index for a weight, None for a bias
    weight_scale: float  # max |W_a|, to put the difference in proportion


def largest_difference(weight_a, bias_a, weight_b, bias_b) -> Difference:
    """The largest absolute difference between two models' parameters, and where it is."""
    Wa, ba = _weights(weight_a, bias_a)
    Wb, bb = _weights(weight_b, bias_b)
    dW, db = np.abs(Wa - Wb), np.abs(ba - bb)
    p, j = np.unravel_index(int(np.argmax(dW)), dW.shape)
    scale = float(np.max(np.abs(Wa)))
    if db.max() > dW[p, j]:
        k = int(np.argmax(db))
        return Difference(float(db[k]), "bias", k, None, scale)
    return Difference(float(dW[p, j]), "weight", int(j), int(p), scale)


# ---------------------------------------------------------------- picking an image


def mistakes(true_labels, predicted, true_class: int | None = None, predicted_class: int | None = None) -> np.ndarray:
    """Indices of misclassified images, optionally only true class A taken for class B."""
    true_labels, predicted = np.asarray(true_labels), np.asarray(predicted)
    mask = true_labels != predicted
    if true_class is not None:
        mask &= true_labels == true_class
    if predicted_class is not None:
        mask &= predicted == predicted_class
    return np.flatnonzero(mask)


def random_mistake(true_labels, predicted, rng: np.random.Generator) -> int | None:
    """One misclassified image chosen at random, or None if the model makes no mistake."""
    wrong = mistakes(true_labels, predicted)
    return int(rng.choice(wrong)) if len(wrong) else None


# ---------------------------------------------------------------- the link to the softmax page


def softmax_page_query(scores: Sequence[float], temperature: float | None = None) -> dict[str, str]:
    """Query parameters that open the softmax & temperature page on these logits and the Fashion-MNIST names.

    Each logit is written in the shortest decimal that reads back as the same float64
    (``format_logits``), so the page parses back exactly these ten numbers.
    """
    if FASHION_LABEL_SET not in LABEL_SETS:
        raise ValueError(f"the softmax page has no {FASHION_LABEL_SET!r} label set")
    logits = [float(v) for v in scores]
    query = {"sm_preset": "custom", "sm_logits": format_logits(logits), "sm_labels": FASHION_LABEL_SET}
    if temperature is not None:
        query["sm_T"] = f"{temperature:g}"
    return query


def softmax_page_link(scores: Sequence[float], temperature: float | None = None) -> str:
    """The same as a relative URL, e.g. to share or paste."""
    return f"{SOFTMAX_PAGE}?{urlencode(softmax_page_query(scores, temperature))}"


def selected_cell(selection, class_names: Sequence[str]) -> tuple[int, int] | None:
    """(true class, predicted class) of the confusion cell a click selected, from Streamlit's plotly selection.

    ``selection`` is ``event.selection`` of ``st.plotly_chart(..., on_select="rerun")``: a dict with
    ``points``, each with ``x`` (predicted class name) and ``y`` (true class name). None if nothing valid.
    """
    points = (selection or {}).get("points") or []
    names = list(class_names)
    for point in points:
        x, y = point.get("x"), point.get("y")
        if x in names and y in names:
            return names.index(y), names.index(x)
    return None
