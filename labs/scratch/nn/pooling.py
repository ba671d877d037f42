"""Pooling layers: ``MaxPool1d``, ``MaxPool2d``, ``AvgPool1d``, ``AvgPool2d`` (around ``labs.scratch.conv``)."""

from __future__ import annotations

from labs.scratch import conv as C
from labs.scratch.nn.linear import _check_input
from labs.scratch.nn.module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"]


class _Pool(Module):
    _spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        if ceil_mode:
            raise ValueError(f"{name}: ceil_mode=True is not implemented in the NumPy engine; use the default ceil_mode=False")
        C._positive(C._int_tuple(kernel_size, self._spatial, "kernel_size", name), "kernel_size", name)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = False


class MaxPool2d(_Pool):
    """Maximum over each window, like ``torch.nn.MaxPool2d`` (stride defaults to kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False) -> None:
        if dilation not in (1, (1, 1)) or return_indices:
            raise ValueError(f"{type(self).__name__}: dilation and return_indices are not implemented in the NumPy engine")
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = 1

    def forward(self, input):
        return C.max_pool2d(_check_input(input, "MaxPool2d"), self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, dilation=1, ceil_mode=False"


class MaxPool1d(MaxPool2d):
    """Maximum over each window of a sequence ``(N, C, L)``, like ``torch.nn.MaxPool1d``."""

    _spatial = 1

    def forward(self, input):
        return C.max_pool1d(_check_input(input, "MaxPool1d"), self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool):
    """Mean over each window, like ``torch.nn.AvgPool2d``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad

    def forward(self, input):
        return C.avg_pool2d(_check_input(input, "AvgPool2d"), self.kernel_size, self.stride, self.padding,
                            count_include_pad=self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(AvgPool2d):
    _spatial = 1

    def forward(self, input):
        return C.avg_pool1d(_check_input(input, "AvgPool1d"), self.kernel_size, self.stride, self.padding,
                            count_include_pad=self.count_include_pad)
