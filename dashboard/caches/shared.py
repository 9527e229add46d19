"""What several pages' caches use: the decorator for shared figures, read-only arrays, a stored run
read back, tables as Arrow, and a run's weights file."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

from dashboard.caches.frozen import frozen
from softmax_core import export
from softmax_core.run_store import RunStore
from softmax_core.train_or_load import usable_run

_FIGURE = {"max_entries": 64, "show_spinner": False}


def shared_figures(build=None, **options):
    """``st.cache_resource`` for a builder of figures; the figures it returns come back frozen: every
    session draws the same ones, so each is serialised once (see FrozenFigure), not on every page load."""
    if build is None:
        return lambda build: shared_figures(build, **options)

    @functools.wraps(build)  # the cache is keyed on the builder's own name and source
    def shared(*args, **kwargs):
        return frozen(build(*args, **kwargs))

    return shared_resource(**{**_FIGURE, **options})(shared)


def shared_resource(**options):
    """``st.cache_resource(**options)`` with :func:`recent_first` in front: every shared result of the pages."""
    return lambda func: recent_first(st.cache_resource(**options)(func))


RECENT_ENTRIES = 16
_fronts: list = []  # every LRU in front, for forget_recent


def recent_first(cached):
    """``cached`` (a ``st.cache_resource`` function) with its last few results answered from a small LRU
    in front of it, when every argument is hashable.

    On a hit Streamlit hashes each argument and reads the function's signature again: 0.16 ms, and the
    losses page's ten hits were a tenth of its warm run, which 100 followers of a lecture repeat at
    once (docs/lecture-mode.md); the LRU answers in a microsecond. A miss still goes to Streamlit's
    cache, whose lock per key builds a value once when many sessions ask for it together. Only in front
    of ``cache_resource``, which shares one object with every session anyway (``cache_data`` hands out
    copies). No viewer can clear the caches (``clear_cache_guard``); code that clears Streamlit's calls
    :func:`forget_recent` too.
    """
    front = functools.lru_cache(maxsize=RECENT_ENTRIES, typed=True)(cached)
    _fronts.append(front)

    @functools.wraps(cached)
    def lookup(*args, **kwargs):
        try:
            hash((args, tuple(kwargs.items())))
        except TypeError:  # an unhashable argument (a list): Streamlit's own hashing keys it
            return cached(*args, **kwargs)
        if _has_negative_zero((args, tuple(kwargs.values()))):
            return cached(*args, **kwargs)  # -0.0 == 0.0 for the LRU, but a figure may print "-0"
        return front(*args, **kwargs)

    lookup.clear = lambda: (front.cache_clear(), cached.clear())
    return lookup


def _has_negative_zero(value) -> bool:
    if type(value) is float:
        return value == 0.0 and math.copysign(1.0, value) < 0
    if isinstance(value, tuple):
        return any(_has_negative_zero(item) for item in value)
    return False


def forget_recent() -> None:
    """Empty every :func:`recent_first` LRU (tests clear Streamlit's caches between apps)."""
    for front in _fronts:
        front.cache_clear()


def read_only(*values):
    """Marks the arrays in ``values`` (and in dataclasses among them) read-only and returns ``values``.

    Arrays in ``st.cache_resource`` are shared by every session, not copied for each page load as
    ``st.cache_data`` does (those copies cost memory and CPU per load); read-only, no page can change
    them for the others.
    """
    for value in values:
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        elif dataclasses.is_dataclass(value):
            read_only(*(getattr(value, field.name) for field in dataclasses.fields(value)))
    return values


def stored_run(runs_dir: str, key: str):
    """The checked stored run, or ValueError with a sentence for the page (never the server's paths)."""
    run, broken = usable_run(RunStore(runs_dir), key)
    if run is None:
        raise ValueError(broken or f"Run {key} is no longer in the run store: train it again.")
    return run


def table(records: list[dict]) -> pa.Table:
    """Rows (one dict each, same keys) as the Arrow table ``st.dataframe`` sends, cached on their values:
    building a DataFrame and converting it on every page load was about 5 % of a class's CPU."""
    columns = tuple(records[0]) if records else ()
    return _arrow_table(columns, tuple(tuple(record[c] for c in columns) for record in records))


@shared_resource(max_entries=256, show_spinner=False)
def _arrow_table(columns: tuple[str, ...], rows: tuple[tuple, ...]) -> pa.Table:
    return as_arrow(pd.DataFrame(list(rows), columns=list(columns)))


def as_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


@shared_resource(max_entries=16, show_spinner=False)
def weights_file(runs_dir: str, key: str) -> bytes:
    """A run's final weights as a PyTorch state-dict file, written once per run, not on every page load."""
    weight, bias = stored_run(runs_dir, key).load_weights()
    return export.weights_bytes(weight, bias)
