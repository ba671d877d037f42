"""Torch-style code that used to give a silent wrong answer here (issue 8, points 1-6 and p.grad).

Each test runs the same lines against torch in float64 and compares, or checks that the
engine now refuses what torch refuses. Points 7 and 8 live in test_scratch_signatures.py
and test_scratch_dtype.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labs.scratch as S
import labs.scratch.functional as F
from labs.scratch import nn, optim


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def both(array):
    return S.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


# ---- 1. lists inside a tuple index are integer arrays: repeated positions accumulate ------------
@pytest.mark.parametrize("index", [
    (slice(None), [0, 0]),
    ([0, 0, 3], [1, 1, 4]),
    ([1, 1], slice(1, 3)),
    (Ellipsis, [2, 2, 2]),
    ([True, False, True, False], [0, 0]),
], ids=["cols", "pairs", "rows+slice", "ellipsis", "bool+list"])
def test_list_indices_in_a_tuple_accumulate_gradients(index):
    x, xt = both(randn(4, 5))
    up = randn(*xt[index].shape, seed=1)
    (x[index] * S.tensor(up)).sum().backward()
    (xt[index] * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


# ---- 2. powers at base 0 have torch's finite gradients -------------------------------------------
@pytest.mark.parametrize("exponent", [0, 0.0, 1, 2, 2.5, 3])
def test_scalar_power_gradient_at_zero(exponent):
    values = np.array([0.0, 0.5, 2.0])
    x, xt = both(values)
    (x ** exponent).sum().backward()
    (xt ** exponent).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)
    assert np.isfinite(x.grad.data).all()


def test_tensor_power_with_zero_base_matches_torch():
    base = np.array([0.0, 0.0, 0.0, 1.5, 2.0, 0.0])
    exponent = np.array([0.0, 1.0, 2.5, 0.0, -1.0, 3.0])
    a, at = both(base)
    b, bt = both(exponent)
    (a ** b).sum().backward()
    (at ** bt).sum().backward()
    np.testing.assert_allclose(a.grad, at.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad, bt.grad.numpy(), rtol=1e-12)
    assert np.isfinite(a.grad.data).all() and np.isfinite(b.grad.data).all()


def test_power_gradcheck_away_from_zero():
    a = S.tensor(np.array([0.7, 1.3, 2.1]), requires_grad=True)
    b = S.tensor(np.array([0.0, 1.5, -0.5]), requires_grad=True)
    assert S.gradcheck(lambda u, v: u ** v, (a, b))
    assert S.gradcheck(lambda u: u ** 0, (a,))


# ---- 3. in-place operators change the tensor itself --------------------------------------------
def test_hand_written_sgd_step_trains_the_model():
    S.manual_seed(0)
    ours = nn.Linear(3, 2).double()
    theirs = torch.nn.Linear(3, 2).double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    x, y = randn(8, 3), randn(8, 2, seed=1)
    before = ours.weight.data.copy()
    for _ in range(3):
        for model, lib, tensor in [(ours, S, S.tensor), (theirs, torch, torch.tensor)]:
            loss = ((model(tensor(x)) - tensor(y)) ** 2).mean()
            loss.backward()
            with lib.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
                    p.grad.zero_()
    assert not np.allclose(ours.weight.data, before)  # the parameter really moved
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, err_msg=name)
        assert np.all(p.grad.data == 0)


INPLACE = {
    "iadd": lambda t, o: t.__iadd__(o),
    "isub": lambda t, o: t.__isub__(o),
    "imul": lambda t, o: t.__imul__(o),
    "itruediv": lambda t, o: t.__itruediv__(o),
    "add_alpha": lambda t, o: t.add_(o, alpha=2.0),
    "sub_": lambda t, o: t.sub_(o),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o),
    "clamp_": lambda t, o: t.clamp_(-0.5, 0.5),
    "masked_fill_": lambda t, o: t.masked_fill_(o > 0, 0.25),
    "fill_": lambda t, o: t.fill_(1.5),
    "zero_": lambda t, o: t.zero_(),
    "copy_": lambda t, o: t.copy_(o),
}


@pytest.mark.parametrize("name", INPLACE)
def test_in_place_ops_match_torch_values_and_gradients(name):
    """Applied to a computed tensor inside the graph: same values, same gradients as torch."""
    op = INPLACE[name]
    x, xt = both(randn(3, 4))
    o, ot = both(randn(3, 4, seed=2) + 3.0)
    h, ht = x * 2.0, xt * 2.0
    same = op(h, o)
    op(ht, ot)
    assert same is h  # in place: the same object comes back
    (h * h).sum().backward()
    (ht * ht).sum().backward()
    np.testing.assert_allclose(h.data, ht.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)
    if ot.grad is None:
        assert o.grad is None or np.all(o.grad.data == 0)
    else:
        np.testing.assert_allclose(o.grad, ot.grad.numpy(), rtol=1e-12)


def test_in_place_on_a_parameter_outside_no_grad_is_refused():
    w = S.Parameter(np.ones(3))
    for change in [lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.__isub__(0.1), lambda: w.copy_(np.zeros(3))]:
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
            change()
    np.testing.assert_array_equal(w.data, np.ones(3))  # nothing was half-changed
    with S.no_grad():
        w.mul_(3.0)
    np.testing.assert_array_equal(w.data, 3 * np.ones(3))


def test_overwriting_a_value_saved_for_backward_is_an_error():
    w = S.Parameter(randn(3))
    x = S.tensor(randn(3, seed=1))
    y = (w * x).sum()  # the gradient of w needs x
    x.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()
    h = w.exp()  # exp saves its output
    z = h * 2
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()


def test_in_place_refuses_shape_growth_and_unsafe_casts():
    small = S.zeros(3)
    with pytest.raises(RuntimeError, match="cannot be written into a tensor of shape"):
        small += S.zeros(2, 3)
    ints = S.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="can't be cast"):
        ints *= 0.5


# ---- p.grad is a Tensor, as in torch ------------------------------------------------------------
def test_grad_is_a_tensor_with_torchs_habits():
    w, wt = both(randn(4, 3))
    (w * w).sum().backward()
    (wt * wt).sum().backward()
    assert isinstance(w.grad, S.Tensor) and not w.grad.requires_grad
    assert w.grad.norm().item() == pytest.approx(wt.grad.norm().item(), rel=1e-12)
    np.testing.assert_allclose(w.grad.norm(dim=1).data, wt.grad.norm(dim=1).numpy(), rtol=1e-12)
    assert isinstance(w.grad.data, np.ndarray) and w.grad.numpy() is w.grad.data
    w.grad.zero_()
    assert np.all(w.grad.data == 0)
    with pytest.raises(AttributeError, match=r"use \.clone\(\)"):
        w.grad.copy()  # NumPy's name: a clear pointer to torch's
    with pytest.raises(RuntimeError, match="shaped like its tensor"):
        w.grad = np.zeros(3)


def test_norm_gradient_matches_torch_and_is_zero_at_the_origin():
    x, xt = both(np.array([[0.0, 0.0], [3.0, 4.0]]))
    x.norm(dim=1).sum().backward()
    xt.norm(dim=1).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)
    assert S.gradcheck(lambda t: t.norm(dim=0), (S.tensor(randn(3, 2), requires_grad=True),))


# ---- 4. bad indices raise, as in torch ---------------------------------------------------------
def test_embedding_and_one_hot_refuse_indices_outside_the_table():
    w = S.tensor(randn(5, 2), requires_grad=True)
    with pytest.raises(IndexError, match="index -1 is out of range"):
        F.embedding(S.tensor([0, -1]), w)
    for bad in [5, -6]:
        with pytest.raises(ValueError, match="padding_idx must be an int within"):
            F.embedding(S.tensor([0, 1]), w, padding_idx=bad)
    out = F.embedding(S.tensor([4, 1]), w, padding_idx=-1)  # -1 is row 4, as in torch
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data[4], 0)
    with pytest.raises(ValueError, match="smaller than num_classes=3"):
        F.one_hot(S.tensor([0, 3]), num_classes=3)
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(S.tensor([0, -1]), num_classes=3)
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(S.tensor([-1, 2]))
    np.testing.assert_array_equal(F.one_hot(S.tensor([2, 0]), 3).data,
                                  torch.nn.functional.one_hot(torch.tensor([2, 0]), 3).numpy())


# ---- 5. out-of-range dims raise, as in torch --------------------------------------------------
@pytest.mark.parametrize("call,shape", [
    (lambda t: t.unsqueeze(5), (2, 3)), (lambda t: t.unsqueeze(-5), (2, 3)), (lambda t: t.squeeze(2), (1, 3)),
    (lambda t: t.flatten(3), (2, 3, 4)), (lambda t: t.flatten(1, 0), (2, 3, 4)), (lambda t: t.flatten(0, 4), (2, 3, 4)),
], ids=["unsqueeze5", "unsqueeze-5", "squeeze2", "flatten3", "flatten1_0", "flatten0_4"])
def test_out_of_range_dims_raise(call, shape):
    with pytest.raises((IndexError, RuntimeError)):
        call(torch.zeros(shape))  # torch refuses it...
    with pytest.raises(ValueError, match="out of range|cannot come after"):
        call(S.zeros(*shape))  # ...and so does the engine, saying why


@pytest.mark.parametrize("call", [
    lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(3), lambda t: t.unsqueeze(-4), lambda t: t.squeeze(0),
    lambda t: t.squeeze(-3), lambda t: t.squeeze(1), lambda t: t.flatten(1), lambda t: t.flatten(-2, -1),
    lambda t: t.flatten(1, 1),
])
def test_valid_dims_give_torchs_shapes(call):
    assert call(S.zeros(1, 3, 4)).shape == tuple(call(torch.zeros(1, 3, 4)).shape)


# ---- 6. optimizer set-up ---------------------------------------------------------------------
def test_optimizer_refuses_duplicates_and_non_leaves():
    a, b = S.Parameter(np.ones(2)), S.Parameter(np.ones(3))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [a, b]}, {"params": [a]}], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([a, a])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([a * 2])


def test_frozen_layer_is_accepted_and_skipped_like_torch():
    S.manual_seed(0)
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    for model in (ours, theirs):
        model[0].requires_grad_(False)  # freeze the first layer
    frozen = ours[0].weight.data.copy()
    opt, opt_t = optim.Adam(ours.parameters(), lr=0.05), torch.optim.Adam(theirs.parameters(), lr=0.05)
    x, y = randn(6, 3), randn(6, 2, seed=1)
    for _ in range(4):
        opt.zero_grad()
        ((ours(S.tensor(x)) - S.tensor(y)) ** 2).mean().backward()
        opt.step()
        opt_t.zero_grad()
        ((theirs(torch.tensor(x)) - torch.tensor(y)) ** 2).mean().backward()
        opt_t.step()
    np.testing.assert_array_equal(ours[0].weight.data, frozen)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, err_msg=name)
