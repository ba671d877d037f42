"""The MNIST-1D multilayer perceptron: two hidden layers of 100 with a residual connection.

The mnist1d repository's ``MLPBase``: ``h1 = relu(W1 x)``, ``h2 = h1 + relu(W2 h1)``,
``logits = W3 h2``. Its NumPy twin is ``labs.scratch.models.mlp``.
"""

from __future__ import annotations

from torch import nn

from labs.models._checks import check_positive_int

__all__ = ["MLP"]


class MLP(nn.Module):
    """Three linear layers; the middle one is added back to its input (a residual)."""

    def __init__(self, in_features: int = 40, num_classes: int = 10, hidden: int = 100):
        super().__init__()
        check_positive_int("MLP", in_features=in_features, num_classes=num_classes, hidden=hidden)
        self.linear1 = nn.Linear(in_features, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        h = self.linear1(x.reshape(len(x), -1)).relu()  # (N, hidden)
        h = h + self.linear2(h).relu()  # the residual keeps the first layer's features
        return self.linear3(h)  # (N, num_classes)
