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

__all__ = ["stable_softmax", "gelu_derivative", "adam_step", "normal_equations", "hidden_layer_gradient", "bce_with_logits"]



def _maybe_array(value):
    """``value`` as a float array, or None when it is not numbers (expect_close then explains)."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- Exercise 3.1


def stable_softmax(fn) -> None:
    """``fn(z)``: softmax along the last axis that survives logits of 1e3."""
    import torch

    ex = "Exercise 3.1"
    cases = [
        ("z = [1, 2, 3]", np.array([1.0, 2.0, 3.0])),
        ("z = [1000, 1001, 1002]", np.array([1000.0, 1001.0, 1002.0])),
        ("z = [-1000, -1000]", np.array([-1000.0, -1000.0])),
        ("a batch of 2 rows, [[1, 2, 3], [1000, 0, -1000]]", np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])),
        ("a (3, 4, 5) array of random logits", np.random.default_rng(3).normal(scale=20, size=(3, 4, 5))),
    ]
    for text, z in cases:
        expected = torch.softmax(torch.as_tensor(z), dim=-1).numpy()
        with np.errstate(all="ignore"):
            got = call_student(ex, fn, (z.copy(),), text)
        hint = "subtract the maximum of each row (keepdims=True) before np.exp; softmax(z - c) = softmax(z)"
        arr = _maybe_array(got)
        if arr is not None and arr.shape == expected.shape and not np.allclose(arr.sum(axis=-1), 1.0) and np.all(np.isfinite(arr)):
            hint = "normalise along the last axis: divide by e.sum(axis=-1, keepdims=True), not by the total of the whole array"
        expect_close(ex, got, expected, what="stable_softmax(z)", inputs=text, rtol=1e-9, atol=1e-12, hint=hint)
    passed(ex, "matches torch.softmax, including logits of 1e3 and a batch of rows")


# --------------------------------------------------------------------------- Exercise 3.2


def gelu_derivative(fn) -> None:
    """``fn(z)``: the derivative of the exact GELU ``z * Phi(z)``."""
    import torch

    ex = "Exercise 3.2"
    z = np.array([-6.0, -3.0, -1.5, -0.5, 0.0, 0.3, 1.0, 2.0, 4.0])
    zt = torch.tensor(z, requires_grad=True)
    torch.nn.functional.gelu(zt).sum().backward()
    expected = zt.grad.numpy()
    got = call_student(ex, fn, (z.copy(),), f"z = {z.tolist()}")
    from labs.activations import normal_cdf

    hint = "GELU(z) = z * Phi(z); by the product rule its derivative is Phi(z) + z * phi(z), with phi the standard normal density"
    arr = _maybe_array(got)
    if arr is not None and arr.shape == z.shape and np.allclose(arr, normal_cdf(z), atol=1e-6):
        hint = "you returned Phi(z) only: the product rule also gives the term z * phi(z), phi(z) = exp(-z^2/2) / sqrt(2 pi)"
    elif arr is not None and arr.shape == z.shape:
        zt2 = torch.tensor(z, requires_grad=True)
        torch.nn.functional.gelu(zt2, approximate="tanh").sum().backward()
        if np.allclose(arr, zt2.grad.numpy(), atol=1e-6):
            hint = "that is the derivative of the tanh *approximation*; PyTorch's default GELU is the exact z * Phi(z) (use scipy.special.erf or math.erf)"
    expect_close(ex, got, expected, what="gelu_derivative(z)", inputs=f"z = {z.tolist()}", rtol=1e-6, atol=1e-8, hint=hint)
    passed(ex, "matches autograd of torch.nn.functional.gelu at 9 points")


# --------------------------------------------------------------------------- Exercise 3.3


def adam_step(fn) -> None:
    """``fn(param, grad, m, v, t, lr, betas, eps) -> (param, m, v)`` for step number ``t`` (from 1)."""
    import torch

    ex = "Exercise 3.3"
    rng = np.random.default_rng(0)
    lr, betas, eps = 0.1, (0.9, 0.999), 1e-8
    p0 = rng.normal(size=3)
    grads = [rng.normal(size=3) * s for s in (1.0, 0.1, 5.0, 1.0)]
    pt = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.Adam([pt], lr=lr, betas=betas, eps=eps)
    p, m, v = p0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        pt.grad = torch.tensor(g)
        opt.step()
        inputs = f"step t={t} (param={np.round(p, 4).tolist()}, grad={np.round(g, 4).tolist()}, lr={lr}, betas={betas}, eps={eps})"
        out = call_student(ex, fn, (p.copy(), g.copy(), m.copy(), v.copy(), t), inputs, lr=lr, betas=betas, eps=eps)
        if not isinstance(out, tuple) or len(out) != 3:
            fail(ex, f"adam_step should return a tuple (param, m, v); got {type(out).__name__}: {out!r}")
        new_p, new_m, new_v = out
        m_exp = betas[0] * m + (1 - betas[0]) * g
        v_exp = betas[1] * v + (1 - betas[1]) * g * g
        expect_close(ex, new_m, m_exp, what="the new first moment m", inputs=inputs,
                     hint="m <- beta1 * m + (1 - beta1) * grad (store m itself, not the bias-corrected m_hat)")
        expect_close(ex, new_v, v_exp, what="the new second moment v", inputs=inputs,
                     hint="v <- beta2 * v + (1 - beta2) * grad**2 (squared gradient; store v, not v_hat)")
        hint = "update with m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t): p - lr * m_hat / (sqrt(v_hat) + eps)"
        arr = _maybe_array(new_p)
        no_correction = p - lr * m_exp / (np.sqrt(v_exp) + eps)
        if arr is not None and arr.shape == p.shape and np.allclose(arr, no_correction, rtol=1e-9) and t == 1:
            hint = "you skipped the bias correction: m and v start at 0, so divide them by (1 - beta**t) before the update"
        expect_close(ex, new_p, pt.detach().numpy(), what="the new parameter", inputs=inputs, rtol=1e-9, atol=1e-12, hint=hint)
        p, m, v = arr, _maybe_array(new_m), _maybe_array(new_v)
    passed(ex, f"{len(grads)} steps match torch.optim.Adam(lr={lr}) to 1e-9")


# --------------------------------------------------------------------------- Exercise 3.4


def normal_equations(fn) -> None:
    """``fn(X, y) -> (w, b)``: least squares with a bias, from the normal equations."""
    ex = "Exercise 3.4"
    rng = np.random.default_rng(1)
    for n, d in ((50, 1), (80, 3)):
        X = rng.normal(size=(n, d)) + 2.0  # features with a non-zero mean, so the bias matters
        y = X @ rng.normal(size=d) - 4.0 + 0.1 * rng.normal(size=n)
        A = np.hstack([X, np.ones((n, 1))])
        theta, *_ = np.linalg.lstsq(A, y, rcond=None)
        inputs = f"X of shape {X.shape} and y of shape {y.shape}"
        out = call_student(ex, fn, (X.copy(), y.copy()), inputs)
        if not isinstance(out, tuple) or len(out) != 2:
            fail(ex, f"fit should return a tuple (w, b); got {type(out).__name__}")
        w, b = out
        hint = "solve (A^T A) theta = A^T y with A = [X, 1] (np.linalg.solve), then split theta into w = theta[:-1] and b = theta[-1]"
        w_arr = _maybe_array(w)
        no_bias = np.linalg.lstsq(X, y, rcond=None)[0]
        if w_arr is not None and w_arr.shape == no_bias.shape and np.allclose(w_arr, no_bias, rtol=1e-6):
            hint = "your fit has no intercept: append a column of ones to X so that the last coefficient is the bias b"
        expect_close(ex, w, theta[:-1], what="the weights w", inputs=inputs, rtol=1e-6, atol=1e-9, hint=hint)
        expect_close(ex, b, theta[-1], what="the bias b", inputs=inputs, rtol=1e-6, atol=1e-9, hint=hint)
    passed(ex, "weights and bias match np.linalg.lstsq for 1 and 3 features")


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
