"""Per-sample gradients: one gradient per example instead of their batch mean (for DP-SGD).

Differentially private SGD clips *each example's* gradient before averaging, so that no
single example can move the model by more than the clip norm. A normal ``backward`` only
gives the mean over the batch, so the engine computes each example's gradient on its own:
the same numbers as ``torch.func.vmap(torch.func.grad(loss))`` over the batch (the tests
compare them), at the cost of one backward pass per example.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labs.scratch.tensor import Tensor

__all__ = ["per_sample_grads"]


def per_sample_grads(model, loss_fn: Callable, inputs, targets) -> dict[str, np.ndarray]:
    """``{name: array of shape (B, *param.shape)}``: the gradient of ``loss_fn(model(x_i), y_i)``
    with respect to every parameter that requires grad, for each example ``i`` of the batch.

    Each example runs as a batch of one (``x[i:i+1]``), so the model sees the shapes it
    always sees. Put the model in ``eval()`` mode first if it has dropout: otherwise every
    example draws its own mask (still a valid per-example gradient, but not the batch's).
    The parameters' own ``.grad`` are left as they were.
    """
    x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
    y = targets if isinstance(targets, Tensor) else Tensor(np.asarray(targets))
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"per_sample_grads expects inputs and targets with the same first (batch) dimension; got shapes "
            f"{x.shape} and {y.shape}"
        )
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("per_sample_grads: the model has no parameter that requires grad")
    saved = [p.grad for _, p in named]
    out = {name: np.zeros((len(x), *p.shape), dtype=p.dtype) for name, p in named}
    try:
        for i in range(len(x)):
            for _, p in named:
                p.grad = None
            loss = loss_fn(model(x[i:i + 1]), y[i:i + 1])
            if loss.data.size != 1:
                raise ValueError(f"loss_fn must return a scalar for one example; got shape {loss.shape}")
            loss.backward()
            for name, p in named:
                if p.grad is not None:  # a parameter this example did not reach keeps its zeros
                    out[name][i] = p.grad.data
    finally:
        for (_, p), g in zip(named, saved):
            p.grad = g
    return out
