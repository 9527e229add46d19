"""The caches of pages/inside_model.py: a run's weights per epoch, its predictions, templates and explanations."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dashboard.caches.shared import read_only, shared_figures, shared_resource, stored_run, table, weights_file
from dashboard.fashion_data import loaded as load_data
from softmax_core import inspection
from softmax_core.figures import inside_figures, training_figures
from softmax_core.training import predicted_classes

__all__ = [
    "ExplanationFigures",
    "explanation",
    "run_parameters",
    "templates_figure",
    "table",
    "test_predictions",
    "weights_file",
]


@shared_resource(max_entries=16, show_spinner=False)
def run_parameters(runs_dir: str, key: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(W per epoch (E+1, 784, 10), b per epoch (E+1, 10), has snapshots); without snapshots only the final one.

    Read-only arrays shared by every session (a copy per page load, as ``cache_data``, cost memory; see
    calibration's ``run_logits``).
    """
    run = stored_run(runs_dir, key)
    snapshots = run.load_snapshots()  # checksum and shapes checked by the store
    if snapshots is not None:
        weights, biases, has_snapshots = snapshots[0].numpy(), snapshots[1].numpy(), True
    else:
        weight, bias = run.load_weights()
        weights, biases, has_snapshots = weight.numpy()[None], bias.numpy()[None], False
    return (*read_only(weights, biases), has_snapshots)


@shared_resource(max_entries=32, show_spinner=False)
def test_predictions(runs_dir: str, key: str, index: int, data_dir: str) -> np.ndarray:
    """argmax(X W + b) of the 10,000 test images with the weights at position ``index`` (read-only, shared)."""
    weights, biases, _ = run_parameters(runs_dir, key)
    (predicted,) = read_only(predicted_classes(weights[index], biases[index], load_data(data_dir).test_images).numpy())
    return predicted


@shared_figures
def templates_figure(
    runs_dir: str, key: str, index: int, names: tuple[str, ...], limit: float | None, compact: bool = False
):
    """The ten templates of one run at one epoch; cached whole, since ten subplots take plotly long to build."""
    weights, biases, _ = run_parameters(runs_dir, key)
    if compact:
        return inside_figures.weight_templates(
            weights[index], biases[index], names, limit=limit, height=360, compact=True
        )
    return inside_figures.weight_templates(weights[index], biases[index], names, limit=limit)


class ExplanationFigures(NamedTuple):
    image: object
    scores: object
    probs: object
    contributions: object
    classes: list[tuple[int, str]]  # the (class, role) pairs the contribution maps show


@shared_figures(max_entries=32)
def explanation(
    runs_dir: str, key: str, index: int, image: int, data_dir: str, names: tuple[str, ...]
) -> tuple[inspection.Explanation, ExplanationFigures]:
    """Why test image ``image`` got its label under the weights at ``index``, with its four figures
    (building them on every visit was an eighth of the server's CPU while a class opened a stored run)."""
    weights, biases, _ = run_parameters(runs_dir, key)
    data = load_data(data_dir)
    why = inspection.explain(weights[index], biases[index], data.test_images[image])
    label = int(data.test_labels[image])
    classes = inspection.explained_classes(why, label)
    figures = ExplanationFigures(
        inside_figures.model_input(why.pixels, title=f"#{image}: {names[label]}", height=330),
        inside_figures.score_bars(why.scores, names, true_label=label, height=330),
        training_figures.probability_bars(why.probs, names, true_label=label, height=330),
        inside_figures.contribution_maps(why, classes, names),
        classes,
    )
    return why, figures
