"""Counting baselines for character language models: unigram and bigram with add-k smoothing.

A neural language model is worth its cost only if it beats these. Both are scored the
way the neural model is: on the same targets (every character of the text after the
first), in **bits per character**,

    bpc = -(1 / N) * sum_t log2 p(c_t | what the model sees before c_t),

the average number of bits an ideal coder driven by the model spends per character.
A model that knows nothing (uniform over V symbols) scores exactly ``log2(V)``.

Add-k (Lidstone) smoothing adds ``k`` to every count before normalising, so a pair
never seen in training still gets a small probability instead of zero (which would make
the validation bpc infinite). ``k = 1`` is Laplace's add-one rule.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["UnigramLM", "BigramLM", "uniform_bits_per_char", "nats_to_bits", "check_ids"]


def check_ids(ids, vocab_size: int, name: str = "ids", min_length: int = 2) -> np.ndarray:
    """Validate a 1-D sequence of token ids in ``[0, vocab_size)``; return it as int64."""
    if isinstance(ids, str):
        raise TypeError(f"{name} must be integer token ids, not text; encode it first (tokenizer.encode(text))")
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of token ids; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers (token ids); got dtype {arr.dtype}")
    if arr.size < min_length:
        raise ValueError(f"{name} needs at least {min_length} tokens to score a next-token prediction; got {arr.size}")
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(
            f"{name} must lie in [0, {vocab_size}) for vocab_size={vocab_size}; got values from {arr.min()} to {arr.max()}"
        )
    return arr.astype(np.int64)


def _check_vocab_and_k(vocab_size, k):
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int; got {vocab_size!r}")
    if not (isinstance(k, (int, float, np.floating)) and math.isfinite(k) and k > 0):
        raise ValueError(
            f"the smoothing constant k must be a positive number; got {k!r} "
            "(k = 0 gives unseen characters probability 0 and an infinite validation bpc)"
        )


def nats_to_bits(nats: float) -> float:
    """Convert a cross-entropy in nats (what ``F.cross_entropy`` returns) to bits."""
    return float(nats) / math.log(2.0)


def uniform_bits_per_char(vocab_size: int) -> float:
    """The bpc of the model that gives every one of ``vocab_size`` symbols the same probability."""
    _check_vocab_and_k(vocab_size, 1.0)
    return math.log2(vocab_size)


class UnigramLM:
    """``p(c) = (count(c) + k) / (N + k V)``: character frequencies, context ignored."""

    def __init__(self, vocab_size: int, k: float = 1.0):
        _check_vocab_and_k(vocab_size, k)
        self.vocab_size = int(vocab_size)
        self.k = float(k)
        self.counts = None
        self.probs = None

    def fit(self, ids) -> "UnigramLM":
        ids = check_ids(ids, self.vocab_size, min_length=1)
        self.counts = np.bincount(ids, minlength=self.vocab_size).astype(np.float64)
        self.probs = (self.counts + self.k) / (self.counts.sum() + self.k * self.vocab_size)
        return self

    def _require_fit(self):
        if self.probs is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call .fit(train_ids) first")

    def target_log2_probs(self, ids) -> np.ndarray:
        """``log2 p(ids[t])`` for every target ``t >= 1`` (the first character has no context)."""
        self._require_fit()
        ids = check_ids(ids, self.vocab_size)
        return np.log2(self.probs[ids[1:]])

    def bits_per_char(self, ids) -> float:
        return float(-self.target_log2_probs(ids).mean())

    def sample(self, n: int, seed: int = 0, start: int | None = None) -> np.ndarray:
        """``n`` ids drawn independently from the unigram distribution (seeded)."""
        self._require_fit()
        rng = np.random.default_rng(seed)
        return rng.choice(self.vocab_size, size=n, p=self.probs)


class BigramLM(UnigramLM):
    """``p(b | a) = (count(a, b) + k) / (count(a, .) + k V)``: one character of context.

    ``probs`` is a (V, V) matrix whose row ``a`` is the distribution of the next
    character after ``a``; each row sums to 1, including rows of characters never seen.
    """

    def fit(self, ids) -> "BigramLM":
        ids = check_ids(ids, self.vocab_size)
        V = self.vocab_size
        # Count every adjacent pair (a, b) in one pass: pair index a * V + b.
        self.counts = np.bincount(ids[:-1] * V + ids[1:], minlength=V * V).reshape(V, V).astype(np.float64)
        self.probs = (self.counts + self.k) / (self.counts.sum(axis=1, keepdims=True) + self.k * V)
        return self

    def target_log2_probs(self, ids) -> np.ndarray:
        self._require_fit()
        ids = check_ids(ids, self.vocab_size)
        return np.log2(self.probs[ids[:-1], ids[1:]])

    def sample(self, n: int, seed: int = 0, start: int | None = None) -> np.ndarray:
        """``n`` ids, each drawn from the row of the previous one (seeded)."""
        self._require_fit()
        rng = np.random.default_rng(seed)
        prev = int(rng.choice(self.vocab_size, p=self.probs.mean(axis=0))) if start is None else int(start)
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            prev = int(rng.choice(self.vocab_size, p=self.probs[prev]))
            out[i] = prev
        return out
