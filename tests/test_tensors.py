"""Tensors from arrays a server shares read-only between sessions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from softmax_core.tensors import tensor_of

pytestmark = pytest.mark.unit


def test_a_read_only_array_is_copied_and_a_writable_one_shared():
    shared = np.arange(6, dtype=np.float32).reshape(2, 3)
    shared.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it would share memory it may not write
        copied = tensor_of(shared, torch.float32)
    assert torch.equal(copied, torch.arange(6, dtype=torch.float32).reshape(2, 3))
    copied += 1  # the copy is the caller's: the shared array is untouched
    assert shared[0, 0] == 0
    writable = np.zeros(3, dtype=np.float32)
    tensor_of(writable, torch.float32)[0] = 5  # no copy: the same memory, as torch.as_tensor
    assert writable[0] == 5
    assert tensor_of([1, 2], torch.float64).dtype == torch.float64
