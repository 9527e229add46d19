"""How many threads torch's operations use while a model trains: the project's one setting for it."""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int):
    """Run torch ops on ``n`` intra-op threads for the duration, then restore the setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def one_thread():
    """Run torch ops on one intra-op thread for the duration, then restore the setting.

    Each op on a 256-row batch is far too small to gain from a second thread,
    and when the cores are shared, every op's OpenMP barrier waits for a thread
    that is not scheduled (docs/performance.md has the figures). Torch keeps the setting
    per thread once a thread has used it (checked): a training in a background
    thread leaves the others alone, except that a thread doing its first torch
    work meanwhile starts with one thread too (harmless for this app's tiny ops).
    """
    with torch_threads(1):
        yield
