"""labs.generalise: the proximal L1 step is the lasso's (checked against scikit-learn), L1 gives
exact zeros where L2 gives none, early stopping keeps the best epoch."""

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


def test_augmentation_is_applied_to_training_batches_only():
    from labs.augment import augment

    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (40,), generator=g)
    rng, seen = np.random.default_rng(0), []

    def recorded(batch, generator):
        seen.append(len(batch))
        return torch.as_tensor(augment(batch.numpy(), rng, padding=1, max_degrees=10))

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    result = generalise.train_regularised(model, (x, y), (x[:10], y[:10]), epochs=2, batch_size=16, augment=recorded)
    assert seen == [16, 16, 8] * 2  # every training batch, never the validation data
    model.load_state_dict(result.best_state)
    with torch.no_grad():  # the recorded validation loss is on the unaugmented images
        assert np.isclose(torch.nn.functional.cross_entropy(model(x[:10]), y[:10]).item(),
                          min(result.history["val_loss"]), rtol=1e-5)
