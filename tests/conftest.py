"""Shared fixtures: clean Streamlit caches between AppTests, the shared dataset folder, an AppTest's settings."""

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


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    if not (SHARED_DATA / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"Fashion-MNIST not found at {SHARED_DATA}: put ../shared beside the repository")
    return SHARED_DATA


@pytest.fixture
def env(monkeypatch, tmp_path, shared_data_dir, clear_streamlit_caches) -> Path:
    """An AppTest's server settings: the shared Fashion-MNIST and a fresh run store (returned), caches cold."""
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("SOFTMAX_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture
def missing_data(monkeypatch, tmp_path, clear_streamlit_caches) -> Path:
    """The data folder names an empty directory (returned): the pages must say where the files should be."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(empty))
    monkeypatch.setenv("SOFTMAX_RUNS_DIR", str(tmp_path / "runs"))
    return empty


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """One `streamlit run` for the whole test session, on a free localhost port."""
    from scripts.local_server import start_streamlit, stop_streamlit

    runs_dir = tmp_path_factory.mktemp("browser-runs")
    proc, url = start_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs_dir)})
    yield url
    stop_streamlit(proc)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    from scripts.chromium import launch_chromium

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="session")
def fmnist(shared_data_dir):
    """The real Fashion-MNIST from the shared folder, loaded once for the whole test run."""
    from softmax_core.data import load_fashion_mnist

    return load_fashion_mnist(shared_data_dir, download=False)
