"""The NumPy twin of ``labs.models.linear.LogisticRegression`` (same names, same state_dict)."""

from __future__ import annotations

from labs.models._checks import check_positive_int
from labs.scratch import nn

__all__ = ["LogisticRegression"]


class LogisticRegression(nn.Module):
    """``logits = x W^T + b``; inputs of any shape (N, ...) are flattened to (N, in_features)."""

    def __init__(self, in_features: int = 40, num_classes: int = 10):
        super().__init__()
        check_positive_int("LogisticRegression", in_features=in_features, num_classes=num_classes)
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x):
        return self.linear(x.reshape(len(x), -1))
