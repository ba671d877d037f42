"""Chapter 3 graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from labs.check import ExerciseFailed
from labs.check import ch03


# ----------------------------------------------------------------------------- right answers


def softmax_right(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def gelu_derivative_right(z):
    z = np.asarray(z, dtype=float)
    return 0.5 * (1 + erf(z / math.sqrt(2))) + z * np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)


def adam_right(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * grad
    v = betas[1] * v + (1 - betas[1]) * grad**2
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def normal_equations_right(X, y):
    A = np.hstack([X, np.ones((len(X), 1))])
    theta = np.linalg.solve(A.T @ A, A.T @ y)
    return theta[:-1], theta[-1]


def hidden_right(x, W1, b1, w2, b2, t):
    z1 = W1 @ x + b1
    y = w2 @ np.maximum(z1, 0) + b2
    dz1 = (y - t) * w2 * (z1 > 0)
    return np.outer(dz1, x), dz1


def bce_right(z, t):
    return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))


# ----------------------------------------------------------------------------- wrong answers


def softmax_naive(z):
    e = np.exp(np.asarray(z, dtype=float))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_whole_array(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()  # normalises over the whole batch, not per row


def gelu_derivative_phi_only(z):
    return 0.5 * (1 + erf(np.asarray(z, dtype=float) / math.sqrt(2)))


def gelu_derivative_tanh_approx(z):
    z = np.asarray(z, dtype=float)
    c = math.sqrt(2 / math.pi)
    u = c * (z + 0.044715 * z**3)
    return 0.5 * (1 + np.tanh(u)) + 0.5 * z * (1 - np.tanh(u) ** 2) * c * (1 + 3 * 0.044715 * z**2)


def adam_no_bias_correction(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * grad
    v = betas[1] * v + (1 - betas[1]) * grad**2
    return param - lr * m / (np.sqrt(v) + eps), m, v


def adam_returns_hat(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    p, m, v = adam_right(param, grad, m, v, t, lr, betas, eps)
    return p, m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)


def normal_equations_no_bias(X, y):
    return np.linalg.solve(X.T @ X, X.T @ y), 0.0


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
    ch03.stable_softmax: softmax_right,
    ch03.gelu_derivative: gelu_derivative_right,
    ch03.adam_step: adam_right,
    ch03.normal_equations: normal_equations_right,
    ch03.hidden_layer_gradient: hidden_right,
    ch03.bce_with_logits: bce_right,
}

WRONG = [
    (ch03.stable_softmax, softmax_naive, "subtract the maximum"),
    (ch03.stable_softmax, softmax_whole_array, "last axis"),
    (ch03.gelu_derivative, gelu_derivative_phi_only, "product rule"),
    (ch03.gelu_derivative, gelu_derivative_tanh_approx, "tanh"),
    (ch03.adam_step, adam_no_bias_correction, "bias correction"),
    (ch03.adam_step, adam_returns_hat, "first moment"),
    (ch03.normal_equations, normal_equations_no_bias, "intercept"),
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
        ch03.stable_softmax(np.array([1.0, 2.0]))
