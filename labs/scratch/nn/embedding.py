"""``Embedding``: a learned lookup table, rows initialised from N(0, 1) as in PyTorch."""

from __future__ import annotations

from labs.scratch import functional as F
from labs.scratch.nn import init
from labs.scratch.nn.linear import _check_device, _empty_parameter, _float_dtype, _positive_int
from labs.scratch.nn.module import Module

__all__ = ["Embedding"]


class Embedding(Module):
    """``weight[i]`` for each integer index i; ``padding_idx``'s row starts at zero and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None, _freeze: bool = False,
                 device=None, dtype=None) -> None:
        super().__init__()
        _check_device(device, "Embedding")
        if max_norm is not None or scale_grad_by_freq or sparse or _weight is not None or _freeze:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq, sparse, _weight and _freeze are not "
                                      "implemented in the NumPy engine (copy weights in with load_state_dict)")
        self.num_embeddings = _positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within [-{num_embeddings}, {num_embeddings - 1}]; got {padding_idx}")
            padding_idx %= num_embeddings  # PyTorch stores a negative index as positive
        self.padding_idx = padding_idx
        self.weight = _empty_parameter((self.num_embeddings, self.embedding_dim), _float_dtype(dtype, "Embedding"))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
