"""labs.robust: attacks stay in their ball, FGSM is the exact worst case for a linear model, PGD
is at least as strong, and adversarial training does what it says on a small problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from labs import robust


def _linear(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 3)).double()


def _batch(n=20, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 6, generator=g, dtype=torch.float64) * 0.6 + 0.2, torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "noise"])
def test_every_perturbation_lies_in_the_ball_and_the_pixel_range(attack):
    model, (x, y) = _linear(), _batch()
    x = x * 1.5 - 0.1  # some pixels near or past the edges
    x = x.clamp(0, 1)
    eps = 0.3
    g = torch.Generator().manual_seed(0)
    adv = {"fgsm": lambda: robust.fgsm(model, x, y, eps), "pgd": lambda: robust.pgd(model, x, y, eps, generator=g),
           "noise": lambda: robust.random_sign_noise(x, eps, g)}[attack]()
    assert (adv - x).abs().max() <= eps + 1e-12 and adv.min() >= 0 and adv.max() <= 1


def test_fgsm_is_the_worst_case_of_a_linear_binary_margin():
    # for logits w.x + b the loss of a 2-class model depends on the margin (w_y - w_other).x;
    # the worst L-inf perturbation moves each pixel by eps against sign(w_y - w_other)
    torch.manual_seed(0)
    model = nn.Linear(6, 2).double()
    x, _ = _batch()
    y = torch.zeros(len(x), dtype=torch.long)
    eps = 0.05  # small enough that no pixel reaches the edge (x lies in [0.2, 0.8])
    adv = robust.fgsm(model, x, y, eps)
    w = model.weight[0] - model.weight[1]
    with torch.no_grad():
        drop = (x @ w) - (adv @ w)
    assert torch.allclose(drop, torch.full_like(drop, eps * w.abs().sum().item()))


def test_pgd_is_at_least_as_strong_as_fgsm_and_noise_is_weaker():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 3)).double()
    x, y = _batch(200)
    eps, g = 0.1, torch.Generator().manual_seed(0)
    with torch.no_grad():
        loss = {name: F.cross_entropy(model(adv), y).item() for name, adv in {
            "clean": x, "noise": robust.random_sign_noise(x, eps, g), "fgsm": robust.fgsm(model, x, y, eps),
            "pgd": robust.pgd(model, x, y, eps, steps=20, generator=g)}.items()}
    assert loss["pgd"] >= loss["fgsm"] - 1e-9 > loss["noise"] and loss["fgsm"] > loss["clean"]


def test_attacks_restore_the_model_mode_and_reject_bad_eps():
    model, (x, y) = nn.Sequential(nn.Linear(6, 3), nn.Dropout(0.5)).double(), _batch()
    model.train()
    robust.fgsm(model, x, y, 0.1)
    robust.pgd(model, x, y, 0.1, steps=2)
    assert model.training
    for bad in (-0.1, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="eps must be"):
            robust.fgsm(model, x, y, bad)
    with pytest.raises(ValueError, match="steps"):
        robust.pgd(model, x, y, 0.1, steps=0)


def test_accuracy_under_zero_eps_is_the_clean_accuracy():
    model, (x, y) = _linear(), _batch(50)
    curve = robust.accuracy_under(model, x, y, robust.fgsm, [0.0, 0.2])
    assert curve[0] == robust.accuracy(model, x, y) and curve[1] <= curve[0]


def test_adversarial_training_buys_robustness_that_noise_does_not():
    # one robust feature (a wide margin, noisy) and 19 non-robust ones (each a margin smaller
    # than eps, together very predictive): standard training leans on the non-robust ones
    g = torch.Generator().manual_seed(0)
    n, d = 400, 20
    y = torch.randint(0, 2, (n,), generator=g)
    s = (2 * y - 1).float()[:, None]
    x = torch.empty(n, d)
    x[:, :1] = 0.5 + 0.2 * s + 0.1 * torch.randn(n, 1, generator=g)
    x[:, 1:] = 0.5 + 0.03 * s + 0.05 * torch.randn(n, d - 1, generator=g)
    x = x.clamp(0, 1)
    eps = 0.1
    acc = {}
    for attack in ("none", "noise", "fgsm"):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, 2))
        losses = robust.adversarial_training(model, (x, y), eps=eps, epochs=30, attack=attack, adversarial_share=1.0,
                                             lr=1e-2)
        assert np.all(np.isfinite(losses))
        acc[attack] = robust.accuracy(model, robust.pgd(model, x, y, eps, generator=g), y)
    assert acc["fgsm"] > acc["none"] + 0.15 and acc["fgsm"] > acc["noise"] + 0.05, acc
    with pytest.raises(ValueError, match="attack must be"):
        robust.adversarial_training(model, (x, y), eps=eps, epochs=1, attack="cw")
