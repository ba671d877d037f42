"""Graders for the exercises of Chapter 5 (convolutional networks).

Each grader runs the student's function on several inputs and compares it with
PyTorch (``torch.nn.functional.conv1d``, ``max_pool1d``, ``cross_entropy``). When the
answer matches a typical wrong answer (a flipped kernel, a missing floor, softmax
applied twice), the hint names that mistake.
"""

from __future__ import annotations

import math

import numpy as np

from labs.check import _short, expect_close, fail, passed
from labs.check import call_student

__all__ = ["receptive_field", "conv1d_input_grad", "im2col1d", "max_pool1d", "loss_from_probabilities"]



def _array(exercise: str, value, what: str, inputs: str) -> np.ndarray:
    if value is None:
        fail(exercise, f"{what} returned None for {inputs}; did you forget `return`?")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(exercise, f"{what} should return an array for {inputs}; got {type(value).__name__}")


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))


# --------------------------------------------------------------------------------------
# Exercise 5.1: predict, then measure: the receptive field of a stack of convolutions
# --------------------------------------------------------------------------------------
def _measured_receptive_field(kernel_sizes, strides) -> int:
    """Input positions with a non-zero gradient from one output of the last layer (all weights positive)."""
    import torch
    import torch.nn.functional as F

    length = 1
    for k, s in zip(reversed(kernel_sizes), reversed(strides)):   # an input long enough for 3 outputs
        length = (length + 2 - 1) * s + k
    x = torch.zeros(1, 1, length + 8, dtype=torch.float64, requires_grad=True)
    h = x
    for k, s in zip(kernel_sizes, strides):
        h = F.conv1d(h, torch.ones(1, 1, k, dtype=torch.float64), stride=s)
    h[0, 0, h.shape[-1] // 2].backward()
    return int((x.grad[0, 0] != 0).sum())


def receptive_field(fn) -> None:
    """``fn(kernel_sizes, strides) -> int``: how many input positions one output of the last layer sees."""
    ex = "Exercise 5.1"
    hint = ("each layer l widens the window by (k_l - 1) steps of its own input, and one step of layer l's input "
            "is the product of the strides of the layers below it: r = 1 + sum_l (k_l - 1) * prod_{m < l} s_m")
    cases = [([3], [1]), ([3, 3], [1, 1]), ([5, 3, 3], [2, 2, 2]), ([3, 2, 3, 2], [1, 2, 1, 2]), ([7, 5], [4, 1])]
    report = []
    for kernels, strides in cases:
        inputs = f"kernel_sizes={kernels}, strides={strides}"
        got = call_student(ex, fn, (list(kernels), list(strides)), inputs, hint)
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
            fail(ex, f"receptive_field({inputs}) should return an int; got {type(got).__name__} {got!r}", hint)
        measured = _measured_receptive_field(kernels, strides)
        if got != measured:
            specific = hint
            if got == 1 + sum(k - 1 for k in kernels):
                specific = "that ignores the strides: after a stride-2 layer, one step of the next layer's input is 2 input positions"
            elif got == 1 + sum((k - 1) * math.prod(strides[:i + 1]) for i, k in enumerate(kernels)):
                specific = "a layer's own stride does not widen its window; only the strides of the layers below it count"
            elif got == math.prod(kernels):
                specific = "the windows overlap, so the sizes do not multiply: each layer adds (k - 1) steps"
            fail(ex, f"you predicted {got} input positions for {inputs}; backpropagating from one output "
                     f"of the last layer reached {measured}", specific)
        report.append(f"{got}")
    passed(ex, f"your predictions match the measured receptive fields ({', '.join(report)}), the MNIST-1D CNN's included")


# --------------------------------------------------------------------------------------
# Exercise 5.2: the gradient of a cross-correlation with respect to its input
# --------------------------------------------------------------------------------------
def conv1d_input_grad(fn) -> None:
    """``fn(grad_out, w, n) -> dL/dx`` of shape (n,) for y = valid cross-correlation of x (length n) with w."""
    import torch
    import torch.nn.functional as F

    ex = "Exercise 5.2"
    hint = ("x[m] is used by every output i with i + j = m, with weight w[j]: dL/dx[m] = sum_j grad_out[m - j] w[j] "
            "over the j where m - j is an output position. That is a 'full' convolution of grad_out with w")
    rng = np.random.default_rng(52)
    for n, k in ((8, 3), (12, 4), (5, 5), (6, 1)):
        x = torch.tensor(rng.normal(size=n), requires_grad=True)
        w = rng.normal(size=k)
        grad_out = rng.normal(size=n - k + 1)
        F.conv1d(x[None, None], torch.tensor(w)[None, None]).backward(torch.tensor(grad_out)[None, None])
        expected = x.grad.numpy()
        inputs = f"grad_out of length {n - k + 1}, w = {_short(w)}, n = {n}"
        got = _array(ex, call_student(ex, fn, (grad_out.copy(), w.copy(), n), inputs, hint), "conv1d_input_grad", inputs)
        specific = hint
        if got.shape == expected.shape and k > 1 and _same(got, np.correlate(np.pad(grad_out, k - 1), w, "valid")):
            specific = ("the kernel must be flipped here: the backward pass of a cross-correlation is a convolution "
                        "(np.convolve(grad_out, w, 'full')), not another cross-correlation")
        elif got.shape == (n - 2 * (k - 1),) or got.shape == (n - k + 1,):
            specific = ("dL/dx has one entry per input position, n of them: the edge inputs are used by fewer outputs, "
                        "so pad (a 'full' convolution), do not keep only the 'valid' part")
        expect_close(ex, got, expected, what="conv1d_input_grad", inputs=inputs, rtol=1e-6, atol=1e-9, hint=specific)
    passed(ex, "your input gradient equals PyTorch's autograd through conv1d, edges included")


# --------------------------------------------------------------------------------------
# Exercise 5.3: im2col in one dimension
# --------------------------------------------------------------------------------------
def im2col1d(fn) -> None:
    """``fn(x, kernel_size, stride) -> cols`` of shape (L_out, C * k) for x of shape (C, L).

    Row i holds window i of every channel, channel-major (all k values of channel 0,
    then channel 1, ...), so that ``cols @ weight.reshape(O, C * k).T`` is the convolution.
    """
    import torch
    import torch.nn.functional as F

    ex = "Exercise 5.3"
    hint = ("row i is x[:, i*stride : i*stride + k] flattened (channel 0's k values first), for i in "
            "range(L_out) with L_out = (L - k) // stride + 1")
    rng = np.random.default_rng(53)
    for c, length, k, s, o in ((1, 8, 3, 1, 2), (3, 10, 4, 2, 5), (2, 9, 3, 3, 1)):
        x = rng.normal(size=(c, length))
        weight = rng.normal(size=(o, c, k))
        inputs = f"x of shape {x.shape}, kernel_size={k}, stride={s}"
        l_out = (length - k) // s + 1
        expected = np.stack([x[:, i * s : i * s + k].reshape(-1) for i in range(l_out)])
        got = _array(ex, call_student(ex, fn, (x.copy(), k, s), inputs, hint), "im2col1d", inputs)
        specific = hint
        if got.shape == (c * k, l_out):
            specific = "transpose it: one row per output position, shape (L_out, C * k)"
        elif got.shape == expected.shape and _same(got, np.stack([x[:, i * s : i * s + k].T.reshape(-1) for i in range(l_out)])):
            specific = "the order inside a row must be channel-major (x[:, window].reshape(-1)), as weight.reshape(O, C*k) is"
        expect_close(ex, got, expected, what="im2col1d", inputs=inputs, rtol=1e-9, atol=1e-12, hint=specific)
        conv = (got @ weight.reshape(o, -1).T).T  # (O, L_out)
        torch_conv = F.conv1d(torch.tensor(x)[None], torch.tensor(weight), stride=s)[0].numpy()
        expect_close(ex, conv, torch_conv, what="cols @ weight.reshape(O, C*k).T (transposed)", inputs=inputs,
                     rtol=1e-6, atol=1e-9, hint=hint)
    passed(ex, "one matrix product with your columns reproduces torch.nn.functional.conv1d")


# --------------------------------------------------------------------------------------
# Exercise 5.4: max pooling
# --------------------------------------------------------------------------------------
def max_pool1d(fn) -> None:
    """``fn(x, kernel_size, stride) -> y`` for x of shape (N, C, L), no padding, like F.max_pool1d."""
    import torch
    import torch.nn.functional as F

    ex = "Exercise 5.4"
    hint = "for each window start i*stride take the maximum over x[..., i*stride : i*stride + k]; L_out = (L - k) // stride + 1"
    rng = np.random.default_rng(54)
    for shape, k, s in (((2, 3, 8), 2, 2), ((1, 2, 9), 3, 2), ((3, 1, 7), 3, 1), ((2, 2, 10), 4, 3)):
        x = rng.normal(size=shape)
        inputs = f"x of shape {shape}, kernel_size={k}, stride={s}"
        expected = F.max_pool1d(torch.tensor(x), k, s).numpy()
        got = _array(ex, call_student(ex, fn, (x.copy(), k, s), inputs, hint), "max_pool1d", inputs)
        specific = hint
        if got.shape == expected.shape and _same(got, F.avg_pool1d(torch.tensor(x), k, s).numpy()):
            specific = "that is average pooling: take the maximum of each window"
        elif s > 1 and got.shape == F.max_pool1d(torch.tensor(x), k, 1).shape:
            specific = ("that is the source's formula: a window at every position, so nothing is downsampled; "
                        "start the windows at 0, stride, 2*stride, ...")
        expect_close(ex, got, expected, what="max_pool1d", inputs=inputs, rtol=1e-9, atol=1e-12, hint=specific)
    passed(ex, "your max pooling equals torch.nn.functional.max_pool1d on every input")


# --------------------------------------------------------------------------------------
# Exercise 5.5: the right loss for a model that outputs probabilities
# --------------------------------------------------------------------------------------
def loss_from_probabilities(fn) -> None:
    """``fn(probs, targets) -> float``: mean cross-entropy when the model already applied softmax."""
    import torch
    import torch.nn.functional as F

    ex = "Exercise 5.5"
    hint = ("the probabilities are final: take -log of the probability of each row's target class and average, "
            "without another softmax")
    rng = np.random.default_rng(55)
    cases = []
    for n, c, scale in ((4, 3, 1.0), (6, 10, 3.0)):
        logits = rng.normal(0, scale, size=(n, c))
        targets = rng.integers(0, c, size=n)
        probs = torch.softmax(torch.tensor(logits), dim=1).numpy()
        cases.append((probs, targets, F.cross_entropy(torch.tensor(logits), torch.tensor(targets)).item()))
    # A confident model: some probabilities are exactly 0 (never the target's).
    probs = np.array([[0.0, 0.9, 0.1], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    targets = np.array([1, 2, 2])
    cases.append((probs, targets, float(-np.mean(np.log(probs[np.arange(3), targets])))))
    for probs, targets, expected in cases:
        inputs = f"probs = {_short(probs, 9)} (rows sum to 1) and targets {targets.tolist()}"
        got = call_student(ex, fn, (probs.copy(), targets.copy()), inputs, hint)
        got_arr = _array(ex, got, "the loss", inputs)
        if got_arr.size != 1:
            fail(ex, f"the loss should be one number (the mean over the batch); got shape {got_arr.shape}", hint)
        value = float(got_arr.reshape(-1)[0])
        specific = hint
        double = F.cross_entropy(torch.tensor(probs), torch.tensor(targets)).item()
        if math.isclose(value, double, rel_tol=1e-6):
            specific = ("that applies softmax a second time (cross_entropy expects logits): it can never go below "
                        "log(1 + (C - 1)/e), however right the model is")
        elif not math.isfinite(value):
            specific = ("0 * log(0) is nan: pick each row's target probability (probs[np.arange(N), targets]) "
                        "instead of multiplying a one-hot by the log of every probability")
        expect_close(ex, value, expected, what="the loss", inputs=inputs, rtol=1e-6, atol=1e-9, hint=specific)
    passed(ex, "your loss equals the cross-entropy of the logits, with softmax applied once")
