"""A byte-level BPE tokenizer trained locally: minbpe's "basic" algorithm, vectorised with NumPy.

    tok = ByteBPETokenizer.train(text, vocab_size=512)
    ids = tok.encode("any Unicode text")     # int64 array
    tok.decode(ids) == "any Unicode text"    # True, for every str
    tok.merges                               # {(a, b): new id}, in the order they were learned

Text is first its UTF-8 bytes, so the 256 byte values are the first 256 tokens and no text
is ever out of vocabulary. Training repeats one step ``vocab_size - 256`` times: count
every adjacent pair of tokens (overlapping pairs count: "aaa" holds (a, a) twice), take the
most frequent pair (a tie goes to the smallest pair, so the result does not depend on the
order of a hash table), give it the next id, and replace its occurrences left to right
without overlap ("aaaa" becomes two new tokens, not three). Encoding applies the learned
merges to new text, always the earliest-learned pair present first, which reproduces
what training did (and comes down to one pass per merge, in the order they were learned).

Each step is a few whole-array NumPy operations (a ``bincount`` over pair codes, a mask
of matches), not a Python loop over characters, so 200k characters train in a fraction
of a second. :func:`bits_per_byte` turns a loss per token into the unit that compares
models with different tokenizers.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ByteBPETokenizer", "bits_per_byte"]

_BINCOUNT_LIMIT = 1 << 22  # pair codes up to this many: count with bincount, else with unique


def _utf8(text: str) -> np.ndarray:
    if not isinstance(text, str):
        raise TypeError(f"expected a str; got {type(text).__name__} (decode turns ids into text)")
    # surrogatepass: a lone surrogate ("\ud800") is a valid Python str, so it must round-trip too
    return np.frombuffer(text.encode("utf-8", errors="surrogatepass"), dtype=np.uint8).astype(np.int64)


def _most_frequent_pair(ids: np.ndarray, base: int) -> int:
    """The code ``a * base + b`` of the most frequent adjacent pair; a tie goes to the smallest code."""
    codes = ids[:-1] * base + ids[1:]
    if base * base <= _BINCOUNT_LIMIT:
        return int(np.argmax(np.bincount(codes, minlength=base * base)))  # argmax: the first maximum
    distinct, counts = np.unique(codes, return_counts=True)  # sorted codes
    return int(distinct[np.argmax(counts)])


def _merge(ids: np.ndarray, a: int, b: int, new: int) -> np.ndarray:
    """Replace the occurrences of (a, b) by ``new``, left to right, never overlapping."""
    at = np.flatnonzero(ids[:-1] == a)  # the a's first, then which of them a b follows: one full pass, not three
    starts = at[ids[at + 1] == b]
    if starts.size == 0:
        return ids
    if a == b:  # in a run "a a a a" the matches at i, i+1, i+2 overlap: keep every other one
        run_start = np.r_[True, np.diff(starts) != 1]
        first = np.maximum.accumulate(np.where(run_start, np.arange(starts.size), 0))  # index of the run's first match
        starts = starts[(np.arange(starts.size) - first) % 2 == 0]
    out = ids.copy()
    out[starts] = new
    return np.delete(out, starts + 1)


class ByteBPETokenizer:
    """``ByteBPETokenizer(merges)`` from a ``{(a, b): new_id}`` dict; usually made by :meth:`train`."""

    def __init__(self, merges: dict):
        if not isinstance(merges, dict):
            raise TypeError(f"ByteBPETokenizer expects a dict {{(a, b): new_id}}; got {type(merges).__name__}")
        vocab = [bytes([i]) for i in range(256)]
        for expected, (pair, new) in enumerate(merges.items(), start=256):
            if new != expected or len(pair) != 2 or not all(0 <= int(t) < new for t in pair):
                raise ValueError(f"merge {pair} -> {new}: merges must give ids 256, 257, ... in order, each "
                                 f"joining two earlier ids; expected id {expected}")
            vocab.append(vocab[pair[0]] + vocab[pair[1]])
        self.merges = {(int(a), int(b)): int(new) for (a, b), new in merges.items()}
        self.vocab = vocab  # id -> its bytes

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "ByteBPETokenizer":
        """Learn ``vocab_size - 256`` merges from ``text`` (its UTF-8 bytes)."""
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)):
            raise TypeError(f"vocab_size must be an int >= 256; got {type(vocab_size).__name__} {vocab_size!r}")
        if vocab_size < 256:
            raise ValueError(f"vocab_size must be >= 256 (the 256 byte values come first); got {vocab_size}")
        ids = _utf8(text)
        merges = {}
        for new in range(256, int(vocab_size)):
            if ids.size < 2:
                raise ValueError(f"the text is down to {ids.size} token(s) after {len(merges)} merges, so it cannot "
                                 f"give {vocab_size - 256}: ask for vocab_size <= {256 + len(merges)} or give more text")
            a, b = divmod(_most_frequent_pair(ids, vocab_size), vocab_size)
            merges[(a, b)] = new
            ids = _merge(ids, a, b, new)
        return cls(merges)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"ByteBPETokenizer(vocab_size={self.vocab_size})"

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``: an int64 array, applying the earliest-learned merge present each time.

        That is the same as applying every merge once, in the order they were learned: a merge
        leaves none of its pairs behind, and the only new pairs it makes hold its new id, whose
        merges were all learned later. So one pass per merge, over ids kept in 16 bits where
        the vocabulary fits (a quarter of the memory traffic of int64).
        """
        ids = _utf8(text)
        ids = ids.astype(np.int16 if self.vocab_size <= np.iinfo(np.int16).max + 1 else np.int32)
        for (a, b), new in self.merges.items():
            if ids.size < 2:
                break
            ids = _merge(ids, a, b, new)
        return ids.astype(np.int64)

    def decode(self, ids, errors: str = "replace") -> str:
        """The text of ``ids`` (list, NumPy array or tensor). Ids that :meth:`encode` made decode
        exactly; ids that split a character (a model's samples can) decode with ``errors``."""
        if hasattr(ids, "detach"):  # a torch tensor, possibly on the GPU
            ids = ids.detach().cpu().numpy()
        arr = np.asarray(ids)
        if arr.size == 0:
            return ""
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"decode expects a 1-D sequence of integer ids; got {arr.dtype} of shape {arr.shape}")
        bad = (arr < 0) | (arr >= self.vocab_size)
        if bad.any():
            raise ValueError(f"decode got id(s) {sorted(set(arr[bad].tolist()))[:10]} outside [0, {self.vocab_size}): "
                             "were they made by another tokenizer?")
        data = b"".join(self.vocab[i] for i in arr.tolist())
        try:
            return data.decode("utf-8", errors="surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", errors=errors)


def bits_per_byte(loss_per_token: float, n_tokens: int, n_bytes: int) -> float:
    """A mean cross-entropy in nats per token, as bits per byte of the text those tokens encode.

    ``loss * n_tokens`` nats is the cost of the whole text, whatever the tokenizer; divided
    by ln 2 it is bits, and by ``n_bytes`` (its UTF-8 length) bits per byte. A character model
    of ASCII text has n_tokens == n_bytes; a BPE model has fewer, costlier tokens.
    """
    loss = float(loss_per_token)
    if not math.isfinite(loss) or loss < 0:
        raise ValueError(f"bits_per_byte: the loss must be a finite number of nats >= 0; got {loss_per_token!r}")
    for name, value in (("n_tokens", n_tokens), ("n_bytes", n_bytes)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"bits_per_byte: {name} must be an int >= 1; got {value!r}")
    return loss * int(n_tokens) / (math.log(2) * int(n_bytes))
