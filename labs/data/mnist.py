"""MNIST from its original IDX files, parsed with NumPy (optional: needs a network once).

The offline chapters use :func:`labs.data.load_digits` or :func:`labs.data.load_mnist1d`;
this loader is for Colab or any machine with a network, where the full 70,000
handwritten digits make the 2-D CNN of Chapter 5 larger.

The IDX format (LeCun et al.) is four bytes of magic number, then the size of
every dimension, then the raw values:

    byte 0-1: 0x00 0x00
    byte 2:   type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
              0x0C int32, 0x0D float32, 0x0E float64), all big-endian
    byte 3:   number of dimensions d
    then d big-endian uint32 sizes, then the data in C order.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from labs.data.download import OfflineError, download

# The SHA-256 values below are not published by the data set's authors (the original
# page lists no checksums). They are the digests that several independent open-source
# projects pin for these exact files (among them a Ruby port of torchvision, guild.ai's
# MNIST package and a Haskell MNIST loader), which all agree; they were cross-checked
# between those sources, not computed here, because the machine this loader was
# written on has no network. A mismatch raises ChecksumError and keeps nothing.
FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
# yann.lecun.com often refuses downloads now; these mirrors serve the same bytes.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(raw: bytes) -> np.ndarray:
    """Decode the bytes of one IDX file (gzip-compressed or not) into an array."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"not an IDX file: it should start with two zero bytes, got {raw[:4]!r}"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"unknown IDX type code 0x{code:02X}; expected one of {[hex(c) for c in _IDX_TYPES]}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX header says {ndim} dimensions but the file has only {len(raw)} bytes")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"IDX header promises shape {shape} of {dtype} ({expected} bytes of data) "
            f"but the file holds {len(raw) - header}: the file is truncated or corrupt"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, a writable copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) from disk."""
    return parse_idx(Path(path).read_bytes())


def images_and_labels(images: np.ndarray, labels: np.ndarray, *, flatten: bool, scale: bool):
    """Turn IDX arrays (N, 28, 28) uint8 and (N,) into the course's float32/int64 layout."""
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"expected images of shape (N, H, W) and labels of shape (N,); got {images.shape} and {labels.shape}"
        )
    x = images.astype(np.float32)
    if scale:
        x /= 255.0
    x = x.reshape(len(x), -1) if flatten else x[:, None, :, :]
    return x, labels.astype(np.int64)


def load_mnist_files(train_images, train_labels, test_images, test_labels, *, flatten=False, scale=True):
    """Parse four local IDX files into ``(x_train, y_train, x_test, y_test)``."""
    x_train, y_train = images_and_labels(read_idx(train_images), read_idx(train_labels), flatten=flatten, scale=scale)
    x_test, y_test = images_and_labels(read_idx(test_images), read_idx(test_labels), flatten=flatten, scale=scale)
    return x_train, y_train, x_test, y_test


def load_mnist(*, flatten: bool = False, scale: bool = True, directory=None, timeout: float = 30.0):
    """Download (once, SHA-256 verified) and parse MNIST: 60,000 train and 10,000 test digits.

    Returns ``(x_train, y_train, x_test, y_test)``: x float32 in [0, 1] (``scale``)
    of shape (N, 1, 28, 28), or (N, 784) with ``flatten=True``; y int64.
    Raises :class:`labs.data.OfflineError` without a network (and no cached files).
    """
    paths = {}
    for key, (name, sha256) in FILES.items():
        errors = []
        for mirror in MIRRORS:
            try:
                paths[key] = download(mirror + name, sha256, directory=directory, timeout=timeout)
                break
            except OfflineError as exc:
                errors.append(str(exc))
        else:
            raise OfflineError(
                f"could not fetch {name} from any mirror ({'; '.join(errors)}). Offline, use "
                "labs.data.load_digits() (8x8 digits) or labs.data.load_mnist1d() instead."
            )
    return load_mnist_files(
        paths["train_images"], paths["train_labels"], paths["test_images"], paths["test_labels"],
        flatten=flatten, scale=scale,
    )
