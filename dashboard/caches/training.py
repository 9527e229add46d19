"""The caches of pages/training.py: stored runs' curves, their test-set predictions and prediction grid."""

from __future__ import annotations

import numpy as np

from dashboard.caches.shared import read_only, shared_figures, shared_resource, stored_run, table, weights_file
from dashboard.fashion_data import loaded as load_data
from softmax_core.figures import training_figures
from softmax_core.training import predict_probs

__all__ = [
    "compare_curves",
    "prediction_grid",
    "probabilities_on_test_set",
    "table",
    "training_curves",
    "weights_file",
]

# Curves of stored runs, keyed on their (short) histories: building one was a few per cent of the CPU per visit.
training_curves = shared_figures(training_figures.training_curves)
compare_curves = shared_figures(training_figures.compare_curves)


@shared_resource(max_entries=8, show_spinner="Predicting the 10,000 test images…")
def probabilities_on_test_set(runs_dir: str, key: str, data_dir: str) -> np.ndarray:
    """``softmax(X W + b)`` of a stored run on the test set, (10000, 10): one read-only array shared by every
    session (as ``cache_data``, every page load unpickled its own 400 KB copy; see calibration's ``run_logits``)."""
    weight, bias = stored_run(runs_dir, key).load_weights()
    (probs,) = read_only(predict_probs(weight, bias, load_data(data_dir).test_images).numpy())
    return probs


@shared_figures
def prediction_grid(runs_dir: str, key: str, data_dir: str, shown: tuple[int, ...]):
    """Test images ``shown`` with their true and predicted labels: dozens of subplots, so built once per view
    (building it on every visit was a third of the server's CPU while a class opened a stored run)."""
    data = load_data(data_dir)
    index = np.asarray(shown, dtype=int)
    predicted = probabilities_on_test_set(runs_dir, key, data_dir).argmax(1)
    true = data.test_labels.numpy()
    return training_figures.prediction_grid(
        data.test_images[index].numpy(), true[index], predicted[index], data.class_names, indices=index
    )
