"""Graders for the exercises of Chapter 11b, "Efficiency II: speculative decoding, export and serving".

Each grader calls the student's function on inputs of its own, compares with a reference
computed here and either prints one success line or raises :class:`labs.check.ExerciseFailed`
saying what went in, what was expected and what came back, with a hint for the usual mistake
(found by computing that mistake and comparing). ``NotImplementedError`` from an unfinished
stub is let through.
"""

from __future__ import annotations

import math

import numpy as np

from labs.check import call_student, expect_close, fail, matches, passed

__all__ = ["accept_and_residual", "p99", "validate_ids", "best_gamma"]


# --------------------------------------------------------------------------- Exercise 11b.1


def _reference_accept_and_residual(p, q):
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        accept = np.where(q > 0, np.minimum(1.0, p / np.where(q > 0, q, 1.0)), 1.0)
    r = np.maximum(p - q, 0.0)
    residual = p.copy() if r.sum() <= 1e-12 else r / r.sum()
    return accept, residual


def accept_and_residual(fn) -> None:
    """``fn(p, q)`` -> (acceptance probabilities min(1, p/q) per token, 1 where q = 0; the residual
    max(0, p - q) renormalised, or p itself when p == q)."""
    ex = "Exercise 11b.1"
    cases = [
        ([0.5, 0.3, 0.2], [0.2, 0.6, 0.2], "a target that wants token 0 more than the draft offers"),
        ([0.1, 0.1, 0.8], [0.7, 0.2, 0.1], "a draft that prefers the wrong token"),
        ([0.25, 0.25, 0.5], [0.5, 0.5, 0.0], "a draft that never proposes token 2 (q = 0 there)"),
        ([0.4, 0.6], [0.4, 0.6], "a perfect draft (p == q)"),
    ]
    rng = np.random.default_rng(11)
    p, q = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
    cases.append((p.tolist(), q.tolist(), "a random pair over 7 tokens"))
    for p, q, what in cases:
        inputs = f"p={np.round(p, 4).tolist()}, q={np.round(q, 4).tolist()} ({what})"
        got = call_student(ex, fn, (np.array(p), np.array(q)), inputs=inputs)
        if not isinstance(got, tuple) or len(got) != 2:
            fail(ex, f"for {inputs} expected a tuple (accept, residual); got {type(got).__name__}")
        accept, residual = _reference_accept_and_residual(p, q)
        p_arr, q_arr = np.asarray(p), np.asarray(q)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw_ratio = p_arr / q_arr
        hint = None
        if matches(got[0], raw_ratio):
            hint = "a probability cannot exceed 1: the acceptance is min(1, p/q)"
        elif matches(got[0], np.minimum(1.0, q_arr / np.where(p_arr > 0, p_arr, 1.0))):
            hint = "the ratio is target over draft, p/q: a token the target likes more than the draft is always kept"
        expect_close(ex, got[0], accept, what="the acceptance probabilities", inputs=inputs, hint=hint)
        hint = None
        if np.allclose(p_arr, q_arr) and not matches(got[1], p_arr):
            hint = "when p == q nothing is ever rejected and max(0, p - q) is all zeros: return p itself"
        elif matches(got[1], p_arr - q_arr):
            hint = "clip the difference at zero (max(0, p - q)) and divide by its sum"
        elif matches(got[1], np.maximum(p_arr - q_arr, 0)):
            hint = "max(0, p - q) sums to 1 - beta, not 1: divide by its sum"
        expect_close(ex, got[1], residual, what="the residual distribution", inputs=inputs, hint=hint)
        # and the identity the method rests on, with the student's own pieces
        out = q_arr * np.asarray(got[0], dtype=float) + (1 - np.sum(np.minimum(p_arr, q_arr))) * np.asarray(got[1], dtype=float)
        expect_close(ex, out, p_arr, what="q * accept + (1 - beta) * residual", inputs=inputs)
    passed(ex, "min(1, p/q) and the renormalised residual: together they give back the target's p")


# --------------------------------------------------------------------------- Exercise 11b.2


def _reference_p99(latencies):
    values = np.sort(np.asarray(latencies, dtype=float))
    return float(values[math.ceil(0.99 * values.size) - 1])


def p99(fn) -> None:
    """``fn(latencies)``: the nearest-rank 99th percentile, a latency that was measured; ValueError if empty."""
    ex = "Exercise 11b.2"
    rng = np.random.default_rng(99)
    cases = [
        (list(range(1, 101)), "the latencies 1, 2, ..., 100 (ms)"),
        ([5.0] * 10 + [50.0], "ten fast requests and one slow one"),
        (rng.lognormal(-4, 0.6, 1000).tolist(), "1000 log-normal latencies"),
        (rng.permutation(np.arange(1, 251)).astype(float).tolist(), "250 latencies in shuffled order"),
        ([0.012], "a single request"),
    ]
    for latencies, what in cases:
        expected = _reference_p99(latencies)
        got = call_student(ex, fn, (list(latencies),), inputs=what)
        hint = None
        if got is not None and np.isscalar(got) and math.isclose(float(got), float(np.percentile(latencies, 99)), rel_tol=1e-12) \
                and not math.isclose(float(got), expected, rel_tol=1e-12):
            hint = "np.percentile interpolates between two latencies by default; the nearest rank is method='inverted_cdf'"
        elif got is not None and np.isscalar(got) and len(latencies) > 1 and \
                float(got) == float(np.sort(latencies)[min(int(0.99 * len(latencies)), len(latencies) - 1)]) and float(got) != expected:
            hint = "the rank is ceil(0.99 n), counted from 1: index ceil(0.99 n) - 1 of the sorted list"
        elif got is not None and np.isscalar(got) and float(got) == float(np.asarray(latencies)[math.ceil(0.99 * len(latencies)) - 1]) \
                and float(got) != expected:
            hint = "sort the latencies first"
        expect_close(ex, got, expected, what="p99", inputs=what, rtol=1e-12, atol=0, hint=hint)
    try:
        fn([])
    except ValueError:
        pass
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's bug
        fail(ex, f"with no latencies it raised {type(exc).__name__}: {exc}; expected a ValueError",
             "an empty load test has no percentile: raise ValueError saying so")
    else:
        fail(ex, "with no latencies it returned instead of raising ValueError",
             "an empty load test has no percentile: raise ValueError saying so")
    passed(ex, "the nearest-rank p99, a latency that was actually measured")


# --------------------------------------------------------------------------- Exercise 11b.3


def validate_ids(fn) -> None:
    """``fn(payload, length, vocab_size)``: the list of ids, or ValueError naming what is wrong."""
    ex = "Exercise 11b.3"
    length, vocab = 4, 10
    good = [({"inputs": [1, 2, 3, 9]}, [1, 2, 3, 9]), ({"inputs": [0, 0, 0, 0], "extra": "ignored"}, [0, 0, 0, 0])]
    for payload, expected in good:
        got = call_student(ex, fn, (payload, length, vocab), inputs=f"{payload}, length={length}, vocab_size={vocab}")
        if not isinstance(got, (list, tuple, np.ndarray)) or [int(v) for v in got] != expected:
            fail(ex, f"for the valid request {payload} expected {expected}; got {got!r}")
    bad = [
        ([1, 2, 3, 4], "a bare list, not an object", ("inputs",)),
        ({"ids": [1, 2, 3, 4]}, "no 'inputs' field", ("inputs",)),
        ({"inputs": [1, 2, 3]}, "three ids instead of four", ("4",)),
        ({"inputs": [[1, 2, 3, 4]]}, "a nested list", ("4",)),
        ({"inputs": "1234"}, "a string", ()),
        ({"inputs": [1, 2, 3, 4.0]}, "a float 4.0", ()),
        ({"inputs": [1, True, 3, 4]}, "a boolean (True is an int in Python)", ()),
        ({"inputs": [1, 2, 3, 10]}, "id 10 with vocab_size 10", ("10",)),
        ({"inputs": [1, -1, 3, 4]}, "a negative id", ("10",)),
    ]
    for payload, what, must_mention in bad:
        inputs = f"{payload!r} ({what})"
        try:
            got = fn(payload, length, vocab)
        except ValueError as exc:
            message = str(exc)
            if len(message) < 10:
                fail(ex, f"for {inputs} the ValueError says only {message!r}",
                     "a client reads this message: say what was expected and what came")
            missing = [m for m in must_mention if m not in message]
            if missing:
                fail(ex, f"for {inputs} the message {message!r} does not mention {missing[0]!r}",
                     "name the expected field, length or range, so the client can fix the request")
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the student's bug
            fail(ex, f"for {inputs} it raised {type(exc).__name__}: {exc}; expected a ValueError with a clear message",
                 "check the type of each thing before using it (isinstance), then raise ValueError yourself")
        else:
            hint = "bool is a subclass of int: test isinstance(v, bool) first" if "boolean" in what else None
            fail(ex, f"for {inputs} it returned {got!r} instead of raising ValueError", hint)
    passed(ex, "valid requests pass, and each kind of bad one gets a message that names the fix")


# --------------------------------------------------------------------------- Exercise 11b.4


def _speedup(alpha, gamma, c):
    tokens = gamma + 1.0 if alpha == 1.0 else (1 - alpha ** (gamma + 1)) / (1 - alpha)
    return tokens / (gamma * c + 1)


def _reference_best_gamma(alpha, c, max_gamma=16):
    best = max(range(1, max_gamma + 1), key=lambda g: (_speedup(alpha, g, c), -g))
    return best if _speedup(alpha, best, c) > 1.0 else 0


def best_gamma(fn) -> None:
    """``fn(alpha, c, max_gamma=16)``: the gamma in 1..max_gamma with the largest expected speed-up
    (the smallest on ties), or 0 when none beats plain decoding."""
    ex = "Exercise 11b.4"
    cases = [(0.8, 0.05), (0.6, 0.1), (0.9, 0.01), (0.5, 0.6), (0.3, 0.5), (0.95, 0.0), (0.7, 0.2)]
    for alpha, c in cases:
        expected = _reference_best_gamma(alpha, c)
        inputs = f"alpha={alpha}, c={c}"
        got = call_student(ex, fn, (alpha, c), inputs=inputs)
        if got != expected:
            hint = None
            if expected == 0:
                hint = "when even the best gamma gives S <= 1, speculation only costs: return 0"
            elif got == 16 and c > 0:
                hint = "each draft token costs c of a target pass: the denominator is gamma * c + 1"
            detail = f"; S({got}) = {_speedup(alpha, got, c):.4f}" if isinstance(got, int) and got >= 1 else ""
            fail(ex, f"for {inputs} expected gamma = {expected} (S = {_speedup(alpha, max(expected, 1), c):.4f}); got {got!r}{detail}",
                 hint)
    passed(ex, "the best number of draft tokens, and 0 when speculation does not pay")
