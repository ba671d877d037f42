"""The NumPy twin of ``labs.privacy``: DP-SGD on the engine's own per-example gradients.

The per-example gradients are the engine's primitive, :func:`labs.scratch.per_sample.per_sample_grads`
(one backward pass per example, equal to ``torch.func.vmap(grad)``); clipping, noise and the
update follow ``labs.privacy`` line for line, with the noise drawn from the same NumPy
generator in the same parameter order, so one step in each engine gives the same weights.
"""

from __future__ import annotations

import numpy as np

from labs.dp_accountant import poisson_batch
from labs.scratch import functional as F
from labs.scratch.per_sample import per_sample_grads
from labs.scratch.tensor import Tensor

__all__ = ["per_sample_grads", "clip_per_sample", "dp_sgd_step", "poisson_batch", "train_dp_sgd"]


def clip_per_sample(grads: dict, max_norm: float | None):
    """``(clipped, norms)``: each example's gradient over *all* parameters scaled to norm <= ``max_norm``."""
    flat = np.concatenate([g.reshape(g.shape[0], -1 if g.shape[0] else int(np.prod(g.shape[1:]))) for g in grads.values()], axis=1)  # (B, all parameters)
    norms = np.linalg.norm(flat, axis=1)
    if max_norm is None:
        return dict(grads), norms
    if not max_norm > 0:
        raise ValueError(f"max_norm (the clip norm C) must be > 0, or None for no clipping; got {max_norm!r}")
    factors = max_norm / np.maximum(norms, max_norm)  # (B,)
    return {n: g * factors.reshape(-1, *[1] * (g.ndim - 1)) for n, g in grads.items()}, norms


def dp_sgd_step(model, loss_fn, inputs, targets, *, lr: float, max_norm: float | None, noise_multiplier: float,
                expected_batch_size: float, rng: np.random.Generator) -> np.ndarray:
    """One DP-SGD step on ``model`` in place; returns the per-example gradient norms before clipping."""
    if noise_multiplier < 0 or (noise_multiplier > 0 and max_norm is None):
        raise ValueError(f"noise_multiplier must be >= 0, and noise needs a clip norm to scale it; got "
                         f"noise_multiplier={noise_multiplier!r}, max_norm={max_norm!r}")
    if not expected_batch_size > 0:
        raise ValueError(f"expected_batch_size must be > 0 (sample_rate * dataset size); got {expected_batch_size!r}")
    clipped, norms = clip_per_sample(per_sample_grads(model, loss_fn, inputs, targets), max_norm)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        total = clipped[name].sum(axis=0)
        if noise_multiplier > 0:
            noise = rng.standard_normal(p.shape).astype(p.dtype)
            total = total + noise_multiplier * max_norm * noise
        p.data -= lr * total / expected_batch_size
    return norms


def train_dp_sgd(model, x, y, *, steps: int, sample_rate: float, lr: float, max_norm: float | None,
                 noise_multiplier: float, seed: int = 0, loss_fn=F.cross_entropy):
    """Train ``model`` in place for ``steps`` DP-SGD steps on arrays ``x, y``; returns the model."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(x), np.asarray(y)
    expected = sample_rate * len(x)
    model.train()
    for _ in range(steps):
        idx = poisson_batch(len(x), sample_rate, rng)
        dp_sgd_step(model, loss_fn, Tensor(x[idx]), Tensor(y[idx]), lr=lr, max_norm=max_norm,
                    noise_multiplier=noise_multiplier, expected_batch_size=expected, rng=rng)
    return model
