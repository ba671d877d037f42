"""Graders for the exercises of Chapter 4 (a deep-learning engine from scratch).

Each grader takes the student's function, runs it on a few inputs, and compares the
result with PyTorch (autograd, ``torch.nn.functional`` or ``torch.optim``). The first
exercise also plugs the student's backward rule into the NumPy engine and runs
``labs.scratch.gradcheck`` on it, so the rule is tested the way the engine uses it.
"""

from __future__ import annotations

import numpy as np

from labs.check import _short, expect_close, fail, passed
from labs.check import call_student

__all__ = ["sigmoid_backward", "leaky_relu_std", "dense_relu_backward", "softmax_backward", "cross_entropy_grad"]



def _as_float_array(exercise: str, value, what: str, inputs: str) -> np.ndarray:
    if value is None:
        fail(exercise, f"{what} returned None for {inputs}; did you forget `return`?")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(exercise, f"{what} should return an array for {inputs}; got {type(value).__name__}: {value!r}")


def _close(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-8))


# --------------------------------------------------------------------------------------
# Exercise 4.1: the backward rule of the sigmoid
# --------------------------------------------------------------------------------------
def sigmoid_backward(fn) -> None:
    """``fn(grad_out, out) -> grad_in`` for out = sigmoid(x): grad_in = grad_out * out * (1 - out)."""
    import torch

    ex = "Exercise 4.1"
    hint = "sigma'(x) = sigma(x) (1 - sigma(x)) = out * (1 - out); the chain rule multiplies it by grad_out"
    rng = np.random.default_rng(41)
    for shape in [(5,), (3, 4)]:
        x = rng.normal(0.0, 2.0, size=shape)
        g = rng.normal(size=shape)
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.sigmoid(xt)
        yt.backward(torch.tensor(g))
        expected = xt.grad.numpy()
        out = yt.detach().numpy().copy()
        inputs = f"grad_out {_short(g)} and out = sigmoid(x) = {_short(out)}"
        got = _as_float_array(ex, call_student(ex, fn, (g.copy(), out.copy()), inputs, hint), "sigmoid_backward", inputs)
        specific = hint
        if _close(got, out * (1 - out)):
            specific = "you returned sigma'(x) alone: multiply it by grad_out (the gradient that arrives from above)"
        elif _close(got, g * out):
            specific = "the derivative of the sigmoid is out * (1 - out), not out: the factor (1 - out) is missing"
        elif _close(got, g * np.exp(-x) * out):
            specific = "close: with out = sigma(x), sigma'(x) is out * (1 - out); write it with out only"
        expect_close(ex, got, expected, what="sigmoid_backward", inputs=inputs, rtol=1e-6, atol=1e-9, hint=specific)

    # The same rule inside the engine: an operation built with Tensor.from_op, checked by gradcheck.
    from labs.scratch import Tensor, gradcheck

    def sigmoid_op(t):
        s = 1.0 / (1.0 + np.exp(-t.data))
        return Tensor.from_op(s, (t,), lambda grad: (np.asarray(fn(grad, s), dtype=s.dtype),), "student_sigmoid")

    x = Tensor(rng.normal(size=(4, 3)), requires_grad=True)
    if not gradcheck(sigmoid_op, (x,), raise_exception=False):
        fail(ex, "inside the engine (Tensor.from_op), labs.scratch.gradcheck disagrees with your rule", hint)
    passed(ex, "your backward rule matches torch.sigmoid's gradient and passes labs.scratch.gradcheck")


# --------------------------------------------------------------------------------------
# Exercise 4.2: predict, then measure: the initialisation that keeps a leaky-ReLU network's signal
# --------------------------------------------------------------------------------------
def _leaky_growth_per_layer(std: float, fan_in: int, negative_slope: float, depth: int = 20, batch: int = 512) -> float:
    """Measured geometric-mean growth of the RMS of the pre-activations per layer of a deep leaky-ReLU net."""
    import torch

    gen = torch.Generator().manual_seed(4200 + fan_in)
    a = torch.randn(batch, fan_in, dtype=torch.float64, generator=gen)
    rms = []
    for _ in range(depth):
        weight = torch.randn(fan_in, fan_in, dtype=torch.float64, generator=gen) * std
        z = a @ weight.T
        rms.append(float(z.pow(2).mean().sqrt()))
        a = torch.nn.functional.leaky_relu(z, negative_slope)
    ratios = np.log(np.asarray(rms[1:])) - np.log(np.asarray(rms[:-1]))
    return float(np.exp(ratios.mean()))


def leaky_relu_std(fn) -> None:
    """``fn(fan_in, negative_slope) -> std``: the weight standard deviation that keeps the signal's scale."""
    ex = "Exercise 4.2"
    hint = ("follow eq-ch04-variance: a layer multiplies E[z^2] by fan_in * std^2 * E[a^2] / E[z^2]; for a leaky ReLU "
            "with slope a on the negative side, E[a^2] = (1 + a^2) / 2 * E[z^2], so choose std to make the product 1")
    cases = [(128, 0.5), (256, 0.2), (64, 1.0), (200, 0.0)]
    report = []
    for fan_in, slope in cases:
        inputs = f"fan_in={fan_in}, negative_slope={slope}"
        got = call_student(ex, fn, (fan_in, slope), inputs, hint)
        try:
            std = float(got)
        except (TypeError, ValueError):
            fail(ex, f"leaky_relu_std should return one number for {inputs}; got {type(got).__name__}: {got!r}", hint)
        if not np.isfinite(std) or std <= 0:
            fail(ex, f"leaky_relu_std for {inputs} returned {std!r}; a standard deviation is a positive number", hint)
        growth = _leaky_growth_per_layer(std, fan_in, slope)
        expected = float(np.sqrt(2.0 / ((1.0 + slope ** 2) * fan_in)))
        specific = hint
        if slope > 0 and np.isclose(std, np.sqrt(2.0 / fan_in)):
            specific = ("sqrt(2 / fan_in) is Kaiming for the plain ReLU (slope 0): a leaky ReLU keeps part of the "
                        "negative side, a^2 of its second moment, so the weights must be smaller")
        elif np.isclose(std, np.sqrt(2.0 / ((1.0 + slope) * fan_in))):
            specific = "the negative side passes a * z, whose square is a^2 z^2: use 1 + a^2, not 1 + a"
        elif np.isclose(std, 2.0 / ((1.0 + slope ** 2) * fan_in)):
            specific = "that is the variance; the function returns the standard deviation, its square root"
        if abs(growth - 1.0) > 0.05:
            fail(ex, f"with std = {std:.4g} for {inputs}, a 20-layer network measured a growth of {growth:.3f} per layer "
                     f"(the signal is multiplied by {growth ** 19:.2e} over the 19 layers after the first); "
                     f"the scale is kept only at growth 1", specific)
        expect_close(ex, std, expected, what="leaky_relu_std", inputs=inputs, rtol=1e-6, atol=0.0, hint=specific)
        report.append(f"{growth:.3f}")
    passed(ex, f"your prediction keeps the signal: measured growth per layer {', '.join(report)} over 20 layers "
               f"(slopes {', '.join(str(s) for _, s in cases)})")


# --------------------------------------------------------------------------------------
# Exercise 4.3: fix the source's backward pass of a dense ReLU layer
# --------------------------------------------------------------------------------------
def dense_relu_backward(fn) -> None:
    """``fn(x, W, b, grad_out) -> (dx, dW, db)`` for y = relu(x @ W.T + b), W of shape (out, in)."""
    import torch

    ex = "Exercise 4.3"
    hint = ("first go back through the ReLU: dz = grad_out * (z > 0) with z = x @ W.T + b; then dW = dz.T @ x, "
            "db = dz summed over the examples (axis 0, one number per output unit), dx = dz @ W")
    rng = np.random.default_rng(43)
    cases = [(5, 3, 4), (7, 6, 2), (1, 4, 3)]          # (N, in, out): all different, so a wrong axis cannot hide
    for n, n_in, n_out in cases:
        x, W, b = rng.normal(size=(n, n_in)), rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)
        g = rng.normal(size=(n, n_out))
        xt, Wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, W, b))
        torch.relu(xt @ Wt.T + bt).backward(torch.tensor(g))
        expected = (xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy())
        inputs = f"x of shape {x.shape}, W of shape {W.shape}, b of shape {b.shape}, grad_out of shape {g.shape}"
        result = call_student(ex, fn, (x.copy(), W.copy(), b.copy(), g.copy()), inputs, hint)
        if not (isinstance(result, (tuple, list)) and len(result) == 3):
            fail(ex, f"dense_relu_backward should return three arrays (dx, dW, db) for {inputs}; "
                     f"got {type(result).__name__}", hint)
        got = [_as_float_array(ex, r, name, inputs) for r, name in zip(result, ("dx", "dW", "db"))]
        specific = hint
        if _close(got[1], g.T @ x) and not _close(got[1], expected[1]):
            specific = ("the derivative of the ReLU is missing (the source's first bug): multiply grad_out by (z > 0) "
                        "before any product, so that units that were off pass nothing back")
        elif got[2].shape == (n,) and n != n_out:
            specific = ("db has one entry per example: the bias has one entry per output unit, so sum over the "
                        "examples, axis 0 (the source's second bug, hidden by its square arrays)")
        for name, value, exp in zip(("dx", "dW", "db"), got, expected):
            expect_close(ex, value, exp, what=name, inputs=inputs, rtol=1e-9, atol=1e-12, hint=specific)
    passed(ex, f"dx, dW and db match PyTorch's autograd on {len(cases)} layers with distinct sizes")


# --------------------------------------------------------------------------------------
# Exercise 4.4: the backward rule of softmax
# --------------------------------------------------------------------------------------
def softmax_backward(fn) -> None:
    """``fn(grad_out, out) -> grad_in`` for out = softmax(x) along the last axis."""
    import torch

    ex = "Exercise 4.4"
    hint = ("every output depends on every input of its row: d out_i / d x_j = out_i (delta_ij - out_j), so "
            "grad_in = out * (grad_out - sum(grad_out * out, axis=-1, keepdims=True))")
    rng = np.random.default_rng(44)
    for shape in [(4,), (3, 5), (2, 3, 4)]:
        x, g = rng.normal(0.0, 2.0, size=shape), rng.normal(size=shape)
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.softmax(xt, dim=-1)
        yt.backward(torch.tensor(g))
        out = yt.detach().numpy().copy()
        inputs = f"grad_out of shape {shape} and out = softmax(x, axis=-1) = {_short(out)}"
        got = _as_float_array(ex, call_student(ex, fn, (g.copy(), out.copy()), inputs, hint), "softmax_backward", inputs)
        specific = hint
        if _close(got, g * out * (1 - out)):
            specific = ("out * (1 - out) is only the diagonal of the Jacobian (the sigmoid's rule): softmax couples "
                        "the outputs of a row, so subtract the row's sum of grad_out * out")
        elif got.shape == out.shape and _close(got, out * (g - (g * out).sum())):
            specific = "sum along the last axis only (axis=-1, keepdims=True), once per row, not over the whole array"
        expect_close(ex, got, xt.grad.numpy(), what="softmax_backward", inputs=inputs, rtol=1e-6, atol=1e-10, hint=specific)
    passed(ex, "matches PyTorch's autograd for torch.softmax on 1-D, 2-D and 3-D inputs")


# --------------------------------------------------------------------------------------
# Exercise 4.5: the gradient of cross-entropy with respect to the logits
# --------------------------------------------------------------------------------------
def cross_entropy_grad(fn) -> None:
    """``fn(logits, targets) -> d loss / d logits`` for the mean cross-entropy: (softmax - onehot) / N."""
    import torch

    ex = "Exercise 4.5"
    hint = ("softmax(logits) minus the one-hot targets, divided by the batch size N because the loss is a mean; "
            "compute the softmax stably by subtracting each row's maximum before exp")
    rng = np.random.default_rng(45)
    cases = [
        (rng.normal(size=(4, 3)), rng.integers(0, 3, size=4)),
        (rng.normal(size=(6, 10)) * 3, rng.integers(0, 10, size=6)),
        (np.array([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]]), np.array([2, 0])),
    ]
    for logits, targets in cases:
        lt = torch.tensor(logits, requires_grad=True)
        torch.nn.functional.cross_entropy(lt, torch.tensor(targets)).backward()
        expected = lt.grad.numpy()
        inputs = f"logits {_short(logits)} and targets {targets.tolist()}"
        got = call_student(ex, fn, (logits.copy(), targets.copy()), inputs, hint)
        got = _as_float_array(ex, got, "cross_entropy_grad", inputs)
        n = len(targets)
        specific = hint
        if got.shape == expected.shape and not np.all(np.isfinite(got)):
            specific = "NaN or inf: exp(1000) overflows; subtract each row's maximum from the logits before exp"
        elif _close(got, expected * n):
            specific = "off by a factor N: the loss is the MEAN over the batch, so divide by the number of examples"
        elif _close(got, -expected):
            specific = "the sign is flipped: it is softmax - onehot (the probability of the true class is pushed up)"
        expect_close(ex, got, expected, what="cross_entropy_grad", inputs=inputs, rtol=1e-6, atol=1e-10, hint=specific)
    passed(ex, "matches PyTorch's autograd for F.cross_entropy, including logits of +-1000")
