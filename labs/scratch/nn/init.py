"""Weight initialisation, mirroring ``torch.nn.init`` (same names, same formulas).

Every function fills ``tensor.data`` in place and returns the tensor. The random draws
come from the engine's generator, so ``labs.scratch.manual_seed(s)`` makes them repeat
(the numbers differ from PyTorch's: the two libraries have different generators, which is
why the tests copy weights across with ``load_state_dict`` instead).

Why ``kaiming_uniform_(w, a=sqrt(5))`` for ``Linear`` and ``Conv``: with the leaky-ReLU
gain ``sqrt(2 / (1 + a^2)) = sqrt(1/3)`` and bound ``sqrt(3) * gain / sqrt(fan_in)``, the
bound is exactly ``1/sqrt(fan_in)``, PyTorch's long-standing default, expressed in its
general formula.
"""

from __future__ import annotations

import math

import numpy as np

from labs.scratch.tensor import Tensor, get_generator, no_grad

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_",
]


def _target(tensor, fn: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init.{fn} expects a Tensor or Parameter; got {type(tensor).__name__}")
    return tensor


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    with no_grad():
        tensor.data[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor that keeps activations' variance steady through a nonlinearity."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; expected one of {linear + ('tanh', 'relu', 'leaky_relu', 'selu')}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """fan_in = inputs per output unit (in_features, or in_channels * kernel area); fan_out likewise."""
    shape = tensor.data.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions; got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with draws from U(a, b)."""
    rng = generator or get_generator()
    t = _target(tensor, "uniform_")
    return _fill(t, rng.uniform(a, b, size=t.data.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with draws from N(mean, std^2)."""
    rng = generator or get_generator()
    t = _target(tensor, "normal_")
    return _fill(t, rng.normal(mean, std, size=t.data.shape))


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None):
    """N(mean, std^2) restricted to [a, b] (redraw what falls outside)."""
    rng = generator or get_generator()
    t = _target(tensor, "trunc_normal_")
    values = rng.normal(mean, std, size=t.data.shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = rng.normal(mean, std, size=int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(t, values)


def constant_(tensor, val: float):
    return _fill(_target(tensor, "constant_"), val)


def zeros_(tensor):
    return _fill(_target(tensor, "zeros_"), 0.0)


def ones_(tensor):
    return _fill(_target(tensor, "ones_"), 1.0)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(_target(tensor, "xavier_uniform_"))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(_target(tensor, "xavier_normal_"))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity, fn):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(_target(tensor, fn))
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}: mode must be 'fan_in' or 'fan_out'; got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"{fn}: cannot initialise a tensor with zero elements (shape {tensor.data.shape})")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """U(-b, b) with b = sqrt(3) * gain / sqrt(fan) (He et al., 2015)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan) (He et al., 2015)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_"), generator)
