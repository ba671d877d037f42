"""The gradient-noise scale of McCandlish et al. (2018): a measured critical batch size.

A minibatch gradient of B examples is the true gradient G plus noise of covariance
Sigma / B. The "simple" noise scale ``B_noise = tr(Sigma) / |G|^2`` compares the two: a
batch much smaller than B_noise is mostly noise (more examples per step help nearly
linearly), a batch much larger wastes examples (the step cannot get much better than the
true gradient). Their eq. 2.7 / 2.8 model of training time::

    steps    S = S_min (1 + B_noise / B)
    examples E = E_min (1 + B / B_noise)

so B = B_noise costs twice the minimum steps and twice the minimum examples.

:func:`microbatch_gradients` returns k gradients of b examples each; from them
:func:`noise_scale` gets unbiased estimates (their Appendix A): with
``s = mean_i |g_i|^2`` (batch b) and ``m = |mean_i g_i|^2`` (batch k b),
``|G|^2 = (k m - s) / (k - 1)`` and ``tr(Sigma) = b k (s - m) / (k - 1)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["microbatch_gradients", "noise_scale", "gradient_variance_by_batch", "steps_and_examples"]


def microbatch_gradients(model, loss_fn, batches) -> np.ndarray:
    """(k, P) float64 array: the flattened gradient of ``loss_fn(model(x), y)`` on each (x, y) of ``batches``.

    ``loss_fn`` must average over the batch (as cross_entropy does by default), and every
    batch must have the same size, so each row is a mean over b examples.
    """
    import torch

    batches = list(batches)
    if len(batches) < 2:
        raise ValueError(f"the noise scale needs at least 2 microbatches; got {len(batches)}")
    sizes = {len(x) for x, _ in batches}
    if len(sizes) != 1:
        raise ValueError(f"every microbatch must have the same size; got sizes {sorted(sizes)}")
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for x, y in batches:
        grads = torch.autograd.grad(loss_fn(model(x), y), params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]).double().cpu().numpy())
    return np.stack(rows)


def noise_scale(grads: np.ndarray, batch_size: int) -> dict[str, float]:
    """Unbiased |G|^2, tr(Sigma) and B_noise = tr(Sigma) / |G|^2 from k microbatch gradients of ``batch_size`` examples."""
    grads = np.asarray(grads, dtype=np.float64)
    if grads.ndim != 2 or grads.shape[0] < 2:
        raise ValueError(f"grads must be a (k >= 2, P) array of microbatch gradients; got shape {grads.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size (examples per microbatch) must be an int >= 1; got {batch_size!r}")
    k, b = grads.shape[0], int(batch_size)
    small = float(np.mean(np.sum(grads ** 2, axis=1)))  # E|g_b|^2 = |G|^2 + tr(Sigma) / b
    big = float(np.sum(grads.mean(axis=0) ** 2))  # E|g_kb|^2 = |G|^2 + tr(Sigma) / (k b)
    g2 = (k * big - small) / (k - 1)
    trace = b * k * (small - big) / (k - 1)
    return {"G2": g2, "trace": trace, "B_noise": trace / g2 if g2 > 0 else float("inf"), "k": k, "b": b}


def gradient_variance_by_batch(grads: np.ndarray, batch_size: int, groups=(1, 2, 4)) -> dict[int, float]:
    """{B: the variance tr(Sigma) / B of a B-example gradient}, for B = g * batch_size, g in ``groups``.

    Gradients of B examples are formed by averaging ``g`` consecutive microbatches; their
    spread about the mean of all, times n / (n - 1) for n groups, estimates the variance
    without bias. It shrinks as 1/B: a larger batch gives a less uncertain gradient.
    """
    grads = np.asarray(grads, dtype=np.float64)
    k = grads.shape[0]
    mean = grads.mean(axis=0)
    out = {}
    for g in groups:
        if k % g or k // g < 2:
            raise ValueError(f"{k} microbatches cannot be split into >= 2 groups of {g}")
        merged = grads.reshape(k // g, g, -1).mean(axis=1)
        spread = float(np.sum((merged - mean) ** 2, axis=1).mean())
        n = k // g
        out[g * batch_size] = spread * n / (n - 1)  # unbiased: the spread about the sample mean is (n-1)/n of it
    return out


def steps_and_examples(batch_size, b_noise) -> tuple[np.ndarray, np.ndarray]:
    """McCandlish et al.'s S / S_min = 1 + B_noise / B and E / E_min = 1 + B / B_noise."""
    B = np.asarray(batch_size, dtype=float)
    if np.any(B <= 0) or not b_noise > 0:
        raise ValueError(f"batch sizes and B_noise must be positive; got {batch_size!r} and {b_noise!r}")
    return 1 + b_noise / B, 1 + B / b_noise
