"""Loss functions as formulas in NumPy, with their gradients (Chapter 3).

* ``mse_loss(pred, target)``: the mean of ``(pred - target)^2`` (``F.mse_loss``).
* ``softmax_naive`` exponentiates the logits as they are and overflows once a logit
  passes about 709 (``exp(710)`` is ``inf`` in float64); ``softmax`` subtracts the
  row maximum first, which changes nothing mathematically
  (``e^(z-m) / sum e^(z-m) = e^z / sum e^z``) and keeps every exponent <= 0.
* ``logsumexp(z) = m + log(sum exp(z - m))`` with ``m = max z``; ``log_softmax = z - logsumexp(z)``.
* ``cross_entropy(logits, targets)``: mean of ``-log softmax(z)[target]`` (``F.cross_entropy``);
  its gradient with respect to the logits is ``(softmax(z) - onehot(target)) / N``.
* ``binary_cross_entropy_with_logits(z, t)``: mean of ``max(z, 0) - z t + log(1 + e^-|z|)``,
  the same value as ``-[t log s(z) + (1 - t) log(1 - s(z))]`` but never ``log(0)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "mse_loss", "softmax_naive", "softmax", "logsumexp", "log_softmax", "cross_entropy",
    "cross_entropy_grad", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_grad_wrt_logit", "bce_grad_wrt_logit",
]


def _array(x, name: str, fn: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {name} must be numbers; got {type(x).__name__}") from None


def _same_shape(a: np.ndarray, b: np.ndarray, fn: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: input and target must have the same shape; got {a.shape} and {b.shape} "
            "(a (N, 1) prediction against an (N,) target silently broadcasts to (N, N): reshape one of them)"
        )


def mse_loss(pred, target):
    pred, target = _array(pred, "pred", "mse_loss"), _array(target, "target", "mse_loss")
    _same_shape(pred, target, "mse_loss")
    return float(np.mean((pred - target) ** 2))


def softmax_naive(z, axis: int = -1):
    """``exp(z) / sum(exp(z))`` exactly as written: overflows for large logits (shown in Chapter 3)."""
    z = _array(z, "z", "softmax_naive")
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def logsumexp(z, axis: int = -1, keepdims: bool = False):
    """``log(sum(exp(z)))`` along ``axis``, stable for any finite logits."""
    z = _array(z, "z", "logsumexp")
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # a row of all -inf: leave it to give -inf, not nan
    out = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(z, axis: int = -1):
    z = _array(z, "z", "log_softmax")
    return z - logsumexp(z, axis=axis, keepdims=True)


def softmax(z, axis: int = -1):
    """Softmax with the maximum subtracted first: every exponent is <= 0, so nothing overflows."""
    z = _array(z, "z", "softmax")
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _check_class_targets(logits, targets, fn: str):
    logits = _array(logits, "logits", fn)
    if logits.ndim != 2:
        raise ValueError(f"{fn} expects logits of shape (N, C); got shape {logits.shape} (for one sample use logits[None])")
    targets = np.asarray(targets)
    if targets.shape != (logits.shape[0],) or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(
            f"{fn} expects integer class indices of shape ({logits.shape[0]},); got {targets.dtype} of shape {targets.shape} "
            "(one-hot targets? use targets.argmax(axis=1))"
        )
    if targets.size and (targets.min() < 0 or targets.max() >= logits.shape[1]):
        raise ValueError(f"{fn}: class indices must lie in [0, {logits.shape[1] - 1}]; got range [{targets.min()}, {targets.max()}]")
    return logits, targets


def cross_entropy(logits, targets):
    """Mean negative log-probability of the right class; takes *logits*, never probabilities."""
    logits, targets = _check_class_targets(logits, targets, "cross_entropy")
    logp = log_softmax(logits, axis=1)
    return float(-logp[np.arange(len(targets)), targets].mean())


def cross_entropy_grad(logits, targets):
    """``d cross_entropy / d logits = (softmax(logits) - onehot(targets)) / N``."""
    logits, targets = _check_class_targets(logits, targets, "cross_entropy_grad")
    grad = softmax(logits, axis=1)
    grad[np.arange(len(targets)), targets] -= 1.0
    return grad / len(targets)


def binary_cross_entropy(p, t):
    """BCE on probabilities, as usually written; ``log(0)`` gives inf when ``p`` is exactly 0 or 1."""
    p, t = _array(p, "p", "binary_cross_entropy"), _array(t, "t", "binary_cross_entropy")
    _same_shape(p, t, "binary_cross_entropy")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


def binary_cross_entropy_with_logits(z, t):
    """BCE computed from the logit ``z``: ``max(z, 0) - z t + log1p(exp(-|z|))``, averaged."""
    z, t = _array(z, "z", "binary_cross_entropy_with_logits"), _array(t, "t", "binary_cross_entropy_with_logits")
    _same_shape(z, t, "binary_cross_entropy_with_logits")
    return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))


def mse_grad_wrt_logit(z, t):
    """For ``p = sigmoid(z)`` and loss ``(p - t)^2 / 2``: ``dL/dz = (p - t) * p (1 - p)``."""
    from labs.activations import sigmoid

    p = sigmoid(z)
    return (p - t) * p * (1 - p)


def bce_grad_wrt_logit(z, t):
    """For ``p = sigmoid(z)`` and binary cross-entropy: ``dL/dz = p - t`` (the ``p (1 - p)`` cancels)."""
    from labs.activations import sigmoid

    return sigmoid(z) - t
