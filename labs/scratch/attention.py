"""Scaled dot-product attention for the NumPy engine, with its backward pass written out.

    scores  = query @ key^T * scale + mask          # (..., L, S); scale = 1/sqrt(E) by default
    weights = softmax(scores, dim=-1)               # each query's distribution over the keys
    output  = dropout(weights) @ value              # (..., L, E_v)

Masks follow ``torch.nn.functional.scaled_dot_product_attention``:

* a **boolean** ``attn_mask`` says where a query *may attend* (True = attend, False = blocked;
  note that ``nn.MultiheadAttention`` uses the opposite convention, True = blocked);
* a **float** ``attn_mask`` is *added* to the scores (0 keeps a score, -inf removes it);
* ``is_causal=True`` lets query i see keys 0..i only (the lower-left triangle, aligned at
  the top-left corner as in PyTorch).

**A query row with every key masked** has nothing to attend to: its softmax would be
0/0. Plain softmax (and ``nn.MultiheadAttention`` in PyTorch) returns NaN there, which then
spreads silently through the network. This engine does what recent PyTorch releases do in
``scaled_dot_product_attention`` (the tests compare with the installed torch): such a row
gets **all-zero weights**, so its output is zero and no gradient flows through it. It is a finite result,
never a NaN, and it is what a batch needs when, for example, left padding meets a causal
mask (a padded query sees only padded keys). ``attention_weights`` follows the same rule.

The backward pass is derived once and written out, so it runs as a few matrix products:
with ``dP = dO @ V^T``, the softmax backward is ``dS = P * (dP - sum(dP * P, -1))``, then
``dQ = dS @ K * scale``, ``dK = dS^T @ Q * scale`` and ``dV = P^T @ dO``.
"""

from __future__ import annotations

import math

import numpy as np

from labs.scratch.tensor import Tensor, get_generator, unbroadcast

__all__ = ["scaled_dot_product_attention", "attention_weights"]


def _check(t, name: str, fn: str):
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn} expects {name} to be a labs.scratch Tensor; got {type(t).__name__}: wrap it with labs.scratch.tensor(...)")
    if not np.issubdtype(t.data.dtype, np.floating):
        raise TypeError(f"{fn} expects a floating-point {name}; got dtype {t.data.dtype}")
    if t.data.ndim < 2:
        raise ValueError(f"{fn} expects {name} of shape (..., sequence, features); got {t.data.shape}")
    return t


def _score_bias(attn_mask, is_causal: bool, L: int, S: int, dtype, fn: str):
    """The additive mask (0 / -inf, or the user's floats) as an array, or None."""
    if attn_mask is not None and is_causal:
        raise ValueError(f"{fn}: pass either attn_mask or is_causal=True, not both (as in PyTorch): fold the causal mask into attn_mask")
    if is_causal:
        allowed = np.tril(np.ones((L, S), dtype=bool))
        return np.where(allowed, 0.0, -np.inf).astype(dtype)
    if attn_mask is None:
        return None
    mask = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if mask.ndim < 2 or mask.shape[-2:] not in ((L, S), (1, S), (L, 1), (1, 1)):
        raise ValueError(f"{fn} expects attn_mask broadcastable to (..., L, S) = (..., {L}, {S}); got {mask.shape}")
    if mask.dtype == bool:
        return np.where(mask, 0.0, -np.inf).astype(dtype)
    if not np.issubdtype(mask.dtype, np.floating):
        raise TypeError(f"{fn} expects a boolean (True = attend) or float (added to the scores) attn_mask; got dtype {mask.dtype}")
    return mask.astype(dtype, copy=False)


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    """Stable softmax over the last axis, computed in place in ``scores`` (a fresh array).

    A row where every score is -inf (every key masked) gets all zeros instead of 0/0 = NaN.
    """
    row_max = scores.max(axis=-1, keepdims=True)
    dead = np.isneginf(row_max)
    if dead.any():  # shift those rows by 0 instead of -inf, so exp gives 0 rather than NaN
        row_max[dead] = 0.0
    weights = np.subtract(scores, row_max, out=scores)
    np.exp(weights, out=weights)
    total = weights.sum(axis=-1, keepdims=True)
    if dead.any():
        total[dead] = 1.0  # 0 / 1: the fully masked row stays zero
    weights /= total
    return weights


def _softmax_backward(weights: np.ndarray, grad_weights: np.ndarray) -> np.ndarray:
    """d(loss)/d(scores) from d(loss)/d(softmax(scores)): P * (dP - sum(dP * P)).

    Overwrites ``grad_weights``, which the callers compute fresh for this purpose.
    """
    row_dot = np.einsum("...j,...j->...", grad_weights, weights)[..., None]
    grad_weights -= row_dot
    grad_weights *= weights
    return grad_weights


def _scaled(fresh: np.ndarray, scale: float) -> np.ndarray:
    fresh *= scale  # in place: the array was just computed for this purpose
    return fresh


def _dropout_keep(shape, p: float, dtype):
    """Keep-mask already scaled by 1/(1-p) (inverted dropout), drawn from the engine's generator."""
    rng = get_generator()
    return (rng.random(shape) >= p).astype(dtype) / dtype.type(1.0 - p)


def _prepare(query, key, value, attn_mask, dropout_p, is_causal, scale, fn):
    for t, name in ((query, "query"), (key, "key")):
        _check(t, name, fn)
    q, k = query.data, key.data
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{fn}: query and key need the same feature size (last axis); got query {q.shape} and key {k.shape}")
    if value is not None:
        _check(value, "value", fn)
        if value.data.shape[-2] != k.shape[-2]:
            raise ValueError(f"{fn}: key and value need the same sequence length (axis -2); got key {k.shape} and value {value.data.shape}")
    dtypes = {t.data.dtype for t in (query, key, value) if t is not None}
    if len(dtypes) > 1:
        raise TypeError(f"{fn} expects query, key and value of one dtype; got {sorted(map(str, dtypes))}")
    if not 0.0 <= float(dropout_p) < 1.0:
        raise ValueError(f"{fn} expects 0 <= dropout_p < 1; got {dropout_p}")
    if q.shape[-2] == 0 or k.shape[-2] == 0:
        raise ValueError(f"{fn} got an empty sequence: query {q.shape}, key {k.shape}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    bias = _score_bias(attn_mask, is_causal, q.shape[-2], k.shape[-2], q.dtype, fn)
    scores = np.matmul(q, np.swapaxes(k, -1, -2))  # (..., L, S), a fresh array we may overwrite
    scores *= scale
    if bias is not None:
        if np.broadcast_shapes(scores.shape, bias.shape) == scores.shape:
            scores += bias
        else:  # the mask has batch axes that q and k lack
            scores = scores + bias
    return q, k, scale, bias, scores


def _mask_parent(attn_mask):
    """A float mask Tensor that requires grad is a parent of the op (PyTorch lets it learn)."""
    if isinstance(attn_mask, Tensor) and attn_mask.requires_grad and attn_mask.data.dtype != bool:
        return attn_mask
    return None


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """``softmax(query @ key^T * scale + mask) @ value``, like ``torch.nn.functional.scaled_dot_product_attention``.

    Shapes: query ``(..., L, E)``, key ``(..., S, E)``, value ``(..., S, E_v)``; output
    ``(..., L, E_v)``. ``attn_mask``: boolean (True = may attend) or float (added to the
    scores), broadcastable to ``(..., L, S)``. ``is_causal=True``: query i sees keys 0..i.
    ``scale`` defaults to ``1/sqrt(E)``. ``dropout_p`` drops attention weights (always,
    like PyTorch's function: pass 0.0 at evaluation time).

    A query row whose keys are all masked gets zero weights and a zero output, as in
    PyTorch's function (never NaN).
    """
    fn = "scaled_dot_product_attention"
    q, k, scale, bias, scores = _prepare(query, key, value, attn_mask, dropout_p, is_causal, scale, fn)
    v = value.data
    weights = _softmax_rows(scores)  # (..., L, S)
    keep = _dropout_keep(weights.shape, float(dropout_p), weights.dtype) if dropout_p > 0 else None
    dropped = weights * keep if keep is not None else weights
    out = np.matmul(dropped, v)
    mask_parent = _mask_parent(attn_mask)

    def backward(grad):
        grad_v = unbroadcast(np.matmul(np.swapaxes(dropped, -1, -2), grad), v.shape)
        grad_w = np.matmul(grad, np.swapaxes(v, -1, -2))
        if keep is not None:
            grad_w = grad_w * keep
        grad_s = _softmax_backward(weights, grad_w)
        grad_q = unbroadcast(_scaled(np.matmul(grad_s, k), scale), q.shape)
        grad_k = unbroadcast(_scaled(np.matmul(np.swapaxes(grad_s, -1, -2), q), scale), k.shape)
        grads = (grad_q, grad_k, grad_v)
        if mask_parent is not None:
            grads += (unbroadcast(grad_s, mask_parent.data.shape),)
        return grads

    parents = (query, key, value) + ((mask_parent,) if mask_parent is not None else ())
    return Tensor.from_op(out, parents, backward, fn)


def attention_weights(query, key, attn_mask=None, is_causal=False, scale=None):
    """The attention weights ``softmax(query @ key^T * scale + mask)`` alone, differentiable.

    Same arguments and mask conventions as :func:`scaled_dot_product_attention`; returns
    shape ``(..., L, S)``, each row summing to 1. ``nn.MultiheadAttention`` uses it so it can
    return the weights, and chapter 7 draws them as attention maps.
    """
    fn = "attention_weights"
    q, k, scale, bias, scores = _prepare(query, key, None, attn_mask, 0.0, is_causal, scale, fn)
    weights = _softmax_rows(scores)
    mask_parent = _mask_parent(attn_mask)

    def backward(grad):
        grad_s = _softmax_backward(weights, grad.copy())  # the incoming gradient is not ours to overwrite
        grad_q = unbroadcast(_scaled(np.matmul(grad_s, k), scale), q.shape)
        grad_k = unbroadcast(_scaled(np.matmul(np.swapaxes(grad_s, -1, -2), q), scale), k.shape)
        grads = (grad_q, grad_k)
        if mask_parent is not None:
            grads += (unbroadcast(grad_s, mask_parent.data.shape),)
        return grads

    parents = (query, key) + ((mask_parent,) if mask_parent is not None else ())
    return Tensor.from_op(weights, parents, backward, fn)
