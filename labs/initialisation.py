"""Weight initialisation schemes for ReLU networks, and the statistics that judge them (Chapter 4).

A linear layer ``z = W a`` with ``fan_in`` inputs, weights drawn independently with mean 0
and standard deviation ``s``, and inputs independent of the weights, gives

    E[z_i^2] = fan_in * s^2 * E[a_j^2].

After a ReLU of a pre-activation that is symmetric around 0, ``E[relu(z)^2] = E[z^2] / 2``.
So from one layer's pre-activations to the next, the root mean square (RMS) is multiplied by

    growth = sqrt(fan_in * s^2 / 2)                         (:func:`predicted_growth`)

and after ``L`` layers by ``growth ** L``: it vanishes when growth < 1, explodes when
growth > 1. Kaiming (He) initialisation picks ``s = sqrt(2 / fan_in)``, growth exactly 1.

The schemes here (:data:`SCHEMES`) are the four the chapter compares; :func:`initialise_`
applies one to every ``Linear`` layer of a ``labs.scratch`` model, and
:func:`activation_stats` runs a batch through the model and records, layer by layer,
what the formula predicts.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SCHEMES", "init_std", "predicted_growth", "initialise_", "activation_stats"]

# name -> what it draws (for legends); biases are set to 0 by initialise_ in every scheme
SCHEMES = {
    "too small": "N(0, 0.01^2)",
    "PyTorch default": "U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
    "Kaiming": "N(0, 2/fan_in)",
    "too large": "N(0, 1)",
}


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown initialisation scheme {scheme!r}; choose one of {list(SCHEMES)}")


def init_std(scheme: str, fan_in: int, gain: float = 1.0) -> float:
    """Standard deviation of the weights that ``scheme`` draws for a layer with ``fan_in`` inputs.

    ``gain`` multiplies it (the chapter's widget turns it as a knob; 1 is the scheme itself).
    A uniform U(-b, b) has standard deviation b / sqrt(3).
    """
    _check_scheme(scheme)
    if not (isinstance(fan_in, (int, np.integer)) and fan_in > 0):
        raise ValueError(f"fan_in must be a positive int; got {fan_in!r}")
    if not gain > 0:
        raise ValueError(f"gain must be positive; got {gain!r}")
    base = {
        "too small": 0.01,
        "PyTorch default": 1.0 / math.sqrt(3 * fan_in),
        "Kaiming": math.sqrt(2.0 / fan_in),
        "too large": 1.0,
    }[scheme]
    return gain * base


def predicted_growth(scheme: str, fan_in: int, gain: float = 1.0) -> float:
    """Factor by which one ReLU layer multiplies the RMS of the pre-activations: sqrt(fan_in s^2 / 2)."""
    s = init_std(scheme, fan_in, gain)
    return math.sqrt(fan_in * s * s / 2.0)


def _linear_layers(model):
    from labs.scratch import nn

    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layers to initialise")
    return layers


def initialise_(model, scheme: str, gain: float = 1.0, generator: np.random.Generator | None = None):
    """Re-draw the weights of every ``labs.scratch.nn.Linear`` in ``model`` with ``scheme``; zero the biases.

    ``"PyTorch default"`` draws uniformly (what ``Linear`` does when it is created); the
    others draw from a normal distribution. Returns the model, changed in place.
    """
    from labs.scratch.nn import init

    _check_scheme(scheme)
    for layer in _linear_layers(model):
        std = init_std(scheme, layer.in_features, gain)
        if scheme == "PyTorch default":
            bound = math.sqrt(3.0) * std
            init.uniform_(layer.weight, -bound, bound, generator=generator)
        else:
            init.normal_(layer.weight, 0.0, std, generator=generator)
        if layer.bias is not None:
            init.zeros_(layer.bias)
    return model


def activation_stats(model, x) -> dict:
    """Run ``x`` through a ``Sequential`` model without gradients; describe every layer's output.

    Returns a dict of lists, one entry per ``Linear`` layer in order:

    - ``"rms"``: root mean square of the layer's pre-activations z (what the formula predicts);
    - ``"std"``: standard deviation of the activations after the ReLU (for the last layer: of z);
    - ``"dead"``: fraction of hidden units that output 0 for every example of the batch;
    - ``"values"``: the activations themselves (NumPy arrays), for histograms.
    """
    from labs.scratch import Tensor, nn, no_grad

    h = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
    stats = {"rms": [], "std": [], "dead": [], "values": []}
    with no_grad():
        for module in model:
            h = module(h)
            if isinstance(module, nn.Linear):
                z = h.data.astype(np.float64)
                stats["rms"].append(float(np.sqrt(np.mean(z * z))))
                stats["std"].append(float(z.std()))
                stats["dead"].append(0.0)
                stats["values"].append(h.data.copy())
            elif isinstance(module, nn.ReLU) and stats["values"]:
                a = h.data
                stats["std"][-1] = float(a.std())
                stats["dead"][-1] = float(np.mean(np.all(a <= 0, axis=0)))
                stats["values"][-1] = a.copy()
    if not stats["rms"]:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layers: nothing to measure")
    return stats
