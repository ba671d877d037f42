"""``Conv1d`` and ``Conv2d``: modules around ``labs.scratch.conv`` (cross-correlation, im2col)."""

from __future__ import annotations

import math

import numpy as np

from labs.scratch import conv as C
from labs.scratch.nn import init
from labs.scratch.nn.linear import _check_device, _check_input, _empty_parameter, _float_dtype, _positive_int
from labs.scratch.nn.module import Module

__all__ = ["Conv1d", "Conv2d"]


class _ConvNd(Module):
    _spatial = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None) -> None:
        super().__init__()
        name = type(self).__name__
        _check_device(device, name)
        n = self._spatial
        if dilation not in (1, (1,) * n) or groups != 1 or padding_mode != "zeros":
            raise ValueError(
                f"{name}: only dilation=1, groups=1 and padding_mode='zeros' are implemented in the NumPy engine; "
                f"got dilation={dilation!r}, groups={groups!r}, padding_mode={padding_mode!r}"
            )
        self.in_channels = _positive_int(in_channels, "in_channels", name)
        self.out_channels = _positive_int(out_channels, "out_channels", name)
        self.kernel_size = C._int_tuple(kernel_size, n, "kernel_size", name)
        C._positive(self.kernel_size, "kernel_size", name)
        self.stride = C._int_tuple(stride, n, "stride", name)
        C._positive(self.stride, "stride", name)
        if isinstance(padding, str):
            C._padding_amounts(padding, self.kernel_size, self.stride, name)  # validates 'same'/'valid'
            self.padding = padding
        else:
            self.padding = C._int_tuple(padding, n, "padding", name)
            if any(p < 0 for p in self.padding):
                raise ValueError(f"{name} expects a non-negative padding; got {padding!r}")
        self.dilation, self.groups, self.padding_mode = (1,) * n, 1, "zeros"
        dtype = _float_dtype(dtype, name)
        self.weight = _empty_parameter((self.out_channels, self.in_channels) + self.kernel_size, dtype)
        self.bias = _empty_parameter((self.out_channels,), dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch's default: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        # fan_in = in_channels * kernel area; the bias uses the same bound
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels * int(np.prod(self.kernel_size))
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer (cross-correlation, as in every framework), like ``torch.nn.Conv2d``.

    Input ``(N, in_channels, H, W)``, weight ``(out_channels, in_channels, kH, kW)``.
    """

    _spatial = 2

    def forward(self, input):
        return C.conv2d(_check_input(input, "Conv2d"), self.weight, self.bias, self.stride, self.padding)


class Conv1d(_ConvNd):
    """1-D convolution layer (cross-correlation), like ``torch.nn.Conv1d``: input ``(N, C, L)``."""

    _spatial = 1

    def forward(self, input):
        return C.conv1d(_check_input(input, "Conv1d"), self.weight, self.bias, self.stride, self.padding)
