"""The MNIST-1D recurrent baseline: a small bidirectional GRU read out at every step.

The mnist1d repository's ``GRUBase``: the signal is a sequence of 40 scalars; a GRU
with 6 hidden units runs over it in both directions, and a linear layer reads all
40 * 2 * 6 = 480 outputs. The NumPy twin is ``labs.scratch.models.gru``.
"""

from __future__ import annotations

from torch import nn

from labs.models._checks import check_input, check_positive_int

__all__ = ["GRUClassifier"]


class GRUClassifier(nn.Module):
    """GRU(1, hidden, bidirectional, batch_first) over the signal, then Linear(seq_len * dirs * hidden, classes)."""

    def __init__(self, seq_len: int = 40, num_classes: int = 10, hidden_size: int = 6, bidirectional: bool = True):
        super().__init__()
        check_positive_int("GRUClassifier", seq_len=seq_len, num_classes=num_classes, hidden_size=hidden_size)
        self.seq_len = seq_len
        self.gru = nn.GRU(1, hidden_size, batch_first=True, bidirectional=bidirectional)
        directions = 2 if bidirectional else 1
        self.linear = nn.Linear(seq_len * directions * hidden_size, num_classes)

    def forward(self, x):
        check_input("GRUClassifier", x, "(N, L) or (N, L, 1)", (2, 3), "one scalar per time step")
        if x.shape[1] != self.seq_len:
            raise ValueError(f"GRUClassifier was built for sequences of length {self.seq_len}; got length {x.shape[1]}")
        out, _ = self.gru(x.reshape(len(x), self.seq_len, 1))  # (N, L, dirs * hidden), zero initial state
        return self.linear(out.reshape(len(out), -1))
