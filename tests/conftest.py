"""Shared fixtures: clean Streamlit caches between AppTests, the shared dataset folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SOFTMAX_TEST_DATA_DIR", ROOT.parent / "shared" / "data" / "fashion-mnist"))


@pytest.fixture
def clear_streamlit_caches():
    """Caches outlive AppTest instances in one process; start each app test cold."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def shared_data_dir() -> Path:
    if not (SHARED_DATA / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"Fashion-MNIST not found at {SHARED_DATA}: put ../shared beside the repository")
    return SHARED_DATA
