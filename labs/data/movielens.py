"""MovieLens-100k (Harper and Konstan 2015), optional: it needs a download, so no default path uses it.

    users, items, ratings = load_movielens_100k()      # 100,000 ratings; ids from 0

The archive is fetched once by :func:`labs.data.download` and kept only if its SHA-256 is
:data:`ML100K_SHA256`; offline it raises :class:`labs.data.OfflineError` (catch it and use the
generated ratings of :mod:`labs.recommend`). Only ``u.data`` is read, as text, from the zip.
GroupLens publishes the archive's MD5 (``0e33842e24a9c977be4e0107933c0723``); the SHA-256 below
is the one recorded for that same 4,924,029-byte file. A different file fails the check and is
not kept, so a wrong constant can only refuse the data, never let other data in.
"""

from __future__ import annotations

import zipfile

import numpy as np

from labs.data.download import download

__all__ = ["ML100K_URL", "ML100K_SHA256", "load_movielens_100k", "parse_u_data"]

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML100K_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"


def parse_u_data(text: str):
    """``user \\t item \\t rating \\t timestamp`` lines (ids from 1) -> int64 users, items (from 0), float ratings."""
    rows = [line.split("\t") for line in text.strip().splitlines()]
    if not rows or any(len(r) != 4 for r in rows):
        raise ValueError("u.data must have four tab-separated columns per line: user, item, rating, timestamp")
    table = np.array(rows, dtype=np.int64)
    return table[:, 0] - 1, table[:, 1] - 1, table[:, 2].astype(np.float64)


def load_movielens_100k(url: str = ML100K_URL, sha256: str = ML100K_SHA256, timeout: float = 30.0):
    """Download (once, SHA-256 checked) and read MovieLens-100k's ratings: ``(users, items, ratings)``."""
    path = download(url, sha256, "ml-100k.zip", timeout=timeout)
    with zipfile.ZipFile(path) as archive:
        name = next((n for n in archive.namelist() if n.endswith("u.data")), None)
        if name is None:
            raise ValueError(f"{path} holds no u.data: is it the MovieLens-100k archive?")
        return parse_u_data(archive.read(name).decode("latin-1"))
