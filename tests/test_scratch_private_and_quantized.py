"""Per-sample gradients (against torch.func.vmap/grad) and int8 matmul (against torch._int_mm, exactly)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call, grad, vmap

import labs.scratch as S
from labs.scratch import nn


def _pair():
    S.manual_seed(0)
    ours = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def test_per_sample_grads_match_torch_func():
    ours, theirs = _pair()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 5)), rng.integers(0, 3, size=7)
    got = S.per_sample_grads(ours, S.F.cross_entropy, x, y)

    params = {k: v.detach() for k, v in theirs.named_parameters()}

    def loss(p, xi, yi):
        return torch.nn.functional.cross_entropy(functional_call(theirs, p, (xi[None],)), yi[None])

    expected = vmap(grad(loss), in_dims=(None, 0, 0))(params, torch.tensor(x), torch.tensor(y))
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].shape == (7, *params[name].shape)
        np.testing.assert_allclose(got[name], value.numpy(), rtol=1e-11, atol=1e-13, err_msg=name)
    # the mean of the per-sample gradients is the batch gradient
    S.F.cross_entropy(ours(S.tensor(x)), S.tensor(y)).backward()
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(got[name].mean(axis=0), p.grad.data, rtol=1e-11, atol=1e-13)


def test_per_sample_grads_leave_grads_alone_and_check_shapes():
    ours, _ = _pair()
    marker = np.full(ours[0].bias.shape, 7.0)
    ours[0].bias.grad = marker.copy()
    S.per_sample_grads(ours, S.F.mse_loss, np.zeros((2, 5)), np.zeros((2, 3)))
    np.testing.assert_array_equal(ours[0].bias.grad.data, marker)
    assert ours[2].weight.grad is None
    with pytest.raises(ValueError, match="same first"):
        S.per_sample_grads(ours, S.F.mse_loss, np.zeros((3, 5)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="scalar"):
        S.per_sample_grads(ours, lambda o, t: o - t, np.zeros((2, 5)), np.zeros((2, 3)))


@pytest.mark.parametrize("shape", [(32, 64, 16), (24, 128, 40)])
def test_int8_matmul_is_integer_exact_like_torch(shape):
    m, k, n = shape
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    out = S.int8_matmul(S.tensor(a), S.tensor(b))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out.data, torch._int_mm(torch.from_numpy(a), torch.from_numpy(b)).numpy())
    np.testing.assert_array_equal(out.data, a.astype(np.int64) @ b.astype(np.int64))  # no overflow anywhere


def test_int8_matmul_extremes_do_not_overflow():
    k = 4096
    a = np.full((2, k), -128, dtype=np.int8)
    b = np.full((k, 2), -128, dtype=np.int8)
    assert S.int8_matmul(a, b).data[0, 0] == 128 * 128 * k  # 2^26: exact in int32, wrapped in int16


def test_int8_matmul_refuses_other_dtypes_and_shapes():
    with pytest.raises(TypeError, match="int8"):
        S.int8_matmul(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.int8))
    with pytest.raises(ValueError, match="do not line up"):
        S.int8_matmul(np.zeros((2, 3), np.int8), np.zeros((2, 2), np.int8))
    with pytest.raises(ValueError, match="overflow"):
        S.int8_matmul(np.zeros((1, S.quantize.MAX_INT8_DEPTH + 1), np.int8), np.zeros((S.quantize.MAX_INT8_DEPTH + 1, 1), np.int8))


def test_quantized_linear_layer_approximates_the_float_one():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((16, 64)).astype(np.float32), rng.standard_normal((32, 64)).astype(np.float32)
    qx, sx = S.quantize_symmetric(x)
    qw, sw = S.quantize_symmetric(w, dim=0)  # one scale per output row
    assert qx.dtype == np.int8 and sw.shape == (32, 1)
    approx = S.int8_matmul(qx, qw.T).data * sx * sw.T
    exact = x @ w.T
    # error bound of rounding: each factor is off by at most half a step
    bound = 0.5 * (sx * np.abs(w).sum(1)[None, :] + np.abs(x).sum(1)[:, None] * sw.T) + 64 * 0.25 * sx * sw.T
    assert np.all(np.abs(approx - exact) <= bound)
    np.testing.assert_allclose(S.dequantize_symmetric(qw, sw).data, w, atol=float(sw.max()) / 2 + 1e-7)
