"""Export: the metrics CSV reads back, the weights load into the chapter's net with the two-line snippet."""

from __future__ import annotations

import csv
import io

import pytest
import torch
from torch import nn

from softmax_core import export
from softmax_core.training import EpochMetrics, TrainConfig

pytestmark = pytest.mark.unit


def test_file_names_carry_the_settings():
    name = export.file_name(TrainConfig("concise", 0.03, 128, 7, 5, 0.02), "weights", "pt")
    assert name == "fashion-mnist-softmax-concise-lr0.03-batch128-ep7-seed5-std0.02-weights.pt"
    assert export.file_name(TrainConfig(), "metrics", "csv") != export.file_name(TrainConfig(lr=0.2), "metrics", "csv")


def test_metrics_csv_reads_back_exactly():
    history = (EpochMetrics(1, 0.7853981633974483, 0.75, 0.8, 1.25), EpochMetrics(2, 0.5, 0.8125, float("nan"), 1.0))
    rows = list(csv.DictReader(io.StringIO(export.metrics_csv(history).decode("utf-8"))))
    assert list(rows[0]) == list(export.METRIC_COLUMNS)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[0]["train_loss"]) == 0.7853981633974483  # all digits kept
    assert rows[1]["test_acc"] == "nan"


def test_weights_load_into_the_chapters_net_with_the_snippet(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    W, b = torch.randn(784, 10, generator=g), torch.randn(10, generator=g)
    name = export.file_name(TrainConfig(), "weights", "pt")
    (tmp_path / name).write_bytes(export.weights_bytes(W, b))
    snippet = export.load_snippet(name)
    assert len(snippet.splitlines()) == 2
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))  # d2l 3.7
    monkeypatch.chdir(tmp_path)
    exec(snippet, {"net": net})
    X = torch.rand(5, 1, 28, 28, generator=g)
    torch.testing.assert_close(net[1].weight.detach(), W.T, rtol=0, atol=0)
    torch.testing.assert_close(net[1].bias.detach(), b, rtol=0, atol=0)
    torch.testing.assert_close(net(X), X.reshape(5, 784) @ W + b, rtol=1e-5, atol=1e-4)  # same scores, float rounding
    # the scratch model's W and b come back as the note says
    state = torch.load(tmp_path / name, weights_only=True)
    torch.testing.assert_close(state["1.weight"].T, W, rtol=0, atol=0)


def test_weights_file_refuses_to_unpickle_code(tmp_path):
    """What weights_only protects against: a pickle that would run code is refused by the same loader."""

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pt"
    torch.save({"1.weight": Evil()}, path)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, weights_only=True)


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="784, 10"):
        export.state_dict(torch.zeros(10, 784), torch.zeros(10))
