"""Self-supervised learning: training pairs made from raw text, with no labeller.

Two recipes turn a sequence of token ids into (input, label) pairs:

- next-token prediction (GPT): the input is a window of ``T`` tokens, the label
  is the token that follows it;
- masked-token prediction (BERT): some tokens are hidden behind a mask symbol
  and the labels are the hidden tokens; every other position carries the
  ``ignore_index`` label, which PyTorch's cross-entropy skips.

:class:`NeighbourCounts` is the simplest model that learns from such pairs: it
counts which token appears between given neighbours. It shows, with no neural
network at all, that the labels carry signal, and that seeing both sides of a
gap (as a masked model does) makes the gap easier to fill than seeing one side.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["IGNORE_INDEX", "next_token_pairs", "mask_tokens", "NeighbourCounts", "check_token_ids"]

IGNORE_INDEX = -100  # the label value torch.nn.functional.cross_entropy ignores by default


def check_token_ids(ids, name: str = "ids") -> np.ndarray:
    """Return ``ids`` as a 1-D int64 array, or raise a clear error."""
    if isinstance(ids, str):
        raise TypeError(f"{name} must be token ids, not text; encode it first: tokenizer.encode(text)")
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of token ids; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer token ids; got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def next_token_pairs(ids, context_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``context_length`` tokens and the token that follows it.

    Returns ``contexts`` of shape (N, T) and ``next_tokens`` of shape (N,), with
    N = len(ids) - T. The windows are views into ``ids`` (no copy), so a megabyte
    of text costs no extra memory.
    """
    ids = check_token_ids(ids)
    if isinstance(context_length, bool) or not isinstance(context_length, (int, np.integer)) or context_length < 1:
        raise ValueError(f"context_length must be a positive int; got {context_length!r}")
    if len(ids) <= context_length:
        raise ValueError(
            f"need more than context_length={context_length} tokens to make a pair; got {len(ids)}"
        )
    contexts = np.lib.stride_tricks.sliding_window_view(ids, context_length)[:-1]
    return contexts, ids[context_length:]


def mask_tokens(ids, mask_rate: float, mask_id: int, rng: np.random.Generator, ignore_index: int = IGNORE_INDEX,
                *, corruption: str = "mask", vocab_size: int | None = None):
    """Hide a random ``mask_rate`` share of the tokens; return ``(inputs, labels, positions)``.

    Exactly ``max(1, round(mask_rate * len(ids)))`` distinct positions are drawn
    with ``rng``; ``labels`` holds the original token there and ``ignore_index``
    everywhere else, so the loss is computed on those positions only.

    ``corruption`` says what the *input* shows at a chosen position:

    - ``"mask"``: always ``mask_id``;
    - ``"bert"``: BERT's recipe (Devlin et al., 2019, section 3.1): ``mask_id`` at 80 % of
      the chosen positions, a uniformly random token from ``[0, vocab_size)`` at 10 %, and
      the original token at the remaining 10 %. The model then cannot tell from its input
      which positions are scored, so it must keep a good representation of every token,
      and it also sees real tokens (never the mask symbol) at fine-tuning time.

    The split is exact up to rounding: ``round(0.8 k)`` masked, ``round(0.1 k)`` random,
    the rest unchanged (a "random" token may by chance equal the original, as in BERT).
    """
    ids = check_token_ids(ids)
    if not isinstance(mask_rate, (int, float)) or isinstance(mask_rate, bool) or not 0.0 < mask_rate <= 1.0:
        raise ValueError(f"mask_rate must be in (0, 1], e.g. 0.15 as in BERT; got {mask_rate!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); got {type(rng).__name__}")
    if corruption not in ("mask", "bert"):
        raise ValueError(f"corruption must be 'mask' (always the mask id) or 'bert' (80/10/10); got {corruption!r}")
    if corruption == "bert":
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
            raise ValueError(f"corruption='bert' draws random tokens from [0, vocab_size): pass vocab_size=<int >= 1>; "
                             f"got {vocab_size!r}")
        if 0 <= mask_id < vocab_size:
            raise ValueError(f"mask_id={mask_id} is a real token id (vocab_size={vocab_size}): use an id outside the "
                             f"vocabulary, e.g. mask_id=vocab_size, so a masked input is never mistaken for a character")
    if len(ids) == 0:
        raise ValueError("cannot mask an empty sequence")
    k = max(1, int(round(mask_rate * len(ids))))
    positions = np.sort(rng.choice(len(ids), size=k, replace=False))
    inputs = ids.copy()
    labels = np.full_like(ids, ignore_index)
    labels[positions] = ids[positions]
    if corruption == "mask":
        inputs[positions] = mask_id
        return inputs, labels, positions
    order = rng.permutation(positions)           # which chosen positions get which treatment
    n_mask, n_random = int(round(0.8 * k)), int(round(0.1 * k))
    inputs[order[:n_mask]] = mask_id
    random_at = order[n_mask:n_mask + n_random]
    inputs[random_at] = rng.integers(0, vocab_size, size=len(random_at))
    return inputs, labels, positions


class NeighbourCounts:
    """Predict a token from its left neighbour, or from both neighbours, by counting.

    ``sides="left"`` is a bigram model: it estimates p(x_t | x_{t-1}), the task of a
    next-token predictor with a context of one. ``sides="both"`` estimates
    p(x_t | x_{t-1}, x_{t+1}), the task of filling a one-token gap, as a masked
    model does. Counts get add-``k`` smoothing so unseen pairs keep a small
    probability.
    """

    def __init__(self, vocab_size: int, sides: str = "left", k: float = 0.1):
        if sides not in ("left", "both"):
            raise ValueError(f"sides must be 'left' or 'both'; got {sides!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 2:
            raise ValueError(f"vocab_size must be an int >= 2; got {vocab_size!r}")
        if not (isinstance(k, (int, float)) and k > 0):
            raise ValueError(f"k must be positive (k = 0 gives unseen pairs probability 0); got {k!r}")
        self.vocab_size, self.sides, self.k = int(vocab_size), sides, float(k)
        self.counts = None

    def _contexts(self, ids: np.ndarray) -> np.ndarray:
        # positions 1 .. n-2 have both neighbours; both models are scored on the same positions
        left = ids[:-2]
        if self.sides == "left":
            return left
        return left * self.vocab_size + ids[2:]

    def _check(self, ids) -> np.ndarray:
        ids = check_token_ids(ids)
        if len(ids) < 3:
            raise ValueError(f"need at least 3 tokens (a middle one with two neighbours); got {len(ids)}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"ids must lie in [0, {self.vocab_size}); got values from {ids.min()} to {ids.max()}")
        return ids

    def fit(self, ids) -> "NeighbourCounts":
        ids = self._check(ids)
        n_contexts = self.vocab_size ** (1 if self.sides == "left" else 2)
        flat = self._contexts(ids) * self.vocab_size + ids[1:-1]
        self.counts = np.bincount(flat, minlength=n_contexts * self.vocab_size).reshape(n_contexts, self.vocab_size)
        return self

    def _require_fit(self):
        if self.counts is None:
            raise RuntimeError("call fit(train_ids) before scoring")

    def log2_probs(self, ids) -> np.ndarray:
        """log2 p(middle token | its context) for every position 1 .. len(ids) - 2."""
        self._require_fit()
        ids = self._check(ids)
        contexts = self._contexts(ids)
        # gather only the counts needed, never a (positions x vocab) table
        picked = self.counts[contexts, ids[1:-1]] + self.k
        totals = self.counts.sum(axis=1)[contexts] + self.k * self.vocab_size
        return np.log2(picked) - np.log2(totals)

    def bits_per_token(self, ids) -> float:
        """Mean cross-entropy in bits; log2(vocab_size) means 'learned nothing'."""
        return float(-self.log2_probs(ids).mean())

    def accuracy(self, ids) -> float:
        """How often the most frequent token for the context is the right one."""
        self._require_fit()
        ids = self._check(ids)
        guess = self.counts.argmax(axis=1)[self._contexts(ids)]
        return float((guess == ids[1:-1]).mean())

    @staticmethod
    def uniform_bits(vocab_size: int) -> float:
        return math.log2(vocab_size)
