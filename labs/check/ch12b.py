"""Graders for the exercises of Chapter 12b, "Trustworthy models II: privacy and security".

Each grader calls the student's function on inputs of its own, compares with a reference
computed here (or by :mod:`labs.dp_accountant`) and either prints one success line or raises
:class:`labs.check.ExerciseFailed` saying what went in, what was expected and what came back,
with a hint for the usual mistake (found by computing that mistake and comparing).
``NotImplementedError`` from an unfinished stub is let through.
"""

from __future__ import annotations

import math

import numpy as np

from labs.check import as_float_array, call_student, expect_close, fail, matches, passed

__all__ = ["clip_per_sample", "rdp_sampled_gaussian", "membership_advantage", "fedavg_average"]


# --------------------------------------------------------------------------- Exercise 12b.1


def _reference_clip(grads, max_norm):
    flat = np.concatenate([g.reshape(len(g), -1) for g in grads.values()], axis=1)
    factor = max_norm / np.maximum(np.linalg.norm(flat, axis=1), max_norm)
    return {k: g * factor.reshape(-1, *[1] * (g.ndim - 1)) for k, g in grads.items()}


def _per_parameter_clip(grads, max_norm):
    out = {}
    for k, g in grads.items():
        n = np.linalg.norm(g.reshape(len(g), -1), axis=1)
        out[k] = g * (max_norm / np.maximum(n, max_norm)).reshape(-1, *[1] * (g.ndim - 1))
    return out


def clip_per_sample(fn) -> None:
    """``fn(grads, max_norm)`` -> a dict like ``grads`` with each example's total norm <= max_norm."""
    ex = "Exercise 12b.1"
    rng = np.random.default_rng(3)
    grads = {"weight": rng.standard_normal((5, 4, 3)) * np.array([0.05, 2.0, 0.3, 5.0, 0.0])[:, None, None],
             "bias": rng.standard_normal((5, 4)) * np.array([0.05, 2.0, 0.3, 5.0, 0.0])[:, None]}
    for max_norm in (1.0, 0.25):
        given = {k: v.copy() for k, v in grads.items()}
        inputs = f"per-example gradients of shapes weight (5, 4, 3), bias (5, 4) (example 4 is all zeros), max_norm={max_norm}"
        got = call_student(ex, fn, (given, max_norm), inputs=inputs)
        if not isinstance(got, dict) or set(got) != set(grads):
            fail(ex, f"expected a dict with the keys {sorted(grads)}; got {type(got).__name__}"
                     + (f" with keys {sorted(got)}" if isinstance(got, dict) else ""))
        expected = _reference_clip(grads, max_norm)
        for k in grads:
            arr = as_float_array(got[k])
            if arr is None or arr.shape != grads[k].shape:
                fail(ex, f"{k!r}: expected an array of shape {grads[k].shape}; got {getattr(arr, 'shape', type(got[k]).__name__)}")
            if not np.all(np.isfinite(arr)):
                fail(ex, f"{k!r} holds NaN or inf", "an all-zero gradient has norm 0: compute max_norm / max(norm, max_norm), "
                                                  "which never divides by zero, rather than max_norm / norm")
        wrong_per_param = _per_parameter_clip(grads, max_norm)
        if all(matches(got[k], wrong_per_param[k]) for k in grads) and not all(matches(got[k], expected[k]) for k in grads):
            fail(ex, f"with max_norm={max_norm} each parameter's gradient was clipped on its own, so an example's total norm "
                     "can reach max_norm * sqrt(number of parameters)",
                 "the bound is on each example's whole gradient: concatenate all parameters of example i, take that norm")
        batch_factor = max_norm / max(float(np.sqrt(sum((g ** 2).sum() for g in grads.values()))), max_norm)
        if all(matches(got[k], grads[k] * batch_factor) for k in grads):
            fail(ex, "the whole batch was scaled by one factor", "clip each example (the first axis) separately")
        for k in grads:
            if not matches(got[k], expected[k]):
                norms = np.sqrt(sum((np.asarray(got[j], float).reshape(5, -1) ** 2).sum(1) for j in grads))
                fail(ex, f"with max_norm={max_norm}, {k!r} differs from min(1, max_norm / ||g_i||) * g_i; the examples' "
                         f"norms after your clipping are {np.round(norms, 4).tolist()}",
                     "examples whose norm is already <= max_norm stay as they are; the others are scaled to norm max_norm")
        if any(not np.array_equal(given[k], grads[k]) for k in grads):
            fail(ex, "the function changed the arrays it was given", "build new arrays (g * factor) instead of g *= factor")
    passed(ex, "every example's whole gradient is clipped to max_norm, small ones untouched, zero gradients stay zero")


# --------------------------------------------------------------------------- Exercise 12b.2


def rdp_sampled_gaussian(fn) -> None:
    """``fn(q, sigma, alpha)`` -> the RDP of one sampled Gaussian step at integer order alpha."""
    from labs.dp_accountant import log_a_sampled_gaussian

    ex = "Exercise 12b.2"
    cases = [(0.01, 1.0, 2), (0.05, 0.8, 10), (0.5, 2.0, 8), (0.2, 0.5, 200), (0.001, 3.0, 64)]
    for q, sigma, alpha in cases:
        inputs = f"q={q}, sigma={sigma}, alpha={alpha}"
        expected = log_a_sampled_gaussian(q, sigma, alpha) / (alpha - 1)
        got = call_student(ex, fn, (q, sigma, alpha), inputs=inputs,
                           hint="exp((k^2 - k) / (2 sigma^2)) overflows for large alpha: add the terms in log space")
        hint = None
        try:
            g = float(got)
            if math.isclose(g, expected * (alpha - 1), rel_tol=1e-6):
                hint = "that is log A_alpha: divide by alpha - 1 for the Renyi divergence"
            elif not math.isfinite(g):
                hint = ("exp((k^2 - k) / (2 sigma^2)) overflows for large alpha: add the terms in log space "
                        "(log-sum-exp: subtract the largest log-term before exponentiating)")
        except (TypeError, ValueError, OverflowError):
            pass
        expect_close(ex, got, expected, what="the RDP", inputs=inputs, rtol=1e-8, hint=hint)
    passed(ex, "the binomial sum in log space, divided by alpha - 1")


# --------------------------------------------------------------------------- Exercise 12b.3


def _reference_advantage(member, nonmember):
    t = np.unique(np.concatenate([member, nonmember]))
    tpr = (member[None] <= t[:, None]).mean(1)
    fpr = (nonmember[None] <= t[:, None]).mean(1)
    return float(max(0.0, np.max(tpr - fpr)))


def membership_advantage(fn) -> None:
    """``fn(member_losses, nonmember_losses)`` -> max over t of TPR - FPR, "member" meaning loss <= t."""
    ex = "Exercise 12b.3"
    rng = np.random.default_rng(11)
    cases = [
        (np.array([0.1, 0.2, 0.3]), np.array([0.4, 0.5, 0.6]), "perfectly separated losses"),
        (np.array([0.0, 0.1, 0.2]), np.array([1.0, 2.0, 0.15]), "one non-member in between"),
        (rng.exponential(0.5, 200), rng.exponential(1.0, 300), "200 members, 300 non-members"),
        (np.round(rng.exponential(1.0, 50), 1), np.round(rng.exponential(1.0, 70), 1), "the same distribution, with ties"),
    ]
    for member, nonmember, what in cases:
        expected = _reference_advantage(member, nonmember)
        got = call_student(ex, fn, (member.copy(), nonmember.copy()), inputs=what)
        hint = None
        try:
            g = float(got)
            if math.isclose(g, _reference_advantage(-member, -nonmember), abs_tol=1e-9) and not math.isclose(g, expected, abs_tol=1e-9):
                hint = "a *low* loss says member: predict member when loss <= t, not loss >= t"
            elif g < 0:
                hint = "an attack that does worse than guessing can be flipped; with the threshold that predicts nobody, TPR - FPR = 0"
        except (TypeError, ValueError):
            pass
        expect_close(ex, got, expected, what="the advantage", inputs=what, atol=1e-9, hint=hint)
    passed(ex, "the best loss threshold's TPR - FPR, over every threshold the data offer")


# --------------------------------------------------------------------------- Exercise 12b.4


def fedavg_average(fn) -> None:
    """``fn(client_params, sizes)`` -> the n_k / n weighted average of the clients' parameter dicts."""
    ex = "Exercise 12b.4"
    rng = np.random.default_rng(5)
    clients = [{"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)} for _ in range(3)]
    sizes = [10, 30, 160]
    inputs = "three clients' {'w': (2, 3), 'b': (3,)} with 10, 30 and 160 examples"
    got = call_student(ex, fn, ([{k: v.copy() for k, v in c.items()} for c in clients], list(sizes)), inputs=inputs)
    if not isinstance(got, dict) or set(got) != {"w", "b"}:
        fail(ex, f"expected a dict with keys 'w' and 'b'; got {type(got).__name__}")
    weights = np.array(sizes, float) / sum(sizes)
    for k in ("w", "b"):
        expected = sum(w * c[k] for w, c in zip(weights, clients))
        plain = sum(c[k] for c in clients) / len(clients)
        hint = ("every client counted the same: weight client k by n_k / n, so the average is the gradient "
                "step of the whole data set" if matches(got[k], plain) else None)
        expect_close(ex, got[k], expected, what=f"the average of {k!r}", inputs=inputs, rtol=1e-12, hint=hint)
    passed(ex, "the data-weighted average, which with one local step is centralised gradient descent")
