"""The download helper, tested with no network: a loopback server the test starts."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from functools import partial

import numpy as np
import pytest

from labs.data import ChecksumError, OfflineError, cache_dir, download, load_digits, sha256_of

PAYLOAD = b"course data " * 1000
GOOD = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # http.server's name
        type(self).hits += 1
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "data.bin").write_bytes(PAYLOAD)
    _Handler.hits = 0
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_and_caches(server, tmp_path):
    path = download(f"{server}/data.bin", GOOD, directory=tmp_path / "cache")
    assert path.read_bytes() == PAYLOAD and sha256_of(path) == GOOD
    again = download(f"{server}/data.bin", GOOD, directory=tmp_path / "cache")
    assert again == path and _Handler.hits == 1, "a cached file with the right hash is reused"


def test_wrong_hash_is_rejected_and_not_kept(server, tmp_path):
    with pytest.raises(ChecksumError, match="expected"):
        download(f"{server}/data.bin", "0" * 64, directory=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_corrupt_cached_file_is_fetched_again(server, tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "data.bin").write_bytes(b"truncated")
    path = download(f"{server}/data.bin", GOOD, directory=folder)
    assert path.read_bytes() == PAYLOAD and _Handler.hits == 1


def test_offline_gives_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens here
    with pytest.raises(OfflineError, match="offline"):
        download(f"http://127.0.0.1:{port}/x.bin", GOOD, directory=tmp_path, timeout=2)


def test_file_urls_work(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(PAYLOAD)
    path = download(source.as_uri(), GOOD, filename="copy.bin", directory=tmp_path / "cache")
    assert path.name == "copy.bin" and path.read_bytes() == PAYLOAD


@pytest.mark.parametrize("bad", ["abc", "z" * 64, ""])
def test_malformed_hash_is_refused_before_any_download(bad, tmp_path):
    with pytest.raises(ValueError, match="64 hex digits"):
        download("http://127.0.0.1:9/x", bad, directory=tmp_path)


def test_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here" and cache_dir().is_dir()


def test_digits_are_offline_split_and_scaled():
    x_train, y_train, x_test, y_test = load_digits()
    assert x_train.shape[1] == 64 and len(x_train) + len(x_test) == 1797
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(np.unique(y_test)) == set(range(10))
    again = load_digits()
    np.testing.assert_array_equal(again[3], y_test)
    images = load_digits(flatten=False)[0]
    assert images.shape[1:] == (1, 8, 8)
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=1.5)
