"""The NumPy twin of ``labs.models.mlp.MLP``: the MNIST-1D residual perceptron."""

from __future__ import annotations

from labs.models._checks import check_positive_int
from labs.scratch import nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """``h1 = relu(W1 x)``, ``h2 = h1 + relu(W2 h1)``, ``logits = W3 h2``."""

    def __init__(self, in_features: int = 40, num_classes: int = 10, hidden: int = 100):
        super().__init__()
        check_positive_int("MLP", in_features=in_features, num_classes=num_classes, hidden=hidden)
        self.linear1 = nn.Linear(in_features, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        h = self.linear1(x.reshape(len(x), -1)).relu()
        h = h + self.linear2(h).relu()
        return self.linear3(h)
