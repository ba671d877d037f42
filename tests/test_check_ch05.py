"""Chapter 5's graders: a right answer passes; typical wrong answers fail with a useful hint."""

from __future__ import annotations

import numpy as np
import pytest

from labs.check import ExerciseFailed
from labs.check import ch05


# ---- 5.1 receptive field (predict, then measure) ------------------------------------------
def _receptive_field(kernel_sizes, strides):
    field, step = 1, 1
    for k, s in zip(kernel_sizes, strides):
        field += (k - 1) * step
        step *= s
    return field


def test_receptive_field_right(capsys):
    ch05.receptive_field(_receptive_field)
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda ks, ss: 1 + sum(k - 1 for k in ks), "ignores the strides"),
    (lambda ks, ss: 1 + sum((k - 1) * int(np.prod(ss[:i + 1])) for i, k in enumerate(ks)), "own stride"),
    (lambda ks, ss: int(np.prod(ks)), "do not multiply"),
    (lambda ks, ss: float(_receptive_field(ks, ss)) + 0.5, "should return an int"),
])
def test_receptive_field_wrong(wrong, hint):
    with pytest.raises(ExerciseFailed) as info:
        ch05.receptive_field(wrong)
    assert hint in str(info.value)


def test_receptive_field_measurement_matches_the_formula():
    from labs.check.ch05 import _measured_receptive_field

    assert _measured_receptive_field([5, 3, 3], [2, 2, 2]) == _receptive_field([5, 3, 3], [2, 2, 2]) == 17


# ---- 5.2 the input gradient of a cross-correlation ------------------------------------------
def test_conv1d_input_grad_right(capsys):
    ch05.conv1d_input_grad(lambda g, w, n: np.convolve(g, w, "full"))
    assert "passed" in capsys.readouterr().out


def test_conv1d_input_grad_without_the_flip_fails_with_the_convolution_hint():
    with pytest.raises(ExerciseFailed, match="flipped"):
        ch05.conv1d_input_grad(lambda g, w, n: np.correlate(np.pad(g, len(w) - 1), w, "valid"))


def test_conv1d_input_grad_valid_only_fails_with_the_padding_hint():
    with pytest.raises(ExerciseFailed, match="one entry per input position"):
        ch05.conv1d_input_grad(lambda g, w, n: np.convolve(g, w, "valid"))


def test_a_stub_is_not_graded_as_wrong():
    def stub(g, w, n):
        raise NotImplementedError("Exercise 5.2: slide the kernel")

    with pytest.raises(NotImplementedError):
        ch05.conv1d_input_grad(stub)


# ---- 5.3 im2col ---------------------------------------------------------------------------
def _im2col(x, k, s):
    l_out = (x.shape[1] - k) // s + 1
    return np.stack([x[:, i * s : i * s + k].reshape(-1) for i in range(l_out)])


def test_im2col_right(capsys):
    ch05.im2col1d(_im2col)
    assert "passed" in capsys.readouterr().out


def test_im2col_transposed_fails():
    with pytest.raises(ExerciseFailed, match="transpose"):
        ch05.im2col1d(lambda x, k, s: _im2col(x, k, s).T)


def test_im2col_position_major_rows_fail():
    def position_major(x, k, s):
        l_out = (x.shape[1] - k) // s + 1
        return np.stack([x[:, i * s : i * s + k].T.reshape(-1) for i in range(l_out)])

    with pytest.raises(ExerciseFailed, match="channel-major"):
        ch05.im2col1d(position_major)


def test_im2col_ignoring_stride_fails():
    with pytest.raises(ExerciseFailed):
        ch05.im2col1d(lambda x, k, s: _im2col(x, k, 1))


# ---- 5.4 max pooling ----------------------------------------------------------------------
def _max_pool(x, k, s):
    l_out = (x.shape[-1] - k) // s + 1
    return np.stack([x[..., i * s : i * s + k].max(axis=-1) for i in range(l_out)], axis=-1)


def test_max_pool_right(capsys):
    ch05.max_pool1d(_max_pool)
    assert "passed" in capsys.readouterr().out


def test_average_pool_fails_with_hint():
    def avg(x, k, s):
        l_out = (x.shape[-1] - k) // s + 1
        return np.stack([x[..., i * s : i * s + k].mean(axis=-1) for i in range(l_out)], axis=-1)

    with pytest.raises(ExerciseFailed, match="average"):
        ch05.max_pool1d(avg)


def test_max_pool_with_stride_one_fails():
    with pytest.raises(ExerciseFailed):
        ch05.max_pool1d(lambda x, k, s: _max_pool(x, k, 1))


# ---- 5.5 loss from probabilities ----------------------------------------------------------
def test_loss_from_probabilities_right(capsys):
    ch05.loss_from_probabilities(lambda p, t: -np.mean(np.log(p[np.arange(len(t)), t])))
    assert "passed" in capsys.readouterr().out


def test_double_softmax_fails_with_hint():
    import torch
    import torch.nn.functional as F

    with pytest.raises(ExerciseFailed, match="second time"):
        ch05.loss_from_probabilities(lambda p, t: F.cross_entropy(torch.tensor(p), torch.tensor(t)).item())


def test_one_hot_times_log_fails_on_zero_probabilities():
    def one_hot_log(p, t):
        one_hot = np.eye(p.shape[1])[t]
        return float(-np.mean(np.sum(one_hot * np.log(p), axis=1)))

    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(ExerciseFailed, match="nan"):
        ch05.loss_from_probabilities(one_hot_log)


def test_sum_instead_of_mean_fails():
    with pytest.raises(ExerciseFailed):
        ch05.loss_from_probabilities(lambda p, t: -np.sum(np.log(p[np.arange(len(t)), t])))


def test_max_pool_without_stride_gets_the_seed_hint():
    def seed_pool(x, k, s):
        return np.stack([x[..., i:i + k].max(axis=-1) for i in range(x.shape[-1] - k + 1)], axis=-1)

    with pytest.raises(ExerciseFailed, match="source's formula"):
        ch05.max_pool1d(seed_pool)
