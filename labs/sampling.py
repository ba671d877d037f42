"""Turning a model's logits into the next token: temperature, top-k, top-p, then one draw.

    probs = sampling_probs(logits, temperature=0.8, top_k=40, top_p=0.95)   # (..., V), sums to 1
    token = sample_next(logits, 0.8, rng, top_k=40, top_p=0.95)            # one id, from (V,) logits
    ids   = sample_next_batch(logits, 0.8, rng, top_k=40)                   # (B,) ids, from (B, V) logits

The steps, always in this order:

1. **temperature** T: ``softmax(logits / T)``. T < 1 sharpens, T > 1 flattens; T = 0 means
   "always the most likely token" (the argmax), never a division by zero;
2. **top-k**: keep exactly the k most likely tokens (ties go to the lower id), zero the rest;
3. **top-p** (nucleus): sort what is left by probability and keep the smallest prefix whose
   mass reaches p, *including* the token that crosses p (so at least one token survives,
   and p = 1 keeps everything);
4. renormalise, then draw by the **inverse CDF** with one ``rng.random()`` per row.

Both engines (``labs.models`` and ``labs.scratch.models``) call these functions with
NumPy float64 logits and a NumPy generator, so with the same seed and equal logits they
write the same text. Chapter 6's :func:`labs.models.char_lm.sample_next` is this
:func:`sample_next` without top-k and top-p.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_sampling_args", "sampling_probs", "sample_next", "sample_next_batch"]


def check_sampling_args(temperature=1.0, top_k=None, top_p=None) -> tuple[float, int | None, float | None]:
    """Validate the three knobs; returns them as (float, int or None, float or None)."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 means always the most likely token); got {temperature!r}")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral):
            raise TypeError(f"top_k must be an int >= 1 (how many tokens to keep) or None; got {type(top_k).__name__} {top_k!r}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1 (how many of the most likely tokens to keep), or None for all; got {top_k}")
        top_k = int(top_k)
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1] (the probability mass to keep; 1 keeps all), or None; got {top_p!r}")
        top_p = float(top_p)
    return float(temperature), top_k, top_p


def _logits_array(logits, fn: str) -> np.ndarray:
    if hasattr(logits, "detach") and hasattr(logits, "numpy"):
        logits = logits.detach().cpu().double().numpy()  # a torch tensor
    elif hasattr(logits, "data") and isinstance(logits.data, np.ndarray):
        logits = logits.data  # a labs.scratch Tensor
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim < 1 or z.shape[-1] == 0:
        raise ValueError(f"{fn} expects logits of shape (..., V) with V >= 1; got shape {z.shape}")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError(f"{fn} got NaN or +inf logits: the model's output is broken (check the loss and the learning rate)")
    if np.isneginf(z).all(axis=-1).any():
        raise ValueError(f"{fn}: a row of logits is all -inf, so no token can be drawn")
    return z


def sampling_probs(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """The distribution a draw uses: float64 of the logits' shape (..., V), each row summing to 1.

    Temperature first, then top-k, then top-p (see the module docstring). ``top_k`` larger
    than V keeps all V tokens. Temperature 0 gives a one-hot on the argmax (the first
    one, on ties), whatever top-k and top-p say: the argmax survives both.
    """
    temperature, top_k, top_p = check_sampling_args(temperature, top_k, top_p)
    z = _logits_array(logits, "sampling_probs")
    V = z.shape[-1]
    if temperature == 0.0:
        return np.eye(V)[np.argmax(z, axis=-1)]
    z = z / temperature
    z = z - z.max(axis=-1, keepdims=True)  # the largest exponent is 0: no overflow however small T is
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    if top_k is None and top_p is None:
        return p
    # rank the tokens once: a stable sort on -p puts ties in id order
    order = np.argsort(-p, axis=-1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=-1)
    keep_sorted = np.ones(p.shape, dtype=bool)
    if top_k is not None and top_k < V:
        keep_sorted[..., top_k:] = False
        sorted_p = np.where(keep_sorted, sorted_p, 0.0)
        sorted_p /= sorted_p.sum(axis=-1, keepdims=True)
    if top_p is not None:
        mass_before = np.cumsum(sorted_p, axis=-1) - sorted_p  # the mass of the tokens ranked above
        keep_sorted &= mass_before < top_p  # the crossing token has mass_before < p: it stays
    keep = np.zeros(p.shape, dtype=bool)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    p = np.where(keep, p, 0.0)
    return p / p.sum(axis=-1, keepdims=True)


def _draw(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse CDF: the first token whose cumulative probability exceeds u * total, per row."""
    cdf = np.cumsum(probs, axis=-1)
    target = u * cdf[..., -1]
    ids = (cdf <= target[..., None]).sum(axis=-1)  # = searchsorted(cdf, target, side="right") per row
    return np.minimum(ids, probs.shape[-1] - 1)  # u * total can round up onto the last edge


def sample_next(logits, temperature: float, rng: np.random.Generator, top_k: int | None = None,
                top_p: float | None = None) -> int:
    """Draw one token id from 1-D ``logits`` (V,) with ``rng``: one ``rng.random()`` per draw.

    Temperature 0 returns the argmax and draws nothing from ``rng``.
    """
    temperature, top_k, top_p = check_sampling_args(temperature, top_k, top_p)
    z = _logits_array(logits, "sample_next")
    if z.ndim != 1:
        raise ValueError(f"sample_next expects logits of one position, shape (V,); got {z.shape}: "
                         "use logits[0, -1] for the last position, or sample_next_batch for (B, V)")
    if temperature == 0.0:
        return int(np.argmax(z))
    _check_rng(rng, "sample_next")
    probs = sampling_probs(z, temperature, top_k, top_p)
    return int(_draw(probs, np.asarray(rng.random())))


def sample_next_batch(logits, temperature: float, rng: np.random.Generator, top_k: int | None = None,
                      top_p: float | None = None) -> np.ndarray:
    """Draw one token per row of ``logits`` (B, V): an int64 array (B,).

    Uses ``rng.random(B)``, so row b gets the b-th uniform number: with B = 1 this is the
    same draw as :func:`sample_next`. Temperature 0 is the row-wise argmax (no draw).
    """
    temperature, top_k, top_p = check_sampling_args(temperature, top_k, top_p)
    z = _logits_array(logits, "sample_next_batch")
    if z.ndim != 2:
        raise ValueError(f"sample_next_batch expects logits of shape (B, V); got {z.shape}: use logits[:, -1] for the last position")
    if temperature == 0.0:
        return np.argmax(z, axis=-1).astype(np.int64)
    _check_rng(rng, "sample_next_batch")
    probs = sampling_probs(z, temperature, top_k, top_p)
    return _draw(probs, rng.random(z.shape[0])).astype(np.int64)


def _check_rng(rng, fn: str) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{fn} expects rng = numpy.random.default_rng(seed); got {type(rng).__name__}")
