"""MNIST (IDX) and CIFAR-10 (binary) parsers, on small files written here in those formats."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile

import numpy as np
import pytest

from labs.data import cifar10, mnist, sha256_of
from labs.data.download import ChecksumError


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """Write ``array`` as an IDX file, the format's way: magic, big-endian sizes, big-endian data."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


@pytest.mark.parametrize("code", [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E])
def test_idx_round_trip_every_type(code):
    rng = np.random.default_rng(code)
    array = rng.integers(-100 if code != 0x08 else 0, 100, size=(3, 4, 5)).astype(np.float64)
    if code in (0x0D, 0x0E):
        array = array / 7
    got = mnist.parse_idx(idx_bytes(array, code))
    assert got.shape == (3, 4, 5) and got.dtype.isnative
    np.testing.assert_allclose(got, array, rtol=1e-6)
    np.testing.assert_allclose(mnist.parse_idx(gzip.compress(idx_bytes(array, code))), array, rtol=1e-6)


def test_idx_rejects_bad_files():
    good = idx_bytes(np.zeros((2, 3)), 0x08)
    with pytest.raises(ValueError, match="two zero bytes"):
        mnist.parse_idx(b"\x01" + good[1:])
    with pytest.raises(ValueError, match="truncated"):
        mnist.parse_idx(good[:-1])
    with pytest.raises(ValueError, match="type code"):
        mnist.parse_idx(bytes([0, 0, 0x07, 1, 0, 0, 0, 0]))


def _write_mnist(folder, n_train=12, n_test=5):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28)),
        "train_labels": rng.integers(0, 10, size=n_train),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28)),
        "test_labels": rng.integers(0, 10, size=n_test),
    }
    hashes = {}
    for key, (name, _) in mnist.FILES.items():
        path = folder / name
        path.write_bytes(gzip.compress(idx_bytes(arrays[key], 0x08)))
        hashes[key] = (name, sha256_of(path))
    return arrays, hashes


def test_load_mnist_through_the_verified_download(tmp_path, monkeypatch):
    server, cache = tmp_path / "server", tmp_path / "cache"
    server.mkdir()
    arrays, hashes = _write_mnist(server)
    monkeypatch.setattr(mnist, "FILES", hashes)
    # the first mirror is down; the loader must fall back to the second
    monkeypatch.setattr(mnist, "MIRRORS", ((tmp_path / "missing").as_uri() + "/", server.as_uri() + "/"))
    x_train, y_train, x_test, y_test = mnist.load_mnist(directory=cache)
    assert x_train.shape == (12, 1, 28, 28) and x_train.dtype == np.float32
    assert y_train.dtype == np.int64 and x_test.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(x_train[:, 0] * 255, arrays["train_images"], atol=1e-4)
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    flat = mnist.load_mnist(directory=cache, flatten=True, scale=False)[0]
    assert flat.shape == (12, 784) and flat.max() > 1


def test_load_mnist_refuses_a_file_with_the_wrong_hash(tmp_path, monkeypatch):
    server = tmp_path / "server"
    server.mkdir()
    _, hashes = _write_mnist(server)
    hashes["train_labels"] = (hashes["train_labels"][0], "0" * 64)
    monkeypatch.setattr(mnist, "FILES", hashes)
    monkeypatch.setattr(mnist, "MIRRORS", (server.as_uri() + "/",))
    with pytest.raises(ChecksumError):
        mnist.load_mnist(directory=tmp_path / "cache")


def _cifar_batch(rng, n):
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 256, size=(n, 3, 32, 32)).astype(np.uint8)
    raw = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1).tobytes()
    return images, labels, raw


def _write_cifar(path, n=4):
    rng = np.random.default_rng(1)
    batches = {}
    with tarfile.open(path, "w:gz") as archive:
        for name in cifar10.TRAIN_BATCHES + (cifar10.TEST_BATCH,):
            images, labels, raw = _cifar_batch(rng, n)
            batches[name] = (images, labels)
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
        meta = "\n".join(cifar10.CLASSES).encode() + b"\n\n"
        info = tarfile.TarInfo(f"{cifar10.FOLDER}/batches.meta.txt")
        info.size = len(meta)
        archive.addfile(info, io.BytesIO(meta))
    return batches


def test_cifar10_record_layout():
    rng = np.random.default_rng(2)
    images, labels, raw = _cifar_batch(rng, 3)
    got_images, got_labels = cifar10.parse_batch(raw)
    np.testing.assert_array_equal(got_images, images)  # (N, 3, 32, 32): red plane first
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images[1, 2, 31, 0] == raw[1 * cifar10.RECORD + 1 + 2 * 1024 + 31 * 32]
    with pytest.raises(ValueError, match="3073-byte records"):
        cifar10.parse_batch(raw[:-5])


def test_cifar10_archive_and_cache(tmp_path, monkeypatch):
    archive = tmp_path / "server" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    batches = _write_cifar(archive)
    x_train, y_train, x_test, y_test, classes = cifar10.read_archive(archive)
    assert classes == cifar10.CLASSES
    assert x_train.shape == (20, 3, 32, 32) and y_test.shape == (4,)
    np.testing.assert_array_equal(x_train[4:8], batches["data_batch_2.bin"][0])
    np.testing.assert_array_equal(y_test, batches["test_batch.bin"][1])

    monkeypatch.setattr(cifar10, "URL", archive.as_uri())
    monkeypatch.setattr(cifar10, "SHA256", sha256_of(archive))
    cache = tmp_path / "cache"
    xf, yf, xt, yt = cifar10.load_cifar10(directory=cache)
    assert xf.dtype == np.float32 and 0 <= xf.min() and xf.max() <= 1
    np.testing.assert_allclose(xf * 255, x_train, atol=1e-3)
    assert (cache / cifar10.CACHE_NAME).exists()
    archive.unlink()  # the parsed cache is enough from now on
    (cache / "cifar-10-binary.tar.gz").unlink()
    again = cifar10.load_cifar10(directory=cache, scale=False)
    np.testing.assert_array_equal(again[0], x_train.astype(np.float32))


def test_cifar10_rejects_the_pickled_version(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        data = b"\x80\x04not a batch"
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(ValueError, match="cifar-10-binary"):
        cifar10.read_archive(path)
