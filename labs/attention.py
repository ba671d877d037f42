"""Attention, written out as formulas in NumPy: scores -> weights -> context.

    scores  = attention_scores(q, k)              # (..., L, S) = q k^T / sqrt(d_k)
    weights = attention_weights(scores, mask)     # softmax over the keys, masked keys get 0
    context = weights @ v                         # (..., L, d_v); attention(q, k, v, mask) does all three

Chapter 7 builds the GPT of :mod:`labs.models.gpt` from these pieces, and the tests check
every formula here against PyTorch (``F.scaled_dot_product_attention``,
``nn.MultiheadAttention``). Also here:

- :func:`additive_scores`: Bahdanau's score ``v^T tanh(W_q q_i + W_k k_j)``, the older rival
  of the dot product;
- :func:`causal_mask` and :func:`padding_mask`. **One convention throughout: True = may
  attend.** The causal mask is aligned at the *bottom-right* corner: with L queries and
  S >= L keys, query i sits at position ``S - L + i`` and sees keys ``0 .. S - L + i``. That
  is what a KV cache needs (the new queries are the *last* L positions). PyTorch's
  ``is_causal=True`` is aligned top-left instead (query i sees keys ``0 .. i``); the two
  agree only when L == S;
- :func:`split_heads`, :func:`merge_heads` and :func:`multi_head_attention`: several heads
  are one reshape of the projections, not a loop;
- :func:`positional_encoding` (the sinusoidal table of "Attention Is All You Need",
  interleaved sin/cos) and :func:`position_rotation`, the fixed matrix that moves every
  position k steps forward.

A query row whose keys are all masked has nothing to attend to; it gets all-zero weights
(so a zero context), never the NaN of 0/0. ``labs.scratch`` and recent PyTorch releases
do the same.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "softmax", "attention_scores", "additive_scores", "attention_weights", "attention",
    "causal_mask", "padding_mask", "split_heads", "merge_heads", "multi_head_attention",
    "positional_encoding", "position_rotation",
]


def _float_array(x, name: str, fn: str, min_ndim: int = 1) -> np.ndarray:
    """``x`` as a floating-point array (integers become float64), with a clear error otherwise."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor: say how to convert it
        raise TypeError(f"{fn} works on NumPy arrays; got a torch tensor for {name}: pass {name}.detach().cpu().numpy()")
    arr = np.asarray(x)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{fn} expects {name} to hold numbers; got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.ndim < min_ndim:
        raise ValueError(f"{fn} expects {name} with at least {min_ndim} axes (..., sequence, features); got shape {arr.shape}")
    return arr


def _positive_int(value, name: str, fn: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{fn}: {name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def softmax(x, axis: int = -1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis``, after subtracting the maximum so exp never overflows.

    A slice that is entirely -inf (every entry masked) gives zeros instead of 0/0 = NaN.
    """
    x = _float_array(x, "x", "softmax", min_ndim=0)
    if np.isnan(x).any():
        raise ValueError("softmax got NaN inputs: find where they were made (a division by zero, an overflow) before attending")
    row_max = np.max(x, axis=axis, keepdims=True)
    dead = np.isneginf(row_max)
    shifted = x - np.where(dead, 0.0, row_max)  # a dead row stays -inf, so exp gives 0
    e = np.exp(shifted)
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(dead, 1.0, total)


def attention_scores(q, k, scale: float | None = None) -> np.ndarray:
    """Scaled dot-product scores ``q @ k^T * scale``, ``scale = 1/sqrt(d_k)`` by default.

    ``q`` is (..., L, d_k) and ``k`` is (..., S, d_k); the result is (..., L, S). Without the
    scale, the scores of random unit-variance vectors have variance d_k, so for large d_k
    the softmax saturates into a one-hot and its gradient vanishes; 1/sqrt(d_k) brings the
    variance back to 1.
    """
    q, k = _float_array(q, "q", "attention_scores", 2), _float_array(k, "k", "attention_scores", 2)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"attention_scores: q and k need the same feature size d_k (last axis); got q {q.shape} and k {k.shape}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return (q @ np.swapaxes(k, -1, -2)) * scale


def additive_scores(q, k, w_q, w_k, v) -> np.ndarray:
    """Bahdanau's additive scores ``score[i, j] = v . tanh(W_q q_i + W_k k_j)``.

    ``q`` (..., L, d_q), ``k`` (..., S, d_k), ``w_q`` (h, d_q), ``w_k`` (h, d_k), ``v`` (h,);
    the result is (..., L, S). A small network scores each (query, key) pair; the dot
    product replaced it because it is one matrix product and needs no extra weights.
    """
    fn = "additive_scores"
    q, k = _float_array(q, "q", fn, 2), _float_array(k, "k", fn, 2)
    w_q, w_k, v = _float_array(w_q, "w_q", fn, 2), _float_array(w_k, "w_k", fn, 2), _float_array(v, "v", fn, 1)
    if w_q.ndim != 2 or w_q.shape[1] != q.shape[-1]:
        raise ValueError(f"{fn}: w_q must be (hidden, d_q) = (hidden, {q.shape[-1]}); got {w_q.shape}")
    if w_k.ndim != 2 or w_k.shape[1] != k.shape[-1]:
        raise ValueError(f"{fn}: w_k must be (hidden, d_k) = (hidden, {k.shape[-1]}); got {w_k.shape}")
    if v.shape != (w_q.shape[0],) or w_k.shape[0] != w_q.shape[0]:
        raise ValueError(f"{fn}: w_q, w_k and v must share the hidden size; got w_q {w_q.shape}, w_k {w_k.shape}, v {v.shape}")
    hidden = (q @ w_q.T)[..., :, None, :] + (k @ w_k.T)[..., None, :, :]  # (..., L, S, h): every pair
    return np.tanh(hidden) @ v


def _check_mask(mask, L: int, S: int, fn: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"{fn} expects a boolean mask (True = may attend); got dtype {mask.dtype}: build it with causal_mask or padding_mask")
    if mask.ndim < 2 or mask.shape[-2] not in (1, L) or mask.shape[-1] not in (1, S):
        raise ValueError(f"{fn} expects a mask broadcastable to (..., L, S) = (..., {L}, {S}); got {mask.shape} "
                         "(a padding mask of shape (B, S) needs mask[:, None, :], or mask[:, None, None, :] with heads)")
    return mask


def attention_weights(scores, mask=None) -> np.ndarray:
    """``softmax(scores)`` over the keys (last axis), with ``mask`` False -> weight 0.

    ``scores`` is (..., L, S); ``mask`` is boolean, broadcastable to it, True = may attend.
    Each row sums to 1, except a row with every key masked, which is all zeros.
    """
    scores = _float_array(scores, "scores", "attention_weights", 2)
    if mask is not None:
        mask = _check_mask(mask, scores.shape[-2], scores.shape[-1], "attention_weights")
        scores = np.where(mask, scores, -np.inf)
    return softmax(scores, axis=-1)


def attention(q, k, v, mask=None, scale: float | None = None, return_weights: bool = False):
    """Scaled dot-product attention: ``attention_weights(q k^T / sqrt(d_k), mask) @ v``.

    ``q`` (..., L, d_k), ``k`` (..., S, d_k), ``v`` (..., S, d_v) -> context (..., L, d_v).
    Each output row is a weighted average of the value rows, with weights that say how
    well the query matches each key. With ``return_weights`` also returns the (..., L, S) weights.
    """
    v = _float_array(v, "v", "attention", 2)
    k_shape = np.shape(k)
    if len(k_shape) >= 2 and v.shape[-2] != k_shape[-2]:
        raise ValueError(f"attention: k and v need the same number of positions S (axis -2); got k {k_shape} and v {v.shape}")
    weights = attention_weights(attention_scores(q, k, scale), mask)
    context = weights @ v
    return (context, weights) if return_weights else context


def causal_mask(L: int, S: int | None = None) -> np.ndarray:
    """Boolean (L, S) mask, True = may attend, aligned at the bottom-right corner.

    Query i is position ``S - L + i`` of the sequence, and sees keys ``0 .. S - L + i``:
    the L new tokens come last, after ``S - L`` tokens already in a cache. ``S`` defaults
    to ``L`` (no cache), which gives the usual lower triangle.
    """
    L = _positive_int(L, "L (number of queries)", "causal_mask")
    S = L if S is None else _positive_int(S, "S (number of keys)", "causal_mask")
    if S < L:
        raise ValueError(f"causal_mask: the L={L} queries must be the last of the S={S} keys, so S >= L; got S < L")
    query_position = (S - L) + np.arange(L)[:, None]
    return np.arange(S)[None, :] <= query_position


def padding_mask(lengths, S: int) -> np.ndarray:
    """Boolean (B, S) mask, True at the real tokens: ``mask[b, j] = j < lengths[b]`` (right padding).

    To mask keys in attention, broadcast it over the queries: ``mask[:, None, :]`` for
    (B, L, S) scores, ``mask[:, None, None, :]`` for (B, heads, L, S).
    """
    S = _positive_int(S, "S (padded length)", "padding_mask")
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"padding_mask expects lengths as a 1-D sequence of ints, one per batch row; got shape {lengths.shape}, dtype {lengths.dtype}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > S):
        raise ValueError(f"padding_mask: every length must be between 0 and S={S}; got {lengths.tolist()}")
    return np.arange(S)[None, :] < lengths[:, None]


def split_heads(x, n_head: int) -> np.ndarray:
    """(B, T, C) -> (B, n_head, T, C // n_head): each head reads its own slice of the features."""
    x = _float_array(x, "x", "split_heads", 3)
    n_head = _positive_int(n_head, "n_head", "split_heads")
    C = x.shape[-1]
    if C % n_head:
        raise ValueError(f"split_heads: the feature size {C} must be divisible by n_head={n_head}")
    return np.swapaxes(x.reshape(*x.shape[:-1], n_head, C // n_head), -3, -2)


def merge_heads(x) -> np.ndarray:
    """(B, n_head, T, hs) -> (B, T, n_head * hs): the inverse of :func:`split_heads`."""
    x = _float_array(x, "x", "merge_heads", 4)
    x = np.swapaxes(x, -3, -2)  # (B, T, n_head, hs)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def multi_head_attention(query, key, value, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias,
                         num_heads: int, mask=None):
    """Multi-head attention with ``torch.nn.MultiheadAttention``'s weights, as reshapes.

    ``query`` (B, L, E), ``key`` and ``value`` (B, S, E); ``in_proj_weight`` (3E, E) stacks
    W_q, W_k, W_v; ``out_proj_weight`` (E, E). ``mask`` (True = may attend) broadcasts to
    (B, heads, L, S). Returns ``(output (B, L, E), weights (B, heads, L, S))``. The heads are
    not a loop: one projection, one reshape to (B, heads, T, E/heads), one batched attention.
    """
    fn = "multi_head_attention"
    query, key, value = (_float_array(t, name, fn, 3) for t, name in ((query, "query"), (key, "key"), (value, "value")))
    E = query.shape[-1]
    if key.shape[-1] != E or value.shape[-1] != E or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{fn}: query (B, L, E), key and value (B, S, E) must share E and S; got {query.shape}, {key.shape}, {value.shape}")
    w = _float_array(in_proj_weight, "in_proj_weight", fn, 2)
    if w.shape != (3 * E, E):
        raise ValueError(f"{fn}: in_proj_weight must be (3E, E) = ({3 * E}, {E}); got {w.shape}")
    b = np.zeros(3 * E) if in_proj_bias is None else _float_array(in_proj_bias, "in_proj_bias", fn)
    w_q, w_k, w_v = np.split(w, 3)
    b_q, b_k, b_v = np.split(b, 3)
    q = split_heads(query @ w_q.T + b_q, num_heads)  # (B, h, L, hs)
    k = split_heads(key @ w_k.T + b_k, num_heads)  # (B, h, S, hs)
    v = split_heads(value @ w_v.T + b_v, num_heads)  # (B, h, S, hs)
    context, weights = attention(q, k, v, mask, return_weights=True)  # (B, h, L, hs), (B, h, L, S)
    out = merge_heads(context) @ _float_array(out_proj_weight, "out_proj_weight", fn, 2).T
    if out_proj_bias is not None:
        out = out + _float_array(out_proj_bias, "out_proj_bias", fn)
    return out, weights


def _check_d_model(d_model, fn: str) -> int:
    d_model = _positive_int(d_model, "d_model", fn)
    if d_model % 2:
        raise ValueError(f"{fn}: d_model must be even (the features come in sin/cos pairs); got {d_model}")
    return d_model


def _frequencies(d_model: int, base: float, fn: str) -> np.ndarray:
    if not (isinstance(base, numbers.Real) and math.isfinite(base) and base > 1):
        raise ValueError(f"{fn}: base must be a finite number > 1 (the paper uses 10000.0); got {base!r}")
    two_i = np.arange(0, d_model, 2, dtype=np.float64)  # 0, 2, 4, ..., d - 2: one frequency per pair
    return 1.0 / float(base) ** (two_i / d_model)  # omega_i = base^(-2i/d)


def positional_encoding(seq_len: int, d_model: int, base: float = 10000.0) -> np.ndarray:
    """The sinusoidal position table, float64 of shape (seq_len, d_model), interleaved:

        PE[p, 2i]     = sin(p / base^(2i/d_model))
        PE[p, 2i + 1] = cos(p / base^(2i/d_model))

    Position p enters only through the angle p * omega_i and the dimension only through
    the frequency omega_i; each (sin, cos) pair turns at its own speed, from one radian a
    step (i = 0) down to almost still. Because each pair is a point on a circle, moving k
    positions ahead is a fixed rotation of every pair (:func:`position_rotation`).
    """
    seq_len = _positive_int(seq_len, "seq_len", "positional_encoding")
    d_model = _check_d_model(d_model, "positional_encoding")
    angles = np.arange(seq_len, dtype=np.float64)[:, None] * _frequencies(d_model, base, "positional_encoding")[None, :]
    pe = np.empty((seq_len, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles)
    return pe


def position_rotation(offset: int, d_model: int, base: float = 10000.0) -> np.ndarray:
    """The (d_model, d_model) matrix R with ``PE[p + offset] = R @ PE[p]`` for every p.

    Block diagonal: pair i is rotated by the angle ``offset * omega_i``,
    ``[sin(a + b), cos(a + b)] = [[cos b, sin b], [-sin b, cos b]] @ [sin a, cos a]``. R does
    not depend on p, which is why a model can learn relative offsets from these positions.
    """
    if isinstance(offset, bool) or not isinstance(offset, numbers.Integral):
        raise ValueError(f"position_rotation: offset must be an int (positions to move ahead); got {offset!r}")
    d_model = _check_d_model(d_model, "position_rotation")
    b = offset * _frequencies(d_model, base, "position_rotation")
    rotation = np.zeros((d_model, d_model), dtype=np.float64)
    even = np.arange(0, d_model, 2)
    rotation[even, even] = np.cos(b)
    rotation[even, even + 1] = np.sin(b)
    rotation[even + 1, even] = -np.sin(b)
    rotation[even + 1, even + 1] = np.cos(b)
    return rotation
