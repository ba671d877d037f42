"""labs.scratch.nn against torch.nn: same weights in, same outputs and gradients out.

Every layer is built twice, the PyTorch weights are copied into the NumPy twin with
``load_state_dict`` (which also proves the keys and shapes agree), and both run in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import labs.scratch as S
from labs.scratch import nn

TOL = dict(rtol=1e-9, atol=1e-10)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def twin(ours: nn.Module, theirs: torch.nn.Module):
    """Both in float64, with PyTorch's weights copied into ours."""
    theirs = theirs.double()
    ours.double()
    result = ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    return ours, theirs


def assert_same_state_keys(ours: nn.Module, theirs: torch.nn.Module):
    mine = {k: v.shape for k, v in ours.state_dict().items()}
    ref = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(mine) == list(ref), (list(mine), list(ref))
    assert mine == ref
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def compare_modules(ours, theirs, *arrays, seed=1, tol=TOL, grad_inputs=True):
    """Forward both, backward a random upstream gradient, compare outputs and every gradient."""
    xs = [S.tensor(a, requires_grad=grad_inputs and np.issubdtype(a.dtype, np.floating)) for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad_inputs and np.issubdtype(a.dtype, np.floating)) for a in arrays]
    out, ref = ours(*xs), theirs(*ts)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if t.requires_grad:
            np.testing.assert_allclose(x.grad, t.grad.numpy(), **tol, err_msg=f"gradient of input {i}")
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(mine[name].grad, p.grad.numpy(), **tol, err_msg=f"gradient of {name}")
    return out


# ---------------------------------------------------------------------------------------
# every layer: same outputs, input gradients and parameter gradients as torch
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 5), (7, 5), (2, 3, 5), (5,)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    ours, theirs = twin(nn.Linear(5, 3, bias=bias), torch.nn.Linear(5, 3, bias=bias))
    compare_modules(ours, theirs, randn(*shape))


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3), dict(kernel_size=3, padding=1), dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=4, stride=3, padding=2, bias=False), dict(kernel_size=2, padding="same"), dict(kernel_size=3, padding="valid"),
], ids=str)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_conv2d(kwargs):
    ours, theirs = twin(nn.Conv2d(3, 4, **kwargs), torch.nn.Conv2d(3, 4, **kwargs))
    compare_modules(ours, theirs, randn(2, 3, 7, 6))
    compare_modules(ours, theirs, randn(1, 3, 5, 9, seed=3))  # batch of one, odd sizes


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3), dict(kernel_size=2, stride=2, padding=1), dict(kernel_size=5, padding=2, bias=False)], ids=str)
def test_conv1d(kwargs):
    ours, theirs = twin(nn.Conv1d(2, 5, **kwargs), torch.nn.Conv1d(2, 5, **kwargs))
    compare_modules(ours, theirs, randn(3, 2, 11))


@pytest.mark.parametrize("ours,theirs,shape", [
    (nn.MaxPool2d(2), torch.nn.MaxPool2d(2), (2, 3, 8, 7)),
    (nn.MaxPool2d(3, stride=1, padding=1), torch.nn.MaxPool2d(3, stride=1, padding=1), (1, 2, 5, 5)),
    (nn.MaxPool1d(2), torch.nn.MaxPool1d(2), (2, 3, 9)),
    (nn.MaxPool1d(3, 2, 1), torch.nn.MaxPool1d(3, 2, 1), (2, 3, 9)),
    (nn.AvgPool2d(2), torch.nn.AvgPool2d(2), (2, 3, 8, 7)),
    (nn.AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 1, 7, 7)),
    (nn.Flatten(), torch.nn.Flatten(), (4, 2, 3, 5)),
    (nn.Flatten(0, 2), torch.nn.Flatten(0, 2), (4, 2, 3, 5)),
    (nn.ReLU(), torch.nn.ReLU(), (4, 6)),
    (nn.GELU(), torch.nn.GELU(), (4, 6)),
    (nn.GELU("tanh"), torch.nn.GELU("tanh"), (4, 6)),
    (nn.Tanh(), torch.nn.Tanh(), (4, 6)),
    (nn.Sigmoid(), torch.nn.Sigmoid(), (4, 6)),
    (nn.Softmax(dim=-1), torch.nn.Softmax(dim=-1), (4, 6)),
    (nn.Identity(), torch.nn.Identity(), (3,)),
], ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_parameter_free_layers(ours, theirs, shape):
    compare_modules(ours, theirs, randn(*shape))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("shape", [(3, 8), (2, 5, 8), (1, 8)], ids=str)
def test_layer_norm(shape):
    ours, theirs = twin(nn.LayerNorm(8), torch.nn.LayerNorm(8))
    with torch.no_grad():  # non-trivial scale and shift, so their gradients are tested too
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    compare_modules(ours, theirs, randn(*shape))


def test_layer_norm_over_two_axes_and_without_affine():
    ours, theirs = twin(nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4)))
    compare_modules(ours, theirs, randn(2, 3, 4))
    ours, theirs = twin(nn.LayerNorm(4, elementwise_affine=False), torch.nn.LayerNorm(4, elementwise_affine=False))
    compare_modules(ours, theirs, randn(2, 3, 4))
    assert ours.state_dict() == {}


@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding(padding_idx):
    ours, theirs = twin(nn.Embedding(10, 4, padding_idx=padding_idx), torch.nn.Embedding(10, 4, padding_idx=padding_idx))
    idx = np.array([[1, 2, 1, 9], [0, 9, 3, 3]])  # repeated indices: their gradients add up
    compare_modules(ours, theirs, idx, grad_inputs=False)
    assert ours.padding_idx == theirs.padding_idx
    if padding_idx is not None:
        fresh = nn.Embedding(10, 4, padding_idx=padding_idx)
        assert np.all(fresh.weight.data[padding_idx] == 0)


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.3)
    x = S.tensor(np.ones((200, 50)), requires_grad=True)
    S.manual_seed(0)
    y = drop(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.02  # about 1 - p survive ...
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)  # ... scaled by 1 / (1 - p)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.7)
    drop.eval()
    assert drop(x) is x or np.array_equal(drop(x).data, x.data)
    assert repr(drop) == repr(torch.nn.Dropout(0.3))


def test_sequential_cnn_matches_torch():
    def build(m):
        return m.Sequential(
            m.Conv2d(1, 4, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
            m.Conv2d(4, 6, 3), m.Tanh(), m.Flatten(), m.Linear(6 * 2 * 2, 5),
        )

    ours, theirs = twin(build(nn), build(torch.nn))
    assert_same_state_keys(ours, theirs)
    compare_modules(ours, theirs, randn(3, 1, 8, 8))
    assert repr(ours) == repr(theirs)


def test_one_sgd_step_of_an_mlp_matches_torch():
    # nn + functional + optim together: same loss, same gradients, same updated weights
    def build(m):
        return m.Sequential(m.Linear(6, 8), m.GELU(), m.Dropout(0.0), m.Linear(8, 3))

    ours, theirs = twin(build(nn), build(torch.nn))
    x, y = randn(5, 6), np.array([0, 2, 1, 1, 0])
    opt_ours = S.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        loss = S.functional.cross_entropy(ours(S.tensor(x)), S.tensor(y))
        ref = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-12)
        for opt, l in ((opt_ours, loss), (opt_theirs, ref)):
            opt.zero_grad()
            l.backward()
            opt.step()
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), **TOL, err_msg=k)


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 4), features=st.integers(1, 6), hidden=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_random_mlp_shapes_match_torch(batch, features, hidden, seed):
    def build(m):
        return m.Sequential(m.Linear(features, hidden), m.ReLU(), m.LayerNorm(hidden), m.Linear(hidden, 2))

    torch.manual_seed(seed)
    ours, theirs = twin(build(nn), build(torch.nn))
    compare_modules(ours, theirs, randn(batch, features, seed=seed), seed=seed)


# ---------------------------------------------------------------------------------------
# state_dict keys and shapes equal torch's, for every layer with parameters
# ---------------------------------------------------------------------------------------
LAYERS = [
    lambda m: m.Linear(4, 3),
    lambda m: m.Linear(4, 3, bias=False),
    lambda m: m.Conv1d(2, 3, 5),
    lambda m: m.Conv2d(2, 3, (3, 2), bias=False),
    lambda m: m.Embedding(7, 3),
    lambda m: m.LayerNorm(6),
    lambda m: m.LayerNorm((2, 3), elementwise_affine=False),
    lambda m: m.RNN(3, 4, num_layers=2),
    lambda m: m.LSTM(3, 4, num_layers=3, bias=False),
    lambda m: m.GRU(3, 4, batch_first=True),
    lambda m: m.RNNCell(3, 4),
    lambda m: m.LSTMCell(3, 4),
    lambda m: m.GRUCell(3, 4, bias=False),
    lambda m: m.MultiheadAttention(8, 2),
    lambda m: m.MultiheadAttention(8, 4, bias=False, batch_first=True),
    lambda m: m.Sequential(m.Linear(2, 3), m.ReLU(), m.Sequential(m.Linear(3, 3), m.Tanh())),
]


@pytest.mark.parametrize("build", LAYERS)
def test_state_dict_keys_and_shapes_equal_torch(build):
    ours, theirs = build(nn), build(torch.nn)
    assert_same_state_keys(ours, theirs)
    # and the weights copy across in both directions
    ours.load_state_dict(theirs.state_dict())  # torch tensors are accepted directly
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k], v.numpy())


# ---------------------------------------------------------------------------------------
# Module mechanics
# ---------------------------------------------------------------------------------------
class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        self.head = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.head(self.drop(self.body(x)))


def test_module_walks_its_tree():
    m = TwoLayer()
    assert [n for n, _ in m.named_parameters()] == ["body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert len(list(m.parameters())) == 4
    assert [type(c).__name__ for c in m.children()] == ["Sequential", "Linear", "Dropout"]
    assert [n for n, _ in m.named_modules()] == ["", "body", "body.0", "body.1", "head", "drop"]
    assert sum(p.data.size for p in m.parameters()) == 3 * 4 + 4 + 4 * 2 + 2
    assert m.get_submodule("body.0") is m.body[0]


def test_train_eval_reach_every_submodule():
    m = TwoLayer()
    assert m.training and m.drop.training
    assert m.eval() is m
    assert not any(sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())
    x = S.tensor(randn(4, 3))
    m.eval()
    np.testing.assert_array_equal(m(x).data, m(x).data)  # no dropout in eval mode
    with pytest.raises(TypeError, match="expects a bool"):
        m.train("no")


def test_zero_grad_sets_gradients_to_none():
    m = TwoLayer()
    m(S.tensor(randn(4, 3))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_shared_parameters_are_listed_once():
    a = nn.Linear(3, 3)
    m = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(m.parameters())) == 2
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # as torch


def test_load_state_dict_errors_and_strict_false():
    m = nn.Linear(3, 2)
    good = {k: np.ones(v.shape) for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match=r"missing keys \['bias'\].*strict=False"):
        m.load_state_dict({"weight": good["weight"]})
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        m.load_state_dict({**good, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"'weight' has shape \(3, 2\) but the model expects \(2, 3\)"):
        m.load_state_dict({"weight": np.ones((3, 2)), "bias": good["bias"]})
    before = m.weight.data.copy()
    with pytest.raises(ValueError):  # nothing is copied when something is wrong
        m.load_state_dict({"weight": good["weight"], "bias": np.ones(5)})
    np.testing.assert_array_equal(m.weight.data, before)
    result = m.load_state_dict({"weight": good["weight"], "other": 1}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(m.weight.data, 1)
    with pytest.raises(TypeError, match="mapping"):
        m.load_state_dict([1, 2])


def test_load_state_dict_keeps_dtype_and_identity():
    m = nn.Linear(3, 2)
    w = m.weight
    m.load_state_dict({"weight": np.ones((2, 3), dtype=np.float64), "bias": np.zeros(2)})
    assert m.weight is w and m.weight.dtype == np.float32


def test_state_dict_returns_copies():
    m = nn.Linear(3, 2)
    sd = m.state_dict()
    sd["weight"][...] = 7
    assert not np.any(m.weight.data == 7)


def test_module_assignment_rules():
    m = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="expected a Parameter or None"):
        m.weight = np.ones((2, 3))
    m.bias = None
    assert "bias" not in m.state_dict() and m.bias is None

    class Forgot(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Forgot()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(S.tensor(1.0))
    with pytest.raises(TypeError, match="Sequential expects Modules; entry 1 is a function"):
        nn.Sequential(nn.Linear(2, 2), S.functional.relu)


def test_double_and_float_cast_everything():
    m = TwoLayer().double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters())
    with pytest.raises(TypeError, match="floating-point dtype"):
        m.to(np.int64)


@pytest.mark.parametrize("build", [
    lambda m: m.Linear(4, 3), lambda m: m.Conv2d(1, 16, 3, padding=1), lambda m: m.Conv1d(2, 3, 5, stride=2, bias=False),
    lambda m: m.Embedding(10, 3, padding_idx=0), lambda m: m.LayerNorm(6), lambda m: m.MaxPool1d(3),
    lambda m: m.AvgPool2d(2), lambda m: m.LSTM(3, 4, num_layers=2, batch_first=True), lambda m: m.GRU(3, 4, dropout=0.5, num_layers=2),
    lambda m: m.RNN(3, 4), lambda m: m.LSTMCell(2, 3), lambda m: m.GELU(approximate="tanh"),
])
def test_repr_matches_torch(build):
    assert repr(build(nn)) == repr(build(torch.nn))


# ---------------------------------------------------------------------------------------
# initialisation: PyTorch's distributions, driven by labs.scratch.manual_seed
# ---------------------------------------------------------------------------------------
def test_default_initialisation_follows_torch():
    S.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)) works out to U(-1/sqrt(fan_in), +)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    np.testing.assert_allclose(lin.weight.data.std(), bound / math.sqrt(3), rtol=0.02)
    conv = nn.Conv2d(8, 16, 3)
    conv_bound = 1 / math.sqrt(8 * 9)
    np.testing.assert_allclose(np.abs(conv.weight.data).max(), conv_bound, rtol=0.02)
    emb = nn.Embedding(500, 40)
    assert abs(emb.weight.data.std() - 1) < 0.02 and abs(emb.weight.data.mean()) < 0.02
    lstm = nn.LSTM(10, 25)
    assert all(np.abs(p.data).max() <= 1 / 5 for p in lstm.parameters())
    mha = nn.MultiheadAttention(32, 4)
    xavier = math.sqrt(6 / (32 + 96))
    assert np.abs(mha.in_proj_weight.data).max() <= xavier
    np.testing.assert_allclose(mha.in_proj_weight.data.std(), xavier / math.sqrt(3), rtol=0.05)
    assert not mha.in_proj_bias.data.any() and not mha.out_proj.bias.data.any()
    # the same statistics as torch's own layers
    torch.manual_seed(0)
    ref = torch.nn.Linear(400, 300).weight.detach().numpy()
    np.testing.assert_allclose(lin.weight.data.std(), ref.std(), rtol=0.02)


def test_manual_seed_makes_initialisation_repeat():
    S.manual_seed(3)
    a = nn.Sequential(nn.Linear(4, 5), nn.LSTM(5, 2)).state_dict()
    S.manual_seed(3)
    b = nn.Sequential(nn.Linear(4, 5), nn.LSTM(5, 2)).state_dict()
    S.manual_seed(4)
    c = nn.Sequential(nn.Linear(4, 5), nn.LSTM(5, 2)).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["0.weight"], c["0.weight"])


def test_dtype_argument():
    assert nn.Linear(2, 3, dtype=np.float64).weight.dtype == np.float64
    with pytest.raises(TypeError, match="floating-point dtype"):
        nn.Linear(2, 3, dtype=np.int32)


# ---------------------------------------------------------------------------------------
# bad input: messages say what was expected and what was given
# ---------------------------------------------------------------------------------------
def test_layer_input_errors():
    with pytest.raises(ValueError, match=r"Linear\(in_features=64, out_features=10, bias=True\) expects input of shape \(\.\.\., 64\); got \(128, 63\)"):
        nn.Linear(64, 10)(S.tensor(np.zeros((128, 63), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"conv2d expects input of shape \(N, C, H, W\); got \(28, 28\): add batch and channel axes with x\[None, None\]"):
        nn.Conv2d(1, 4, 3)(S.tensor(np.zeros((28, 28), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"expects 3 input channels, but the input \(2, 1, 8, 8\) has 1"):
        nn.Conv2d(3, 4, 3)(S.tensor(np.zeros((2, 1, 8, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(8,\).*expects input of shape \(\.\.\., 8\); got \(2, 7\)"):
        nn.LayerNorm(8)(S.tensor(np.zeros((2, 7), dtype=np.float32)))
    with pytest.raises(TypeError, match="integer indices"):
        nn.Embedding(5, 2)(S.tensor(np.array([0.0, 1.0])))
    with pytest.raises(ValueError, match="out of range for a table of 5 rows"):
        nn.Embedding(5, 2)(S.tensor(np.array([0, 5])))
    with pytest.raises(TypeError, match="wrap it with labs.scratch.tensor"):
        nn.Linear(2, 2)(np.zeros((1, 2)))


def test_constructor_errors():
    with pytest.raises(ValueError, match="positive kernel_size; got"):
        nn.Conv2d(1, 2, 0)
    with pytest.raises(ValueError, match="positive out_features; got 0"):
        nn.Linear(3, 0)
    with pytest.raises(TypeError, match="in_features to be an int; got float 2.5"):
        nn.Linear(2.5, 3)
    with pytest.raises(ValueError, match="only dilation=1, groups=1"):
        nn.Conv2d(4, 4, 3, groups=2)
    with pytest.raises(ValueError, match="probability 0 <= p <= 1; got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")


def test_float32_stays_float32_through_every_layer():
    # float64 would silently double memory and time: outputs and gradients keep float32
    S.manual_seed(0)
    layers = [
        (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.GELU(), nn.MaxPool2d(2), nn.AvgPool2d(1), nn.Flatten(),
                       nn.Linear(8, 4), nn.LayerNorm(4), nn.Dropout(0.5), nn.Tanh(), nn.Sigmoid()), (3, 1, 4, 4)),
        (nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.MaxPool1d(2)), (2, 2, 9)),
        (nn.LSTM(3, 4, num_layers=2, dropout=0.5), (5, 2, 3)),
        (nn.GRU(3, 4, batch_first=True), (2, 5, 3)),
        (nn.RNN(3, 4), (5, 2, 3)),
    ]
    for layer, shape in layers:
        x = S.tensor(randn(*shape).astype(np.float32), requires_grad=True)
        out = layer(x)
        out = out[0] if isinstance(out, tuple) else out
        assert out.dtype == np.float32, layer
        out.sum().backward()
        assert x.grad.dtype == np.float32
        assert all(p.grad.dtype == np.float32 for p in layer.parameters())
    mha = nn.MultiheadAttention(4, 2, dropout=0.5)
    x = S.tensor(randn(3, 2, 4).astype(np.float32))
    out, w = mha(x, x, x)
    assert out.dtype == w.dtype == np.float32
    emb = nn.Embedding(5, 3)
    assert emb(S.tensor(np.array([1, 2]))).dtype == np.float32
