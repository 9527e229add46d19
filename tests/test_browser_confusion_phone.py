"""Real browser: on a phone (390x844) the training page's confusion numbers stay inside their cells.

A stored run (made-up weights) carries a confusion matrix with a perfect class (1,000 test images
right: a four-digit count) and three-digit diagonals; the page opens on its Confusion-matrix tab.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from softmax_core.data import load_fashion_mnist
from softmax_core.run_store import RunStore, run_key
from softmax_core.training import EpochMetrics, TrainConfig, TrainResult
from tests.browser import assert_no_error, open_page, running_streamlit, screenshot
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

DIAGONAL = [850, 960, 780, 880, 820, 940, 600, 950, 1000, 960]
# Each label's width against its cell: text elements of the heatmap layer, and the plot area over 10 columns.
MEASURE = """() => {
  const plot = [...document.querySelectorAll('.js-plotly-plot')].find(p => p.data && p.data[0].type === 'heatmap');
  const cell = plot.querySelector('.nsewdrag').getBoundingClientRect().width / 10;
  const labels = [...plot.querySelectorAll('.hm text, .heatmaplayer text, text')]
      .filter(t => /^[0-9.]+k?$/.test(t.textContent.trim()));
  return {cell, widths: labels.map(t => [t.textContent, t.getBoundingClientRect().width])};
}"""


def confusion() -> torch.Tensor:
    """Rows of 1,000 test images: the diagonal above, the rest spread over the other classes."""
    matrix = np.zeros((10, 10), np.int64)
    rng = np.random.default_rng(0)
    for t, right in enumerate(DIAGONAL):
        matrix[t] = np.insert(rng.multinomial(1000 - right, [1 / 9] * 9), t, right)
    return torch.tensor(matrix)


@pytest.fixture(scope="module")
def confusion_server(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("confusion-runs")
    data = load_fashion_mnist(SHARED_DATA)
    config = TrainConfig(epochs=2).validated()
    g = torch.Generator().manual_seed(0)
    weights, biases = torch.randn(3, 784, 10, generator=g) * 0.05, torch.randn(3, 10, generator=g) * 0.05
    history = tuple(EpochMetrics(e, 0.5, 0.8, 0.87, 0.1) for e in (1, 2))
    result = TrainResult(config, history, "finished", "", weights[-1], biases[-1], 1.0, snapshots=(weights, biases))
    RunStore(runs_dir).save(run_key(config, data.fingerprint), result, confusion(), data.fingerprint)
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs_dir)}) as url:
        yield url


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("fractions", [False, True])
def test_confusion_numbers_fit_their_cells_on_a_phone(confusion_server, tab, scheme, fractions):
    page = tab((390, 844), scheme)
    open_page(page, f"{confusion_server}/training?train_epochs=2&train_tab=Confusion%20matrix")
    assert_no_error(page)
    if fractions:
        page.get_by_role("switch", name="Show each row as fractions").click(force=True)
        page.wait_for_function("() => [...document.querySelectorAll('text')].some(t => t.textContent === '.85')")
    page.locator(".js-plotly-plot").nth(1).scroll_into_view_if_needed()
    measured = page.evaluate(MEASURE)
    screenshot(page, f"confusion_phone_{scheme}{'_fractions' if fractions else ''}")
    too_wide = [(text, width) for text, width in measured["widths"] if width > measured["cell"] - 2]
    assert not too_wide, (measured["cell"], too_wide)  # before: 1000 was 28 px wide in a 21 px cell
    assert len(measured["widths"]) == 100 and ("1" if fractions else "1k") in dict(measured["widths"])
