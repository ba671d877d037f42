"""scikit-learn's bundled 8x8 digits: 1,797 images that need no network."""

from __future__ import annotations

import numpy as np


def load_digits(test_size: float = 0.25, seed: int = 0, flatten: bool = True, scale: bool = True):
    """Return ``(x_train, y_train, x_test, y_test)`` from scikit-learn's digits.

    - Pixels are 0..16 in the source; ``scale=True`` divides by 16 so they lie in [0, 1].
    - ``flatten=True`` gives shape (N, 64); ``flatten=False`` gives (N, 1, 8, 8),
      the (N, C, H, W) layout a convolution expects.
    - The split is stratified and seeded, so every run sees the same test set.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1; got {test_size}")
    bunch = sk_load_digits()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    if scale:
        x /= 16.0
    if not flatten:
        x = x.reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    return x_train, y_train, x_test, y_test
