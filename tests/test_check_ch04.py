"""The Chapter 4 graders: a right answer passes, typical wrong answers fail with a useful hint."""

from __future__ import annotations

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch04


# ---- right answers --------------------------------------------------------------------
def sigmoid_backward(grad_out, out):
    return grad_out * out * (1 - out)


def sum_to_shape(grad, shape):
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def linear_forward(x, weight, bias):
    y = x @ weight.T
    return y if bias is None else y + bias


def sgd_momentum_step(param, grad, buf, lr, momentum):
    buf = grad.copy() if buf is None else momentum * buf + grad
    return param - lr * buf, buf


def cross_entropy_grad(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(targets)), targets] -= 1
    return p / len(targets)


@pytest.mark.parametrize(
    "grader, answer",
    [
        (ch04.sigmoid_backward, sigmoid_backward),
        (ch04.sum_to_shape, sum_to_shape),
        (ch04.linear_forward, linear_forward),
        (ch04.sgd_momentum_step, sgd_momentum_step),
        (ch04.cross_entropy_grad, cross_entropy_grad),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_right_answer_passes(grader, answer, capsys):
    grader(answer)
    out = capsys.readouterr().out
    assert out.startswith("\u2714 Exercise 4.") and "passed" in out


# ---- wrong answers: each must fail, and the message must point at the mistake ----------
def _fails(grader, answer, *fragments):
    with pytest.raises(ExerciseFailed) as info:
        grader(answer)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"expected {fragment!r} in the grader's message:\n{message}"
    return message


def test_sigmoid_backward_without_grad_out_is_caught():
    _fails(ch04.sigmoid_backward, lambda g, out: out * (1 - out), "Exercise 4.1", "grad_out")


def test_sigmoid_backward_without_one_minus_out_is_caught():
    _fails(ch04.sigmoid_backward, lambda g, out: g * out, "(1 - out) is missing")


def test_sigmoid_backward_with_wrong_values_names_the_input():
    _fails(ch04.sigmoid_backward, lambda g, out: g * (1 - out) ** 2, "expected:", "got:", "Hint:")


def test_sigmoid_backward_that_crashes_reports_the_crash():
    def crashes(g, out):
        raise KeyError("oops")

    _fails(ch04.sigmoid_backward, crashes, "raised KeyError")


def test_stub_not_implemented_error_passes_through():
    def stub(g, out):
        raise NotImplementedError("Exercise 4.1: write it")

    with pytest.raises(NotImplementedError, match="Exercise 4.1"):
        ch04.sigmoid_backward(stub)


def test_sum_to_shape_returning_grad_unchanged_is_caught():
    _fails(ch04.sum_to_shape, lambda g, shape: g, "SUM")


def test_sum_to_shape_dropping_the_kept_axes_is_caught():
    def no_keepdims(grad, shape):
        extra = grad.ndim - len(shape)
        grad = grad.sum(axis=tuple(range(extra))) if extra else grad
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        return grad.sum(axis=axes) if axes else grad

    _fails(ch04.sum_to_shape, no_keepdims, "keepdims=True")


def test_sum_to_shape_with_mean_is_caught():
    def with_mean(grad, shape):
        extra = grad.ndim - len(shape)
        grad = grad.mean(axis=tuple(range(extra))) if extra else grad
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        return grad.mean(axis=axes, keepdims=True) if axes else grad

    _fails(ch04.sum_to_shape, with_mean, "sum, not mean")


def test_linear_forward_with_untransposed_weight_is_caught():
    _fails(ch04.linear_forward, lambda x, w, b: x @ w + b, "raised ValueError", "weight.T")


def test_linear_forward_without_bias_is_caught():
    _fails(ch04.linear_forward, lambda x, w, b: x @ w.T, "bias is missing")


def test_linear_forward_that_ignores_bias_none_is_caught():
    _fails(ch04.linear_forward, lambda x, w, b: x @ w.T + b, "bias None", "raised TypeError")


def test_sgd_without_momentum_buffer_is_caught():
    _fails(ch04.sgd_momentum_step, lambda p, g, buf, lr, m: (p - lr * g, g), "lr * buf")


def test_sgd_with_dampened_first_step_is_caught():
    def dampened(p, g, buf, lr, m):
        buf = (1 - m) * g if buf is None else m * buf + (1 - m) * g
        return p - lr * buf, buf

    _fails(ch04.sgd_momentum_step, dampened, "buf = grad")


def test_sgd_returning_one_value_is_caught():
    _fails(ch04.sgd_momentum_step, lambda p, g, buf, lr, m: p - lr * g, "pair")


def test_cross_entropy_grad_without_mean_is_caught():
    _fails(ch04.cross_entropy_grad, lambda z, t: cross_entropy_grad(z, t) * len(t), "factor N")


def test_cross_entropy_grad_with_flipped_sign_is_caught():
    _fails(ch04.cross_entropy_grad, lambda z, t: -cross_entropy_grad(z, t), "sign is flipped")


def test_cross_entropy_grad_with_unstable_softmax_is_caught():
    def unstable(logits, targets):
        with np.errstate(over="ignore", invalid="ignore"):
            p = np.exp(logits)
            p = p / p.sum(axis=1, keepdims=True)
        p[np.arange(len(targets)), targets] -= 1
        return p / len(targets)

    _fails(ch04.cross_entropy_grad, unstable, "NaN or inf", "maximum")
