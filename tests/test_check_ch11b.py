"""Chapter 11b graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch11b


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 11b.x: not yet")


@pytest.mark.parametrize("grader", [ch11b.accept_and_residual, ch11b.p99, ch11b.validate_ids, ch11b.best_gamma])
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 11b.x"):
        grader(stub)


# ----------------------------------------------------------------------------- Exercise 11b.1


def accept_right(p, q):
    accept = np.ones_like(p)
    proposed = q > 0
    accept[proposed] = np.minimum(1.0, p[proposed] / q[proposed])
    r = np.maximum(p - q, 0)
    return accept, (p.copy() if r.sum() <= 1e-12 else r / r.sum())


def test_accept_and_residual_accepts_the_reference(capsys):
    ch11b.accept_and_residual(accept_right)
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda p, q: (np.where(q > 0, p / np.where(q > 0, q, 1), 1.0), accept_right(p, q)[1]), "cannot exceed 1"),
    (lambda p, q: (accept_right(p, q)[0], np.maximum(p - q, 0)), "divide by its sum"),
    (lambda p, q: (accept_right(p, q)[0], p - q), "clip the difference"),
    (lambda p, q: (accept_right(p, q)[0], np.maximum(p - q, 0) / max(np.maximum(p - q, 0).sum(), 1e-300)), "return p itself"),
])
def test_accept_and_residual_names_the_slip(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch11b.accept_and_residual(wrong)


# ----------------------------------------------------------------------------- Exercise 11b.2


def p99_right(latencies):
    if len(latencies) == 0:
        raise ValueError("no latencies")
    values = sorted(latencies)
    return values[math.ceil(0.99 * len(values)) - 1]


def test_p99_accepts_the_reference_and_numpy_nearest_rank(capsys):
    ch11b.p99(p99_right)

    def with_numpy(latencies):
        if not latencies:
            raise ValueError("empty")
        return float(np.percentile(latencies, 99, method="inverted_cdf"))

    ch11b.p99(with_numpy)
    assert capsys.readouterr().out.count("passed") == 2


@pytest.mark.parametrize("wrong, hint", [
    (lambda l: float(np.percentile(l, 99)) if l else (_ for _ in ()).throw(ValueError("empty")), "interpolates"),
    (lambda l: sorted(l)[min(int(0.99 * len(l)), len(l) - 1)] if l else (_ for _ in ()).throw(ValueError("e")), "ceil"),
    (lambda l: l[math.ceil(0.99 * len(l)) - 1] if l else (_ for _ in ()).throw(ValueError("e")), "sort"),
])
def test_p99_names_the_slip(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch11b.p99(wrong)


def test_p99_must_refuse_an_empty_list():
    with pytest.raises(ExerciseFailed, match="ValueError"):
        ch11b.p99(lambda l: sorted(l)[math.ceil(0.99 * len(l)) - 1] if l else 0.0)


# ----------------------------------------------------------------------------- Exercise 11b.3


def validate_right(payload, length, vocab_size):
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise ValueError('expected a JSON object with the field "inputs"')
    ids = payload["inputs"]
    if not isinstance(ids, list) or len(ids) != length:
        raise ValueError(f"'inputs' must be a list of {length} token ids")
    for v in ids:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"'inputs' must hold integers; got {v!r}")
        if not 0 <= v < vocab_size:
            raise ValueError(f"token ids must lie in [0, {vocab_size}); got {v}")
    return list(ids)


def test_validate_ids_accepts_the_reference(capsys):
    ch11b.validate_ids(validate_right)
    assert "passed" in capsys.readouterr().out


def test_validate_ids_catches_booleans():
    def no_bool_check(payload, length, vocab_size):
        if not isinstance(payload, dict) or "inputs" not in payload:
            raise ValueError('expected the field "inputs"')
        ids = payload["inputs"]
        if not isinstance(ids, list) or len(ids) != length:
            raise ValueError(f"expected {length} ids")
        if any(not isinstance(v, int) or not 0 <= v < vocab_size for v in ids):
            raise ValueError(f"ids must be ints in [0, {vocab_size})")
        return ids

    with pytest.raises(ExerciseFailed, match="bool is a subclass of int"):
        ch11b.validate_ids(no_bool_check)


def test_validate_ids_wants_a_value_error_with_a_message():
    def crashes(payload, length, vocab_size):
        return [int(v) for v in payload["inputs"]][:length]

    with pytest.raises(ExerciseFailed, match="expected a ValueError|instead of raising"):
        ch11b.validate_ids(crashes)

    def terse(payload, length, vocab_size):
        try:
            return validate_right(payload, length, vocab_size)
        except ValueError:
            raise ValueError("bad") from None

    with pytest.raises(ExerciseFailed, match="says only"):
        ch11b.validate_ids(terse)


# ----------------------------------------------------------------------------- Exercise 11b.4


def best_gamma_right(alpha, c, max_gamma=16):
    def s(g):
        return (1 - alpha ** (g + 1)) / (1 - alpha) / (g * c + 1)

    best = max(range(1, max_gamma + 1), key=lambda g: (s(g), -g))
    return best if s(best) > 1 else 0


def test_best_gamma_accepts_the_reference(capsys):
    ch11b.best_gamma(best_gamma_right)
    assert "passed" in capsys.readouterr().out


def test_best_gamma_rejects_forgetting_that_speculation_can_lose():
    def never_zero(alpha, c, max_gamma=16):
        return max(range(1, max_gamma + 1), key=lambda g: ((1 - alpha ** (g + 1)) / (1 - alpha) / (g * c + 1), -g))

    with pytest.raises(ExerciseFailed, match="return 0"):
        ch11b.best_gamma(never_zero)


def test_best_gamma_rejects_ignoring_the_draft_cost():
    def free_draft(alpha, c, max_gamma=16):
        return max_gamma

    with pytest.raises(ExerciseFailed, match="gamma \\* c \\+ 1"):
        ch11b.best_gamma(free_draft)
