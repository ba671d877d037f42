"""A download helper that is safe to use in a classroom.

- Every file has a known SHA-256; a file whose hash differs is never used.
- A cached file with the right hash is reused without touching the network.
- No network, or a slow one, gives a clear :class:`OfflineError` after ``timeout``
  seconds, telling the student which offline data set to use instead.
- Files are written to a temporary name and renamed only once verified, so an
  interrupted download never leaves a half file in the cache.
- Nothing downloaded is ever unpickled: loaders read raw formats only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from labs.data.cache import cache_dir


class OfflineError(ConnectionError):
    """The network could not be reached, and the file is not cached."""


class ChecksumError(ValueError):
    """A file's SHA-256 is not the expected one."""


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(sha256: str) -> str:
    value = sha256.lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"sha256 must be 64 hex digits; got {sha256!r}")
    return value


def download(
    url: str,
    sha256: str,
    filename: str | None = None,
    *,
    directory: str | os.PathLike | None = None,
    timeout: float = 30.0,
) -> Path:
    """Return the local path of ``url``'s file, downloading it only if needed.

    Parameters
    ----------
    url: where the file lives (``http(s)://`` or ``file://``).
    sha256: its expected SHA-256, 64 hex digits.
    filename: the name in the cache (default: the last part of the URL).
    directory: where to cache it (default: :func:`labs.data.cache.cache_dir`).
    timeout: seconds to wait for the server before giving up.
    """
    expected = _check_sha256(sha256)
    name = filename or url.rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise ValueError(f"cannot derive a file name from url {url!r}; pass filename=")
    folder = Path(directory) if directory is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name

    if target.exists():
        if sha256_of(target) == expected:
            return target
        target.unlink()  # stale or corrupt: fetch again

    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                raise OfflineError(
                    f"could not download {url} within {timeout:g} s ({exc}). "
                    "You seem to be offline: the course's default data sets "
                    "(load_digits, load_mnist1d, the text corpus) work without a network."
                ) from exc
        actual = sha256_of(tmp_name)
        if actual != expected:
            raise ChecksumError(
                f"{url} has SHA-256 {actual}, expected {expected}: the file changed "
                "on the server or the download was corrupted; it was not kept."
            )
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target
