"""``LayerNorm``: normalise each example over its last axes, then scale and shift."""

from __future__ import annotations

import numpy as np

from labs.scratch import functional as F
from labs.scratch.nn import init
from labs.scratch.nn.linear import _check_device, _check_input, _empty_parameter, _float_dtype
from labs.scratch.nn.module import Module

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """Like ``torch.nn.LayerNorm``: weight starts at ones, bias at zeros; eps inside the square root."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True, device=None,
                 dtype=None) -> None:
        _check_device(device, "LayerNorm")
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape or any(not isinstance(n, (int, np.integer)) or n <= 0 for n in shape):
            raise ValueError(f"LayerNorm expects normalized_shape to be a positive int or a tuple of them; got {normalized_shape!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = _float_dtype(dtype, "LayerNorm")
        self.weight = _empty_parameter(self.normalized_shape, dtype) if elementwise_affine else None
        self.bias = _empty_parameter(self.normalized_shape, dtype) if elementwise_affine and bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        x = _check_input(input, "LayerNorm")
        k = len(self.normalized_shape)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape or x.ndim < k:
            raise ValueError(f"{self!r} expects input of shape (..., {', '.join(map(str, self.normalized_shape))}); got {tuple(x.shape)}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
