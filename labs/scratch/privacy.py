"""The NumPy twin of ``labs.privacy``: DP-SGD on the engine's own per-example gradients.

The per-example gradients are the engine's primitive, :func:`labs.scratch.per_sample.per_sample_grads`
(equal to ``torch.func.vmap(grad)``: one backward pass over the batch that keeps each Linear layer's
inputs and output gradients, or one backward per example for a model where that would not be
exact); clipping, noise and the
update follow ``labs.privacy`` line for line, with the noise drawn from the same NumPy
generator in the same parameter order, so one step in each engine gives the same weights.
"""

from __future__ import annotations

import numpy as np

from labs.dp_accountant import poisson_batch
from labs.scratch import functional as F
from labs.scratch.per_sample import per_sample_grads
from labs.scratch.tensor import Tensor

__all__ = ["per_sample_grads", "per_sample_norms", "clip_per_sample", "dp_sgd_step", "poisson_batch", "train_dp_sgd"]


def per_sample_norms(grads: dict) -> np.ndarray:
    """``(B,)``: the norm of each example's gradient over *all* parameters at once."""
    squares = 0.0
    for g in grads.values():
        flat = g.reshape(g.shape[0], int(np.prod(g.shape[1:])))  # (B, this parameter's size), a view
        squares = squares + np.einsum("bi,bi->b", flat, flat)  # no concatenated copy of every gradient
    return np.sqrt(squares)


def _clip_factors(norms: np.ndarray, max_norm: float | None) -> np.ndarray | None:
    """``min(1, C / norm_i)`` per example, or None for no clipping."""
    if max_norm is None:
        return None
    if not max_norm > 0:
        raise ValueError(f"max_norm (the clip norm C) must be > 0, or None for no clipping; got {max_norm!r}")
    return max_norm / np.maximum(norms, max_norm)  # (B,)


def clip_per_sample(grads: dict, max_norm: float | None):
    """``(clipped, norms)``: each example's gradient over *all* parameters scaled to norm <= ``max_norm``."""
    norms = per_sample_norms(grads)
    factors = _clip_factors(norms, max_norm)
    if factors is None:
        return dict(grads), norms
    return {n: g * factors.reshape(-1, *[1] * (g.ndim - 1)).astype(g.dtype) for n, g in grads.items()}, norms


def dp_sgd_step(model, loss_fn, inputs, targets, *, lr: float, max_norm: float | None, noise_multiplier: float,
                expected_batch_size: float, rng: np.random.Generator, method: str = "auto") -> np.ndarray:
    """One DP-SGD step on ``model`` in place; returns the per-example gradient norms before clipping.

    ``method`` chooses how the per-example gradients are computed (:func:`per_sample_grads`); every
    method gives the same step.
    """
    if noise_multiplier < 0 or (noise_multiplier > 0 and max_norm is None):
        raise ValueError(f"noise_multiplier must be >= 0, and noise needs a clip norm to scale it; got "
                         f"noise_multiplier={noise_multiplier!r}, max_norm={max_norm!r}")
    if not expected_batch_size > 0:
        raise ValueError(f"expected_batch_size must be > 0 (sample_rate * dataset size); got {expected_batch_size!r}")
    grads = per_sample_grads(model, loss_fn, inputs, targets, method=method)
    norms = per_sample_norms(grads)
    factors = _clip_factors(norms, max_norm)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        g = grads[name]
        # sum_i min(1, C / norm_i) g_i: clip_per_sample's sum, without a clipped copy of every gradient
        total = g.sum(axis=0) if factors is None else np.tensordot(factors.astype(g.dtype), g, axes=1)
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
