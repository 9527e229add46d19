"""Fashion-MNIST loading: values checked against torchvision's own IDX reader and the data README."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import pytest
import torch

from softmax_core.data import (
    CLASS_NAMES,
    FILE_NAMES,
    DataError,
    default_data_dir,
    load_fashion_mnist,
    read_idx,
    resolve_data_dir,
)

pytestmark = pytest.mark.unit


def link_all(src: Path, dst: Path, skip: str | None = None) -> Path:
    """A folder of symlinks to the shared files, except ``skip`` (to be replaced by a broken one)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in FILE_NAMES:
        if name != skip:
            (dst / f"{name}.gz").symlink_to(src / f"{name}.gz")
    return dst


def raw_bytes(src: Path, name: str) -> bytes:
    return gzip.decompress((src / f"{name}.gz").read_bytes())


# --- the real data ---------------------------------------------------------------------------


def test_shapes_dtypes_and_class_balance(fmnist):
    assert fmnist.train_images.shape == (60_000, 28, 28) and fmnist.train_images.dtype == torch.uint8
    assert fmnist.test_images.shape == (10_000, 28, 28) and fmnist.test_images.dtype == torch.uint8
    assert fmnist.train_labels.shape == (60_000,) and fmnist.train_labels.dtype == torch.int64
    assert fmnist.test_labels.shape == (10_000,) and fmnist.test_labels.dtype == torch.int64
    assert fmnist.train_labels.bincount().tolist() == [6000] * 10
    assert fmnist.test_labels.bincount().tolist() == [1000] * 10
    assert fmnist.class_names == CLASS_NAMES and len(CLASS_NAMES) == 10
    assert CLASS_NAMES[0] == "T-shirt/top" and CLASS_NAMES[9] == "Ankle boot"


def test_pixel_statistics_match_the_data_readme(fmnist):
    train = fmnist.train_images.double() / 255
    test = fmnist.test_images.double() / 255
    assert train.mean().item() == pytest.approx(0.2865, abs=5e-5)
    assert train.std().item() == pytest.approx(0.3532, abs=5e-5)
    assert test.mean().item() == pytest.approx(0.2843, abs=5e-5)
    assert test.std().item() == pytest.approx(0.3516, abs=5e-5)


def test_values_equal_torchvisions_reader_on_uncompressed_files(fmnist, shared_data_dir, tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    for name in FILE_NAMES:
        (tmp_path / name).write_bytes(raw_bytes(shared_data_dir, name))
    assert torch.equal(read_image_file(str(tmp_path / "train-images-idx3-ubyte")), fmnist.train_images)
    assert torch.equal(read_label_file(str(tmp_path / "train-labels-idx1-ubyte")), fmnist.train_labels)
    assert torch.equal(read_image_file(str(tmp_path / "t10k-images-idx3-ubyte")), fmnist.test_images)
    assert torch.equal(read_label_file(str(tmp_path / "t10k-labels-idx1-ubyte")), fmnist.test_labels)
    # Our loader reads the uncompressed files too, to the same data and fingerprint.
    plain = load_fashion_mnist(tmp_path, download=False)
    assert plain.fingerprint == fmnist.fingerprint and plain.source == tmp_path
    assert torch.equal(plain.train_images, fmnist.train_images)


def test_fingerprint_follows_content_not_path(fmnist, shared_data_dir, tmp_path):
    assert len(fmnist.fingerprint) == 16 and int(fmnist.fingerprint, 16) >= 0
    moved = load_fashion_mnist(link_all(shared_data_dir, tmp_path / "elsewhere"), download=False)
    assert moved.fingerprint == fmnist.fingerprint
    # One label changed -> another fingerprint.
    changed = tmp_path / "changed"
    link_all(shared_data_dir, changed, skip="t10k-labels-idx1-ubyte")
    labels = bytearray(raw_bytes(shared_data_dir, "t10k-labels-idx1-ubyte"))
    labels[8] = (labels[8] + 1) % 10
    (changed / "t10k-labels-idx1-ubyte").write_bytes(bytes(labels))
    assert load_fashion_mnist(changed, download=False).fingerprint != fmnist.fingerprint


def test_reads_torchvisions_folder_layout(fmnist, shared_data_dir, tmp_path):
    link_all(shared_data_dir, tmp_path / "FashionMNIST" / "raw")
    assert load_fashion_mnist(tmp_path, download=False).fingerprint == fmnist.fingerprint


# --- where the data comes from ----------------------------------------------------------------


def test_resolve_order_explicit_then_env_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SOFTMAX_DATA_DIR", raising=False)
    assert default_data_dir() == tmp_path / "cache" / "softmax-dashboard" / "fashion-mnist"
    assert resolve_data_dir() == default_data_dir()
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


class FakeTorchvisionFashionMNIST:
    """Stands in for torchvision's class: records the call, 'downloads' by copying the shared files."""

    calls: list[dict] = []
    source: Path | None = None
    fail: bool = False

    def __init__(self, root, train=True, download=False, **kwargs):
        type(self).calls.append({"root": Path(root), "train": train, "download": download})
        if type(self).fail:
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")
        raw = Path(root) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for name in FILE_NAMES:
            shutil.copy(type(self).source / f"{name}.gz", raw / f"{name}.gz")


@pytest.fixture
def fake_torchvision(monkeypatch, tmp_path, shared_data_dir):
    import torchvision.datasets

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SOFTMAX_DATA_DIR", raising=False)
    monkeypatch.setattr(FakeTorchvisionFashionMNIST, "calls", [])
    monkeypatch.setattr(FakeTorchvisionFashionMNIST, "source", shared_data_dir)
    monkeypatch.setattr(FakeTorchvisionFashionMNIST, "fail", False)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeTorchvisionFashionMNIST)
    return FakeTorchvisionFashionMNIST


def test_missing_default_folder_downloads_with_torchvision(fake_torchvision, fmnist):
    loaded = load_fashion_mnist()
    assert fake_torchvision.calls == [{"root": default_data_dir(), "train": True, "download": True}]
    assert loaded.source == default_data_dir()
    assert loaded.fingerprint == fmnist.fingerprint
    # Second load finds the files and does not download again.
    load_fashion_mnist()
    assert len(fake_torchvision.calls) == 1


def test_no_download_when_disabled_or_folder_was_named(fake_torchvision, monkeypatch, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_fashion_mnist(download=False)
    with pytest.raises(DataError, match="does not exist"):
        load_fashion_mnist(tmp_path / "named")
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(tmp_path / "from-env"))
    with pytest.raises(DataError, match="SOFTMAX_DATA_DIR"):
        load_fashion_mnist()
    assert fake_torchvision.calls == []


def test_failed_download_is_a_clear_data_error(fake_torchvision):
    fake_torchvision.fail = True
    with pytest.raises(DataError, match="Could not download.*no network.*SOFTMAX_DATA_DIR"):
        load_fashion_mnist()


# --- broken folders and files -------------------------------------------------------------------


def test_missing_file_is_named(shared_data_dir, tmp_path):
    folder = link_all(shared_data_dir, tmp_path, skip="t10k-labels-idx1-ubyte")
    with pytest.raises(DataError, match=r"lacks t10k-labels-idx1-ubyte\.gz.*SOFTMAX_DATA_DIR") as err:
        load_fashion_mnist(folder, download=False)
    assert str(folder) in str(err.value)


def break_one(shared_data_dir, tmp_path, name: str, content: bytes, gz: bool = True) -> Path:
    folder = link_all(shared_data_dir, tmp_path / "broken", skip=name)
    (folder / (f"{name}.gz" if gz else name)).write_bytes(content)
    return folder


def test_truncated_gzip(shared_data_dir, tmp_path):
    cut = (shared_data_dir / "t10k-images-idx3-ubyte.gz").read_bytes()[:100_000]
    folder = break_one(shared_data_dir, tmp_path, "t10k-images-idx3-ubyte", cut)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is truncated.*download it again"):
        load_fashion_mnist(folder, download=False)


def test_not_gzip(shared_data_dir, tmp_path):
    folder = break_one(shared_data_dir, tmp_path, "train-labels-idx1-ubyte", b"<html>404 not found</html>")
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz is not a valid gzip file"):
        load_fashion_mnist(folder, download=False)


def test_wrong_magic_number(shared_data_dir, tmp_path):
    # A labels file saved under an images name.
    content = (shared_data_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    folder = break_one(shared_data_dir, tmp_path, "t10k-images-idx3-ubyte", content)
    message = r"t10k-images-idx3-ubyte\.gz does not look like an IDX images file.*2049.*2051"
    with pytest.raises(DataError, match=message):
        load_fashion_mnist(folder, download=False)


def test_truncated_uncompressed_file(shared_data_dir, tmp_path):
    content = raw_bytes(shared_data_dir, "t10k-images-idx3-ubyte")[:-784]
    folder = break_one(shared_data_dir, tmp_path, "t10k-images-idx3-ubyte", content, gz=False)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte is truncated \(7839232 bytes, expected 7840016\)"):
        load_fashion_mnist(folder, download=False)


def test_extra_bytes(shared_data_dir, tmp_path):
    content = raw_bytes(shared_data_dir, "t10k-labels-idx1-ubyte") + b"\x00"
    folder = break_one(shared_data_dir, tmp_path, "t10k-labels-idx1-ubyte", gzip.compress(content))
    with pytest.raises(DataError, match="longer than its header says"):
        load_fashion_mnist(folder, download=False)


def test_label_count_differs_from_image_count(shared_data_dir, tmp_path):
    labels = raw_bytes(shared_data_dir, "t10k-labels-idx1-ubyte")
    short = struct.pack(">II", 2049, 9_999) + labels[8:-1]  # consistent header, one label short
    folder = break_one(shared_data_dir, tmp_path, "t10k-labels-idx1-ubyte", gzip.compress(short))
    with pytest.raises(DataError, match=r"9999 labels but .*t10k-images-idx3-ubyte\.gz has 10000 images"):
        load_fashion_mnist(folder, download=False)


def test_wrong_image_size_and_count(tmp_path):
    small = tmp_path / "small-images"
    small.write_bytes(struct.pack(">IIII", 2051, 2, 32, 32) + bytes(2 * 32 * 32))
    with pytest.raises(DataError, match="32x32 images, expected 28x28"):
        read_idx(small, 2051)
    ok = tmp_path / "two-images"
    ok.write_bytes(struct.pack(">IIII", 2051, 2, 28, 28) + bytes(range(256)) * 6 + bytes(32))
    images = read_idx(ok, 2051)
    assert images.shape == (2, 28, 28) and images.reshape(-1)[:256].tolist() == list(range(256))
    with pytest.raises(DataError, match="holds 2 items but Fashion-MNIST has 10000"):
        read_idx(ok, 2051, count=10_000)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="too short for an IDX header"):
        read_idx(tiny, 2049)


def test_label_out_of_range(shared_data_dir, tmp_path):
    labels = bytearray(raw_bytes(shared_data_dir, "t10k-labels-idx1-ubyte"))
    labels[100] = 12
    folder = break_one(shared_data_dir, tmp_path, "t10k-labels-idx1-ubyte", gzip.compress(bytes(labels)))
    with pytest.raises(DataError, match="label 12, but the classes are 0-9"):
        load_fashion_mnist(folder, download=False)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


def test_a_data_folder_that_is_a_file_is_called_a_file(tmp_path, monkeypatch):
    a_file = tmp_path / "fashion-mnist"
    a_file.write_text("not a folder")
    with pytest.raises(DataError, match="is a file, not a folder") as error:
        load_fashion_mnist(a_file)
    assert "does not exist" not in str(error.value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the default folder, where it would download
    monkeypatch.delenv("SOFTMAX_DATA_DIR", raising=False)
    (tmp_path / "cache" / "softmax-dashboard").mkdir(parents=True)
    default_data_dir().write_text("a file in the way")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_fashion_mnist()
