"""The optional MovieLens-100k loader: parsed from a local archive, SHA-256 checked, clean offline."""

import zipfile

import numpy as np
import pytest

from labs.data import ChecksumError, OfflineError, sha256_of
from labs.data.movielens import load_movielens_100k, parse_u_data


def fake_archive(tmp_path):
    path = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ml-100k/u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n")
    return path


def test_reads_u_data_from_a_checked_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    path = fake_archive(tmp_path)
    users, items, ratings = load_movielens_100k(path.as_uri(), sha256_of(path))
    np.testing.assert_array_equal(users, [195, 185, 21])
    np.testing.assert_array_equal(items, [241, 301, 376])
    np.testing.assert_array_equal(ratings, [3.0, 3.0, 1.0])


def test_a_different_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    path = fake_archive(tmp_path)
    with pytest.raises(ChecksumError):
        load_movielens_100k(path.as_uri(), "0" * 64)


def test_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    with pytest.raises(OfflineError, match="offline"):
        load_movielens_100k((tmp_path / "missing.zip").as_uri(), "0" * 64, timeout=1)


def test_bad_lines_are_explained():
    with pytest.raises(ValueError, match="four tab-separated columns"):
        parse_u_data("1\t2\t3\n")
