"""Activation functions and their derivatives, written out by hand (Chapter 3).

Each activation ``f`` comes with ``f'`` derived on paper, so that Chapter 3 can check
the derivative against automatic differentiation (PyTorch and ``labs.scratch``):

* sigmoid ``s(z) = 1 / (1 + e^-z)``,        ``s'(z) = s(z) (1 - s(z))``
* tanh,                                       ``tanh'(z) = 1 - tanh(z)^2``
* ReLU ``max(0, z)``,                         ``ReLU'(z) = 1 if z > 0 else 0`` (PyTorch's choice at 0)
* GELU ``z * Phi(z)`` (``Phi`` the standard normal CDF), ``GELU'(z) = Phi(z) + z * phi(z)``

The layers of the NumPy engine use ``labs.scratch.functional``; these functions are
the formulas on their own, for plots, derivations and exercises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import erf

__all__ = [
    "sigmoid", "sigmoid_derivative", "tanh", "tanh_derivative", "relu", "relu_derivative",
    "gelu", "gelu_derivative", "normal_cdf", "normal_pdf", "Activation", "ACTIVATIONS",
    "saturated", "plot_activation",
]

_SQRT2 = np.sqrt(2.0)


def _as_float_array(z, fn: str) -> np.ndarray:
    try:
        arr = np.asarray(z, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{fn} expects numbers (a float or an array); got {type(z).__name__}") from None
    return arr


def sigmoid(z):
    """The logistic function, computed without overflow for large ``|z|``."""
    z = _as_float_array(z, "sigmoid")
    e = np.exp(-np.abs(z))  # never exp of a large positive number
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z):
    return np.tanh(_as_float_array(z, "tanh"))


def tanh_derivative(z):
    return 1.0 - np.tanh(_as_float_array(z, "tanh_derivative")) ** 2


def relu(z):
    return np.maximum(_as_float_array(z, "relu"), 0.0)


def relu_derivative(z):
    """1 where ``z > 0``, else 0; at exactly 0 PyTorch also uses 0."""
    return (_as_float_array(z, "relu_derivative") > 0).astype(float)


def normal_cdf(z):
    """``Phi(z)``, the probability that a standard normal variable is below ``z``."""
    return 0.5 * (1.0 + erf(_as_float_array(z, "normal_cdf") / _SQRT2))


def normal_pdf(z):
    z = _as_float_array(z, "normal_pdf")
    return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


def gelu(z):
    """Exact GELU ``z * Phi(z)`` (PyTorch's default, ``approximate='none'``)."""
    z = _as_float_array(z, "gelu")
    return z * normal_cdf(z)


def gelu_derivative(z):
    """Product rule on ``z * Phi(z)``: ``Phi(z) + z * phi(z)``, since ``Phi' = phi``."""
    z = _as_float_array(z, "gelu_derivative")
    return normal_cdf(z) + z * normal_pdf(z)


@dataclass(frozen=True)
class Activation:
    name: str
    f: Callable
    derivative: Callable
    formula: str  # LaTeX of f'(z), for plot titles


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_derivative, r"$\sigma'(z)=\sigma(z)(1-\sigma(z))$"),
    "tanh": Activation("tanh", tanh, tanh_derivative, r"$\tanh'(z)=1-\tanh^2(z)$"),
    "relu": Activation("relu", relu, relu_derivative, r"$\mathrm{ReLU}'(z)=[z>0]$"),
    "gelu": Activation("gelu", gelu, gelu_derivative, r"$\mathrm{GELU}'(z)=\Phi(z)+z\,\varphi(z)$"),
}


def _get(name: str) -> Activation:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def saturated(name: str, z, threshold: float = 0.01):
    """True where the activation passes back less than ``threshold`` of the gradient: ``|f'(z)| < threshold``."""
    return np.abs(_get(name).derivative(z)) < threshold


def plot_activation(name: str = "sigmoid", z: float = 0.0, zlim: float = 8.0, threshold: float = 0.01, ax=None):
    """Plot ``f`` and ``f'`` on ``[-zlim, zlim]``, shade where ``|f'| < threshold`` and mark the point ``z``.

    The shaded region is where the unit *saturates*: a gradient arriving from above is
    multiplied by ``f'(z)`` on its way down, so there almost nothing gets through.
    """
    import matplotlib.pyplot as plt

    act = _get(name)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.6))
    zs = np.linspace(-zlim, zlim, 801)
    fz, dz = act.f(zs), act.derivative(zs)
    ax.plot(zs, fz, lw=2, label=f"{name}(z)")
    ax.plot(zs, dz, lw=2, ls="--", label=f"{name}'(z)")
    mask = saturated(name, zs, threshold)
    ax.fill_between(zs, 0, 1, where=mask, transform=ax.get_xaxis_transform(), color="tab:red", alpha=0.12,
                    label=f"saturated: |f'| < {threshold:g}")
    f0, d0 = float(act.f(z)), float(act.derivative(z))
    ax.plot([z], [f0], "o", color="tab:blue")
    ax.plot([z], [d0], "o", color="tab:orange")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("z")
    ax.set_title(f"{name} at z = {z:.2f}: f = {f0:.4g}, f' = {d0:.4g}   ({act.formula})", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    return ax
