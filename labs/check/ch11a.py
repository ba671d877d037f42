"""Graders for the exercises of Chapter 11a, "Efficiency I: pruning, quantization,
distillation and small architectures".

Each grader calls the student's function on inputs of its own, compares with a reference
computed here (the library's own code, or the formula written out) and either prints one
success line or raises :class:`labs.check.ExerciseFailed` saying what went in, what was
expected and what came back, with a hint for the usual mistake (recognised by computing
that mistake and comparing). ``NotImplementedError`` from an unfinished stub is let through.
"""

from __future__ import annotations

import numpy as np

from labs.check import call_student, expect_close, fail, matches, passed

__all__ = ["channel_shuffle", "distillation_compute", "global_magnitude_masks", "int8_error_bound"]


# --------------------------------------------------------------------------- Exercise 11a.1


def _bound_parts(x, w):
    from labs.scratch.quantize import quantize_symmetric

    _, sx = quantize_symmetric(x)
    _, sw = quantize_symmetric(w, dim=0)
    sw = sw.reshape(-1)
    return float(sx), sw, np.abs(x).sum(1, keepdims=True), np.abs(w).sum(1), x.shape[1]


def int8_error_bound(fn) -> None:
    """``fn(x, w)``: the worst-case |int8_linear(x, w) - x @ w.T| per output, (rows, out)."""
    from labs.scratch.quantize import int8_linear, int8_linear_error_bound

    ex = "Exercise 11a.1"
    rng = np.random.default_rng(11)
    cases = [(rng.standard_normal((4, 32)), rng.standard_normal((3, 32)) * np.array([[0.01], [1.0], [10.0]]),
              "x (4, 32) standard normal, w (3, 32) with rows scaled by 0.01, 1 and 10"),
             (rng.uniform(0, 5, (2, 200)), rng.standard_normal((5, 200)), "x (2, 200) uniform in [0, 5], w (5, 200)")]
    for x, w, what in cases:
        expected = int8_linear_error_bound(x, w, per_channel=True)
        got = call_student(ex, fn, (x.copy(), w.copy()), inputs=what)
        sx, sw, ax, aw, k = _bound_parts(x, w)
        hint = None
        if matches(got, sw / 2 * ax + sx / 2 * aw):
            hint = ("the two rounding errors also multiply each other: add the K * sx * sw / 4 term "
                    "(it is small, but without it the bound can be beaten)")
        elif matches(got, 2 * expected):
            hint = "rounding to the nearest step is off by at most half a step: |e| <= s / 2, not s"
        elif matches(got, int8_linear_error_bound(x, w, per_channel=False)):
            hint = "the weights are quantized per output channel: each row w_j has its own scale max|w_j| / 127"
        elif matches(got, sw / 2 * ax + sx / 2 * aw + sx * sw / 4):
            hint = "the product term sums over the K inputs: K * sx * sw / 4"
        expect_close(ex, got, expected, what="the bound", inputs=what, rtol=1e-6, atol=1e-12, hint=hint)
        measured = np.abs(int8_linear(x, w).data - x @ w.T)
        if not np.all(measured <= np.asarray(got) + 1e-12):
            fail(ex, f"for {what} the measured error exceeds your bound")
    ratio = float((measured / expected).max())
    passed(ex, f"your bound holds, and the largest measured error is {ratio:.0%} of it (errors of "
               "independent roundings partly cancel)")


# --------------------------------------------------------------------------- Exercise 11a.2


def _reference_compute(teacher_forward, student_forward, examples, teacher_epochs, student_epochs):
    alone = 3 * student_forward * examples * student_epochs
    distilled = alone + 3 * teacher_forward * examples * teacher_epochs + teacher_forward * examples * student_epochs
    return {"student_alone": alone, "distilled": distilled,
            "break_even_queries": (distilled - alone) / (teacher_forward - student_forward)}


def distillation_compute(fn) -> None:
    """``fn(teacher_forward, student_forward, examples, teacher_epochs, student_epochs)`` ->
    dict with the training FLOPs of the student alone and distilled, and the break-even queries."""
    ex = "Exercise 11a.2"
    cases = [((1e6, 1e5, 1000, 10, 10), "F_t = 1e6, F_s = 1e5, N = 1000, E_t = E_s = 10"),
             ((4e9, 1e9, 50_000, 3, 6), "F_t = 4e9, F_s = 1e9, N = 50,000, E_t = 3, E_s = 6")]
    for args, what in cases:
        expected = _reference_compute(*args)
        got = call_student(ex, fn, args, inputs=what)
        if not isinstance(got, dict) or set(got) != set(expected):
            fail(ex, f"for {what} expected a dict with keys {sorted(expected)}; got {got!r}")
        f_t, f_s, n, e_t, e_s = args
        hint = None
        if matches(got["distilled"], 3 * f_s * n * e_s + f_t * n * e_s):
            hint = "the teacher has to be trained first: add its own training, 3 * F_t * N * E_t"
        elif matches(got["distilled"], 3 * f_s * n * e_s + 3 * f_t * n * e_t):
            hint = "every student step also runs the teacher forward for its soft labels: + F_t * N * E_s"
        elif matches(got["student_alone"], f_s * n * e_s):
            hint = "a training step is a forward and a backward pass, about 3 forwards (backward ~ 2 forwards)"
        for key in ("student_alone", "distilled", "break_even_queries"):
            expect_close(ex, got[key], expected[key], what=f"[{key!r}]", inputs=what, rtol=1e-9, hint=hint)
    e = _reference_compute(*cases[0][0])
    passed(ex, f"distillation costs {e['distilled'] / e['student_alone']:.0f}x the student's own training here; "
               f"it pays back after {e['break_even_queries']:,.0f} queries served by the student instead of the teacher")


# --------------------------------------------------------------------------- Exercise 11a.3


def channel_shuffle(fn) -> None:
    """``fn(x, groups)``: ShuffleNet's channel shuffle of a (N, C, H, W) tensor."""
    import torch

    from labs.models.lightweight_cnn import channel_shuffle as reference

    ex = "Exercise 11a.3"
    for n, c, groups in ((2, 12, 3), (1, 8, 2), (1, 6, 6), (3, 10, 1)):
        x = torch.arange(n * c * 4, dtype=torch.float32).reshape(n, c, 2, 2)
        what = f"x = arange of shape ({n}, {c}, 2, 2), groups={groups}"
        got = call_student(ex, fn, (x.clone(), groups), inputs=what)
        if not isinstance(got, torch.Tensor):
            fail(ex, f"for {what} expected a torch.Tensor; got {type(got).__name__}")
        expected = reference(x, groups)
        hint = None
        if got.shape == x.shape and torch.equal(got, reference(x, c // groups)):
            hint = ("that is the inverse shuffle: reshape to (N, groups, C // groups, H, W), *then* swap "
                    "axes 1 and 2 and flatten back")
        elif got.shape == x.shape and torch.equal(got, x) and groups not in (1, c):
            hint = "a reshape alone never moves data: transpose axes 1 and 2 in between the two reshapes"
        expect_close(ex, got.detach().numpy(), expected.numpy(), what="the shuffled tensor", inputs=what, hint=hint)
    try:
        fn(torch.zeros(1, 6, 2, 2), 4)
    except ValueError:
        pass
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's bug
        fail(ex, f"with 6 channels in 4 groups it raised {type(exc).__name__}: {exc}; expected a ValueError",
             "check c % groups == 0 first and raise ValueError naming both numbers")
    else:
        fail(ex, "with 6 channels in 4 groups it returned instead of raising ValueError",
             "check c % groups == 0 first and raise ValueError naming both numbers")
    passed(ex, "every group's channels are interleaved, and uneven groups are refused")


# --------------------------------------------------------------------------- Exercise 11a.4


def _reference_masks(weights, amount):
    flat = np.concatenate([np.abs(w).ravel() for w in weights])
    k = int(round(amount * flat.size))
    if k == 0:
        return [np.ones_like(w, dtype=bool) for w in weights]
    order = np.argsort(flat, kind="stable")
    keep = np.ones(flat.size, dtype=bool)
    keep[order[:k]] = False
    masks, start = [], 0
    for w in weights:
        masks.append(keep[start:start + w.size].reshape(w.shape))
        start += w.size
    return masks


def global_magnitude_masks(fn) -> None:
    """``fn(weights, amount)``: one boolean keep-mask per array, pruning the ``amount`` fraction
    of smallest |w| over all arrays together (what ``prune.global_unstructured`` does)."""
    ex = "Exercise 11a.4"
    rng = np.random.default_rng(4)
    weights = [rng.standard_normal((8, 8)) * 0.1, rng.standard_normal((16, 4)), rng.standard_normal(10) * 3]
    for amount in (0.5, 0.8, 0.0):
        what = f"three arrays of shapes (8, 8), (16, 4), (10,) with scales 0.1, 1, 3, amount={amount}"
        got = call_student(ex, fn, ([w.copy() for w in weights], amount), inputs=what)
        expected = _reference_masks(weights, amount)
        if not isinstance(got, (list, tuple)) or len(got) != len(weights):
            fail(ex, f"for {what} expected a list of {len(weights)} masks; got {type(got).__name__}")
        per_layer = [_reference_masks([w], amount)[0] for w in weights]
        hint = None
        if all(np.shape(g) == p.shape and np.array_equal(np.asarray(g, bool), p) for g, p in zip(got, per_layer)) \
                and amount > 0:
            hint = ("that prunes each layer by the same fraction; rank |w| over all layers together "
                    "(concatenate them), so the layer of small weights loses most")
        for g, e, w in zip(got, expected, weights):
            if np.shape(g) != w.shape:
                fail(ex, f"for {what} a mask has shape {np.shape(g)}; expected {w.shape} (one mask per array)")
            expect_close(ex, np.asarray(g, dtype=float), e.astype(float), what="a mask", inputs=what, hint=hint)
    kept = [float(m.mean()) for m in _reference_masks(weights, 0.8)]
    passed(ex, f"at 80 % sparsity the three layers keep {', '.join(f'{k:.0%}' for k in kept)} of their weights: "
               "global ranking prunes the small layer hardest")
