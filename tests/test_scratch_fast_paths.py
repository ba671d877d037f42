"""The engine's fast kernels against the slow, obvious computation they replace, and against torch.

Each fast path (benchmarks/ found the obvious one too slow) must compute the same numbers:
float64 comparisons with torch for values and gradients, an exact or rounding-level match
with the plain NumPy composition, and a central-difference gradcheck.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import labs.scratch as S
from labs.scratch.gradcheck import gradcheck
from labs.scratch.tensor import scatter_add_rows


# ---- scatter_add_rows: the backward of reading rows by index (embedding, x[ids]) --------------
@settings(max_examples=40, deadline=None)
@given(n_rows=st.integers(1, 12), n_ids=st.integers(0, 40), width=st.integers(1, 5), seed=st.integers(0, 10_000),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_scatter_add_rows_equals_np_add_at(n_rows, n_ids, width, seed, dtype):
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n_rows, n_ids)  # repeated ids are the point
    rows = rng.standard_normal((n_ids, width)).astype(dtype)
    expected = np.zeros((n_rows, width), dtype=dtype)
    np.add.at(expected, index, rows)
    got = scatter_add_rows(n_rows, index, rows)
    assert got.dtype == dtype and got.shape == (n_rows, width)
    np.testing.assert_array_equal(got, expected)  # the same additions in the same order


def test_scatter_add_rows_keeps_trailing_axes_and_empty_index():
    rows = np.arange(12.0).reshape(3, 2, 2)
    got = scatter_add_rows(4, np.array([2, 0, 2]), rows)
    assert got.shape == (4, 2, 2)
    np.testing.assert_array_equal(got[2], rows[0] + rows[2])
    np.testing.assert_array_equal(got[0], rows[1])
    assert not got[1].any() and not got[3].any()
    assert not scatter_add_rows(3, np.zeros(0, dtype=np.int64), np.zeros((0, 2))).any()


@pytest.mark.parametrize("ids", [[0, 3, 3, 1, 3], [-1, 0, -1, 2], [[1, 1], [0, -4]]])
def test_rows_by_ids_gradient_matches_torch(ids):
    x = np.random.default_rng(0).standard_normal((4, 3))
    ours, theirs = S.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours[np.array(ids)], theirs[torch.tensor(ids)]
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_embedding_gradient_with_repeats_and_padding_matches_torch():
    table = np.random.default_rng(2).standard_normal((6, 4))
    ids = np.array([[1, 5, 1], [0, 1, 5]])
    ours, theirs = S.tensor(table, requires_grad=True), torch.tensor(table, requires_grad=True)
    out = S.F.embedding(ids, ours, padding_idx=5)
    ref = torch.nn.functional.embedding(torch.from_numpy(ids), theirs, padding_idx=5)
    upstream = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_rows_by_ids_and_embedding_gradcheck():
    x = S.tensor(np.random.default_rng(4).standard_normal((5, 3)), requires_grad=True)
    ids = np.array([4, 0, 4, -1, 2])
    assert gradcheck(lambda t: t[ids], (x,))
    assert gradcheck(lambda t: S.F.embedding(ids[ids >= 0], t), (x,))


# ---- GPT-2's GELU: computed in place (out=), the formula's operations in its order ----------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_tanh_in_place_kernel_matches_torch_and_the_formula(dtype):
    x = (np.random.default_rng(5).standard_normal((7, 9)) * 3).astype(dtype)
    g = np.random.default_rng(6).standard_normal((7, 9)).astype(dtype)
    ours, theirs = S.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = S.F.gelu(ours, approximate="tanh")
    ref = torch.nn.functional.gelu(theirs, approximate="tanh")
    out.backward(g)
    ref.backward(torch.from_numpy(g))
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)  # float32: rounding near the zeros
    assert out.dtype == dtype and ours.grad.dtype == dtype
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **tol)
    # the unfused formula, one temporary per operation
    c = np.sqrt(2 / np.pi)
    t = np.tanh(c * (x + 0.044715 * x * x * x))
    np.testing.assert_allclose(out.data, 0.5 * x * (1 + t), **tol)
    slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
    np.testing.assert_allclose(ours.grad.numpy(), g * slope, **tol)
    assert gradcheck(lambda a: S.F.gelu(a, approximate="tanh"), (S.tensor(x.astype(np.float64), requires_grad=True),))


def test_gelu_tanh_of_integers_is_float64_as_before():
    out = S.F.gelu(S.tensor(np.arange(-2, 3)), approximate="tanh")
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, torch.nn.functional.gelu(torch.arange(-2.0, 3.0, dtype=torch.float64),
                                                                  approximate="tanh").numpy(), rtol=1e-12)


# ---- layer_norm: working arrays reused in place; the caller's arrays never written ---------
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, True), (False, False)])
def test_layer_norm_in_place_matches_torch_and_leaves_inputs_alone(affine):
    rng = np.random.default_rng(7)
    x, upstream = rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 4, 6))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    kept = [a.copy() for a in (x, upstream, w, b)]
    ours = [S.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    pick = lambda ts: (ts[1] if affine[0] else None, ts[2] if affine[1] else None)  # noqa: E731
    out = S.F.layer_norm(ours[0], (6,), *pick(ours))
    ref = torch.nn.functional.layer_norm(theirs[0], (6,), *pick(theirs))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    for o, t, used in zip(ours, theirs, (True, *affine)):
        if used:
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for before, after in zip(kept, (x, upstream, w, b)):
        np.testing.assert_array_equal(before, after)
    assert gradcheck(lambda a, wt, bs: S.F.layer_norm(a, (6,), wt, bs), tuple(S.tensor(a, requires_grad=True) for a in (x, w, b)))


def test_layer_norm_mixed_dtypes_follow_numpy_promotion_as_before():
    x = S.tensor(np.random.default_rng(8).standard_normal((2, 5)).astype(np.float32), requires_grad=True)
    w = S.tensor(np.random.default_rng(9).standard_normal(5), requires_grad=True)  # float64
    out = S.F.layer_norm(x, (5,), w, w)
    assert out.dtype == np.float64  # float32 x_hat times a float64 weight
    out.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64


# ---- linear: the bias is added in place to the fresh product, dtypes promoted as before -----
def test_linear_bias_in_place_keeps_values_and_promotion():
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    out = S.F.linear(S.tensor(x), S.tensor(w), S.tensor(b))
    np.testing.assert_allclose(out.data, torch.nn.functional.linear(*map(torch.from_numpy, (x, w, b))).numpy(),
                               rtol=1e-12, atol=1e-12)
    mixed = S.F.linear(S.tensor(x.astype(np.float32)), S.tensor(w.astype(np.float32)), S.tensor(b))
    assert mixed.dtype == np.float64  # a float64 bias promotes, as NumPy's x @ w.T + b does
    np.testing.assert_array_equal(mixed.data, (x.astype(np.float32).reshape(6, 4) @ w.astype(np.float32).T).reshape(2, 3, 5) + b)


# ---- exact GELU: erf's working array reused, phi computed in backward -----------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_exact_in_place_kernel_matches_torch_and_the_formula(dtype):
    from scipy.special import erf

    x = (np.random.default_rng(11).standard_normal((6, 10)) * 3).astype(dtype)
    g = np.random.default_rng(12).standard_normal((6, 10)).astype(dtype)
    ours, theirs = S.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = S.F.gelu(ours), torch.nn.functional.gelu(theirs)
    out.backward(g)
    ref.backward(torch.from_numpy(g))
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)  # float32: A&S erf
    assert out.dtype == dtype and ours.grad.dtype == dtype
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **tol)
    cdf = 0.5 * (1 + erf(x.astype(np.float64) / np.sqrt(2)))  # the unfused formula, in float64
    pdf = np.exp(-0.5 * x.astype(np.float64) ** 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(ours.grad.numpy(), g * (cdf + x * pdf), **tol)
    assert gradcheck(S.F.gelu, (S.tensor(x.astype(np.float64), requires_grad=True),))


def test_gelu_exact_float16_keeps_its_dtype():
    x = S.tensor(np.linspace(-3, 3, 7).astype(np.float16), requires_grad=True)
    out = S.F.gelu(x)
    out.sum().backward()
    assert out.dtype == np.float16 and x.grad.dtype == np.float16
    np.testing.assert_allclose(x.grad.numpy(), torch.ops.aten.gelu_backward(
        torch.ones(7, dtype=torch.float64), torch.from_numpy(x.data.astype(np.float64))).numpy(), atol=2e-3)
