"""Chapter 3 graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import numpy as np
import pytest

from labs.check import ExerciseFailed
from labs.check import ch03


# ----------------------------------------------------------------------------- right answers


def temperature_right(z, tau):
    if tau <= 0:
        raise ValueError("tau must be positive")
    z = np.asarray(z, dtype=float) / tau
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def silu_derivative_right(z):
    s = 1 / (1 + np.exp(-np.asarray(z, dtype=float)))
    return s * (1 + np.asarray(z) * (1 - s))


def lr_limit_right(X):
    return 2 / np.linalg.eigvalsh(2 * X.T @ X / len(X))[-1]


def seed_regression_right(x, y, lr=0.5, steps=2000):
    t1, t0 = 0.0, 0.0
    for _ in range(steps):
        r = t1 * x + t0 - y
        t1, t0 = t1 - lr * np.mean(r * x), t0 - lr * np.mean(r)
    return t1, t0


def hidden_right(x, W1, b1, w2, b2, t):
    z1 = W1 @ x + b1
    y = w2 @ np.maximum(z1, 0) + b2
    dz1 = (y - t) * w2 * (z1 > 0)
    return np.outer(dz1, x), dz1


def bce_right(z, t):
    return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))


# ----------------------------------------------------------------------------- wrong answers


def temperature_naive(z, tau):
    if tau <= 0:
        raise ValueError("tau must be positive")
    e = np.exp(np.asarray(z, dtype=float) / tau)
    return e / e.sum(axis=-1, keepdims=True)


def temperature_no_keepdims(z, tau):
    z = np.asarray(z, dtype=float) / tau
    e = np.exp(z - z.max(axis=-1))  # fine for one row, a broadcasting error for a batch
    return e / e.sum(axis=-1)


def temperature_times(z, tau):
    return temperature_right(z, 1 / tau) if tau > 0 else temperature_right(z, tau)


def temperature_no_check(z, tau):
    return temperature_right(z, abs(tau) or 1.0)


def silu_sigmoid_only(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


def silu_sigmoid_derivative(z):
    s = 1 / (1 + np.exp(-np.asarray(z, dtype=float)))
    return s * (1 - s)


def lr_limit_smallest(X):
    return 2 / np.linalg.eigvalsh(2 * X.T @ X / len(X))[0]


def lr_limit_no_two(X):
    return 2 / np.linalg.eigvalsh(X.T @ X / len(X))[-1]


def seed_regression_summed(x, y, lr=0.5, steps=2000):  # the source sums the gradient
    t1, t0 = 0.0, 0.0
    for _ in range(steps):
        r = t1 * x + t0 - y
        t1, t0 = t1 - lr * np.sum(r * x), t0 - lr * np.sum(r)
    return t1, t0


def seed_regression_sigmoid(x, y, lr=0.5, steps=2000):  # the source keeps the sigmoid
    t1, t0 = 0.0, 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(t1 * x + t0)))
        r = p - y
        t1, t0 = t1 - lr * np.mean(r * x), t0 - lr * np.mean(r)
    return t1, t0


def hidden_times_activation(x, W1, b1, w2, b2, t):
    z1 = W1 @ x + b1
    a1 = np.maximum(z1, 0)
    dz1 = (w2 @ a1 + b2 - t) * a1  # the source's mistake
    return np.outer(dz1, x), dz1


def hidden_no_relu_derivative(x, W1, b1, w2, b2, t):
    z1 = W1 @ x + b1
    dz1 = (w2 @ np.maximum(z1, 0) + b2 - t) * w2
    return np.outer(dz1, x), dz1


def bce_naive(z, t):
    p = 1 / (1 + np.exp(-z))
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


# ----------------------------------------------------------------------------- tests

RIGHT = {
    ch03.softmax_with_temperature: temperature_right,
    ch03.silu_derivative: silu_derivative_right,
    ch03.largest_stable_lr: lr_limit_right,
    ch03.fixed_seed_regression: seed_regression_right,
    ch03.hidden_layer_gradient: hidden_right,
    ch03.bce_with_logits: bce_right,
}

WRONG = [
    (ch03.softmax_with_temperature, temperature_naive, "subtract each row's maximum"),
    (ch03.softmax_with_temperature, temperature_times, "multiplied by tau"),
    (ch03.softmax_with_temperature, temperature_no_keepdims, "keepdims=True"),
    (ch03.softmax_with_temperature, temperature_no_check, "ValueError"),
    (ch03.silu_derivative, silu_sigmoid_only, "product rule also gives"),
    (ch03.silu_derivative, silu_sigmoid_derivative, "sigmoid's derivative"),
    (ch03.largest_stable_lr, lr_limit_smallest, "smallest eigenvalue"),
    (ch03.largest_stable_lr, lr_limit_no_two, "factor 2"),
    (ch03.largest_stable_lr, lr_limit_no_two, "measured: gradient descent at 0.98 x your lr"),
    (ch03.fixed_seed_regression, seed_regression_summed, "average it"),
    (ch03.fixed_seed_regression, seed_regression_sigmoid, "drop it"),
    (ch03.hidden_layer_gradient, hidden_times_activation, "weight w2"),
    (ch03.hidden_layer_gradient, hidden_no_relu_derivative, "relu'"),
    (ch03.bce_with_logits, bce_naive, "log1p"),
]


@pytest.mark.parametrize("grader", list(RIGHT), ids=lambda g: g.__name__)
def test_grader_accepts_a_right_answer(grader, capsys):
    grader(RIGHT[grader])
    out = capsys.readouterr().out
    assert "passed" in out and "Exercise 3." in out


@pytest.mark.parametrize("grader,wrong,hint", WRONG, ids=lambda v: getattr(v, "__name__", str(v)))
def test_grader_rejects_a_wrong_answer_with_a_hint(grader, wrong, hint, capsys):
    with pytest.raises(ExerciseFailed) as info:
        grader(wrong)
    message = str(info.value)
    assert hint in message, message
    assert "passed" not in capsys.readouterr().out


@pytest.mark.parametrize("grader", list(RIGHT), ids=lambda g: g.__name__)
def test_grader_lets_a_stub_fail_with_its_own_message(grader):
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 3.x: write it")

    with pytest.raises(NotImplementedError, match="Exercise 3.x"):
        grader(stub)


@pytest.mark.parametrize("grader", list(RIGHT), ids=lambda g: g.__name__)
def test_grader_reports_a_missing_return_and_a_crash(grader):
    with pytest.raises(ExerciseFailed):
        grader(lambda *a, **k: None)
    with pytest.raises(ExerciseFailed, match="raised ZeroDivisionError"):
        grader(lambda *a, **k: 1 / 0)


def test_grader_rejects_something_that_is_not_a_function():
    with pytest.raises(ExerciseFailed, match="expected a function"):
        ch03.softmax_with_temperature(np.array([1.0, 2.0]))
