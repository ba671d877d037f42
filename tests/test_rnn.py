"""labs.rnn: the recurrence, BPTT, gated cells, gradient norms and clipping against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labs import rnn


def _torch_rnn(inputs=3, hidden=5, seed=0):
    torch.manual_seed(seed)
    return torch.nn.RNN(inputs, hidden, batch_first=True).double()


def test_rnn_forward_matches_torch_rnn_with_copied_weights():
    model = _torch_rnn()
    w = rnn.weights_from_torch(model)
    x = np.random.default_rng(0).standard_normal((4, 6, 3))
    h0 = np.random.default_rng(1).standard_normal((4, 5))
    hs, h_last = rnn.rnn_forward(x, h0, **w)
    out, h_t = model(torch.from_numpy(x), torch.from_numpy(h0)[None])
    np.testing.assert_allclose(hs, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_last, h_t[0].detach().numpy(), rtol=1e-12, atol=1e-12)


def test_one_bias_is_the_sum_of_torchs_two():
    model = _torch_rnn()
    w = rnn.weights_from_torch(model)
    x, h = np.ones((1, 3)), np.zeros((1, 5))
    two = rnn.rnn_step(x, h, w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"])
    one = rnn.rnn_step(x, h, w["weight_ih"], w["weight_hh"], w["bias_ih"] + w["bias_hh"])
    np.testing.assert_allclose(one, two, rtol=1e-14)


def test_rnn_backward_matches_autograd():
    model = _torch_rnn(seed=2)
    w = rnn.weights_from_torch(model)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 3))
    h0 = rng.standard_normal((2, 5))
    upstream = rng.standard_normal((2, 7, 5))
    hs, _ = rnn.rnn_forward(x, h0, **w)
    grads = rnn.rnn_backward(x, h0, hs, w["weight_ih"], w["weight_hh"], upstream)

    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0)[None].requires_grad_()
    out, _ = model(xt, h0t)
    out.retain_grad()
    (out * torch.from_numpy(upstream)).sum().backward()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(grads[name], getattr(model, name + "_l0").grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["h0"], h0t.grad[0].numpy(), rtol=1e-10, atol=1e-12)


def test_rnn_backward_hidden_grads_match_hidden_state_grad_norms():
    torch.manual_seed(4)
    cell = torch.nn.RNNCell(3, 6).double()
    w = rnn.weights_from_torch(cell)
    x = np.random.default_rng(5).standard_normal((3, 9, 3))
    readout = np.random.default_rng(6).standard_normal(6)
    norms = rnn.hidden_state_grad_norms(cell, x, readout=readout)
    hs, _ = rnn.rnn_forward(x, None, **w)
    upstream = np.zeros_like(hs)
    upstream[:, -1] = readout / np.linalg.norm(readout)
    grads = rnn.rnn_backward(x, None, hs, w["weight_ih"], w["weight_hh"], upstream)
    np.testing.assert_allclose(norms, np.linalg.norm(grads["hs"], axis=2).mean(axis=0), rtol=1e-10)
    assert norms[-1] == pytest.approx(1.0)  # the loss reads h_T through a unit vector


@pytest.mark.parametrize("batch,inputs,hidden", [(1, 2, 3), (4, 5, 2)])
def test_lstm_and_gru_steps_match_torch_cells(batch, inputs, hidden):
    rng = np.random.default_rng(batch)
    x, h, c = rng.standard_normal((batch, inputs)), rng.standard_normal((batch, hidden)), rng.standard_normal((batch, hidden))
    torch.manual_seed(batch)
    lstm = torch.nn.LSTMCell(inputs, hidden).double()
    gru = torch.nn.GRUCell(inputs, hidden).double()
    h_ref, c_ref = lstm(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)))
    h_got, c_got = rnn.lstm_cell_step(x, h, c, **rnn.weights_from_torch(lstm))
    np.testing.assert_allclose(h_got, h_ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_got, c_ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    g_ref = gru(torch.from_numpy(x), torch.from_numpy(h))
    np.testing.assert_allclose(rnn.gru_cell_step(x, h, **rnn.weights_from_torch(gru)), g_ref.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_gated_cells_are_stable_for_huge_preactivations():
    w = np.full((8, 1), 1e4)
    with np.errstate(over="raise", invalid="raise"):  # an overflow or a NaN would raise here
        h, c = rnn.lstm_cell_step(np.array([[1.0]]), np.zeros((1, 2)), np.zeros((1, 2)), w, np.zeros((8, 2)))
        h2, _ = rnn.lstm_cell_step(np.array([[-1.0]]), np.zeros((1, 2)), np.zeros((1, 2)), w, np.zeros((8, 2)))
    assert np.all(np.isfinite(h)) and np.all(np.isfinite(h2))


@pytest.mark.parametrize("radius", [0.3, 1.0, 2.5])
def test_recurrent_matrix_has_the_requested_spectral_radius_and_norm(radius):
    w = rnn.recurrent_matrix(16, radius, seed=1)
    assert rnn.spectral_radius(w) == pytest.approx(radius, rel=1e-10)
    np.testing.assert_allclose(np.linalg.svd(w, compute_uv=False), radius, rtol=1e-10)
    assert not np.allclose(w, rnn.recurrent_matrix(16, radius, seed=2))


def _cell_with_radius(radius, hidden=16, inputs=4, seed=0):
    torch.manual_seed(seed)
    cell = torch.nn.RNNCell(inputs, hidden).double()
    with torch.no_grad():
        cell.weight_hh.copy_(torch.from_numpy(rnn.recurrent_matrix(hidden, radius, seed)))
    return cell


def test_gradients_vanish_below_radius_one_within_the_bound():
    x = torch.randn(8, 30, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for radius in (0.5, 0.9):
        norms = rnn.hidden_state_grad_norms(_cell_with_radius(radius), x)
        distance = np.arange(len(norms))[::-1]
        # |tanh'| <= 1 and ||W_hh|| = radius, so each step back multiplies the norm by at most radius
        assert np.all(norms <= radius**distance * (1 + 1e-9))
        assert norms[0] < 1e-2


def test_gradients_explode_for_a_large_radius():
    x = torch.randn(8, 30, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    norms = rnn.hidden_state_grad_norms(_cell_with_radius(3.0), x)
    assert norms[0] > 100 * norms[-1]


def test_lstm_forget_gate_bias_keeps_gradients_alive():
    x = torch.randn(8, 40, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    result = {}
    for bias in (0.0, 3.0):
        torch.manual_seed(0)
        cell = torch.nn.LSTMCell(4, 16).double()
        with torch.no_grad():
            cell.bias_ih[16:32] = bias
            cell.bias_hh[16:32] = 0.0
        result[bias] = rnn.hidden_state_grad_norms(cell, x)[0]
    assert result[3.0] > 100 * result[0.0]


@settings(max_examples=40, deadline=None)
@given(
    scale=st.floats(1e-3, 1e3),
    max_norm=st.floats(1e-2, 10.0),
    seed=st.integers(0, 2**16),
)
def test_clip_grad_norm_matches_torch(scale, max_norm, seed):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s) * scale for s in [(3, 2), (5,), (1, 1, 4)]]
    before = [g.copy() for g in grads]
    clipped, total = rnn.clip_grad_norm(grads, max_norm)
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g.copy())
    ref_total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    assert total == pytest.approx(float(ref_total), rel=1e-12)
    for a, p in zip(clipped, params):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-12, atol=1e-300)
    for a, b in zip(grads, before):
        np.testing.assert_array_equal(a, b)  # inputs untouched
    new_norm = np.sqrt(sum(np.sum(g**2) for g in clipped))
    assert new_norm <= max(max_norm, total) * (1 + 1e-9)


def test_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="weight_ih"):
        rnn.rnn_step(np.zeros((1, 4)), np.zeros((1, 5)), np.zeros((5, 3)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"\(H, H\)"):
        rnn.rnn_step(np.zeros((1, 3)), np.zeros((1, 5)), np.zeros((5, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="batch size"):
        rnn.rnn_forward(np.zeros((2, 4, 3)), np.zeros((3, 5)), np.zeros((5, 3)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match="4 gates"):
        rnn.lstm_cell_step(np.zeros((1, 3)), np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((6, 3)), np.zeros((6, 2)))
    with pytest.raises(TypeError, match="list of gradient arrays"):
        rnn.clip_grad_norm(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="max_norm"):
        rnn.clip_grad_norm([np.zeros(3)], 0.0)
    with pytest.raises(TypeError, match="RNNCell"):
        rnn.hidden_state_grad_norms(torch.nn.RNN(2, 3), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="radius"):
        rnn.recurrent_matrix(4, -1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_memory_task_clipping_tames_the_explosion(seed):
    # lr 0.1 blows up within the first steps, before float rounding (which differs by CPU and
    # library version) has grown enough to matter; a late spike at lr 0.05 was machine-dependent.
    plain = rnn.train_memory_task(radius=1.5, lr=0.1, steps=150, clip=None, seed=seed)
    clipped = rnn.train_memory_task(radius=1.5, lr=0.1, steps=150, clip=1.0, seed=seed)
    again = rnn.train_memory_task(radius=1.5, lr=0.1, steps=150, clip=1.0, seed=seed)
    np.testing.assert_array_equal(clipped["loss"], again["loss"])  # seeded
    finite = plain["grad_norm"][np.isfinite(plain["grad_norm"])]
    first_spike = int(np.argmax(plain["grad_norm"] > 1e3))
    assert finite.max() > 1e3 and first_spike < 20  # the explosion comes early ...
    assert plain["diverged_at"] is not None  # ... and soon overflows the weights
    assert np.isnan(plain["loss"][plain["diverged_at"] + 1:]).all()  # and training stopped there
    assert clipped["diverged_at"] is None
    assert clipped["loss"][-20:].mean() < 0.6 * 5  # learned something: the target variance is 5


def test_autograd_depth_grows_with_time_only_for_the_recurrence():
    torch.manual_seed(0)
    cell, linear = torch.nn.RNNCell(3, 4), torch.nn.Linear(3, 4)
    depths, flat = [], []
    for steps in (5, 10, 15, 2000):
        x = torch.randn(2, steps, 3)
        h = torch.zeros(2, 4)
        for t in range(steps):
            h = cell(x[:, t], h)
        depths.append(rnn.autograd_depth(h))
        flat.append(rnn.autograd_depth(linear(x)))
    assert depths[1] - depths[0] == depths[2] - depths[1] > 0  # linear in the number of steps
    assert depths[3] > 2000  # no recursion limit
    assert len(set(flat)) == 1
    assert rnn.autograd_depth(torch.zeros(3)) == 0
    with pytest.raises(TypeError, match="torch.Tensor"):
        rnn.autograd_depth(np.zeros(3))
