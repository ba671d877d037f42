"""labs.scratch.Tensor against PyTorch: same values, same gradients, same errors caught.

Every check builds the same expression twice, once with labs.scratch and once with torch,
in float64, feeds the same random upstream gradient to both and compares the gradients
of every input (micrograd's test pattern, over grids of shapes).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import labs.scratch as S
from labs.scratch.tensor import unbroadcast

TOL = dict(rtol=1e-9, atol=1e-10)


def make(shapes, seed=0, positive=False):
    """The same float64 data as scratch and torch leaves that require grad."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    if positive:
        arrays = [np.abs(a) + 0.5 for a in arrays]
    ours = [S.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def compare(fn_ours, fn_torch, shapes, seed=0, positive=False, tol=TOL):
    """Same outputs and, for a random upstream gradient, the same input gradients."""
    ours, theirs = make(shapes, seed, positive)
    out, ref = fn_ours(*ours), fn_torch(*theirs)
    assert isinstance(out, S.Tensor)
    assert out.shape == tuple(ref.shape), (out.shape, ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    upstream = np.random.default_rng(seed + 1).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b.grad is None:
            assert a.grad is None or not a.grad.any(), f"input {i}: torch has no gradient"
            continue
        assert a.grad is not None, f"input {i} got no gradient"
        assert a.grad.shape == a.shape
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **tol, err_msg=f"gradient of input {i}")


# ---------------------------------------------------------------------------------------
# Creation and dtypes
# ---------------------------------------------------------------------------------------
def test_default_dtypes_follow_torch():
    assert S.tensor([1.0, 2.0]).dtype == np.float32
    assert S.tensor([1, 2]).dtype == np.int64
    assert S.tensor([True]).dtype == np.bool_
    assert S.tensor(np.zeros(3)).dtype == np.float64  # ndarrays keep their dtype, like torch.from_numpy
    assert S.tensor([1.0], dtype=S.float64).dtype == np.float64
    assert S.zeros(2, 3).dtype == np.float32 and S.zeros(2, 3).shape == (2, 3)
    assert S.randn((4, 5)).shape == (4, 5)
    assert S.arange(5).dtype == np.int64 and S.arange(0.0, 1.0, 0.25).dtype == np.float32


def test_float32_stays_float32_with_python_scalars():
    x = S.tensor([1.0, 2.0], requires_grad=True)
    y = (2 * x + 1.5) / 3 - x ** 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_numpy_scalars_and_integer_tensors_do_not_promote_to_float64():
    x = S.tensor([1.0, 2.0])
    assert (x * np.float64(2.0)).dtype == np.float32  # a NumPy scalar acts like a Python number
    assert (x ** np.float64(2.0)).dtype == np.float32
    assert (S.tensor([1, 2]) * x).dtype == np.float32  # int64 * float32 is float32 in torch
    assert (S.tensor([1, 2]) / S.tensor([2, 4])).dtype == np.float32
    assert torch.tensor([1, 2]).div(torch.tensor([2, 4])).dtype == torch.float32


def test_float32_graph_keeps_float32_gradients_everywhere():
    w = S.tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    h = (S.tensor(np.ones((4, 3), dtype=np.float32)) @ w) * np.float64(0.5)
    h.retain_grad()
    m = h.max()  # tie-splitting backward rules used to divide integer counts
    m.retain_grad()
    (m + h.var()).backward()
    assert h.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_tensor_copies_and_basic_accessors():
    a = np.arange(6.0).reshape(2, 3)
    t = S.tensor(a)
    a[0, 0] = 100
    assert t.data[0, 0] == 0  # tensor() copies, like torch.tensor
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6 and t.size(1) == 3
    assert S.tensor(3.5).item() == 3.5
    assert t.numpy() is t.data
    assert t.T.shape == (3, 2)
    assert np.asarray(t).shape == (2, 3)
    assert f"{S.tensor(1.23456):.2f}" == "1.23"


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        S.tensor([1, 2], requires_grad=True)


def test_ragged_lists_are_rejected():
    with pytest.raises((TypeError, ValueError)):
        S.tensor([[1.0, 2.0], [3.0]])


def test_parameter_requires_grad_and_shares_data():
    a = np.ones(3, dtype=np.float32)
    p = S.Parameter(a)
    assert p.requires_grad and isinstance(p, S.Tensor) and p.data is a
    assert "Parameter" in repr(p)


# ---------------------------------------------------------------------------------------
# Arithmetic with broadcasting
# ---------------------------------------------------------------------------------------
BROADCAST_PAIRS = [
    ((3,), (3,)),
    ((4, 3), (3,)),
    ((4, 3), (4, 1)),
    ((1,), (5, 2)),
    ((2, 1, 3), (4, 1)),
    ((1, 1), (1, 7)),
    ((2, 3, 4), (2, 3, 4)),
    ((), (2, 3)),
    ((5, 1, 1), (1, 6, 1)),
]

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary_ops_match_torch(name, shapes):
    ours, theirs = BINARY[name]
    compare(ours, theirs, shapes, positive=name in ("div", "pow"))
    compare(lambda a, b: ours(b, a), lambda a, b: theirs(b, a), shapes, seed=3, positive=name in ("div", "pow"))


REFLECTED = {
    "2*x": (lambda x: 2 * x, lambda x: 2 * x),
    "1-x": (lambda x: 1 - x, lambda x: 1 - x),
    "2/x": (lambda x: 2 / x, lambda x: 2 / x),
    "2**x": (lambda x: 2 ** x, lambda x: 2 ** x),
    "x**3": (lambda x: x ** 3, lambda x: x ** 3),
    "x**-0.5": (lambda x: x ** -0.5, lambda x: x ** -0.5),
    "-x": (lambda x: -x, lambda x: -x),
    "x+1.5": (lambda x: x + 1.5, lambda x: x + 1.5),
    "x/4": (lambda x: x / 4, lambda x: x / 4),
}


@pytest.mark.parametrize("name", sorted(REFLECTED))
@pytest.mark.parametrize("shape", [(1,), (3, 4), (2, 1, 5)], ids=str)
def test_reflected_and_scalar_ops(name, shape):
    ours, theirs = REFLECTED[name]
    compare(ours, theirs, [shape], positive=True)


def test_ndarray_on_the_left_gives_a_tensor():
    x = S.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, S.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


UNARY = {
    "exp": (lambda x: x.exp(), torch.exp, False),
    "log": (lambda x: x.log(), torch.log, True),
    "sqrt": (lambda x: x.sqrt(), torch.sqrt, True),
    "abs": (lambda x: x.abs(), torch.abs, False),
    "relu": (lambda x: x.relu(), torch.relu, False),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid, False),
    "tanh": (lambda x: x.tanh(), torch.tanh, False),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), False),
    "clamp_min": (lambda x: x.clip(min=0.1), lambda x: x.clip(min=0.1), False),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 5), (2, 3, 4)], ids=str)
def test_unary_ops_match_torch(name, shape):
    ours, theirs, positive = UNARY[name]
    compare(ours, theirs, [shape], positive=positive)


def test_sigmoid_is_finite_at_extremes():
    x = S.tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4]), requires_grad=True)
    y = x.sigmoid()
    np.testing.assert_allclose(y.data, torch.sigmoid(torch.tensor(x.data)).numpy(), rtol=1e-12, atol=0)
    y.sum().backward()
    assert np.isfinite(x.grad).all()


# ---------------------------------------------------------------------------------------
# Matrix products
# ---------------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((1, 1), (1, 1)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((1, 2, 3), (7, 3, 1)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_matches_torch(shapes):
    compare(lambda a, b: a @ b, lambda a, b: a @ b, shapes)


def test_matmul_with_ndarray_operand():
    w = np.random.default_rng(0).standard_normal((3, 2))
    x = S.tensor(np.ones((4, 3)), requires_grad=True)
    (x @ w).sum().backward()
    np.testing.assert_allclose(x.grad, np.broadcast_to(w.sum(axis=1), (4, 3)))
    y = S.tensor(np.ones((2, 3)), requires_grad=True)
    (np.ones((5, 2)) @ y).sum().backward()  # ndarray @ Tensor goes through __rmatmul__
    np.testing.assert_allclose(y.grad, np.full((2, 3), 5.0))


# ---------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------
REDUCE_CASES = [((4, 5), None), ((4, 5), 0), ((4, 5), 1), ((4, 5), -1), ((2, 3, 4), (0, 2)), ((1, 6), 0), ((7,), 0)]


@pytest.mark.parametrize("shape,dim", REDUCE_CASES, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "var", "std", "amax", "amin"])
def test_reductions_match_torch(shape, dim, keepdim, op):
    if op in ("var", "std") and shape == (1, 6) and dim == 0:
        with pytest.raises(ValueError, match="correction=0"):
            getattr(S.tensor(np.ones(shape)), op)(dim=dim)
        return
    if dim is None:
        compare(lambda x: getattr(x, op)(), lambda x: getattr(x, op)(), [shape])
        return
    compare(lambda x: getattr(x, op)(dim=dim, keepdim=keepdim), lambda x: getattr(x, op)(dim=dim, keepdim=keepdim), [shape])


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_correction(correction):
    compare(lambda x: x.var(dim=1, correction=correction), lambda x: x.var(dim=1, correction=correction), [(3, 6)])
    compare(lambda x: x.var(1, False), lambda x: x.var(1, unbiased=False), [(3, 6)])


def test_axis_is_an_alias_of_dim():
    x = S.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.sum(axis=1).data, x.sum(dim=1).data)
    with pytest.raises(TypeError):
        x.sum(dim=1, axis=1)


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("shape,dim", [((4, 5), 0), ((4, 5), 1), ((2, 3, 4), -1), ((1, 3), 0)], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_returns_values_and_indices(op, shape, dim, keepdim):
    compare(lambda x: getattr(x, op)(dim, keepdim).values, lambda x: getattr(x, op)(dim, keepdim).values, [shape])
    ours, theirs = make([shape])
    values, indices = getattr(ours[0], op)(dim=dim, keepdim=keepdim)
    ref = getattr(theirs[0], op)(dim=dim, keepdim=keepdim)
    np.testing.assert_array_equal(indices.data, ref.indices.numpy())
    assert indices.dtype == np.int64


def test_full_max_splits_gradient_among_ties_like_torch():
    data = np.array([[1.0, 3.0, 3.0], [0.0, 3.0, 2.0]])
    a, b = S.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    a.max().backward()
    b.max().backward()
    np.testing.assert_allclose(a.grad, b.grad.numpy())
    # with a dim, the gradient goes to the first maximum only, as in torch
    a.grad = None
    b.grad = None
    a.max(dim=1).values.sum().backward()
    b.max(dim=1).values.sum().backward()
    np.testing.assert_allclose(a.grad, b.grad.numpy())


def test_argmax():
    x = np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_array_equal(S.tensor(x).argmax(dim=1).data, torch.tensor(x).argmax(dim=1).numpy())
    assert S.tensor(x).argmax().item() == torch.tensor(x).argmax().item()


# ---------------------------------------------------------------------------------------
# Shapes and indexing
# ---------------------------------------------------------------------------------------
SHAPE_OPS = {
    "reshape": (lambda x: x.reshape(4, 6), lambda x: x.reshape(4, 6)),
    "reshape-1": (lambda x: x.reshape(-1), lambda x: x.reshape(-1)),
    "view": (lambda x: x.view(2, 12), lambda x: x.view(2, 12)),
    "transpose": (lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1)),
    "flatten": (lambda x: x.flatten(1), lambda x: x.flatten(1)),
    "unsqueeze": (lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1)),
    "mT": (lambda x: x.mT, lambda x: x.mT),
    "expand": (lambda x: x[:, :1].expand(2, 3, 4), lambda x: x[:, :1].expand(2, 3, 4)),
    "squeeze": (lambda x: x[:, :1].squeeze(1), lambda x: x[:, :1].squeeze(1)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_ops_match_torch(name):
    ours, theirs = SHAPE_OPS[name]
    compare(ours, theirs, [(2, 3, 4)])


INDICES = {
    "int": lambda: 1,
    "negative int": lambda: -1,
    "slice": lambda: slice(1, None),
    "step slice": lambda: (slice(None), slice(None, None, 2)),
    "ellipsis": lambda: (Ellipsis, 0),
    "none": lambda: (None, 1),
    "int array with repeats": lambda: np.array([0, 2, 0, 0]),
    "2-D int array": lambda: np.array([[1, 1], [3, 0]]),
    "pair of int arrays": lambda: (np.array([0, 1, 1]), np.array([2, 2, 0])),
    "array and slice": lambda: (np.array([3, 3]), slice(1, 3)),
    "boolean mask": lambda: np.array([True, False, True, True]),
    "boolean 2-D mask": lambda: np.arange(20).reshape(4, 5) % 3 == 0,
}


@pytest.mark.parametrize("name", sorted(INDICES))
def test_indexing_matches_torch(name):
    index = INDICES[name]()
    torch_index = tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in index) if isinstance(index, tuple) \
        else (torch.tensor(index) if isinstance(index, np.ndarray) else index)
    compare(lambda x: x[index], lambda x: x[torch_index], [(4, 5)])


def test_negative_step_slices_reverse_like_torch_flip():
    # torch has no negative steps; NumPy does, and the gradient is the reversed upstream gradient
    compare(lambda x: x[::-1, ::-2], lambda x: torch.flip(x, [0, 1])[:, ::2], [(4, 5)])


def test_indexing_with_an_integer_tensor():
    ours, theirs = make([(5, 3)])
    idx = S.tensor([4, 4, 1])
    (ours[0][idx] * 2).sum().backward()
    (theirs[0][torch.tensor([4, 4, 1])] * 2).sum().backward()
    np.testing.assert_allclose(ours[0].grad, theirs[0].grad.numpy())


def test_iterating_and_len():
    x = S.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert len(x) == 3 and len(rows) == 3
    S.stack(rows).sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((3, 2)))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack_match_torch(dim):
    compare(lambda a, b, c: S.cat([a, b, c], dim=dim), lambda a, b, c: torch.cat([a, b, c], dim=dim),
            [(2, 3), (2, 3), (2, 3)])
    compare(lambda a, b: S.stack([a, b], dim=dim), lambda a, b: torch.stack([a, b], dim=dim), [(2, 3), (2, 3)])


def test_cat_with_different_lengths():
    compare(lambda a, b: S.cat([a, b], dim=1), lambda a, b: torch.cat([a, b], dim=1), [(2, 1), (2, 4)])


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((1, 4), (3, 1))], ids=str)
def test_where_matches_torch(shapes):
    cond = np.random.default_rng(7).random((3, 4)) > 0.5
    compare(lambda a, b: S.where(S.tensor(cond), a, b), lambda a, b: torch.where(torch.tensor(cond), a, b), shapes)
    compare(lambda a, b: S.where(cond, a, 0.0) * b, lambda a, b: torch.where(torch.tensor(cond), a, 0.0) * b, shapes)


def test_masked_fill_matches_torch():
    mask = np.triu(np.ones((4, 4), dtype=bool), k=1)
    compare(lambda x: x.masked_fill(S.tensor(mask), -1e9).softmax(-1),
            lambda x: x.masked_fill(torch.tensor(mask), -1e9).softmax(-1), [(2, 4, 4)])


def test_comparisons_are_not_differentiable():
    x = S.tensor([1.0, -2.0, 3.0], requires_grad=True)
    for c in (x > 0, x >= 0, x < 1, x <= 1, x == 3.0, x != 3.0):
        assert c.dtype == np.bool_ and not c.requires_grad
    np.testing.assert_array_equal((x > 0).data, [True, False, True])
    assert {x: 1}[x] == 1  # still hashable by identity, as in torch


def test_casts_carry_gradients():
    x = S.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


# ---------------------------------------------------------------------------------------
# The backward pass itself
# ---------------------------------------------------------------------------------------
def test_reused_tensor_accumulates_all_paths():
    compare(lambda x: x * x + x.exp() * x, lambda x: x * x + x.exp() * x, [(3,)])
    compare(lambda x, y: (x @ y) @ (x @ y).T, lambda x, y: (x @ y) @ (x @ y).T, [(3, 4), (4, 2)])


def test_grad_accumulates_across_backward_calls_like_torch():
    x, y = S.tensor([2.0], requires_grad=True), torch.tensor([2.0], requires_grad=True)
    for _ in range(3):
        (x * x).sum().backward()
        (y * y).sum().backward()
    np.testing.assert_allclose(x.grad, y.grad.numpy())


def test_a_chain_of_thousands_of_operations_does_not_hit_the_recursion_limit():
    # an RNN unrolled over many steps builds a graph this deep
    x = S.tensor(np.array([0.5]), requires_grad=True)
    h = x
    for _ in range(5000):
        h = (h * 0.999).tanh() + x * 0.001
    h.sum().backward()
    t = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    r = t
    for _ in range(5000):
        r = (r * 0.999).tanh() + t * 0.001
    r.sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-9)


def test_backward_on_non_scalar_needs_a_gradient():
    x = S.tensor(np.ones((3, 4)), requires_grad=True)
    with pytest.raises(ValueError, match=r"scalar.*\(3, 4\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"shape"):
        (x * 2).backward(np.ones(3))


def test_backward_without_requires_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        S.tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_works_as_decorator():
    x = S.tensor([1.0], requires_grad=True)
    with S.no_grad():
        assert not S.is_grad_enabled()
        y = x * 2
    assert S.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf

    @S.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert (x * 3).requires_grad


def test_detach_cuts_the_graph():
    x = S.tensor([3.0], requires_grad=True)
    y = x * x.detach()
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0])


def test_retain_grad_keeps_intermediate_gradients():
    x = S.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)
    np.testing.assert_allclose(x.grad, 6 * h.data)


def test_from_op_defines_a_new_differentiable_operation():
    def cube(t):
        x = t.data
        return S.Tensor.from_op(x ** 3, (t,), lambda g: (3 * x * x * g,), "cube")

    compare(lambda t: cube(t) * 2, lambda t: t ** 3 * 2, [(4,)])
    with S.no_grad():
        assert not cube(S.tensor([1.0], requires_grad=True)).requires_grad


def test_a_backward_rule_with_the_wrong_arity_is_reported():
    x = S.tensor([1.0, 2.0], requires_grad=True)
    y = S.Tensor.from_op(x.data * 2, (x,), lambda g: g * 2, "forgot_the_tuple")
    with pytest.raises(RuntimeError, match="forgot_the_tuple.*one gradient per input"):
        y.sum().backward()


def test_from_op_accepts_a_missing_optional_parent():
    x = S.tensor([1.0, 2.0], requires_grad=True)
    y = S.Tensor.from_op(x.data + 1, (x, None), lambda g: (g, None), "add_optional_bias")
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_docstring_examples_run():
    import doctest
    import sys

    module = sys.modules["labs.scratch.tensor"]  # labs.scratch.tensor is the function, as torch.tensor
    result = doctest.testmod(module, extraglobs={"tensor": S.tensor, "Tensor": S.Tensor})
    assert result.attempted >= 8 and result.failed == 0


def test_setitem_is_refused_on_tensors_that_need_grad():
    x = S.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 5.0
    with S.no_grad():
        x[0] = 5.0
    assert x.data[0] == 5.0


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------
def test_matmul_shape_mismatch_names_both_shapes():
    a, b = S.tensor(np.ones((3, 4))), S.tensor(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 2\).*\(4\).*\(5\)"):
        a @ b
    with pytest.raises(ValueError, match="at least 1 dimension"):
        a @ S.tensor(2.0)
    with pytest.raises(ValueError, match="batch dimensions"):
        S.tensor(np.ones((2, 3, 4))) @ S.tensor(np.ones((3, 4, 5)))


def test_broadcast_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"add: cannot broadcast shapes \(3, 4\) and \(3,\)"):
        S.tensor(np.ones((3, 4))) + S.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"mul"):
        S.tensor(np.ones((2, 5))) * np.ones((3, 5))


def test_reshape_and_dim_errors():
    x = S.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"6 elements.*\(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        x.sum(dim=2)
    with pytest.raises(ValueError, match="empty"):
        S.cat([])
    with pytest.raises(ValueError, match=r"tensor 1 has shape \(3, 3\)"):
        S.cat([x, S.tensor(np.ones((3, 3)))], dim=1)
    with pytest.raises(TypeError, match="boolean"):
        S.where(S.tensor([1.0]), x, x)
    with pytest.raises(ValueError, match="item"):
        x.item()


# ---------------------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------------------
def broadcastable_pair():
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)


@settings(max_examples=40, deadline=None)
@given(shapes=broadcastable_pair(), seed=st.integers(0, 2**16))
def test_broadcast_gradients_have_the_input_shapes(shapes, seed):
    (sa, sb), _ = shapes
    rng = np.random.default_rng(seed)
    a = S.tensor(rng.standard_normal(sa), requires_grad=True)
    b = S.tensor(rng.standard_normal(sb), requires_grad=True)
    (a * b + a - b).sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    # d/da sum(a*b + a - b) = b summed over broadcast copies, plus the number of copies
    copies = np.prod(np.broadcast_shapes(sa, sb)) / max(np.prod(sa), 1)
    np.testing.assert_allclose(a.grad, unbroadcast(np.broadcast_to(b.data, np.broadcast_shapes(sa, sb)), sa) + copies)


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=5), elements=st.floats(-1e3, 1e3)),
       y=st.floats(-1e3, 1e3))
def test_adding_then_subtracting_is_the_identity(x, y):
    a = S.tensor(x)
    np.testing.assert_allclose(((a + y) - y).data, x, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), seed=st.integers(0, 2**16))
def test_sum_gradient_is_ones_and_mean_gradient_is_one_over_n(shape, seed):
    x = S.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    x.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(shape))
    x.grad = None
    x.mean().backward()
    np.testing.assert_allclose(x.grad, np.full(shape, 1 / np.prod(shape)))
