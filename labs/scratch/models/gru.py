"""The NumPy twin of ``labs.models.gru.GRUClassifier``: a bidirectional GRU read out at every step.

The engine's ``nn.GRU`` runs one direction. A bidirectional layer is two of them: one
reads the sequence forwards, the other reads it reversed and its outputs are reversed
back, and the two are concatenated per time step. The parameters carry PyTorch's
names (``weight_ih_l0`` and ``weight_ih_l0_reverse``, ...), so the PyTorch model's
``state_dict`` loads unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from labs.models._checks import check_input, check_positive_int
from labs.scratch import cat, nn, tensor
from labs.scratch.nn import init
from labs.scratch.nn.rnn import gru_layer

__all__ = ["GRUClassifier", "BidirectionalGRU"]


class BidirectionalGRU(nn.Module):
    """One GRU layer in both directions, batch first: (N, L, I) -> (N, L, 2H)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        check_positive_int("BidirectionalGRU", input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        for suffix in ("", "_reverse"):  # PyTorch's registration order and names
            setattr(self, f"weight_ih_l0{suffix}", nn.Parameter(np.zeros((3 * hidden_size, input_size), np.float32)))
            setattr(self, f"weight_hh_l0{suffix}", nn.Parameter(np.zeros((3 * hidden_size, hidden_size), np.float32)))
            setattr(self, f"bias_ih_l0{suffix}", nn.Parameter(np.zeros(3 * hidden_size, np.float32)))
            setattr(self, f"bias_hh_l0{suffix}", nn.Parameter(np.zeros(3 * hidden_size, np.float32)))
        bound = 1.0 / math.sqrt(hidden_size)  # PyTorch's default: U(-1/sqrt(H), 1/sqrt(H)) for all
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _direction(self, x_time_major, suffix: str):
        h0 = tensor(np.zeros((x_time_major.shape[1], self.hidden_size), dtype=x_time_major.dtype))
        return gru_layer(x_time_major, h0, getattr(self, f"weight_ih_l0{suffix}"), getattr(self, f"weight_hh_l0{suffix}"),
                         getattr(self, f"bias_ih_l0{suffix}"), getattr(self, f"bias_hh_l0{suffix}"))

    def forward(self, x):
        steps = x.shape[1]
        xt = x.transpose(0, 1)  # (L, N, I): the engine's GRU kernel runs time-major
        backwards = xt[np.arange(steps - 1, -1, -1)]  # the sequence read from its end
        out_fwd = self._direction(xt, "")  # (L, N, H)
        out_bwd = self._direction(backwards, "_reverse")[np.arange(steps - 1, -1, -1)]  # back in time order
        return cat([out_fwd, out_bwd], dim=-1).transpose(0, 1)  # (N, L, 2H), PyTorch's layout


class GRUClassifier(nn.Module):
    """Bidirectional GRU(1, hidden) over the signal, then Linear(seq_len * 2 * hidden, classes)."""

    def __init__(self, seq_len: int = 40, num_classes: int = 10, hidden_size: int = 6, bidirectional: bool = True):
        super().__init__()
        check_positive_int("GRUClassifier", seq_len=seq_len, num_classes=num_classes, hidden_size=hidden_size)
        self.seq_len = seq_len
        if bidirectional:
            self.gru = BidirectionalGRU(1, hidden_size)
        else:
            self.gru = nn.GRU(1, hidden_size, batch_first=True)
        self.bidirectional = bidirectional
        self.linear = nn.Linear(seq_len * (2 if bidirectional else 1) * hidden_size, num_classes)

    def forward(self, x):
        check_input("GRUClassifier", x, "(N, L) or (N, L, 1)", (2, 3), "one scalar per time step")
        if x.shape[1] != self.seq_len:
            raise ValueError(f"GRUClassifier was built for sequences of length {self.seq_len}; got length {x.shape[1]}")
        seq = x.reshape(len(x), self.seq_len, 1)
        out = self.gru(seq) if self.bidirectional else self.gru(seq)[0]
        return self.linear(out.reshape(len(out), -1))
