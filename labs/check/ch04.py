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

__all__ = ["sigmoid_backward", "sum_to_shape", "linear_forward", "sgd_momentum_step", "cross_entropy_grad"]



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
# Exercise 4.2: sum a gradient back to the shape of a broadcast input
# --------------------------------------------------------------------------------------
def sum_to_shape(fn) -> None:
    """``fn(grad, shape) -> array of shape `shape```: the gradient of broadcasting ``shape`` up to ``grad.shape``."""
    import torch

    ex = "Exercise 4.2"
    hint = ("sum over the leading axes that broadcasting added (grad.ndim - len(shape) of them), then over every "
            "axis where shape has a 1 but grad does not, with keepdims=True so that those 1s stay")
    rng = np.random.default_rng(42)
    cases = [((4, 3), (3,)), ((4, 3), (1, 3)), ((4, 3), (4, 1)), ((2, 4, 3), (4, 1)), ((5,), ()),
             ((2, 3), (2, 3)), ((2, 1, 3), (1, 1, 3))]
    for grad_shape, shape in cases:
        g = rng.normal(size=grad_shape)
        x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        (x + torch.zeros(grad_shape, dtype=torch.float64)).backward(torch.tensor(g))
        expected = x.grad.numpy()
        inputs = f"grad of shape {grad_shape} and shape={shape}"
        got = call_student(ex, fn, (g.copy(), shape), inputs, hint)
        got = _as_float_array(ex, got, "sum_to_shape", inputs)
        specific = hint
        if got.shape != expected.shape and got.size == expected.size:
            specific = "the numbers may be right but the shape is not: keep the axes of length 1 (keepdims=True)"
        elif got.shape == grad_shape and grad_shape != shape:
            specific = "you returned grad unchanged: an input used many times receives the SUM of their gradients"
        elif got.shape == expected.shape and expected.size and _close(got * (g.size / max(expected.size, 1)), expected * 1):
            specific = "looks like a mean: broadcasting reuses the input, so the gradients add up (sum, not mean)"
        expect_close(ex, got, expected, what="sum_to_shape", inputs=inputs, rtol=1e-9, atol=1e-12, hint=specific)
    passed(ex, f"all {len(cases)} broadcasting cases match PyTorch's gradients, shapes included")


# --------------------------------------------------------------------------------------
# Exercise 4.3: the forward pass of a Linear layer
# --------------------------------------------------------------------------------------
def linear_forward(fn) -> None:
    """``fn(x, weight, bias) -> y`` with y = x W^T + b, weight of shape (out_features, in_features)."""
    import torch

    ex = "Exercise 4.3"
    hint = ("weight has PyTorch's layout (out_features, in_features), so y = x @ weight.T + bias; "
            "use the last axis of x, so that x of shape (..., in_features) works for any leading axes, "
            "and skip the bias when it is None")
    rng = np.random.default_rng(43)
    cases = [((5, 3), (4, 3), True), ((2, 6, 3), (4, 3), True), ((7, 2), (5, 2), False), ((3,), (2, 3), True)]
    for x_shape, w_shape, with_bias in cases:
        x, w = rng.normal(size=x_shape), rng.normal(size=w_shape)
        b = rng.normal(size=w_shape[0]) if with_bias else None
        expected = torch.nn.functional.linear(
            torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b)).numpy()
        inputs = f"x of shape {x_shape}, weight of shape {w_shape}, bias {'of shape ' + str(b.shape) if b is not None else 'None'}"
        got = call_student(ex, fn, (x.copy(), w.copy(), None if b is None else b.copy()), inputs, hint)
        got = _as_float_array(ex, got, "linear_forward", inputs)
        specific = hint
        if with_bias and got.shape == expected.shape and _close(got, expected - b):
            specific = "the bias is missing: add it (it broadcasts over the leading axes)"
        expect_close(ex, got, expected, what="linear_forward", inputs=inputs, rtol=1e-9, atol=1e-12, hint=specific)
    passed(ex, f"matches torch.nn.functional.linear on {len(cases)} shapes (batch axes and bias=None included)")


# --------------------------------------------------------------------------------------
# Exercise 4.4: one step of SGD with momentum
# --------------------------------------------------------------------------------------
def sgd_momentum_step(fn) -> None:
    """``fn(param, grad, buf, lr, momentum) -> (new_param, new_buf)``, torch.optim.SGD's rule (dampening 0).

    ``buf`` is None on the first step.
    """
    import torch

    ex = "Exercise 4.4"
    hint = ("PyTorch's rule: on the first step buf = grad; afterwards buf = momentum * buf + grad; "
            "then param = param - lr * buf. Return both (new_param, new_buf)")
    rng = np.random.default_rng(44)
    lr, momentum, steps = 0.1, 0.9, 5
    start = rng.normal(size=(3, 2))
    grads = [rng.normal(size=(3, 2)) for _ in range(steps)]

    p_torch = torch.tensor(start.copy(), requires_grad=True)
    opt = torch.optim.SGD([p_torch], lr=lr, momentum=momentum)
    param, buf = start.copy(), None
    for step, g in enumerate(grads, start=1):
        p_torch.grad = torch.tensor(g)
        opt.step()
        expected_param = p_torch.detach().numpy().copy()
        expected_buf = opt.state[p_torch]["momentum_buffer"].numpy().copy()
        inputs = f"step {step} (lr={lr}, momentum={momentum}, buf {'None' if buf is None else 'from your previous step'})"
        result = call_student(ex, fn, (param.copy(), g.copy(), None if buf is None else buf.copy(), lr, momentum), inputs, hint)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            fail(ex, f"sgd_momentum_step should return a pair (new_param, new_buf) at {inputs}; got {type(result).__name__}", hint)
        new_param = _as_float_array(ex, result[0], "new_param", inputs)
        new_buf = _as_float_array(ex, result[1], "new_buf", inputs)
        specific = hint
        if step == 1 and _close(new_buf, (1 - momentum) * g):
            specific = "on the first step PyTorch sets buf = grad (no (1 - momentum) factor: dampening is 0)"
        elif _close(new_param, param - lr * g) and step > 1:
            specific = "the parameter moved by lr * grad: it should move by lr * buf, the running sum of gradients"
        elif buf is not None and _close(new_buf, momentum * buf + (1 - momentum) * g):
            specific = "that is dampening = 1 - momentum (an exponential average); torch's default adds the full grad"
        expect_close(ex, new_buf, expected_buf, what="new_buf", inputs=inputs, rtol=1e-9, atol=1e-12, hint=specific)
        expect_close(ex, new_param, expected_param, what="new_param", inputs=inputs, rtol=1e-9, atol=1e-12, hint=specific)
        param, buf = new_param, new_buf
    passed(ex, f"{steps} steps match torch.optim.SGD(momentum={momentum}) exactly")


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
