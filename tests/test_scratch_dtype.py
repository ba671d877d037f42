"""set_default_dtype / get_default_dtype, as torch's: a float64 comparison in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labs.scratch as S


@pytest.fixture
def float64_default():
    S.set_default_dtype(np.float64)
    torch_before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    S.set_default_dtype(np.float32)
    torch.set_default_dtype(torch_before)


def test_default_is_float32():
    assert S.get_default_dtype() == np.float32
    assert S.tensor(1.5).dtype == np.float32 and S.nn.Linear(2, 2).weight.dtype == np.float32


def test_float64_default_reaches_factories_layers_and_python_floats(float64_default):
    assert S.get_default_dtype() == np.float64
    made = [S.tensor([1.0, 2.0]), S.zeros(2), S.ones(2), S.randn(2), S.rand(2), S.full((2,), 3.0),
            S.eye(2), S.arange(0.0, 1.0, 0.5), S.linspace(0, 1, 3), S.tensor([1, 2]) * 0.5]
    assert [t.dtype for t in made] == [np.float64] * len(made)
    assert S.tensor([1, 2]).dtype == np.int64  # integers stay integers
    layers = [S.nn.Linear(3, 2), S.nn.Embedding(5, 3), S.nn.LayerNorm(3), S.nn.Conv2d(1, 2, 3), S.nn.LSTM(3, 4),
              S.nn.MultiheadAttention(4, 2)]
    for layer in layers:
        assert {p.dtype for p in layer.parameters()} == {np.dtype(np.float64)}, type(layer).__name__


def test_a_float64_twin_comparison_needs_no_casts(float64_default):
    S.manual_seed(0)
    ours = S.nn.Linear(3, 2)
    theirs = torch.nn.Linear(3, 2)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3))
    out, ref = ours(S.tensor(x.tolist())), theirs(torch.tensor(x.tolist()))
    assert out.dtype == np.float64 and ref.dtype == torch.float64
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-14)


def test_only_floating_dtypes_can_be_the_default():
    with pytest.raises(TypeError, match="floating dtype"):
        S.set_default_dtype(np.int64)
    with pytest.raises(TypeError, match="float32 or float64"):
        S.set_default_dtype("not a dtype")
    assert S.get_default_dtype() == np.float32  # a refused call changes nothing
