"""The memory an upload costs a real server, read from its /proc, and the server's own size limit.

A real ``streamlit run`` (scripts/local_server.py) with one trained run; each file goes through
the upload endpoint and the inside page's rerun as a browser sends it (tests/upload_client.py).
The server's high-water mark of resident memory (VmHWM) is reset just before, so it tells how
far the server rose while it handled the file. Targets (issue 18): any file, accepted or
refused, at most 100 MB; eight at once at most 300 MB; a body over the limit refused.
``python -m pytest tests/test_upload_memory.py -s -p no:randomly`` prints each figure.
"""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from scripts.local_server import start_streamlit, stop_streamlit
from softmax_core.garment_upload import MAX_BYTES
from softmax_core.run_store import RunStore
from softmax_core.train_or_load import train_or_load
from softmax_core.training import TrainConfig
from tests.async_loop import run_async
from tests.conftest import SHARED_DATA
from tests.upload_client import added_peak, open_inside_page, reset_high_water_mark, settle

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("measures")]  # its figures: no other benchmark beside it

MB = 2**20
ONE_FILE, EIGHT_FILES = 100 * MB, 300 * MB


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noisy(width: int, height: int, block: int = 8) -> Image.Image:
    blocks = np.random.default_rng(0).integers(0, 256, (height // block + 1, width // block + 1, 3), dtype=np.uint8)
    return Image.fromarray(np.kron(blocks, np.ones((block, block, 1), np.uint8))[:height, :width])


def garment_photo(width: int, height: int) -> Image.Image:
    pixels = np.full((height, width, 3), 235, np.uint8)
    pixels[height // 6 : -height // 6, width // 4 : -width // 4] = (40, 30, 90)
    return Image.fromarray(pixels)


def largest_jpeg() -> bytes:
    """A 40-megapixel JPEG just under the 15 MB the page takes: the most bytes a student can send."""
    picture = noisy(7744, 5163, block=2)
    for quality in range(60, 5, -5):
        data = encode(picture, "JPEG", quality=quality)
        if len(data) < MAX_BYTES:
            return data
    raise AssertionError("no quality keeps the test JPEG under the limit")


FILES = {
    # The two: small files that decoded to hundreds of megabytes.
    "webp-16383x2441": (lambda: encode(Image.new("RGB", (16383, 2441), (250, 250, 250)), "WEBP", quality=10), False),
    "rgba-png-6324x6324": (lambda: encode(Image.new("RGBA", (6324, 6324), (250, 250, 250, 255)), "PNG"), False),
    # The largest that are accepted: a WebP at the decoding budget, and the most bytes a JPEG can have.
    "webp-2000x1500": (lambda: encode(garment_photo(2000, 1500), "WEBP", quality=80), True),
    "jpeg-40mp-15mb": (largest_jpeg, True),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, shared_data_dir):
    from softmax_core.data import load_fashion_mnist

    runs = tmp_path_factory.mktemp("upload-runs")
    data = load_fashion_mnist(shared_data_dir, download=False)
    train_or_load(RunStore(runs), TrainConfig(epochs=1, batch_size=4096, seed=3), data)
    proc, url = start_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs)})
    try:
        # Warm up as a lecture would have: the page loaded and one picture classified (imports, caches).
        run_async(_upload_once(url, encode(garment_photo(300, 400), "PNG"), "warm-png"))
        yield proc.pid, url
    finally:
        stop_streamlit(proc)


MIME = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}


def as_file(name: str) -> tuple[str, str]:
    """(file name, MIME type) as a browser sends them: the uploader accepts only its picture types."""
    kind = next(kind for kind in MIME if kind in name)
    return f"{name}.{kind}", MIME[kind]


async def _upload_once(url: str, data: bytes, name: str) -> list[str]:
    session = await open_inside_page(url)
    try:
        return await session.upload(data, *as_file(name))
    finally:
        await session.close()


def verdict(texts: list[str]) -> str:
    if any(t.startswith("The model says") for t in texts):
        return "classified"
    return next((t for t in texts if "refused before decoding" in t), "neither: " + " | ".join(texts[-3:]))


@pytest.mark.parametrize("name", list(FILES))
def test_one_file_adds_at_most_100_mb_to_the_server(server, name):
    pid, url = server
    make, accepted = FILES[name]
    data = make()

    async def measure():
        session = await open_inside_page(url)
        try:
            settle()
            baseline = reset_high_water_mark(pid)
            texts = await session.upload(data, *as_file(name))
            return texts, added_peak(pid, baseline)
        finally:
            await session.close()

    texts, peak = run_async(measure())
    print(f"\n{name} ({len(data) / MB:.2f} MB file, {verdict(texts)[:40]}): server rose {peak / MB:.1f} MB")
    assert peak <= ONE_FILE, f"{name} ({len(data) / MB:.2f} MB file) added {peak / MB:.0f} MB"
    assert verdict(texts) == "classified" if accepted else "refused before decoding" in verdict(texts)


@pytest.mark.parametrize("name", ["webp-16383x2441", "webp-2000x1500"])
def test_eight_files_at_once_add_at_most_300_mb(server, name):
    pid, url = server
    make, accepted = FILES[name]
    data = make()

    async def measure():
        sessions = await asyncio.gather(*(open_inside_page(url) for _ in range(8)))
        try:
            settle()
            baseline = reset_high_water_mark(pid)
            shown = await asyncio.gather(*(s.upload(data, *as_file(name)) for s in sessions))
            return shown, added_peak(pid, baseline)
        finally:
            await asyncio.gather(*(s.close() for s in sessions))

    shown, peak = run_async(measure())
    print(f"\neight {name} at once: server rose {peak / MB:.1f} MB")
    assert peak <= EIGHT_FILES, f"eight {name} at once added {peak / MB:.0f} MB"
    expected = "classified" if accepted else "refused before decoding"
    assert all(expected in verdict(texts) for texts in shown), [verdict(t) for t in shown]


def test_the_server_refuses_a_body_over_the_upload_limit(server):
    """The 15 MB limit holds on the server, not only in the browser's uploader."""
    _, url = server

    async def put_both():
        session = await open_inside_page(url)
        try:
            over = await asyncio.to_thread(session.put, b"\0" * (MAX_BYTES + MB), "big.png", "image/png")
            under = await asyncio.to_thread(session.put, b"\0" * (MAX_BYTES - MB), "ok.png", "image/png")
            return over, under
        finally:
            await session.close()

    over, under = run_async(put_both())
    assert over in (413, 0), over  # refused (0: the server closed the connection on the body)
    assert under == 204
