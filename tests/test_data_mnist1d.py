"""MNIST-1D: generated locally, cached as .npz, equal to the published frozen set."""

from __future__ import annotations

import importlib
import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from labs.data import OfflineError, download, load_mnist1d
from labs.data import mnist1d as m1d

FROZEN_ENV = "LABS_MNIST1D_FROZEN"  # path to a local copy of mnist1d_data.pkl (or an .npz of it)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def generated_once():
    """The generator's output, computed once for the tests that only need its result (2 s each call)."""
    return m1d.generate_mnist1d()


@pytest.fixture
def fast_generator(monkeypatch, generated_once):
    calls = []

    def generate():
        calls.append(1)
        return {k: v.copy() for k, v in generated_once.items()}

    monkeypatch.setattr(m1d, "generate_mnist1d", generate)
    return calls


def test_shapes_dtypes_and_cache(data_dir, fast_generator):
    x_train, y_train, x_test, y_test = load_mnist1d()
    assert x_train.shape == (4000, 40) and x_test.shape == (1000, 40)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert set(np.unique(y_train)) == set(range(10)) and set(np.unique(y_test)) == set(range(10))
    # the generator standardises the whole set (train and test together)
    both = np.concatenate([x_train, x_test]).astype(np.float64)
    assert abs(both.mean()) < 1e-5 and abs(both.std() - 1) < 1e-5
    cached = data_dir / m1d.CACHE_NAME
    assert cached.exists()
    with np.load(cached, allow_pickle=False) as stored:  # arrays only: no pickle inside
        assert sorted(stored.files) == ["x_test", "x_train", "y_test", "y_train"]
    again = load_mnist1d()
    for a, b in zip((x_train, y_train, x_test, y_test), again):
        np.testing.assert_array_equal(a, b)


def test_cache_is_used_and_a_corrupt_cache_is_rebuilt(data_dir, fast_generator):
    reference = load_mnist1d()
    assert fast_generator == [1]
    load_mnist1d()
    assert fast_generator == [1]  # read from the cache, not generated
    (data_dir / m1d.CACHE_NAME).write_bytes(b"not an npz file")
    rebuilt = load_mnist1d()
    assert fast_generator == [1, 1]
    np.testing.assert_array_equal(rebuilt[0], reference[0])


def test_loading_leaves_global_random_state_alone(data_dir):
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    load_mnist1d(regenerate=True, cache=False)  # the generator seeds the global RNGs itself
    assert np.random.rand() == expected_np and random.random() == expected_py


def test_never_downloads(data_dir, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("load_mnist1d must not touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    load_mnist1d(regenerate=True)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Reads the authors' pickle in this test only, refusing anything but NumPy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a downloaded pickle")
        if module.startswith("numpy.core.") and np.__version__ >= "2":
            module = module.replace("numpy.core.", "numpy._core.")
        return getattr(importlib.import_module(module), name)


def _frozen_copy(tmp_path) -> Path:
    given = os.environ.get(FROZEN_ENV)
    if given:
        path = Path(given)
        if not path.exists():
            pytest.fail(f"{FROZEN_ENV}={given} does not exist")
        return path
    if os.environ.get("LABS_ONLINE_TESTS") != "1":
        pytest.skip(
            f"compares with the published frozen MNIST-1D only when asked: set {FROZEN_ENV} to a "
            "local copy, or LABS_ONLINE_TESTS=1 to download it (SHA-256 verified); the default run stays offline"
        )
    try:
        return download(m1d.FROZEN_URL, m1d.FROZEN_SHA256, directory=tmp_path, timeout=10)
    except OfflineError as exc:
        pytest.skip(
            "the published frozen MNIST-1D (mnist1d_data.pkl) is not available offline: set "
            f"{FROZEN_ENV} to a local copy or run with a network to compare ({exc.__class__.__name__})"
        )


def test_equal_to_the_published_frozen_set(data_dir, tmp_path):
    path = _frozen_copy(tmp_path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as stored:
            frozen = {k: stored[k] for k in stored.files}
    else:
        with open(path, "rb") as handle:
            frozen = _ArraysOnlyUnpickler(handle).load()
    x_train, y_train, x_test, y_test = load_mnist1d()
    np.testing.assert_array_equal(y_train, frozen["y"])
    np.testing.assert_array_equal(y_test, frozen["y_test"])
    # float32 of the same float64 values (the generator's rounding differs by at most 1 ulp)
    np.testing.assert_allclose(x_train, frozen["x"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(x_test, frozen["x_test"], rtol=0, atol=1e-6)
