"""``nn.utils``: gradient clipping, as ``torch.nn.utils``."""

from __future__ import annotations

import math

import numpy as np

from labs.scratch.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters, fn: str) -> list:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn} expects Tensors (e.g. model.parameters()); got {type(p).__name__}")
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients together so that their global norm is at most ``max_norm``.

    The global norm is the ``norm_type``-norm of all gradients stacked into one vector. Each
    gradient is multiplied by min(1, max_norm / (norm + 1e-6)), torch's rule, so the update
    keeps its direction. Returns the norm before clipping (a 0-d tensor). Use it between
    ``loss.backward()`` and ``optimizer.step()``.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not (max_norm > 0 and math.isfinite(max_norm)):
        raise ValueError(f"clip_grad_norm_: max_norm must be a positive number; got {max_norm}")
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be positive (2.0, or inf for the largest entry); got {norm_type}")
    params = _with_grads(parameters, "clip_grad_norm_")
    if not params:
        return Tensor(np.asarray(0.0, dtype=np.float32))
    grads = [p.grad.data for p in params]
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        total = float(sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is {total}, so they cannot be clipped")
    coef = min(1.0, max_norm / (total + 1e-6))
    for g in grads:
        g *= g.dtype.type(coef)  # in place, as torch's trailing underscore says
    return Tensor(np.asarray(total, dtype=grads[0].dtype))


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    if not clip_value > 0:
        raise ValueError(f"clip_grad_value_: clip_value must be positive; got {clip_value}")
    for p in _with_grads(parameters, "clip_grad_value_"):
        np.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)
