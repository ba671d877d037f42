"""Graders for the exercises of Chapter 3, "The math of learning".

Each grader calls the student's function on a few inputs, compares with PyTorch (or a
closed form) and either prints one success line or raises
:class:`labs.check.ExerciseFailed` saying what went in, what was expected and what came
back, with a hint aimed at the usual mistake. ``NotImplementedError`` from an unfinished
stub is let through unchanged, so the student sees the stub's own message.
"""

from __future__ import annotations

import numpy as np

from labs.check import expect_close, fail, passed
from labs.check import call_student

__all__ = ["softmax_with_temperature", "silu_derivative", "largest_stable_lr", "fixed_seed_regression", "hidden_layer_gradient", "bce_with_logits"]



def _maybe_array(value):
    """``value`` as a float array, or None when it is not numbers (expect_close then explains)."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- Exercise 3.1


def softmax_with_temperature(fn) -> None:
    """``fn(z, tau)``: softmax(z / tau) along the last axis, stable for any tau > 0."""
    import torch

    ex = "Exercise 3.1"
    cases = [
        ("z = [1, 2, 3], tau = 1", np.array([1.0, 2.0, 3.0]), 1.0),
        ("z = [10, 11, 12], tau = 0.01 (z / tau reaches 1200)", np.array([10.0, 11.0, 12.0]), 0.01),
        ("z = [1, 2, 3], tau = 100", np.array([1.0, 2.0, 3.0]), 100.0),
        ("z = [1000, 1001, 1002], tau = 2", np.array([1000.0, 1001.0, 1002.0]), 2.0),
        ("a batch of 2 rows, [[1, 2, 3], [5, 0, -5]], tau = 0.5", np.array([[1.0, 2.0, 3.0], [5.0, 0.0, -5.0]]), 0.5),
        ("a (3, 4, 5) array of random logits, tau = 0.3", np.random.default_rng(3).normal(scale=20, size=(3, 4, 5)), 0.3),
    ]
    for text, z, tau in cases:
        expected = torch.softmax(torch.as_tensor(z) / tau, dim=-1).numpy()
        got = call_student(ex, fn, (z.copy(), tau), text,
                           hint="keep the reduced axis, z.max(axis=-1, keepdims=True), so that it broadcasts against z")
        hint = "divide the logits by tau first, then subtract each row's maximum (keepdims=True) before np.exp"
        arr = _maybe_array(got)
        if arr is not None and arr.shape == expected.shape and np.all(np.isfinite(arr)):
            with np.errstate(all="ignore"):
                times_tau = torch.softmax(torch.as_tensor(z) * tau, dim=-1).numpy()
            if np.allclose(arr, times_tau) and not np.allclose(times_tau, expected):
                hint = "you multiplied by tau: the logits are divided by the temperature, so tau < 1 sharpens and tau > 1 flattens"
            elif not np.allclose(arr.sum(axis=-1), 1.0):
                hint = "normalise along the last axis: divide by e.sum(axis=-1, keepdims=True)"
        expect_close(ex, got, expected, what="softmax_with_temperature(z, tau)", inputs=text, rtol=1e-9, atol=1e-12, hint=hint)
    for bad in (0.0, -1.0):
        try:
            fn(np.array([1.0, 2.0]), bad)
        except ValueError:
            continue
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001
            fail(ex, f"tau = {bad} should raise ValueError; it raised {type(exc).__name__}: {exc}")
        fail(ex, f"tau = {bad} should raise ValueError (a temperature must be positive); it returned a value")
    passed(ex, "matches torch.softmax(z / tau) from tau = 0.01 (nearly one-hot) to tau = 100 (nearly uniform)")


# --------------------------------------------------------------------------- Exercise 3.2


def silu_derivative(fn) -> None:
    """``fn(z)``: the derivative of SiLU(z) = z * sigmoid(z)."""
    import torch

    from labs.activations import sigmoid

    ex = "Exercise 3.2"
    z = np.array([-40.0, -6.0, -3.0, -1.5, -0.5, 0.0, 0.3, 1.0, 2.0, 4.0, 40.0])
    zt = torch.tensor(z, requires_grad=True)
    torch.nn.functional.silu(zt).sum().backward()
    expected = zt.grad.numpy()
    got = call_student(ex, fn, (z.copy(),), f"z = {z.tolist()}")
    s = sigmoid(z)
    hint = "SiLU(z) = z * sigmoid(z); by the product rule its derivative is sigmoid(z) + z * sigmoid(z) * (1 - sigmoid(z))"
    arr = _maybe_array(got)
    if arr is not None and arr.shape == z.shape:
        if np.allclose(arr, s, atol=1e-9):
            hint = "you returned sigmoid(z) only: the product rule also gives z times the sigmoid's derivative"
        elif np.allclose(arr, s * (1 - s), atol=1e-9):
            hint = "that is the sigmoid's derivative; SiLU is z * sigmoid(z), so use the product rule"
        elif np.allclose(arr, s - z * s * (1 - s), atol=1e-9):
            hint = "a sign error: d/dz sigmoid(z) = +sigmoid(z) * (1 - sigmoid(z))"
    expect_close(ex, got, expected, what="silu_derivative(z)", inputs=f"z = {z.tolist()}", rtol=1e-6, atol=1e-8, hint=hint)
    passed(ex, f"matches autograd of torch.nn.functional.silu at {z.size} points, z = +-40 included")


# --------------------------------------------------------------------------- Exercise 3.3


def _gd_outcome(X, y, lr, steps=500):
    """Run gradient descent on mean((X w - y)^2) from w = 0; 'converged' or 'diverged'."""
    w = np.zeros(X.shape[1])
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    start = np.linalg.norm(w - w_star)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            w = w - lr * 2.0 * X.T @ (X @ w - y) / len(y)
        gap = np.linalg.norm(w - w_star)
    return ("converged" if np.isfinite(gap) and gap < 1e-3 * start else "diverged"), gap


def largest_stable_lr(fn) -> None:
    """``fn(X) -> lr``: predict the learning rate above which gradient descent diverges, then measure it."""
    ex = "Exercise 3.3"
    rng = np.random.default_rng(5)
    cases = []
    for n, d, scales, why in ((200, 2, (1.0, 5.0), "2 features of different scales"),
                              (500, 5, (0.5, 1.0, 1.0, 2.0, 8.0), "5 features, one much larger"),
                              (100, 3, (1.0, 1.0, 1.0), "3 similar features")):
        X = rng.normal(size=(n, d)) * np.array(scales)
        y = X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
        cases.append((X, y, why))
    for X, y, why in cases:
        inputs = f"X of shape {X.shape} ({why})"
        hessian = 2.0 * X.T @ X / len(X)
        lam = np.linalg.eigvalsh(hessian)
        expected = 2.0 / lam[-1]
        got = call_student(ex, fn, (X.copy(),), inputs)
        arr = _maybe_array(got)
        measured = ""
        if arr is not None and arr.shape == () and np.isfinite(arr) and arr > 0:
            below, _ = _gd_outcome(X, y, 0.98 * float(arr))
            above, _ = _gd_outcome(X, y, 1.02 * float(arr))
            measured = f"\n  measured: gradient descent at 0.98 x your lr {below}, at 1.02 x your lr {above}"
        hint = "the Hessian of mean((X w - y)^2) is 2 X^T X / N; gradient descent is stable while lr < 2 / lambda_max"
        if arr is not None and arr.shape == ():
            if np.isclose(arr, 2.0 / lam[0]):
                hint = "you used the smallest eigenvalue: the *largest* curvature decides when a step overshoots"
            elif np.isclose(arr, 4.0 / lam[-1]) or np.isclose(arr, 1.0 / lam[-1]):
                hint = "off by a factor 2: the Hessian of mean((X w - y)^2) is 2 X^T X / N (the square brings the 2), and the bound is 2 / lambda_max"
        if got is None or arr is None or arr.shape != () or not np.isclose(arr, expected, rtol=1e-6):
            fail(ex, f"largest_stable_lr for {inputs} is wrong.\n  expected: {expected:.6g}\n  got:      {got!r}{measured}", hint)
    X, y, why = cases[1]
    lr = 2.0 / np.linalg.eigvalsh(2.0 * X.T @ X / len(X))[-1]
    below, _ = _gd_outcome(X, y, 0.98 * lr)
    above, _ = _gd_outcome(X, y, 1.02 * lr)
    passed(ex, f"your predictions are right; measured on {why}: at 0.98 x the predicted limit gradient descent {below}, "
               f"at 1.02 x it {above}")


# --------------------------------------------------------------------------- Exercise 3.4


def fixed_seed_regression(fn) -> None:
    """``fn(x, y, lr=0.5, steps=2000) -> (slope, intercept)``: the source's loop, fixed."""
    from labs.regression import seed_linear_data

    ex = "Exercise 3.4"
    for seed in (0, 1):
        X, y = seed_linear_data(n=100, seed=seed)
        x = X[:, 0]
        A = np.stack([x, np.ones_like(x)], axis=1)
        (slope, intercept), *_ = np.linalg.lstsq(A, y, rcond=None)
        inputs = f"the source's data, y = 3x + 2 + noise, 100 points (seed {seed})"
        out = call_student(ex, fn, (x.copy(), y.copy()), inputs)
        if not isinstance(out, tuple) or len(out) != 2:
            fail(ex, f"fit_line should return a pair (slope, intercept); got {type(out).__name__}: {out!r}")
        got = np.asarray(out, dtype=np.float64)
        hint = "predict theta_1 * x + theta_0 (no sigmoid) and step along the mean gradient of the squared error"
        if got.shape == (2,):
            pred = got[0] * x + got[1]
            if not np.all(np.isfinite(got)):
                hint = ("the run diverged: the source sums the gradient over all 100 samples, which makes the step 100 "
                        "times larger; average it (divide by N)")
            elif np.mean((pred - y) ** 2) > 100 * np.mean((A @ np.array([slope, intercept]) - y) ** 2):
                hint = ("your line does not fit the data at all. If you kept the source's sigmoid, its output lies in "
                        "(0, 1) while the targets lie in [2, 6): drop it, this is linear regression")
        expect_close(ex, out, (slope, intercept), what="(slope, intercept)", inputs=inputs, rtol=1e-5, atol=1e-6, hint=hint)
    passed(ex, "your loop reaches the least-squares line: no sigmoid on the output, and the gradient averaged over the data")


# --------------------------------------------------------------------------- Exercise 3.5


def _torch_hidden_grads(x, W1, b1, w2, b2, t):
    import torch

    W1t = torch.tensor(W1, requires_grad=True)
    b1t = torch.tensor(b1, requires_grad=True)
    y = torch.tensor(w2) @ torch.relu(W1t @ torch.tensor(x) + b1t) + b2
    (0.5 * (y - t) ** 2).backward()
    return W1t.grad.numpy(), b1t.grad.numpy()


def hidden_layer_gradient(fn) -> None:
    """``fn(x, W1, b1, w2, b2, t) -> (dL/dW1, dL/db1)`` for ``y = w2 . relu(W1 x + b1) + b2``, ``L = (y - t)^2 / 2``."""
    from labs.backprop_by_hand import WORKED_EXAMPLE as E

    ex = "Exercise 3.5"
    rng = np.random.default_rng(5)
    cases = [("the chapter's worked example", E["x"], E["W1"], E["b1"], E["w2"], E["b2"], E["t"])]
    for k in range(3):  # a wider hidden layer; at least one unit is off (z <= 0)
        x, W1, b1 = rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4)
        b1[0] = -10.0  # unit 0 is certainly inactive
        cases.append((f"random case {k + 1} (3 inputs, 4 hidden units)", x, W1, b1, rng.normal(size=4), float(rng.normal()), float(rng.normal())))
    for text, x, W1, b1, w2, b2, t in cases:
        x, W1, b1, w2 = (np.array(a, dtype=float) for a in (x, W1, b1, w2))
        dW1_exp, db1_exp = _torch_hidden_grads(x, W1, b1, w2, b2, t)
        out = call_student(ex, fn, (x.copy(), W1.copy(), b1.copy(), w2.copy(), float(b2), float(t)), text)
        if not isinstance(out, tuple) or len(out) != 2:
            fail(ex, f"hidden_layer_gradient should return a tuple (dW1, db1); got {type(out).__name__}")
        dW1, db1 = out
        z1 = W1 @ x + b1
        a1 = np.maximum(z1, 0)
        dy = float(w2 @ a1 + b2 - t)
        hint = "dL/dz1 = (y - t) * w2 * relu'(z1); then dL/dW1 = outer(dL/dz1, x) and dL/db1 = dL/dz1"
        arr = _maybe_array(db1)
        if arr is not None and arr.shape == db1_exp.shape:
            if np.allclose(arr, dy * a1):
                hint = "you multiplied by the activation a1 (the source's mistake); the path from z1 to y goes through the weight w2"
            elif np.allclose(arr, dy * w2):
                hint = "you left out relu'(z1): a hidden unit with z1 <= 0 passes no gradient back (multiply by (z1 > 0))"
        expect_close(ex, db1, db1_exp, what="dL/db1", inputs=text, rtol=1e-7, atol=1e-10, hint=hint)
        expect_close(ex, dW1, dW1_exp, what="dL/dW1", inputs=text, rtol=1e-7, atol=1e-10,
                     hint="dL/dW1[i, j] = dL/dz1[i] * x[j], i.e. np.outer(dz1, x), of shape (hidden, inputs) like W1")
    passed(ex, "dL/dW1 and dL/db1 match PyTorch autograd, inactive units included")


# --------------------------------------------------------------------------- Exercise 3.6


def bce_with_logits(fn) -> None:
    """``fn(z, t)``: mean binary cross-entropy from logits, finite for any logit."""
    import torch

    ex = "Exercise 3.6"
    cases = [
        ("z = [0.5, -1.0, 2.0], t = [1, 0, 1]", np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, 1.0])),
        ("z = [1000, -1000], t = [0, 1] (confidently wrong)", np.array([1000.0, -1000.0]), np.array([0.0, 1.0])),
        ("z = [800, -800], t = [1, 0] (confidently right)", np.array([800.0, -800.0]), np.array([1.0, 0.0])),
        ("z = [40, -40], t = [0, 1] (sigmoid(40) rounds to exactly 1.0)", np.array([40.0, -40.0]), np.array([0.0, 1.0])),
    ]
    for text, z, t in cases:
        expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(t)).item()
        with np.errstate(all="ignore"):
            got = call_student(ex, fn, (z.copy(), t.copy()), text)
        expect_close(ex, got, expected, what="bce_with_logits(z, t)", inputs=text, rtol=1e-9, atol=1e-12,
                     hint="never form sigmoid(z) and take its log; use max(z, 0) - z * t + log1p(exp(-|z|)), then the mean")
    passed(ex, "matches F.binary_cross_entropy_with_logits, also at logits of +-1000")
