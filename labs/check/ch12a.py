"""Graders for the exercises of Chapter 12a, "Trustworthy models I: explanations, robustness and
generalisation".

Each grader calls the student's function on inputs of its own, compares with a reference
(``labs.explain``, ``labs.robust``) or a measurement (integrated gradients computed with many
steps), and either prints one success line or raises :class:`labs.check.ExerciseFailed` saying
what went in, what was expected and what came back, with a hint for the usual mistake, found
by computing that mistake and comparing. ``NotImplementedError`` from a stub is let through.
"""

from __future__ import annotations

import math

import numpy as np

from labs.check import call_student, expect_close, fail, matches, passed

__all__ = ["ig_sum", "shapley_values", "fgsm_step", "early_stop"]


# --------------------------------------------------------------------------- Exercise 12a.1


def _ig_cases():
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    with torch.no_grad():
        net[2].bias.copy_(torch.tensor([0.7, -1.2, 2.0], dtype=torch.float64))  # score(baseline) is not 0
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, generator=g, dtype=torch.float64)
    return net, [(x, torch.zeros(5, dtype=torch.float64), 0, "x, a zero baseline, class 0"),
                 (x, torch.full((5,), 0.5, dtype=torch.float64), 2, "x, a grey baseline (0.5), class 2"),
                 (torch.zeros(5, dtype=torch.float64), x, 1, "the zero input against baseline x, class 1")]


def ig_sum(fn) -> None:
    """``fn(score, x, baseline)`` -> the predicted sum of the integrated-gradients attributions,
    where ``score(v)`` is the model's scalar score of one input ``v`` (a NumPy array)."""
    import torch

    from labs.explain import integrated_gradients

    ex = "Exercise 12a.1"
    net, cases = _ig_cases()
    for x, baseline, target, what in cases:
        def score(v, _t=target):
            with torch.no_grad():
                return float(net(torch.as_tensor(np.asarray(v, dtype=np.float64))[None])[0, _t])

        got = call_student(ex, fn, (score, x.numpy().copy(), baseline.numpy().copy()), inputs=what)
        measured = float(integrated_gradients(net, x, target, baseline, steps=512).sum())  # the check
        fx, fb = score(x.numpy()), score(baseline.numpy())
        hint = None
        try:
            g = float(got)
            if math.isclose(g, fx, rel_tol=1e-6) and not math.isclose(fb, 0.0, abs_tol=1e-9):
                hint = "that is score(x) alone: the path starts at the baseline, so its score is subtracted"
            elif math.isclose(g, fb - fx, rel_tol=1e-6):
                hint = "the sign: the path runs from the baseline to x, so the sum is score(x) - score(baseline)"
        except (TypeError, ValueError):
            pass
        expect_close(ex, got, measured, what="the predicted sum", inputs=what, rtol=1e-4, atol=1e-6, hint=hint)
    passed(ex, "the prediction score(x) - score(baseline) matched integrated gradients computed with 512 steps, "
               "for three inputs and baselines: completeness")


# --------------------------------------------------------------------------- Exercise 12a.2


def _games():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=4), np.triu(rng.normal(size=(4, 4)), 1)

    def pairs(masks):
        z = np.asarray(masks, dtype=float)
        return z @ a + np.einsum("si,ij,sj->s", z, b, z)

    def glove(masks):  # a left glove (player 0) and two right gloves: a pair is worth 1
        z = np.asarray(masks, dtype=bool)
        return np.minimum(z[:, 0], z[:, 1] | z[:, 2]).astype(float)

    def majority(masks):  # five voters, a coalition of three or more wins 1
        return (np.asarray(masks, dtype=bool).sum(1) >= 3).astype(float) + 0.5

    return [(pairs, 4, "a 4-player game with pairwise interactions"), (glove, 3, "the glove game (3 players)"),
            (majority, 5, "a 5-voter majority game worth 0.5 when nobody joins")]


def _banzhaf(value_fn, n):
    from labs.explain import all_coalitions

    masks = all_coalitions(n)
    v = np.asarray(value_fn(masks), dtype=float)
    out = np.zeros(n)
    index = masks.astype(np.int64) @ (1 << np.arange(n))
    for i in range(n):
        without = ~masks[:, i]
        out[i] = np.mean(v[index[without] | (1 << i)] - v[without])
    return out


def shapley_values(fn) -> None:
    """``fn(value_fn, n)`` -> exact Shapley values (n,), where ``value_fn(masks)`` maps a boolean
    (S, n) array of coalitions to S values."""
    from labs.explain import exact_shapley

    ex = "Exercise 12a.2"
    for value_fn, n, what in _games():
        expected = exact_shapley(value_fn, n)
        got = call_student(ex, fn, (value_fn, n), inputs=what)
        hint = None
        if matches(got, _banzhaf(value_fn, n)):
            hint = ("every coalition got the same weight (that is the Banzhaf value, which is not efficient): "
                    "weight a coalition S without i by |S|! (n - |S| - 1)! / n!")
        expect_close(ex, got, expected, what="shapley_values", inputs=what, rtol=1e-7, atol=1e-9, hint=hint)
        ends = value_fn(np.array([np.zeros(n, bool), np.ones(n, bool)]))
        if not math.isclose(float(np.sum(got)), float(ends[1] - ends[0]), abs_tol=1e-8):
            fail(ex, f"for {what} the values sum to {np.sum(got):.6g}, not v(all) - v(none) = {ends[1] - ends[0]:.6g}")
    passed(ex, "exact Shapley values on three games, efficient (they sum to v(all) - v(none)) and symmetric")


# --------------------------------------------------------------------------- Exercise 12a.3


def fgsm_step(fn) -> None:
    """``fn(x, grad, eps)`` -> ``clip(x + eps * sign(grad), 0, 1)``."""
    ex = "Exercise 12a.3"
    rng = np.random.default_rng(3)
    x = np.clip(rng.random((4, 6)) * 1.2 - 0.1, 0, 1)  # some pixels at 0 or 1
    grad = rng.normal(size=(4, 6)) * 1e-3
    grad[0, 0] = 0.0
    for eps in (0.1, 0.3):
        inputs = f"x of shape {x.shape} in [0, 1], a gradient of the same shape, eps={eps}"
        got = call_student(ex, fn, (x.copy(), grad.copy(), eps), inputs=inputs)
        expected = np.clip(x + eps * np.sign(grad), 0, 1)
        hint = None
        if matches(got, x + eps * np.sign(grad)):
            hint = "an image has pixels in [0, 1]: clip the result with np.clip(..., 0, 1)"
        elif matches(got, np.clip(x - eps * np.sign(grad), 0, 1)):
            hint = "the attack climbs the loss: add eps * sign(grad), do not subtract it (that is a descent step)"
        elif matches(got, np.clip(x + eps * grad, 0, 1)):
            hint = "FGSM moves every pixel by exactly eps: use the sign of the gradient, not its value"
        elif matches(got, np.clip(x + eps * grad / np.linalg.norm(grad), 0, 1)):
            hint = "that is an L2 step; the L-inf ball's worst corner is eps * sign(grad)"
        expect_close(ex, got, expected, what="fgsm_step", inputs=inputs, rtol=1e-9, atol=1e-12, hint=hint)
    passed(ex, "one signed step of eps, clipped to the pixel range: every pixel moves by eps or hits an edge")


# --------------------------------------------------------------------------- Exercise 12a.4


def _reference_early_stop(val_losses, patience):
    best, best_epoch = math.inf, -1
    for epoch, loss in enumerate(val_losses):
        if loss < best:
            best, best_epoch = loss, epoch
        elif epoch - best_epoch >= patience:
            return epoch, best_epoch
    return len(val_losses) - 1, best_epoch


def early_stop(fn) -> None:
    """``fn(val_losses, patience)`` -> ``(stop_epoch, best_epoch)``: stop once ``patience``
    epochs have passed without a new lowest validation loss; keep the best epoch's weights."""
    ex = "Exercise 12a.4"
    cases = [([1.0, 0.8, 0.7, 0.72, 0.71, 0.75, 0.6, 0.9], 3, "a dip, then three epochs without progress"),
             ([1.0, 0.8, 0.7, 0.72, 0.71, 0.65, 0.6, 0.9], 3, "progress resumes within the patience"),
             ([1.0, 0.9, 0.8, 0.7], 2, "a loss that always improves"),
             ([0.5, 0.5, 0.5, 0.5], 2, "ties (not an improvement)"),
             ([2.0, 1.0, 1.5, 0.9, 1.1, 1.2], 1, "patience 1")]
    for losses, patience, what in cases:
        expected = _reference_early_stop(losses, patience)
        got = call_student(ex, fn, (list(losses), patience), inputs=f"{losses}, patience={patience} ({what})")
        try:
            got_t = tuple(int(v) for v in got)
        except (TypeError, ValueError):
            fail(ex, f"expected a pair of ints (stop_epoch, best_epoch); got {got!r}")
        if got_t != expected:
            hint = None
            if got_t[1] == int(np.argmin(losses)) and got_t[1] != expected[1]:
                hint = ("the best epoch is the best *seen before stopping*: the epochs after the stop are never "
                        "trained, so np.argmin over the whole list reads the future")
            elif got_t[0] == expected[0] + 1:
                hint = "off by one: stop at the epoch where `patience` epochs have passed since the best one"
            fail(ex, f"for {losses} with patience={patience} ({what}) expected (stop, best) = {expected}; got {got_t}",
                 hint)
    passed(ex, "stops after `patience` epochs without a new best, and keeps the best epoch seen so far")
