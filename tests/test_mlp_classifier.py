"""MLPClassifier: the NumPy twin and the PyTorch model are the same network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labs.scratch as scratch
from labs.models.mlp_classifier import MLPClassifier as TorchMLPClassifier
from labs.scratch.models.mlp_classifier import MLPClassifier


@pytest.mark.parametrize("sizes, dropout", [([64, 10], 0.0), ([64, 32, 10], 0.0), ([8, 16, 16, 3], 0.5)])
def test_twins_share_keys_outputs_and_gradients(sizes, dropout):
    scratch.manual_seed(0)
    ours, theirs = MLPClassifier(sizes, dropout=dropout), TorchMLPClassifier(sizes, dropout=dropout)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    ours.eval(), theirs.eval()  # dropout off: the two draw different masks
    x = np.random.default_rng(1).normal(size=(5, sizes[0])).astype(np.float32)
    out_s, out_t = ours(scratch.tensor(x)), theirs(torch.from_numpy(x))
    assert np.allclose(out_s.data, out_t.detach().numpy(), atol=1e-5)
    target = np.arange(5) % sizes[-1]
    scratch.functional.cross_entropy(out_s, scratch.tensor(target)).backward()
    torch.nn.functional.cross_entropy(out_t, torch.from_numpy(target)).backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert np.allclose(p.grad, q.grad.numpy(), atol=1e-5), name


def test_layer_plan_puts_relu_and_dropout_only_between_layers():
    net = TorchMLPClassifier([4, 8, 8, 2], dropout=0.25)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [type(m).__name__ for m in MLPClassifier([4, 8, 8, 2], dropout=0.25)] == kinds


@pytest.mark.parametrize("sizes, dropout, error", [
    ([64], 0.0, ValueError), ([64, 0, 10], 0.0, ValueError), ([64, 2.5, 10], 0.0, ValueError),
    (64, 0.0, TypeError), ([64, 10], 1.0, ValueError), ([64, 10], -0.1, ValueError),
])
def test_bad_arguments_are_explained(sizes, dropout, error):
    for cls in (MLPClassifier, TorchMLPClassifier):
        with pytest.raises(error, match="MLPClassifier"):
            cls(sizes, dropout=dropout)
