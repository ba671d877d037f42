"""DP-SGD in PyTorch (Abadi et al. 2016): per-example gradients, clipped, summed, noised.

One step, for a batch drawn by Poisson sampling (each example joins with probability ``q``)::

    g_i   = grad of loss(model(x_i), y_i)                 one gradient per example
    g_i  <- g_i * min(1, C / ||g_i||)                      clip: no example moves the sum by more than C
    g     = (sum_i g_i + N(0, sigma^2 C^2 I)) / (q N)      noise scaled to that bound; divide by the expected batch
    theta <- theta - lr * g

The noise is drawn from a NumPy generator in the order of ``model.named_parameters()``, so
the NumPy twin, ``labs.scratch.privacy``, given the same generator takes the same step (the
tests compare them in float64). How much privacy the steps spend is
:func:`labs.dp_accountant.dp_epsilon`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from labs.dp_accountant import poisson_batch

__all__ = ["per_sample_grads", "clip_per_sample", "dp_sgd_step", "poisson_batch", "train_dp_sgd",
           "per_example_losses"]


def per_sample_grads(model, loss_fn, inputs, targets) -> dict[str, torch.Tensor]:
    """``{name: tensor of shape (B, *param.shape)}``, the gradient of each example's loss alone.

    ``torch.func.vmap(torch.func.grad(...))``: one vectorised backward pass, not B of them.
    The NumPy engine's :func:`labs.scratch.per_sample.per_sample_grads` gives the same numbers.
    """
    if len(inputs) != len(targets):
        raise ValueError(f"per_sample_grads expects inputs and targets with the same batch size; got {len(inputs)} and {len(targets)}")
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("per_sample_grads: the model has no parameter that requires grad")
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    if len(inputs) == 0:
        return {n: torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device) for n, p in params.items()}

    def one_loss(p, x, y):  # each example as a batch of one, the shapes the model always sees
        return loss_fn(functional_call(model, (p, buffers), (x[None],)), y[None])

    return vmap(grad(one_loss), in_dims=(None, 0, 0))(params, inputs, targets)


def clip_per_sample(grads: dict, max_norm: float | None):
    """``(clipped, norms)``: each example's gradient over *all* parameters scaled to norm <= ``max_norm``.

    The factor is ``max_norm / max(norm, max_norm)`` = ``min(1, C / norm)``, which never divides
    by zero. ``max_norm=None`` clips nothing (plain SGD through the same code).
    """
    flat = torch.cat([g.flatten(1) for g in grads.values()], dim=1)  # (B, all parameters)
    norms = torch.linalg.vector_norm(flat, dim=1)
    if max_norm is None:
        return dict(grads), norms
    if not max_norm > 0:
        raise ValueError(f"max_norm (the clip norm C) must be > 0, or None for no clipping; got {max_norm!r}")
    factors = max_norm / torch.clamp(norms, min=max_norm)  # (B,)
    return {n: g * factors.reshape(-1, *[1] * (g.ndim - 1)) for n, g in grads.items()}, norms


def dp_sgd_step(model, loss_fn, inputs, targets, *, lr: float, max_norm: float | None, noise_multiplier: float,
                expected_batch_size: float, rng: np.random.Generator) -> torch.Tensor:
    """One DP-SGD step on ``model`` in place; returns the per-example gradient norms before clipping.

    ``noise_multiplier`` is sigma: the noise's standard deviation over the clip norm.
    """
    if noise_multiplier < 0 or (noise_multiplier > 0 and max_norm is None):
        raise ValueError(f"noise_multiplier must be >= 0, and noise needs a clip norm to scale it; got "
                         f"noise_multiplier={noise_multiplier!r}, max_norm={max_norm!r}")
    if not expected_batch_size > 0:
        raise ValueError(f"expected_batch_size must be > 0 (sample_rate * dataset size); got {expected_batch_size!r}")
    clipped, norms = clip_per_sample(per_sample_grads(model, loss_fn, inputs, targets), max_norm)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            total = clipped[name].sum(dim=0)
            if noise_multiplier > 0:
                noise = torch.from_numpy(rng.standard_normal(p.shape)).to(p)
                total = total + noise_multiplier * max_norm * noise
            p -= lr * total / expected_batch_size
    return norms


def train_dp_sgd(model, x, y, *, steps: int, sample_rate: float, lr: float, max_norm: float | None,
                 noise_multiplier: float, seed: int = 0, loss_fn=torch.nn.functional.cross_entropy):
    """Train ``model`` in place for ``steps`` DP-SGD steps on tensors ``x, y``; returns the model.

    Epsilon for these settings: ``dp_epsilon(noise_multiplier, sample_rate, steps, delta)``.
    With ``noise_multiplier=0, max_norm=None`` it is plain SGD with the same batches (no privacy).
    """
    rng = np.random.default_rng(seed)
    expected = sample_rate * len(x)
    model.train()
    for _ in range(steps):
        idx = torch.from_numpy(poisson_batch(len(x), sample_rate, rng))
        dp_sgd_step(model, loss_fn, x[idx], y[idx], lr=lr, max_norm=max_norm, noise_multiplier=noise_multiplier,
                    expected_batch_size=expected, rng=rng)
    return model


def per_example_losses(model, x, y) -> np.ndarray:
    """Each example's cross-entropy under ``model`` (eval mode, no grad), as a NumPy array."""
    model.eval()
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(model(x), y, reduction="none").double().cpu().numpy()

