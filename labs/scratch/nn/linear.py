"""``Linear`` and ``Flatten``, as in ``torch.nn``."""

from __future__ import annotations

import math

import numpy as np

from labs.scratch import functional as F
from labs.scratch.nn import init
from labs.scratch.nn.module import Module
from labs.scratch.tensor import Parameter, Tensor, get_default_dtype

__all__ = ["Linear", "Flatten"]


def _positive_int(value, name: str, layer: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{layer} expects {name} to be an int; got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{layer} expects a positive {name}; got {value}")
    return int(value)


def _float_dtype(dtype, layer: str) -> np.dtype:
    dtype = np.dtype(get_default_dtype() if dtype is None else dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{layer} expects a floating-point dtype (float32 or float64); got {dtype}")
    return dtype


def _check_device(device, layer: str) -> None:
    """torch's ``device=`` argument: the NumPy engine has one device, the CPU."""
    if device is not None and str(device) != "cpu":
        raise ValueError(f"{layer}: the NumPy engine runs on the CPU only; got device={device!r}")


def _empty_parameter(shape, dtype) -> Parameter:
    return Parameter(np.zeros(shape, dtype=dtype))


def _check_input(x, layer: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer} expects a labs.scratch Tensor; got {type(x).__name__}: wrap it with labs.scratch.tensor(...)")
    return x


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features), as ``torch.nn.Linear``.

    Initialisation (PyTorch's): W ~ kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)),
    and b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        _check_device(device, "Linear")
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        dtype = _float_dtype(dtype, "Linear")
        self.weight = _empty_parameter((self.out_features, self.in_features), dtype)
        self.bias = _empty_parameter((self.out_features,), dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        x = _check_input(input, "Linear")
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self!r} expects input of shape (..., {self.in_features}); got {tuple(x.shape)}: "
                f"check in_features, or flatten the input first (nn.Flatten())"
            )
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Flatten axes start_dim..end_dim into one (default: everything but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        x = _check_input(input, "Flatten")
        if x.ndim and not (-x.ndim <= self.start_dim < x.ndim and -x.ndim <= self.end_dim < x.ndim):
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit an input of shape {tuple(x.shape)}")
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
