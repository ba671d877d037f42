"""Generalisation experiments: L1 against L2, dropout, early stopping, training with augmentation.

    result = train_regularised(model, (x, y), (x_val, y_val), epochs=30, l1=1e-3)
    result.history["val_loss"], result.best_epoch, result.best_state   # early stopping
    near_zero_count(model.weight, tol=1e-6)                             # sparsity from L1

L1 is applied as a *proximal* step (soft-thresholding after each gradient step, the
stochastic form of ISTA), so weights that L1 drives to zero are exactly zero, as the
lasso's solution is; a plain subgradient of ``|w|`` would leave them jittering around 0.
L2 is the usual ``l2 * ||w||^2 / 2`` added to the loss (weight decay). Both act on weight
matrices only, not biases. Augmentations (crop, rotation, flip) are chapter 9b's
:mod:`labs.augment`; ``train_regularised`` takes one as a function of the batch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["soft_threshold", "near_zero_count", "ista_lasso", "train_regularised", "Result"]


def soft_threshold(w, threshold: float):
    """The proximal operator of ``threshold * |w|``: ``sign(w) * max(|w| - threshold, 0)``."""
    import torch

    if threshold < 0:
        raise ValueError(f"threshold must be >= 0; got {threshold}")
    if torch.is_tensor(w):
        return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)
    w = np.asarray(w, dtype=np.float64)
    return np.sign(w) * np.maximum(np.abs(w) - threshold, 0.0)


def near_zero_count(weights, tol: float = 1e-6) -> int:
    """How many entries of ``weights`` have ``|w| <= tol``."""
    import torch

    w = weights.detach().cpu().numpy() if torch.is_tensor(weights) else np.asarray(weights)
    return int(np.sum(np.abs(w) <= tol))


def ista_lasso(x, y, alpha: float, steps: int = 5000) -> np.ndarray:
    """Proximal gradient descent (ISTA) on scikit-learn's lasso objective, without intercept:
    ``||y - x w||^2 / (2 n) + alpha ||w||_1``. The same proximal step as
    :func:`train_regularised`, run to convergence, so a test can compare it with
    ``sklearn.linear_model.Lasso``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    step = n / np.linalg.norm(x, 2) ** 2  # 1 / Lipschitz constant of the smooth part's gradient
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        w = soft_threshold(w - step * x.T @ (x @ w - y) / n, step * alpha)
    return w


@dataclass
class Result:
    """What :func:`train_regularised` measured: per-epoch curves and the early-stopping pick."""

    history: dict = field(default_factory=dict)  # train_loss, val_loss, val_accuracy (one per epoch)
    best_epoch: int = -1  # 0-based epoch of the lowest validation loss
    best_state: dict = field(default_factory=dict, repr=False)  # the weights at that epoch


def _weights(model):
    return [p for name, p in model.named_parameters() if name.endswith("weight") and p.ndim > 1]


def train_regularised(model, train, val, *, epochs: int, lr: float = 0.1, optimizer: str = "sgd", l1: float = 0.0,
                      l2: float = 0.0, batch_size: int = 64, augment=None, seed: int = 0) -> Result:
    """Mini-batch training with optional L1 (proximal), L2 and augmentation; validation every epoch.

    ``augment(x_batch, generator)`` returns a transformed batch (training data only).
    The returned :class:`Result` keeps the weights of the epoch with the lowest validation
    loss: early stopping, measured rather than guessed (load them with
    ``model.load_state_dict(result.best_state)``). The model ends with its last weights.
    """
    import torch
    import torch.nn.functional as F

    if l1 < 0 or l2 < 0:
        raise ValueError(f"l1 and l2 must be >= 0; got l1={l1}, l2={l2}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam'; got {optimizer!r}")
    (x, y), (xv, yv) = train, val
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=lr)
    weights = _weights(model)
    result = Result(history={"train_loss": [], "val_loss": [], "val_accuracy": []})
    best = math.inf
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            xb = x[idx] if augment is None else augment(x[idx], gen)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), y[idx])
            total += loss.item() * len(idx)
            if l2:
                loss = loss + 0.5 * l2 * sum((w ** 2).sum() for w in weights)
            loss.backward()
            opt.step()
            if l1:
                with torch.no_grad():
                    for w in weights:  # the proximal step of lr * l1 * |w|
                        w.copy_(soft_threshold(w, lr * l1))
        model.eval()
        with torch.no_grad():
            out = model(xv)
            val_loss = F.cross_entropy(out, yv).item()
            result.history["val_accuracy"].append((out.argmax(1) == yv).float().mean().item())
        result.history["train_loss"].append(total / len(x))
        result.history["val_loss"].append(val_loss)
        if val_loss < best:
            best, result.best_epoch = val_loss, epoch
            result.best_state = copy.deepcopy(model.state_dict())
    return result
