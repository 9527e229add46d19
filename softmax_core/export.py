"""A stored run as files a student takes home: its metrics as CSV and its weights for the chapter's ``net``.

The weights file is the state dict of the chapter's concise model,
``nn.Sequential(nn.Flatten(), nn.Linear(784, 10))`` (keys ``1.weight`` (10, 784) and
``1.bias``), saved with ``torch.save``. ``torch.load(..., weights_only=True)`` reads it
without executing anything from the file, so two lines load it (``load_snippet``).
File names carry the run's settings, so downloads of different runs never clash.
"""

from __future__ import annotations

import csv
import io
import re

import torch

from softmax_core.tensors import tensor_of

METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "test_acc", "seconds")


def settings_slug(config) -> str:
    """``scratch-lr0.1-batch256-ep10-seed0-std0.01``: the run's settings, safe in a file name."""
    slug = (
        f"{config.impl}-lr{config.lr:g}-batch{config.batch_size}-ep{config.epochs}"
        f"-seed{config.seed}-std{config.init_std:g}"
    )
    return re.sub(r"[^A-Za-z0-9.+-]", "_", slug)


def file_name(config, what: str, extension: str) -> str:
    return f"fashion-mnist-softmax-{settings_slug(config)}-{what}.{extension}"


def metrics_csv(history) -> bytes:
    """One row per epoch: epoch, train loss, train accuracy, test accuracy, seconds (UTF-8, header row)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(METRIC_COLUMNS)
    for m in history:
        writer.writerow(
            [
                m.epoch,
                repr(float(m.train_loss)),
                repr(float(m.train_acc)),
                repr(float(m.test_acc)),
                repr(float(m.seconds)),
            ]
        )
    return text.getvalue().encode("utf-8")


def state_dict(weight: torch.Tensor, bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """(784, 10) W and (10,) b as the concise ``net``'s state dict: ``nn.Linear`` stores W transposed."""
    weight, bias = tensor_of(weight, torch.float32), tensor_of(bias, torch.float32)
    if tuple(weight.shape) != (784, 10) or tuple(bias.shape) != (10,):
        raise ValueError(f"weight must be (784, 10) and bias (10,), got {tuple(weight.shape)} and {tuple(bias.shape)}")
    return {"1.weight": weight.T.contiguous().clone(), "1.bias": bias.contiguous().clone()}


def weights_bytes(weight: torch.Tensor, bias: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    torch.save(state_dict(weight, bias), buffer)
    return buffer.getvalue()


def load_snippet(name: str) -> str:
    """Two lines that load a downloaded weights file into the chapter's concise ``net``."""
    return f"import torch\nnet.load_state_dict(torch.load({name!r}, weights_only=True))"


SCRATCH_NOTE = (
    "For the from-scratch model (d2l 3.6): `state = torch.load(name, weights_only=True)`, "
    "then `W, b = state['1.weight'].T, state['1.bias']`."
)
