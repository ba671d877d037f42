"""labs.generalise: the proximal L1 step is the lasso's (checked against scikit-learn), L1 gives
exact zeros where L2 gives none, early stopping keeps the best epoch, augmentation moves pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from labs import generalise


def test_soft_threshold_is_the_l1_proximal_operator():
    w = np.array([-2.0, -0.3, 0.0, 0.2, 1.5])
    t = 0.5
    out = generalise.soft_threshold(w, t)
    # prox_{t|.|}(w) = argmin_u (u - w)^2 / 2 + t |u|, checked on a fine grid
    grid = np.linspace(-3, 3, 60001)
    brute = np.array([grid[np.argmin((grid - wi) ** 2 / 2 + t * np.abs(grid))] for wi in w])
    assert np.allclose(out, brute, atol=1e-4)
    assert torch.allclose(generalise.soft_threshold(torch.as_tensor(w), t), torch.as_tensor(out))
    with pytest.raises(ValueError, match="threshold"):
        generalise.soft_threshold(w, -1)


def test_ista_matches_sklearn_lasso():
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 12))
    w_true = np.zeros(12)
    w_true[:3] = [2.0, -1.0, 0.5]
    y = x @ w_true + 0.1 * rng.normal(size=80)
    ours = generalise.ista_lasso(x, y, alpha=0.1)
    theirs = Lasso(alpha=0.1, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(x, y).coef_
    assert np.allclose(ours, theirs, atol=1e-6)
    assert generalise.near_zero_count(ours, 1e-9) == generalise.near_zero_count(theirs, 1e-9) > 0


def _toy(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 20, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()  # only two of twenty inputs matter
    return x, y


def test_l1_zeroes_weights_and_l2_does_not():
    (x, y), val = _toy(), _toy(100, 1)
    counts = {}
    for name, kw in {"l1": {"l1": 0.02}, "l2": {"l2": 0.02}}.items():
        torch.manual_seed(0)
        model = nn.Linear(20, 2)
        generalise.train_regularised(model, (x, y), val, epochs=40, lr=0.2, **kw)
        counts[name] = generalise.near_zero_count(model.weight, 1e-8)
        if name == "l1":
            assert model.weight[:, :2].abs().min() > 0.05  # the two inputs that matter survive
    assert counts["l1"] >= 20 and counts["l2"] == 0, counts


def test_early_stopping_keeps_the_epoch_with_the_lowest_validation_loss():
    (x, y), (xv, yv) = _toy(60), _toy(200, 1)
    y = torch.where(torch.rand(60, generator=torch.Generator().manual_seed(2)) < 0.3, 1 - y, y)  # label noise
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 128), nn.ReLU(), nn.Linear(128, 2))
    result = generalise.train_regularised(model, (x, y), (xv, yv), epochs=60, lr=3e-3, optimizer="adam")
    val = result.history["val_loss"]
    assert len(val) == 60 and result.best_epoch == int(np.argmin(val))
    assert val[-1] > val[result.best_epoch]  # it overfits after the best epoch
    model.load_state_dict(result.best_state)
    with torch.no_grad():
        again = torch.nn.functional.cross_entropy(model(xv), yv).item()
    assert np.isclose(again, val[result.best_epoch], rtol=1e-5)


def test_augmentation_keeps_shape_range_and_mass_and_flip_mirrors():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 2:6, 3:5] = 1.0
    out = generalise.shift_rotate_flip(x, g, shift=1, degrees=10)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1 + 1e-6
    assert not torch.allclose(out, x)
    assert torch.allclose(out.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.2)  # the stroke stays in the frame
    # no shift, no rotation: identity; with flip, half the images are mirrored exactly
    y = torch.rand(32, 1, 8, 8, generator=g)
    assert torch.allclose(generalise.shift_rotate_flip(y, g, shift=0, degrees=0), y, atol=1e-6)
    flipped = generalise.shift_rotate_flip(y, g, shift=0, degrees=0, flip=True)
    mirrored = torch.isclose(flipped, y.flip(-1), atol=1e-6).flatten(1).all(1)
    same = torch.isclose(flipped, y, atol=1e-6).flatten(1).all(1)
    assert torch.all(mirrored | same) and 5 < int(mirrored.sum()) < 27
    # rotate by 90 degrees is exact on the pixel grid
    assert torch.allclose(generalise.rotate(y, 90).abs().sum(), y.sum(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        generalise.shift_rotate_flip(torch.zeros(8, 8), g)
