"""Adversarial examples, a noise baseline of the same size, and adversarial training.

    x_adv = fgsm(model, x, y, eps)                         # Goodfellow et al. 2015, one signed step
    x_adv = pgd(model, x, y, eps, steps=10)                # Madry et al. 2018, projected steps
    x_noise = random_sign_noise(x, eps, generator)        # the same L-inf size, no gradient
    accuracy_under(model, x, y, attack, epsilons)          # one accuracy per epsilon
    adversarial_training(model, (x, y), eps=0.1, ...)      # train on attacked batches

Every perturbation lies in the L-infinity ball ``|x_adv - x| <= eps`` and in the valid
pixel range ``[lo, hi]`` (digits are scaled to [0, 1]). The model maps (N, ...) inputs to
logits (N, classes); attacks run it in eval mode and restore its mode.
"""

from __future__ import annotations

import contextlib

import numpy as np

__all__ = ["fgsm", "pgd", "random_sign_noise", "accuracy", "accuracy_under", "adversarial_training"]


def _check_eps(eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0 (the L-inf radius, in pixel units); got {eps!r}")
    return float(eps)


@contextlib.contextmanager
def _eval(model):
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def _loss_grad(model, x, y):
    import torch
    import torch.nn.functional as F

    with torch.enable_grad():  # an attack works even when called under torch.no_grad()
        x = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model(x), y, reduction="sum")  # sum: each example's own gradient
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model, x, y, eps, lo: float = 0.0, hi: float = 1.0):
    """The fast gradient sign method: ``clip(x + eps * sign(grad_x loss), lo, hi)``.

    One step to the corner of the L-inf ball that a linear model of the loss says is worst
    (Goodfellow, Shlens and Szegedy 2015). For a model that *is* linear in x, it is the
    exact worst case.
    """
    import torch

    eps = _check_eps(eps)
    with _eval(model):
        grad = _loss_grad(model, x, y)
    return torch.clamp(x + eps * grad.sign(), lo, hi).detach()


def pgd(model, x, y, eps, steps: int = 10, step_size: float | None = None, random_start: bool = True,
        lo: float = 0.0, hi: float = 1.0, generator=None):
    """Projected gradient descent on the loss (Madry et al. 2018): ``steps`` signed steps of
    ``step_size`` (default ``2.5 eps / steps``), each followed by a projection back into the
    L-inf ball and the pixel range. ``random_start`` begins at a uniform point of the ball
    (drawn from ``generator``), so the attack does not start where the gradient is masked.
    """
    import torch

    eps = _check_eps(eps)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1; got {steps!r}")
    step_size = 2.5 * eps / steps if step_size is None else float(step_size)
    x = x.detach()
    x_adv = x.clone()
    if random_start and eps > 0:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) * 2 - 1
        x_adv = torch.clamp(x + eps * noise, lo, hi)
    with _eval(model):
        for _ in range(steps):
            x_adv = x_adv + step_size * _loss_grad(model, x_adv, y).sign()
            x_adv = torch.clamp(torch.min(torch.max(x_adv, x - eps), x + eps), lo, hi)  # project
    return x_adv.detach()


def random_sign_noise(x, eps, generator=None, lo: float = 0.0, hi: float = 1.0):
    """``clip(x + eps * s, lo, hi)`` with random signs ``s``: FGSM's size, with no gradient.

    The baseline that tells an attack (or a defence) from noise: if random corners of the
    same ball hurt as much, the "attack" found nothing.
    """
    import torch

    eps = _check_eps(eps)
    signs = torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(x.dtype) * 2 - 1
    return torch.clamp(x + eps * signs, lo, hi)


def accuracy(model, x, y, batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``model`` on (x, y), in eval mode without gradients."""
    import torch

    correct = 0
    with _eval(model), torch.no_grad():
        for start in range(0, len(x), batch_size):
            correct += int((model(x[start:start + batch_size]).argmax(1) == y[start:start + batch_size]).sum())
    return correct / len(x)


def accuracy_under(model, x, y, attack, epsilons) -> np.ndarray:
    """Accuracy on ``attack(model, x, y, eps)`` for each eps (eps = 0 is the clean accuracy)."""
    return np.array([accuracy(model, attack(model, x, y, eps) if eps > 0 else x, y) for eps in epsilons])


def adversarial_training(model, train, *, eps: float, epochs: int, attack: str = "fgsm", adversarial_share: float = 0.5,
                         batch_size: int = 64, lr: float = 1e-3, pgd_steps: int = 3, seed: int = 0):
    """Train with Adam on batches of which ``adversarial_share`` is attacked (Goodfellow et al.'s
    mixture; 1.0 is Madry et al.'s pure min-max). ``attack`` is ``"fgsm"``, ``"pgd"``, or
    ``"noise"`` (random signs of the same size: the control that shows the defence is not
    just noise augmentation). Each batch is attacked against the current weights. Returns
    the per-epoch mean training loss.
    """
    import torch
    import torch.nn.functional as F

    eps = _check_eps(eps)
    if attack not in ("fgsm", "pgd", "noise", "none"):
        raise ValueError(f"attack must be 'fgsm', 'pgd', 'noise' or 'none'; got {attack!r}")
    if not 0.0 <= adversarial_share <= 1.0:
        raise ValueError(f"adversarial_share must be in [0, 1]; got {adversarial_share}")
    x, y = train
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x[idx], y[idx]
            k = int(round(adversarial_share * len(xb)))
            if k and attack != "none" and eps > 0:
                if attack == "fgsm":
                    hard = fgsm(model, xb[:k], yb[:k], eps)
                elif attack == "pgd":
                    hard = pgd(model, xb[:k], yb[:k], eps, steps=pgd_steps, generator=gen)
                else:
                    hard = random_sign_noise(xb[:k], eps, gen)
                xb = torch.cat([hard, xb[k:]])
            model.train()
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(x))
    return np.array(losses)
