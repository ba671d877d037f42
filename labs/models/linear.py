"""Logistic regression: one linear layer whose logits go to a softmax cross-entropy loss.

The MNIST-1D baseline of the mnist1d repository (its ``LinearBase``): a 40-number
signal, 10 logits, 410 parameters. Its NumPy twin is ``labs.scratch.models.linear``.
"""

from __future__ import annotations

from torch import nn

from labs.models._checks import check_positive_int

__all__ = ["LogisticRegression"]


class LogisticRegression(nn.Module):
    """``logits = x W^T + b``; inputs of any shape (N, ...) are flattened to (N, in_features)."""

    def __init__(self, in_features: int = 40, num_classes: int = 10):
        super().__init__()
        check_positive_int("LogisticRegression", in_features=in_features, num_classes=num_classes)
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x):
        return self.linear(x.reshape(len(x), -1))  # (N, in_features) -> (N, num_classes)
