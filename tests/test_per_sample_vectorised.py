"""The vectorised per-sample gradients equal the loop and torch.func.vmap(grad), float64; the fallback is taken
where the one-pass formula would not be exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call, grad, vmap

import labs.scratch as S
import labs.scratch.per_sample as PS
from labs.scratch import nn


def _twin(build_ours, build_theirs):
    S.manual_seed(0)
    ours = build_ours().double()
    theirs = build_theirs().double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def _torch_func(theirs, loss, x, y):
    params = {k: v.detach() for k, v in theirs.named_parameters() if v.requires_grad}
    frozen = {k: v.detach() for k, v in theirs.named_parameters() if not v.requires_grad}

    def one(p, xi, yi):
        return loss(functional_call(theirs, {**p, **frozen}, (xi[None],)), yi[None])

    return {k: v.numpy() for k, v in vmap(grad(one), in_dims=(None, 0, 0))(params, torch.tensor(x), torch.tensor(y)).items()}


def _all_three(ours, theirs, our_loss, their_loss, x, y):
    vec = S.per_sample_grads(ours, our_loss, x, y, method="vectorised")
    loop = S.per_sample_grads(ours, our_loss, x, y, method="loop")
    ref = _torch_func(theirs, their_loss, x, y)
    assert set(vec) == set(loop) == set(ref)
    for name in ref:
        assert vec[name].shape == (len(x), *ref[name].shape[1:])
        np.testing.assert_allclose(vec[name], loop[name], rtol=1e-11, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(vec[name], ref[name], rtol=1e-11, atol=1e-13, err_msg=name)
    return vec


def _mlp(act_ours, act_theirs, bias=True):
    return _twin(lambda: nn.Sequential(nn.Linear(5, 7, bias=bias), act_ours(), nn.Linear(7, 4)),
                 lambda: torch.nn.Sequential(torch.nn.Linear(5, 7, bias=bias), act_theirs(), torch.nn.Linear(7, 4)))


@pytest.mark.parametrize("acts", [(nn.ReLU, torch.nn.ReLU), (nn.Tanh, torch.nn.Tanh)], ids=["relu", "tanh"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_vectorised_equals_loop_and_torch_func_for_mlps(acts, reduction):
    ours, theirs = _mlp(*acts)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((9, 5)), rng.integers(0, 4, size=9)
    _all_three(ours, theirs, lambda o, t: S.F.cross_entropy(o, t, reduction=reduction),
               lambda o, t: torch.nn.functional.cross_entropy(o, t, reduction=reduction), x, y)


def test_the_chapters_residual_mlp_with_mse_and_a_batch_of_one():
    from labs.models.mlp import MLP
    from labs.scratch.models.mlp import MLP as ScratchMLP

    ours, theirs = _twin(lambda: ScratchMLP(6, 3, hidden=8), lambda: MLP(6, 3, hidden=8))
    rng = np.random.default_rng(2)
    for batch in (1, 5):
        x, y = rng.standard_normal((batch, 6)), rng.standard_normal((batch, 3))
        _all_three(ours, theirs, S.F.mse_loss, torch.nn.functional.mse_loss, x, y)


def test_three_dimensional_inputs_and_a_layer_without_bias():
    ours, theirs = _twin(lambda: nn.Sequential(nn.Linear(4, 6, bias=False), nn.Tanh(), nn.Linear(6, 3)),
                         lambda: torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.Tanh(), torch.nn.Linear(6, 3)))
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 7, 4)), rng.standard_normal((5, 7, 3))  # (batch, positions, features)
    got = _all_three(ours, theirs, S.F.mse_loss, torch.nn.functional.mse_loss, x, y)
    assert "0.bias" not in got


def test_frozen_layers_get_no_entry_and_the_rest_is_right():
    ours, theirs = _mlp(nn.ReLU, torch.nn.ReLU)
    for model in (ours, theirs):
        model[0].weight.requires_grad_(False)
        model[2].requires_grad_(False)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 4, size=6)
    got = _all_three(ours, theirs, S.F.cross_entropy, torch.nn.functional.cross_entropy, x, y)
    assert set(got) == {"0.bias"}


def test_a_layer_called_twice_and_a_weight_shared_by_two_layers():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)
            self.b2 = nn.Linear(4, 2)
            self.b2.weight = self.b.weight  # tied: one Parameter in two layers

        def forward(self, x):
            h = self.a(self.a(x).tanh()).tanh()
            return self.b(h) + self.b2(h * 2)

    S.manual_seed(5)
    model = Twice().double()
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 2, size=6)
    vec = S.per_sample_grads(model, S.F.cross_entropy, x, y, method="vectorised")
    loop = S.per_sample_grads(model, S.F.cross_entropy, x, y, method="loop")
    for name in loop:
        np.testing.assert_allclose(vec[name], loop[name], rtol=1e-11, atol=1e-13, err_msg=name)


@settings(max_examples=25)
@given(batch=st.integers(1, 6), positions=st.sampled_from([(), (1,), (3,), (2, 2)]), hidden=st.integers(1, 5),
       bias=st.booleans(), reduction=st.sampled_from(["mean", "sum"]), seed=st.integers(0, 2**16))
def test_vectorised_equals_the_loop_for_any_shapes(batch, positions, hidden, bias, reduction, seed):
    S.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, hidden, bias=bias), nn.ReLU(), nn.Linear(hidden, 2)).double()
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((batch, *positions, 3)), rng.standard_normal((batch, *positions, 2))
    loss = lambda o, t: S.F.mse_loss(o, t, reduction=reduction)  # noqa: E731
    vec = S.per_sample_grads(model, loss, x, y, method="vectorised")
    loop = S.per_sample_grads(model, loss, x, y, method="loop")
    for name in loop:
        np.testing.assert_allclose(vec[name], loop[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.fixture
def loop_calls(monkeypatch):
    calls = []
    original = PS._loop

    def spy(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(PS, "_loop", spy)
    return calls


class BatchNorm1d(nn.Module):
    """A parameter-free batch norm: in training mode each example's output depends on the whole batch."""

    def forward(self, x):
        if not self.training:
            return x
        mean = x.mean(dim=0, keepdim=True)
        return (x - mean) / (((x - mean) ** 2).mean(dim=0, keepdim=True) + 1e-5).sqrt()


class UsesWeightTwice(nn.Module):
    """A Linear whose weight also enters a product outside the layer (as a tied output head would)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x) @ self.lin.weight.T


class Transposes(nn.Module):
    """A Linear that sees (positions, batch, features): its rows are not the examples."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        return self.lin(x.transpose(0, 1)).transpose(0, 1)


def _not_per_example(o, t):
    return ((o - t) ** 2).sum() ** 0.5  # a norm over the whole batch: no per-example losses to sum


@pytest.mark.parametrize("build,loss,shape,why", [
    (lambda: nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 4)), S.F.mse_loss, (5, 4), "LayerNorm"),
    (lambda: nn.Sequential(nn.Linear(4, 4), BatchNorm1d(), nn.Linear(4, 4)), S.F.mse_loss, (5, 4), "couples the examples"),
    (UsesWeightTwice, S.F.mse_loss, (5, 4), "outside a Linear"),
    (Transposes, S.F.mse_loss, (5, 3, 4), "first axis"),
    (lambda: nn.Sequential(nn.Linear(4, 4)), _not_per_example, (5, 4), "not the sum or the mean"),
], ids=["unsupported-layer", "batch-norm", "weight-used-outside", "batch-not-first", "loss-not-per-example"])
def test_auto_falls_back_to_the_loop_and_vectorised_says_why(loop_calls, build, loss, shape, why):
    S.manual_seed(6)
    model = build().double()
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape)
    out_shape = model(S.tensor(x)).shape
    model.train()
    y = rng.standard_normal(out_shape)
    with pytest.raises(PS.VectorisationError, match=why):
        S.per_sample_grads(model, loss, x, y, method="vectorised")
    assert not loop_calls
    auto = S.per_sample_grads(model, loss, x, y)
    assert len(loop_calls) == 1
    loop = S.per_sample_grads(model, loss, x, y, method="loop")
    for name in loop:
        np.testing.assert_array_equal(auto[name], loop[name])


def test_auto_takes_the_vectorised_path_for_linear_models(loop_calls):
    ours, _ = _mlp(nn.ReLU, torch.nn.ReLU)
    model = nn.Sequential(ours, BatchNorm1d()).eval()  # a batch norm in eval mode couples nothing
    S.per_sample_grads(model, S.F.cross_entropy, np.zeros((3, 5)), np.array([0, 1, 2]))
    assert not loop_calls


def test_the_error_names_the_unsupported_module():
    S.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
    with pytest.raises(PS.VectorisationError, match=r"'1\.weight'.*'1' \(LayerNorm\).*method='loop'"):
        S.per_sample_grads(model, S.F.mse_loss, np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32),
                           method="vectorised")
    with pytest.raises(ValueError, match="method must be one of"):
        S.per_sample_grads(model, S.F.mse_loss, np.zeros((2, 3)), np.zeros((2, 3)), method="vmap")


def test_vectorised_leaves_grads_and_forward_as_they_were():
    ours, _ = _mlp(nn.ReLU, torch.nn.ReLU)
    marker = np.full(ours[0].bias.shape, 7.0)
    ours[0].bias.grad = marker.copy()
    x = S.tensor(np.ones((2, 5)))
    before = ours(x).data.copy()
    S.per_sample_grads(ours, S.F.cross_entropy, x.data, np.array([0, 1]), method="vectorised")
    np.testing.assert_array_equal(ours[0].bias.grad.data, marker)
    assert ours[2].weight.grad is None
    assert "forward" not in ours[0].__dict__  # the recording forward is removed again
    np.testing.assert_array_equal(ours(x).data, before)
    with pytest.raises(ValueError, match="scalar"):
        S.per_sample_grads(ours, lambda o, t: o, x.data, np.array([0, 1]), method="vectorised")
