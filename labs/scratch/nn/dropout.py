"""``Dropout``: active in training mode, the identity after ``eval()``."""

from __future__ import annotations

from labs.scratch import functional as F
from labs.scratch.nn.module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability p while training, scaling the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout expects a probability 0 <= p <= 1; got {p!r}")
        self.p, self.inplace = float(p), inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
