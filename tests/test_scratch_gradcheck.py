"""labs.scratch.gradcheck: passes on correct backward rules, FAILS on wrong ones, and says where."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labs.scratch as S
import labs.scratch.functional as F


def leaves(*shapes, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        a = rng.standard_normal(s)
        out.append(S.tensor(np.abs(a) + 0.5 if positive else a, requires_grad=True))
    return out


def cube_with_backward(rule):
    """x**3 as a new operation whose backward rule we choose (right or deliberately wrong)."""
    def cube(t):
        x = t.data
        return S.Tensor.from_op(x ** 3, (t,), lambda g: (rule(g, x),), "cube")
    return cube


CORRECT = {
    "arithmetic": (lambda a, b: (a * b + a / (b * b + 1) - b ** 2).exp(), [(3, 4), (4,)]),
    "matmul batched": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "reductions": (lambda a: a.var(dim=1) + a.amax(dim=0).sum() + a.mean(), [(3, 5)]),
    "indexing with repeats": (lambda a: a[np.array([0, 0, 2])] * a[1:, ::2].sum(), [(3, 4)]),
    "softmax attention": (lambda q, k: F.softmax(q @ k.mT / 2.0, dim=-1), [(2, 3, 4), (2, 5, 4)]),
    "cat stack where": (lambda a, b: S.where(a > 0, S.cat([a, b], 0)[:2], S.stack([a, b])[1]), [(2, 3), (2, 3)]),
    "two outputs": (lambda a: (a.tanh(), a.sigmoid().sum(dim=0)), [(3, 2)]),
    "custom op right": (cube_with_backward(lambda g, x: 3 * x * x * g), [(4,)]),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_gradcheck_passes_on_correct_backward_rules(name):
    fn, shapes = CORRECT[name]
    assert S.gradcheck(fn, leaves(*shapes)) is True


def test_gradcheck_fails_on_a_wrong_backward_rule():
    wrong = cube_with_backward(lambda g, x: 2 * x * x * g)  # should be 3 x^2
    (x,) = leaves((4,))
    with pytest.raises(AssertionError, match=r"input 0 .*index \(\d+,\).*analytic .* vs numeric"):
        S.gradcheck(wrong, (x,))
    assert S.gradcheck(wrong, (x,), raise_exception=False) is False


def test_gradcheck_names_the_input_and_element_that_is_wrong():
    # a backward rule that is right everywhere except one element of the second input
    def scale(a, b):
        def backward(g):
            gb = g * a.data
            gb = gb.copy()
            gb[1, 2] += 0.5
            return g * b.data, gb

        return S.Tensor.from_op(a.data * b.data, (a, b), backward, "scale_with_bug")

    a, b = leaves((3, 4), (3, 4))
    with pytest.raises(AssertionError) as info:
        S.gradcheck(scale, (a, b))
    assert "input 1" in str(info.value) and "(1, 2)" in str(info.value)


def test_gradcheck_catches_a_forgotten_broadcast_reduction():
    # returning the upstream gradient unreduced to a broadcast input is a classic bug;
    # here the engine's shape check catches it before the numbers are even compared
    def bad_add(a, b):
        return S.Tensor.from_op(a.data + b.data, (a, b), lambda g: (g, g), "bad_add")

    a, b = leaves((3, 4), (4,))
    with pytest.raises(RuntimeError, match=r"bad_add.*\(3, 4\).*\(4,\)"):
        S.gradcheck(bad_add, (a, b))


def test_gradcheck_catches_a_sign_error_in_a_fused_rule():
    def bad_log_softmax(x):
        out = F.log_softmax(x, dim=1).data
        return S.Tensor.from_op(out, (x,), lambda g: (g + np.exp(out) * g.sum(1, keepdims=True),), "bad_log_softmax")

    (x,) = leaves((3, 4))
    assert S.gradcheck(lambda t: F.log_softmax(t, dim=1), (x,))
    assert not S.gradcheck(bad_log_softmax, (x,), raise_exception=False)


def test_gradcheck_computes_in_float64_and_leaves_inputs_untouched():
    x = S.tensor(np.random.default_rng(0).standard_normal(5).astype(np.float32), requires_grad=True)
    before = x.data.copy()
    seen = []

    def f(t):
        seen.append(t.dtype)
        return t.exp()

    assert S.gradcheck(f, (x,))
    assert all(d == np.float64 for d in seen)
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None


def test_gradcheck_skips_inputs_that_do_not_require_grad():
    a = S.tensor(np.ones(3), requires_grad=True)
    c = S.tensor(np.arange(3.0))
    assert S.gradcheck(lambda x, y: x * y, (a, c))
    with pytest.raises(ValueError, match="requires_grad=True"):
        S.gradcheck(lambda y: y * 2, (c,))


def test_gradcheck_agrees_with_torch_gradcheck():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    ours = S.gradcheck(lambda x, y: (x @ y).tanh(), (S.tensor(a, requires_grad=True), S.tensor(b, requires_grad=True)))
    theirs = torch.autograd.gradcheck(lambda x, y: (x @ y).tanh(),
                                      (torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)))
    assert ours is True and theirs is True
