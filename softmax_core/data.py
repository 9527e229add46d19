"""Fashion-MNIST in memory: four IDX files -> four uint8/int64 tensors.

The whole dataset is 47 MB as uint8, so it lives in memory as one tensor per
split; batches are slices of it (no Dataset, no DataLoader, no PIL). Files are
read from, in order: an explicit folder, ``$SOFTMAX_DATA_DIR``, or a cache
folder that torchvision's downloader fills when a network exists.

IDX format (big-endian): magic ``2051`` then count, rows, cols, then pixels
for images; magic ``2049`` then count, then one byte per label.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from softmax_core.cache_dirs import user_cache_dir
from softmax_core.classes import FASHION_MNIST_CLASSES

CLASS_NAMES = FASHION_MNIST_CLASSES

ENV_VAR = "SOFTMAX_DATA_DIR"
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SIDE = 28
SPLITS = {"train": ("train", 60_000), "test": ("t10k", 10_000)}  # split -> (file prefix, count)
FILE_NAMES = tuple(
    f"{prefix}-{kind}-idx{dims}-ubyte" for prefix, _ in SPLITS.values() for kind, dims in (("images", 3), ("labels", 1))
)


class DataError(ValueError):
    """The data folder or one of its files is unusable; the message says which and how to fix it."""


@dataclass(frozen=True, eq=False)
class FashionMNIST:
    train_images: torch.Tensor  # (60000, 28, 28) uint8
    train_labels: torch.Tensor  # (60000,) int64
    test_images: torch.Tensor  # (10000, 28, 28) uint8
    test_labels: torch.Tensor  # (10000,) int64
    fingerprint: str  # digest of the four arrays' contents: same data, same fingerprint
    source: Path  # the folder the files were read from
    class_names: tuple[str, ...] = CLASS_NAMES


def default_data_dir() -> Path:
    """The per-user cache folder, e.g. ``~/.cache/softmax-dashboard/fashion-mnist``."""
    return user_cache_dir("fashion-mnist")


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The explicit folder, else ``$SOFTMAX_DATA_DIR``, else :func:`default_data_dir`."""
    if data_dir is not None and str(data_dir).strip():
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR, "").strip():
        return Path(os.environ[ENV_VAR]).expanduser()
    return default_data_dir()


def _torchvision_raw(folder: Path) -> Path:
    """Where torchvision keeps the files under a root: ``<root>/FashionMNIST/raw``."""
    return folder / "FashionMNIST" / "raw"


def find_file(folder: Path, name: str) -> Path | None:
    """``name`` or ``name.gz`` in the folder itself or in torchvision's layout under it."""
    for where in (folder, _torchvision_raw(folder)):
        for candidate in (where / name, where / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _missing_files(folder: Path) -> list[str]:
    return [name for name in FILE_NAMES if find_file(folder, name) is None]


def _download(folder: Path) -> None:
    """Let torchvision fetch and unpack the four files into ``<folder>/FashionMNIST/raw``."""
    from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

    if folder.exists() and not folder.is_dir():
        return  # a file in the way: load_fashion_mnist says so
    try:
        folder.mkdir(parents=True, exist_ok=True)
        TorchvisionFashionMNIST(root=str(folder), train=True, download=True)
    except Exception as exc:  # no network, a proxy, a full disk: all end the same way for the user
        raise DataError(
            f"Could not download Fashion-MNIST into {folder}: {exc}. Put the four files "
            f"({', '.join(n + '.gz' for n in FILE_NAMES)}) in a folder and set {ENV_VAR} to it."
        ) from exc


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            return gzip.decompress(raw)
        return raw
    except EOFError as exc:
        raise DataError(f"{path} is truncated (the gzip stream ends early): download it again.") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path} is not a valid gzip file ({exc}): download it again.") from exc
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc}.") from exc


def read_idx(path: str | Path, magic: int, count: int | None = None) -> np.ndarray:
    """One IDX file as a numpy array, its header and size checked against ``magic``/``count``.

    Images come back as (n, 28, 28) uint8, labels as (n,) uint8; the array
    views the decompressed bytes (``np.frombuffer``), so nothing is copied per image.
    """
    path = Path(path)
    data = _read_bytes(path)
    fix = "download it again"
    header_len = 16 if magic == IMAGE_MAGIC else 8
    if len(data) < header_len:
        raise DataError(f"{path} is only {len(data)} bytes, too short for an IDX header: {fix}.")
    header = np.frombuffer(data, dtype=">u4", count=header_len // 4)
    if int(header[0]) != magic:
        what = "images" if magic == IMAGE_MAGIC else "labels"
        raise DataError(
            f"{path} does not look like an IDX {what} file (magic number {int(header[0])}, "
            f"expected {magic}): check the file name and {fix}."
        )
    n = int(header[1])
    if count is not None and n != count:
        raise DataError(f"{path} holds {n} items but Fashion-MNIST has {count} here: {fix}.")
    shape: tuple[int, ...] = (n,)
    if magic == IMAGE_MAGIC:
        rows, cols = int(header[2]), int(header[3])
        if (rows, cols) != (SIDE, SIDE):
            raise DataError(f"{path} holds {rows}x{cols} images, expected {SIDE}x{SIDE}: {fix}.")
        shape = (n, SIDE, SIDE)
    expected = header_len + int(np.prod(shape))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(f"{path} is {state} ({len(data)} bytes, expected {expected}): {fix}.")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


def _read_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    prefix, count = SPLITS[split]
    images_path = find_file(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = find_file(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, IMAGE_MAGIC)
    labels = read_idx(labels_path, LABEL_MAGIC)
    if len(labels) != len(images):
        raise DataError(
            f"{labels_path} has {len(labels)} labels but {images_path} has {len(images)} images: "
            "the two files must come from the same download; download both again."
        )
    for path, n in ((images_path, len(images)), (labels_path, len(labels))):
        if n != count:
            raise DataError(f"{path} holds {n} items but Fashion-MNIST {split} has {count}: download it again.")
    if labels.max(initial=0) >= len(CLASS_NAMES):
        raise DataError(f"{labels_path} has label {int(labels.max())}, but the classes are 0-9: download it again.")
    # frombuffer arrays are read-only; one copy each gives tensors torch may own.
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def fingerprint_of(*arrays: torch.Tensor) -> str:
    """A short digest of the arrays' bytes and shapes: changes iff the data changes."""
    digest = hashlib.blake2b(digest_size=8)
    for array in arrays:
        digest.update(repr((tuple(array.shape), str(array.dtype))).encode())
        digest.update(array.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _describe_missing(folder: Path, listed: str) -> str:
    if folder.is_dir():
        return f"{folder} lacks {listed}"
    if folder.exists() or folder.is_symlink():
        what = "a broken link" if not folder.exists() else "a file"
        return f"{folder} is {what}, not a folder"
    return f"the folder {folder} does not exist"


def load_fashion_mnist(data_dir: str | Path | None = None, *, download: bool = True) -> FashionMNIST:
    """Read (and if needed download) the four files and check every header and size.

    Only the default cache folder is ever downloaded into: a folder you named
    (argument or ``$SOFTMAX_DATA_DIR``) that lacks files is an error, not a
    reason to write into it.
    """
    explicit = (data_dir is not None and str(data_dir).strip()) or os.environ.get(ENV_VAR, "").strip()
    folder = resolve_data_dir(data_dir)
    missing = _missing_files(folder) if folder.is_dir() else list(FILE_NAMES)
    if missing and download and not explicit:
        _download(folder)
        missing = _missing_files(folder)
    if missing:
        listed = ", ".join(f"{name}.gz" for name in missing)
        where = _describe_missing(folder, listed)
        raise DataError(
            f"Fashion-MNIST not found: {where}. Put the four IDX files (gzip or not) there, "
            f"or point {ENV_VAR} (or --data-dir) at a folder that has them."
        )
    train_images, train_labels = _read_split(folder, "train")
    test_images, test_labels = _read_split(folder, "test")
    return FashionMNIST(
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        fingerprint=fingerprint_of(train_images, train_labels, test_images, test_labels),
        source=folder,
    )
