"""The memory an accepted upload takes, measured in a fresh Python process (its resident high-water mark)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from softmax_core import garment_upload
from tests.conftest import ROOT
from tests.factories import encoded

pytestmark = pytest.mark.process


MEASURE = """
import sys
from softmax_core.garment_upload import Image, UploadError, decode_bytes, prepare, _open
data = open(sys.argv[1], "rb").read()
def status(key):
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))
estimate = decode_bytes(_open(data))
open("/proc/self/clear_refs", "w").write("5")  # the high-water mark starts again from the present RSS
before = status("VmRSS:")
prepare(data)
print(estimate, status("VmHWM:") - before)
"""


def noisy(width: int, height: int, bands: int) -> np.ndarray:
    """Blocky noise: real content for the encoders (a flat picture compresses to nothing)."""
    blocks = np.random.default_rng(0).integers(0, 256, (height // 8 + 1, width // 8 + 1, bands), dtype=np.uint8)
    return np.kron(blocks, np.ones((8, 8, 1), np.uint8))[:height, :width]


@pytest.mark.parametrize(
    "fmt, mode, size, options",
    [
        ("WEBP", "RGB", (2000, 1500), {"quality": 50}),
        ("PNG", "RGBA", (2500, 2300), {}),
        ("PNG", "RGB", (3840, 3000), {}),
        ("PNG", "P", (3200, 2900), {}),
        ("JPEG", "RGB", (3000, 2600), {"progressive": True, "subsampling": 0, "quality": 80}),
        ("JPEG", "RGB", (7744, 5163), {"quality": 80}),
    ],
    ids=["webp", "png-rgba", "png-rgb", "png-palette", "jpeg-progressive-444", "jpeg-40mp"],
)
def test_the_memory_an_accepted_file_takes_is_what_was_estimated_and_within_the_budget(
    fmt, mode, size, options, tmp_path
):
    """Measured in a fresh process: the high-water mark of its resident memory (VmHWM) while it prepares the file."""
    bands = {"RGB": 3, "RGBA": 4, "P": 3}[mode]
    image = Image.fromarray(noisy(*size, bands), "RGBA" if mode == "RGBA" else "RGB")
    image = image.quantize(256) if mode == "P" else image
    path = tmp_path / f"picture.{fmt.lower()}"
    path.write_bytes(encoded(image, fmt, **options))
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    estimate, peak = map(int, out.split())
    assert estimate <= garment_upload.DECODE_BUDGET
    assert peak <= 1.1 * estimate, (peak / 2**20, estimate / 2**20)  # the estimate is not optimistic
    assert peak <= garment_upload.DECODE_BUDGET
