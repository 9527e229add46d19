"""Fashion-MNIST for every page that needs it: read once per server, and one clear message when it is missing.

The training, inside-the-model and calibration pages share one copy (each page loading its own cost
a copy per page). A failed load is remembered too, so an offline server without the files does not
retry a download on every visit; the page offers "Try again" instead.
"""

from __future__ import annotations

import argparse
import functools
import sys

import streamlit as st

from softmax_core.data import ENV_VAR, DataError, FashionMNIST, load_fashion_mnist, resolve_data_dir


@functools.cache
def data_dir_from_command_line(argv: tuple[str, ...]) -> str | None:
    """``streamlit run streamlit_app.py -- --data-dir D`` hands the script ``--data-dir D``.

    Cached: building the parser on every run was 2 % of the server's CPU in a class profile.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir")
    known, _ = parser.parse_known_args(argv)
    return known.data_dir


def data_dir() -> str:
    """``--data-dir`` after ``--`` on the command line, else ``$SOFTMAX_DATA_DIR``, else the cache folder."""
    return str(resolve_data_dir(_command_line_data_dir()))


def _command_line_data_dir() -> str | None:
    return data_dir_from_command_line(tuple(sys.argv[1:]))


@st.cache_resource(show_spinner="Loading Fashion-MNIST (once per server)…")
def _load(folder: str) -> FashionMNIST | DataError:
    """The dataset, or the error that stopped it (kept, so a missing folder is not retried on every visit)."""
    try:
        return load_fashion_mnist(folder if _command_line_data_dir() else None)
    except DataError as exc:
        return exc


def fashion_mnist() -> FashionMNIST:
    """The dataset; when it cannot be read, say why and how to fix it, offer a retry, and stop the page."""
    loaded = _load(data_dir())
    if isinstance(loaded, FashionMNIST):
        return loaded
    st.error(str(loaded), icon=":material/folder_off:")  # our own sentence: a server path, no user text
    st.markdown(
        "**Two ways to fix it.** Put the four files in the folder named above and press **Try again** "
        "(no restart needed), or start the server on a folder that has them: "
        f"`{ENV_VAR}=/path/to/fashion-mnist streamlit run streamlit_app.py`, or "
        "`streamlit run streamlit_app.py -- --data-dir /path/to/fashion-mnist` "
        "(a new folder needs a restart)."
    )
    if st.button("Try again", icon=":material/refresh:", key="data_try_again"):
        _load.clear()
        st.rerun()
    st.stop()


def loaded(folder: str) -> FashionMNIST:
    """The dataset already read for ``folder`` (for cached helpers keyed on the folder); DataError if it failed."""
    result = _load(folder)
    if isinstance(result, DataError):
        raise result
    return result
