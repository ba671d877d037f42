"""labs.scratch.nn.RNN / LSTM / GRU (and the single-step cells) against torch.nn.

Same weights (copied with load_state_dict), same inputs: the outputs, the final states and
the gradients of the inputs, the initial states and every weight must agree in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import labs.scratch as S
from labs.scratch import nn
from labs.scratch.nn import rnn as R

TOL = dict(rtol=1e-9, atol=1e-10)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def twin(kind, *args, **kwargs):
    theirs = getattr(torch.nn, kind)(*args, **kwargs).double()
    ours = getattr(nn, kind)(*args, **kwargs).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def as_pair(array):
    return S.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


def backward_both(ours_outputs, theirs_outputs, seed):
    """Backpropagate the same random projection of every output through both models."""
    rng = np.random.default_rng(seed)
    loss_ours, loss_theirs = 0, 0
    for o, t in zip(ours_outputs, theirs_outputs):
        np.testing.assert_allclose(o.data, t.detach().numpy(), **TOL)
        a = rng.standard_normal(o.shape)
        loss_ours = (o * S.tensor(a)).sum() + loss_ours
        loss_theirs = (t * torch.tensor(a)).sum() + loss_theirs
    loss_ours.backward()
    loss_theirs.backward()


def assert_param_grads_equal(ours, theirs):
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(mine[name].grad, p.grad.numpy(), **TOL, err_msg=name)


CASES = [
    (kind, batch_first, layers, bias, with_state)
    for kind in ("RNN", "LSTM", "GRU")
    for batch_first in (False, True)
    for layers in (1, 2)
    for bias in (True, False)
    for with_state in (False, True)
]


@pytest.mark.parametrize("kind,batch_first,layers,bias,with_state", CASES)
def test_recurrent_layers_match_torch(kind, batch_first, layers, bias, with_state):
    T, B, I, H = 5, 3, 4, 6
    ours, theirs = twin(kind, I, H, num_layers=layers, bias=bias, batch_first=batch_first)
    seed = len(kind) * 100 + layers * 10 + batch_first * 2 + bias + 4 * with_state
    x, tx = as_pair(randn(*((B, T, I) if batch_first else (T, B, I)), seed=seed))
    args_ours, args_theirs = [x], [tx]
    states = []
    if with_state:
        h0, th0 = as_pair(randn(layers, B, H, seed=seed + 1))
        states.append((h0, th0))
        if kind == "LSTM":
            c0, tc0 = as_pair(randn(layers, B, H, seed=seed + 2))
            states.append((c0, tc0))
            args_ours.append((h0, c0))
            args_theirs.append((th0, tc0))
        else:
            args_ours.append(h0)
            args_theirs.append(th0)
    out, state = ours(*args_ours)
    ref, ref_state = theirs(*args_theirs)
    outputs = [out] + (list(state) if kind == "LSTM" else [state])
    ref_outputs = [ref] + (list(ref_state) if kind == "LSTM" else [ref_state])
    assert [o.shape for o in outputs] == [tuple(r.shape) for r in ref_outputs]
    backward_both(outputs, ref_outputs, seed)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL)
    for mine, theirs_state in states:
        np.testing.assert_allclose(mine.grad, theirs_state.grad.numpy(), **TOL)
    assert_param_grads_equal(ours, theirs)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_input_and_batch_of_one(kind):
    ours, theirs = twin(kind, 3, 5)
    for shape in [(7, 3), (1, 3), (4, 1, 3)]:  # unbatched, a single step, a batch of one
        x, tx = as_pair(randn(*shape, seed=len(shape)))
        out, state = ours(x)
        ref, ref_state = theirs(tx)
        flat = lambda o, s: [o] + (list(s) if kind == "LSTM" else [s])  # noqa: E731
        backward_both(flat(out, state), flat(ref, ref_state), seed=1)
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL)


def test_rnn_relu_nonlinearity():
    ours, theirs = twin("RNN", 3, 4, nonlinearity="relu", num_layers=2)
    x, tx = as_pair(randn(6, 2, 3))
    out, h = ours(x)
    ref, ref_h = theirs(tx)
    backward_both([out, h], [ref, ref_h], seed=2)
    assert_param_grads_equal(ours, theirs)


@settings(max_examples=12, deadline=None)
@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), T=st.integers(1, 6), B=st.integers(1, 4),
       I=st.integers(1, 5), H=st.integers(1, 5), layers=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_random_shapes_match_torch(kind, T, B, I, H, layers, seed):
    torch.manual_seed(seed)
    ours, theirs = twin(kind, I, H, num_layers=layers, batch_first=True)
    x, tx = as_pair(randn(B, T, I, seed=seed))
    out, state = ours(x)
    ref, ref_state = theirs(tx)
    flat = lambda o, s: [o] + (list(s) if kind == "LSTM" else [s])  # noqa: E731
    backward_both(flat(out, state), flat(ref, ref_state), seed)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL)
    assert_param_grads_equal(ours, theirs)
    # a property torch has too: the last output step is the last layer's final state
    h_n = state[0] if kind == "LSTM" else state
    np.testing.assert_array_equal(out.data[:, -1], h_n.data[-1])


# ---------------------------------------------------------------------------------------
# the single-step cells (readable, built from tensor ops) against torch's cells ...
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(kind, bias):
    ours, theirs = twin(kind, 3, 4, bias=bias)
    x, tx = as_pair(randn(2, 3))
    h, th = as_pair(randn(2, 4, seed=1))
    if kind == "LSTMCell":
        c, tc = as_pair(randn(2, 4, seed=2))
        outs, refs = list(ours(x, (h, c))), list(theirs(tx, (th, tc)))
    else:
        outs, refs = [ours(x, h)], [theirs(tx, th)]
    backward_both(outs, refs, seed=3)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL)
    np.testing.assert_allclose(h.grad, th.grad.numpy(), **TOL)
    assert_param_grads_equal(ours, theirs)
    # unbatched input and no state, as torch allows
    single = S.tensor(randn(3))
    ref_single = theirs(torch.tensor(randn(3)))
    got = ours(single)
    got, ref_single = (got[0], ref_single[0]) if kind == "LSTMCell" else (got, ref_single)
    np.testing.assert_allclose(got.data, ref_single.detach().numpy(), **TOL)


# ... and as an independent check of the fused layers: unrolling a cell gives the same result
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_fused_layer_equals_unrolled_cell(kind):
    S.manual_seed(0)
    layer = getattr(nn, kind)(3, 4).double()
    cell = getattr(nn, kind + "Cell")(3, 4).double()
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})  # weight_ih_l0 -> weight_ih
    x = S.tensor(randn(6, 2, 3), requires_grad=True)
    out, _ = layer(x)
    state = None
    steps = []
    for t in range(6):
        state = cell(x[t], state)
        steps.append(state[0] if kind == "LSTM" else state)
    unrolled = S.stack(steps, dim=0)
    np.testing.assert_allclose(out.data, unrolled.data, **TOL)
    upstream = randn(*out.shape, seed=5)
    out.backward(upstream)
    fused_grads = [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
    x.grad = None
    unrolled.backward(upstream)
    for a, b in zip(fused_grads, [x.grad] + [p.grad for p in cell.parameters()]):
        np.testing.assert_allclose(a, b, **TOL)


# ---------------------------------------------------------------------------------------
# central differences on the fused backpropagation-through-time kernels
# ---------------------------------------------------------------------------------------
def leaf(*shape, seed=0, scale=1.0):
    return S.tensor(scale * randn(*shape, seed=seed), requires_grad=True)


def test_gradcheck_rnn_layer():
    args = (leaf(4, 2, 3), leaf(2, 5, seed=1), leaf(5, 3, seed=2, scale=0.5), leaf(5, 5, seed=3, scale=0.5),
            leaf(5, seed=4), leaf(5, seed=5))
    assert S.gradcheck(R.rnn_layer, args)


def test_gradcheck_lstm_layer():
    args = (leaf(4, 2, 3), leaf(2, 3, seed=1), leaf(2, 3, seed=2), leaf(12, 3, seed=3, scale=0.5),
            leaf(12, 3, seed=4, scale=0.5), leaf(12, seed=5), leaf(12, seed=6))
    assert S.gradcheck(R.lstm_layer, args)


def test_gradcheck_gru_layer():
    args = (leaf(4, 2, 3), leaf(2, 3, seed=1), leaf(9, 3, seed=2, scale=0.5), leaf(9, 3, seed=3, scale=0.5),
            leaf(9, seed=4), leaf(9, seed=5))
    assert S.gradcheck(R.gru_layer, args)


# ---------------------------------------------------------------------------------------
# modes, dtype, errors
# ---------------------------------------------------------------------------------------
def test_dropout_between_layers_only_in_training():
    S.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.5).double()
    x = S.tensor(randn(5, 2, 3))
    lstm.eval()
    a, _ = lstm(x)
    b, _ = lstm(x)
    np.testing.assert_array_equal(a.data, b.data)
    lstm.train()
    c, _ = lstm(x)
    assert not np.allclose(a.data, c.data)
    # one layer: nothing to drop between, so training mode changes nothing (as in torch)
    single = nn.GRU(3, 4, dropout=0.5).double()
    np.testing.assert_array_equal(single(x)[0].data, single.eval()(x)[0].data)


def test_float32_stays_float32_and_is_close_to_torch():
    theirs = torch.nn.LSTM(3, 8, batch_first=True)
    ours = nn.LSTM(3, 8, batch_first=True)
    ours.load_state_dict(theirs.state_dict())
    x = randn(4, 10, 3).astype(np.float32)
    out, (h, c) = ours(S.tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, theirs(torch.tensor(x))[0].detach().numpy(), rtol=1e-4, atol=1e-5)


def test_no_grad_records_nothing():
    lstm = nn.LSTM(3, 4)
    with S.no_grad():
        out, (h, c) = lstm(S.tensor(randn(5, 2, 3).astype(np.float32)))
    assert not out.requires_grad and not h.requires_grad


def test_recurrent_errors_name_expected_and_given():
    lstm = nn.LSTM(3, 4, num_layers=2)
    x = S.tensor(np.zeros((5, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"LSTM\(input_size=3\) expects input of shape \(seq, batch, input_size\).*got \(5, 2, 7\)"):
        lstm(S.tensor(np.zeros((5, 2, 7), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"got \(5,\)"):
        lstm(S.tensor(np.zeros(5, dtype=np.float32)))
    with pytest.raises(TypeError, match=r"hx to be a tuple \(h_0, c_0\)"):
        lstm(x, S.tensor(np.zeros((2, 2, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"h_0 of shape \(2, 2, 4\) \(num_layers, batch, hidden_size\); got \(1, 2, 4\)"):
        lstm(x, (S.tensor(np.zeros((1, 2, 4), dtype=np.float32)), S.tensor(np.zeros((2, 2, 4), dtype=np.float32))))
    with pytest.raises(TypeError, match="input has dtype float64 but the weights have float32"):
        lstm(S.tensor(np.zeros((5, 2, 3))))
    with pytest.raises(ValueError, match="empty batch"):
        nn.GRU(3, 4)(S.tensor(np.zeros((5, 0, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="bidirectional=True is not implemented"):
        nn.GRU(3, 4, bidirectional=True)
    with pytest.raises(ValueError, match="nonlinearity 'tanh' or 'relu'; got 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="positive hidden_size; got 0"):
        nn.LSTM(3, 0)
