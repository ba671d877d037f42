"""Backpropagation written out by hand, for Chapter 3's worked example.

The network has 2 inputs, 2 hidden ReLU units and 1 linear output, and the loss is the
squared error ``L = (y - t)^2 / 2``::

    z1 = W1 @ x + b1        (2,)   hidden pre-activations
    a1 = relu(z1)           (2,)
    y  = w2 @ a1 + b2       ()     output
    L  = (y - t)^2 / 2

and the chain rule, applied from the loss backwards, gives::

    dL/dy  = y - t
    dL/dw2 = (y - t) * a1          dL/db2 = y - t
    dL/da1 = (y - t) * w2          (the *weights*, not the activations)
    dL/dz1 = dL/da1 * relu'(z1)    (0 for a unit whose z1 <= 0)
    dL/dW1 = outer(dL/dz1, x)      dL/db1 = dL/dz1

:func:`dense_forward` and :func:`dense_backward` are the same rule for a batch and any
layer width, in matrix form. ``SEED_003_EXAMPLE`` is the worked example that circulates
in the source material (seed 003), read in the only way that makes it well defined, and
``SEED_003_CLAIMS`` the numbers it states; Chapter 3 recomputes them.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "WORKED_EXAMPLE", "forward", "backward", "sgd_update", "gradients_torch",
    "SEED_003_EXAMPLE", "SEED_003_CLAIMS", "seed_example_forward_backward", "seed_example_gradients_torch",
    "dense_forward", "dense_backward", "two_layer_batch_gradients",
]

# Concrete numbers for the chapter: hidden unit 1 is active (z = 9), unit 2 is not (z = -1).
WORKED_EXAMPLE = {
    "x": np.array([1.0, 2.0]),
    "t": 1.0,
    "W1": np.array([[2.0, 3.0], [-1.0, 0.5]]),
    "b1": np.array([1.0, -1.0]),
    "w2": np.array([4.0, 5.0]),
    "b2": 2.0,
}

PARAMETER_NAMES = ("W1", "b1", "w2", "b2")


def _params(p: dict) -> dict:
    missing = [k for k in (*PARAMETER_NAMES, "x", "t") if k not in p]
    if missing:
        raise ValueError(f"the network needs keys {PARAMETER_NAMES + ('x', 't')}; missing {missing}")
    out = {k: np.asarray(p[k], dtype=float) for k in (*PARAMETER_NAMES, "x", "t")}
    if out["W1"].shape != (2, 2) or out["b1"].shape != (2,) or out["w2"].shape != (2,) or out["x"].shape != (2,):
        raise ValueError(
            "expected W1 (2, 2), b1 (2,), w2 (2,), x (2,); got "
            f"W1 {out['W1'].shape}, b1 {out['b1'].shape}, w2 {out['w2'].shape}, x {out['x'].shape}"
        )
    return out


def forward(p: dict) -> dict:
    """The forward pass; returns every intermediate value (the backward pass needs them)."""
    p = _params(p)
    z1 = p["W1"] @ p["x"] + p["b1"]
    a1 = np.maximum(z1, 0.0)
    y = float(p["w2"] @ a1 + p["b2"])
    loss = 0.5 * (y - float(p["t"])) ** 2
    return {"z1": z1, "a1": a1, "y": y, "loss": loss}


def backward(p: dict, cache: dict | None = None) -> dict:
    """Every gradient of the loss, by the chain rule written out above."""
    p = _params(p)
    cache = forward(p) if cache is None else cache
    dy = cache["y"] - float(p["t"])
    dw2 = dy * cache["a1"]
    db2 = dy
    da1 = dy * p["w2"]
    dz1 = da1 * (cache["z1"] > 0)  # ReLU'(z1): the factor the source example leaves out
    dW1 = np.outer(dz1, p["x"])
    db1 = dz1
    return {"dy": dy, "dw2": dw2, "db2": db2, "da1": da1, "dz1": dz1, "dW1": dW1, "db1": db1}


def sgd_update(p: dict, grads: dict, lr: float) -> dict:
    """One gradient-descent step: every parameter moves by ``-lr`` times its gradient."""
    if not lr > 0:
        raise ValueError(f"lr must be positive; got {lr!r}")
    new = dict(p)
    for name in PARAMETER_NAMES:
        new[name] = np.asarray(p[name], dtype=float) - lr * np.asarray(grads["d" + name], dtype=float)
    new["b2"] = float(new["b2"])
    return new


def gradients_torch(p: dict) -> dict:
    """The same gradients from PyTorch's autograd (float64), keyed like :func:`backward`."""
    import torch

    p = _params(p)
    leaves = {k: torch.tensor(p[k], dtype=torch.float64, requires_grad=True) for k in PARAMETER_NAMES}
    x = torch.tensor(p["x"], dtype=torch.float64)
    y = leaves["w2"] @ torch.relu(leaves["W1"] @ x + leaves["b1"]) + leaves["b2"]
    loss = 0.5 * (y - float(p["t"])) ** 2
    loss.backward()
    return {"d" + k: v.grad.numpy() for k, v in leaves.items()} | {"loss": loss.item()}


# ---------------------------------------------------------------------- the seed's example

# Seed 003 says "one hidden neuron" but gives the output two weights, 4 and 5. The only
# reading that is well defined: the output sees the hidden activation a1 (weight 4) and,
# directly, the input x2 (weight 5). Its output unit also applies ReLU.
SEED_003_EXAMPLE = {"x1": 1.0, "x2": 2.0, "t": 1.0, "w11": 2.0, "w12": 3.0, "b1": 1.0, "w21": 4.0, "w22": 5.0, "b2": 2.0, "lr": 0.01}

# What the seed states (quoted numbers, so that the chapter can compare them with the right ones).
SEED_003_CLAIMS = {
    "z1": 9.0,
    "z2": 44.0,
    "loss": 482.5,
    "delta2": 43.0,
    "delta1": 387.0,  # 43 * 9: multiplied by the activation instead of the weight 4 times ReLU'(z1)
    "w21_new": 3.917,
    "w22_new": 4.917,
    "b2_new": 1.57,
    "w11_new": 1.813,
    "w12_new": 2.917,
    "b1_new": 0.613,
}


def seed_example_forward_backward(e: dict = SEED_003_EXAMPLE) -> dict:
    """Forward pass, the correct gradients and the updated weights of the seed's example."""
    z1 = e["w11"] * e["x1"] + e["w12"] * e["x2"] + e["b1"]
    a1 = max(z1, 0.0)
    z2 = e["w21"] * a1 + e["w22"] * e["x2"] + e["b2"]
    y = max(z2, 0.0)
    loss = 0.5 * (y - e["t"]) ** 2
    delta2 = (y - e["t"]) * (1.0 if z2 > 0 else 0.0)  # dL/dz2
    delta1 = delta2 * e["w21"] * (1.0 if z1 > 0 else 0.0)  # dL/dz1 = dL/dz2 * dz2/da1 * da1/dz1
    grads = {
        "w21": delta2 * a1, "w22": delta2 * e["x2"], "b2": delta2,
        "w11": delta1 * e["x1"], "w12": delta1 * e["x2"], "b1": delta1,
    }
    new = {f"{k}_new": e[k] - e["lr"] * g for k, g in grads.items()}
    return {"z1": z1, "a1": a1, "z2": z2, "y": y, "loss": loss, "delta2": delta2, "delta1": delta1,
            "grads": grads, **new}


def seed_example_gradients_torch(e: dict = SEED_003_EXAMPLE) -> dict:
    """Autograd's gradients for the same reading of the seed's network."""
    import torch

    w = {k: torch.tensor(e[k], dtype=torch.float64, requires_grad=True) for k in ("w11", "w12", "b1", "w21", "w22", "b2")}
    a1 = torch.relu(w["w11"] * e["x1"] + w["w12"] * e["x2"] + w["b1"])
    y = torch.relu(w["w21"] * a1 + w["w22"] * e["x2"] + w["b2"])
    loss = 0.5 * (y - e["t"]) ** 2
    loss.backward()
    return {k: v.grad.item() for k, v in w.items()} | {"loss": loss.item()}


# ---------------------------------------------------------------------- matrix form


def dense_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Z = A_prev @ W.T + b`` for a batch: A_prev (N, n_in), W (n_out, n_in), b (n_out,) -> (N, n_out)."""
    A_prev, W, b = (np.asarray(a, dtype=float) for a in (A_prev, W, b))
    if A_prev.ndim != 2 or W.ndim != 2 or A_prev.shape[1] != W.shape[1] or b.shape != (W.shape[0],):
        raise ValueError(
            f"dense_forward expects A_prev (N, n_in), W (n_out, n_in), b (n_out,); got {A_prev.shape}, {W.shape}, {b.shape}"
        )
    return A_prev @ W.T + b


def dense_backward(dZ: np.ndarray, A_prev: np.ndarray, W: np.ndarray):
    """Given ``dL/dZ`` (N, n_out), return ``dL/dA_prev`` (N, n_in), ``dL/dW`` (n_out, n_in), ``dL/db`` (n_out,).

    Each gradient has the shape of the thing it is the gradient of; the batch axis is
    summed over for the parameters because every sample used the same W and b.
    """
    return dZ @ W, dZ.T @ A_prev, dZ.sum(axis=0)


def two_layer_batch_gradients(X, T, W1, b1, W2, b2) -> dict:
    """Loss ``sum ||Y - T||^2 / (2N)`` of a ReLU network on a batch, and all its gradients."""
    X, T = np.asarray(X, dtype=float), np.asarray(T, dtype=float)
    Z1 = dense_forward(X, W1, b1)  # (N, H)
    A1 = np.maximum(Z1, 0.0)
    Y = dense_forward(A1, W2, b2)  # (N, O)
    if Y.shape != T.shape:
        raise ValueError(f"targets T must have shape {Y.shape} (N, n_out); got {T.shape}")
    n = len(X)
    loss = float(((Y - T) ** 2).sum() / (2 * n))
    dY = (Y - T) / n  # (N, O)
    dA1, dW2, db2 = dense_backward(dY, A1, W2)
    dZ1 = dA1 * (Z1 > 0)  # elementwise ReLU'(Z1)
    dX, dW1, db1 = dense_backward(dZ1, X, W1)
    return {"loss": loss, "dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dX": dX, "Z1": Z1, "Y": Y}
