"""Tensors from any numpy array, read-only ones included.

An array may be read-only (``np.frombuffer``, a memory map, or one a server shares between
sessions and marks read-only so that no page can change what the others see). ``torch.as_tensor``
would share such an array's memory and warn that it may not write it; these are copied first.
"""

from __future__ import annotations

import numpy as np
import torch


def tensor_of(values, dtype: torch.dtype) -> torch.Tensor:
    """``values`` as a tensor of ``dtype``: shares memory where torch may, copies a read-only array first."""
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        values = values.copy()
    return torch.as_tensor(values, dtype=dtype)
