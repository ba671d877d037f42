"""A translation-like task, generated: ISO dates to English dates, "1987-03-07" -> "7 march 1987".

    train, test = date_pairs(2000, seed=0), date_pairs(500, seed=1, exclude=train)
    task = DateTask()
    src, tgt_in, tgt_out = task.encode(train)   # (N, 10), (N, 18), (N, 18); -100 where nothing is scored

Like translation, the output reorders the input (the day moves to the front), rewrites
part of it in another vocabulary (the month's number becomes its name) and has another
length. Unlike translation, every answer is exactly right or wrong, so exact-match accuracy
is a fair metric. Target sequences start with BOS and end with EOS; ``tgt_out`` is
``tgt_in`` shifted by one, with the padding after EOS set to -100 (``ignore_index``).
"""

from __future__ import annotations

import datetime

import numpy as np

__all__ = ["MONTHS", "date_pairs", "DateTask"]

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
FIRST, LAST = datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)


def date_pairs(n: int, seed: int = 0, exclude=()) -> list:
    """``n`` distinct ``(iso, english)`` pairs of dates drawn uniformly from 1900-2099, none of them in ``exclude``."""
    span = (LAST - FIRST).days + 1
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= span - len(exclude):
        raise ValueError(f"date_pairs: n must be an int from 1 to {span - len(exclude)}; got {n!r}")
    banned = {iso for iso, _ in exclude}
    rng = np.random.default_rng(seed)
    pairs, seen = [], set()
    while len(pairs) < n:
        day = FIRST + datetime.timedelta(days=int(rng.integers(0, span)))
        iso = day.isoformat()
        if iso in seen or iso in banned:
            continue
        seen.add(iso)
        pairs.append((iso, f"{day.day} {MONTHS[day.month - 1]} {day.year}"))
    return pairs


class DateTask:
    """Character vocabularies and the encoding of pairs: source digits and '-', target PAD, BOS, EOS and characters."""

    PAD, BOS, EOS = 0, 1, 2

    def __init__(self):
        self.src_chars = "0123456789-"
        self.tgt_chars = "".join(sorted(set("0123456789 " + "".join(MONTHS))))
        self.src_block_size = 10
        self.tgt_block_size = 1 + max(len(f"{d} {m} 2000") for d in (28,) for m in MONTHS)  # BOS + longest, or + EOS
        self._src = {c: i for i, c in enumerate(self.src_chars)}
        self._tgt = {c: i + 3 for i, c in enumerate(self.tgt_chars)}

    @property
    def src_vocab_size(self) -> int:
        return len(self.src_chars)

    @property
    def tgt_vocab_size(self) -> int:
        return len(self.tgt_chars) + 3

    def encode(self, pairs):
        """``(src (N, 10), tgt_in (N, tgt_block_size), tgt_out (N, tgt_block_size))`` as int64 arrays."""
        N, T = len(pairs), self.tgt_block_size
        src = np.zeros((N, self.src_block_size), dtype=np.int64)
        tgt_in = np.full((N, T), self.PAD, dtype=np.int64)
        tgt_out = np.full((N, T), -100, dtype=np.int64)
        for i, (iso, english) in enumerate(pairs):
            if len(iso) != self.src_block_size or any(c not in self._src for c in iso):
                raise ValueError(f"DateTask.encode expects ISO dates such as '1987-03-07'; got {iso!r}")
            src[i] = [self._src[c] for c in iso]
            ids = [self._tgt[c] for c in english]
            tgt_in[i, :len(ids) + 1] = [self.BOS] + ids
            tgt_out[i, :len(ids) + 1] = ids + [self.EOS]
        return src, tgt_in, tgt_out

    def decode(self, ids) -> str:
        """Target ids to text, up to the first EOS (special ids are dropped)."""
        chars = []
        for i in np.asarray(ids).tolist():
            if i == self.EOS:
                break
            if i >= 3:
                chars.append(self.tgt_chars[i - 3])
        return "".join(chars)
