"""Graders for the exercises of Chapter 13, "Tools and resources".

Each grader calls the student's function on inputs of its own, compares with a reference
(PyTorch for the JAX port, :mod:`labs.reading_list` for the identifiers) and either prints one
success line or raises :class:`labs.check.ExerciseFailed` with the input, the expected and the
returned value, and a hint for the usual mistake (recognised by computing that mistake).
"""

from __future__ import annotations

import re

import numpy as np

from labs.check import call_student, expect_close, fail, matches, passed
from labs.reading_list import arxiv_id_is_valid, isbn13_is_valid

__all__ = ["arxiv_id_ok", "count_works", "isbn13_check_digit", "jax_cross_entropy"]


# --------------------------------------------------------------------------- Exercise 13.1


def jax_cross_entropy(fn) -> None:
    """``fn(logits, y)``: mean cross-entropy in jax.numpy, equal to torch's, finite for huge logits."""
    import torch
    import torch.nn.functional as F

    ex = "Exercise 13.1"
    rng = np.random.default_rng(13)
    cases = [
        (rng.normal(size=(5, 3)), rng.integers(0, 3, 5), "5 random rows of 3 logits"),
        (rng.normal(size=(1, 7)) * 3, np.array([6]), "one row of 7 logits"),
        (np.array([[1000.0, 0.0, -1000.0], [0.0, 2000.0, 1.0]]), np.array([0, 2]), "logits of +-1000 and 2000"),
    ]
    for logits, y, what in cases:
        expected = F.cross_entropy(torch.tensor(logits), torch.tensor(y)).item()
        got = call_student(ex, fn, (logits, y), inputs=what)
        try:
            got = float(np.asarray(got))
        except (TypeError, ValueError):
            fail(ex, f"for {what} expected one number; got {type(got).__name__}: {got!r}")
        hint = None
        if not np.isfinite(got):
            hint = ("exp(1000) overflows: subtract each row's maximum before exponentiating, "
                    "or use jax.scipy.special.logsumexp / jax.nn.log_softmax")
        elif matches(got, expected * len(y)) and len(y) > 1:
            hint = "this is the sum over the batch; torch's cross_entropy averages it (reduction='mean')"
        expect_close(ex, got, expected, what="the loss", inputs=what, rtol=1e-9, atol=1e-9, hint=hint)
    passed(ex, "equal to torch.nn.functional.cross_entropy, also for logits of size 2000")


# --------------------------------------------------------------------------- Exercise 13.2

ARXIV_CASES = [
    ("1608.06993", 2017), ("1706.03762", 2017), ("1512.03385", 2016), ("1807.06521", 2017),
    ("1607.02052", 2016), ("1613.00001", None), ("1412.12345", 2015), ("1503.1234", 2015),
    ("0706.1234", None), ("2106.11342", 2023), ("2106.11342", 2019), ("arXiv:1706.03762", None), ("1706.03762v5", 2017),
]


def arxiv_id_ok(fn) -> None:
    """``fn(identifier, year)``: True for a well-formed new-style arXiv ID that is not dated after year + 1."""
    ex = "Exercise 13.2"
    for identifier, year in ARXIV_CASES:
        expected = arxiv_id_is_valid(identifier, year)
        got = call_student(ex, fn, (identifier, year), inputs=f"({identifier!r}, {year})")
        if bool(got) != expected or not isinstance(got, (bool, np.bool_)):
            hint = None
            m = re.match(r"^(\d{2})(\d{2})\.(\d+)", identifier)
            if m and int(m[2]) > 12:
                hint = "the two digits after the year are a month: 13 is not one"
            elif m and year is not None and 2000 + int(m[1]) > year + 1:
                hint = f"an ID from 20{m[1]} cannot belong to a work published in {year}"
            elif m and (len(m[3]) == 5) != (int(m[1]) >= 15):
                hint = "arXiv numbers have 4 digits until 1412 and 5 digits from 1501"
            elif identifier.startswith("arXiv:"):
                hint = "the identifier is the bare number; 'arXiv:' is a prefix a citation adds"
            fail(ex, f"for ({identifier!r}, {year}) expected {expected}; got {got!r}", hint)
    passed(ex, f"{len(ARXIV_CASES)} identifiers judged like labs.reading_list.arxiv_id_is_valid")


# --------------------------------------------------------------------------- Exercise 13.3


def _reference_count(entries) -> int:
    return len({re.sub(r"[^a-z0-9]", "", title.lower()) for _, title in entries})


def count_works(fn) -> None:
    """``fn(entries)``: the number of distinct works in a list of (number, title), ignoring case, spaces and punctuation."""
    ex = "Exercise 13.3"
    cases = [
        [(1, "Deep Learning"), (2, "Deep Learning"), (3, "Network in Network")],
        [(1, "Deep Learning"), (2, "Attention is All You Need"), (3, "Attention Is All You Need")],
        [(1, "Network in Network"), (2, "Network In Network."), (3, "Going deeper with convolutions"),
         (4, "Going Deeper with Convolutions"), (5, "Squeeze-and-Excitation Networks"), (6, "Squeeze and Excitation Networks")],
        [(n, t) for n, t in enumerate(["A", "B", "a", "C", "b", " A "] * 3, 1)],
        [],
    ]
    for entries in cases:
        expected = _reference_count(entries)
        got = call_student(ex, fn, (list(entries),), inputs=f"{len(entries)} entries")
        if got != expected:
            hint = None
            if got == len(entries) and len({t for _, t in entries}) < len(entries):
                hint = "count distinct titles, not entries"
            elif got == len({t for _, t in entries}):
                hint = "titles that differ only in case, spaces or punctuation are the same work: normalise first"
            fail(ex, f"for {entries} expected {expected}; got {got!r}", hint)
    passed(ex, "distinct works counted through case, spacing and punctuation")


# --------------------------------------------------------------------------- Exercise 13.4


def isbn13_check_digit(fn) -> None:
    """``fn(first12)``: the ISBN-13 check digit (an int 0-9) of a string of 12 digits."""
    ex = "Exercise 13.4"
    rng = np.random.default_rng(4)
    cases = ["978026203561", "978161729443", "978100938943"] + ["978" + "".join(map(str, rng.integers(0, 10, 9))) for _ in range(20)]
    for first12 in cases:
        expected = next(d for d in range(10) if isbn13_is_valid(first12 + str(d)))
        got = call_student(ex, fn, (first12,), inputs=repr(first12))
        if got != expected or isinstance(got, bool):
            hint = None
            weighted = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
            if got == 10 - weighted % 10:
                hint = "when the weighted sum is already a multiple of 10 the check digit is 0, not 10: take (10 - s % 10) % 10"
            elif got == (10 - sum(int(d) * (1 if i % 2 else 3) for i, d in enumerate(first12)) % 10) % 10:
                hint = "the weights start with 1 on the first digit: 1, 3, 1, 3, ..."
            fail(ex, f"for {first12!r} expected {expected}; got {got!r}", hint)
    passed(ex, f"{len(cases)} check digits, including those of the chapter's three books")
