"""The Chapter 4 graders: a right answer passes, typical wrong answers fail with a useful hint."""

from __future__ import annotations

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch04


# ---- right answers --------------------------------------------------------------------
def sigmoid_backward(grad_out, out):
    return grad_out * out * (1 - out)


def leaky_relu_std(fan_in, negative_slope):
    return np.sqrt(2.0 / ((1.0 + negative_slope ** 2) * fan_in))


def dense_relu_backward(x, W, b, grad_out):
    dz = grad_out * (x @ W.T + b > 0)
    return dz @ W, dz.T @ x, dz.sum(axis=0)


def softmax_backward(grad_out, out):
    return out * (grad_out - (grad_out * out).sum(axis=-1, keepdims=True))


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
        (ch04.leaky_relu_std, leaky_relu_std),
        (ch04.dense_relu_backward, dense_relu_backward),
        (ch04.softmax_backward, softmax_backward),
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


def test_leaky_relu_std_with_relu_kaiming_is_caught_by_the_measurement():
    message = _fails(ch04.leaky_relu_std, lambda n, a: np.sqrt(2.0 / n), "measured a growth", "plain ReLU")
    assert "Exercise 4.2" in message


def test_leaky_relu_std_with_one_plus_a_is_caught():
    _fails(ch04.leaky_relu_std, lambda n, a: np.sqrt(2.0 / ((1.0 + a) * n)), "1 + a^2")


def test_leaky_relu_std_returning_the_variance_is_caught():
    _fails(ch04.leaky_relu_std, lambda n, a: 2.0 / ((1.0 + a ** 2) * n), "square root")


def test_leaky_relu_std_negative_is_caught():
    _fails(ch04.leaky_relu_std, lambda n, a: -1.0, "positive number")


def test_dense_relu_backward_as_the_seed_writes_it_is_caught():
    def seed(x, W, b, grad_out):
        return grad_out @ W, grad_out.T @ x, grad_out.sum(axis=1)

    _fails(ch04.dense_relu_backward, seed, "derivative of the ReLU is missing")


def test_dense_relu_backward_with_bias_on_the_wrong_axis_is_caught():
    def wrong_axis(x, W, b, grad_out):
        dz = grad_out * (x @ W.T + b > 0)
        return dz @ W, dz.T @ x, dz.sum(axis=1)

    _fails(ch04.dense_relu_backward, wrong_axis, "axis 0", "one entry per example")


def test_dense_relu_backward_returning_two_values_is_caught():
    _fails(ch04.dense_relu_backward, lambda x, W, b, g: (g @ W, g.T @ x), "three arrays")


def test_softmax_backward_with_the_sigmoid_rule_is_caught():
    _fails(ch04.softmax_backward, lambda g, out: g * out * (1 - out), "diagonal of the Jacobian")


def test_softmax_backward_summing_over_everything_is_caught():
    _fails(ch04.softmax_backward, lambda g, out: out * (g - (g * out).sum()), "axis=-1")


def test_softmax_backward_that_crashes_reports_the_input():
    def crashes(g, out):
        raise ValueError("bad shapes")

    _fails(ch04.softmax_backward, crashes, "raised ValueError", "grad_out of shape")


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
