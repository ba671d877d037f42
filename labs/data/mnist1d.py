"""MNIST-1D, generated on this machine (no download, no pickle).

MNIST-1D (Greydanus, 2020) turns ten hand-drawn 1-D templates into
5,000 noisy signals of length 40: each is padded, translated, scaled, sheared
and given correlated and independent noise. It separates model families far
better than MNIST does (logistic regression about 32 %, a CNN about 94 %),
and it is small enough to train on a laptop CPU in seconds.

The data set is built with the ``mnist1d`` package's own generator and its
default arguments, so it is the published data set: the frozen copy that the
authors distribute as a pickle agrees with it to float64 rounding (checked by
``tests/test_data_mnist1d.py`` whenever that file is available). The result is
cached as ``.npz`` (arrays only, read with ``allow_pickle=False``).
"""

from __future__ import annotations

import random

import numpy as np

from labs.data.cache import cache_dir

CACHE_NAME = "mnist1d_default_v1.npz"
N_TRAIN, N_TEST, LENGTH, N_CLASSES = 4000, 1000, 40, 10

# The published frozen copy, pinned to the commit that last changed it, with the
# SHA-256 of that git blob (computed from the repository's history, not typed from memory).
FROZEN_URL = (
    "https://raw.githubusercontent.com/greydanus/mnist1d/"
    "9f13bb4a2e5aedcfd2f09a27ca216e5d462ec543/mnist1d_data.pkl"
)
FROZEN_SHA256 = "e95257676e9fb04568e46dda007da22cc8664ccba1451456afde55d7f6dd6aa5"


def generate_mnist1d() -> dict[str, np.ndarray]:
    """Run the ``mnist1d`` generator with its default arguments; return float64 arrays.

    The generator seeds Python's and NumPy's global random state; both are saved
    and restored here, so loading the data does not change anyone else's random
    numbers.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - mnist1d is a dependency of labs
        raise ImportError(
            "generating MNIST-1D needs the `mnist1d` package: pip install mnist1d"
        ) from exc
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test", "t")}


def _valid(arrays) -> bool:
    try:
        return (
            arrays["x_train"].shape == (N_TRAIN, LENGTH)
            and arrays["x_test"].shape == (N_TEST, LENGTH)
            and arrays["y_train"].shape == (N_TRAIN,)
            and arrays["y_test"].shape == (N_TEST,)
            and arrays["x_train"].dtype == np.float32
            and arrays["y_train"].dtype == np.int64
            and bool(np.isfinite(arrays["x_train"]).all())
        )
    except KeyError:
        return False


def load_mnist1d(*, regenerate: bool = False, cache: bool = True):
    """Return ``(x_train, y_train, x_test, y_test)`` of MNIST-1D.

    - ``x_*``: float32 of shape (4000, 40) and (1000, 40), standardised by the
      generator (mean 0, standard deviation 1 over the whole set);
    - ``y_*``: int64 class labels 0..9;
    - the first call generates the data (about two seconds) and caches it as
      ``mnist1d_default_v1.npz`` under :func:`labs.data.cache_dir`; later calls read
      the cache. ``regenerate=True`` ignores the cache; ``cache=False`` does not write it.

    Add a channel axis for a convolution: ``x[:, None, :]`` has shape (N, 1, 40).
    """
    path = cache_dir() / CACHE_NAME
    if cache and not regenerate and path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {k: stored[k] for k in stored.files}
        except (OSError, ValueError):  # a truncated or foreign file: build it again
            arrays = {}
        if _valid(arrays):
            return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    raw = generate_mnist1d()
    arrays = {
        "x_train": raw["x"].astype(np.float32),
        "y_train": raw["y"].astype(np.int64),
        "x_test": raw["x_test"].astype(np.float32),
        "y_test": raw["y_test"].astype(np.int64),
    }
    if not _valid(arrays):  # the generator's defaults changed: say so rather than train on it
        shapes = {k: v.shape for k, v in arrays.items()}
        raise ValueError(
            f"the mnist1d generator returned shapes {shapes}; expected {N_TRAIN} train and {N_TEST} test "
            f"signals of length {LENGTH}. Check the installed mnist1d version."
        )
    if cache:
        tmp = path.with_name(path.name + ".part.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
