"""Multi-task learning: one shared trunk with a head per task, against one network per task.

    model = SharedTrunk(in_features=64, hidden=32, head_sizes=(10, 3))
    logits_digit, logits_slant = model(x)

The shared model has one trunk's worth of parameters fewer than two single-task networks of
the same width; whether sharing helps or hurts each task is what :func:`train_multitask`
lets the chapter measure. The loss is ``sum_k w_k CE_k``: the task weights ``w`` are the knob
of the trade-off.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SharedTrunk", "train_multitask", "task_accuracies"]


class SharedTrunk(nn.Module):
    """``h = relu(W x)`` shared; head k: ``logits_k = V_k h``. One head is a single-task network."""

    def __init__(self, in_features: int = 64, hidden: int = 32, head_sizes=(10, 3)):
        super().__init__()
        if not head_sizes:
            raise ValueError("SharedTrunk needs at least one head: head_sizes=(classes of task 1, ...)")
        self.trunk = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in head_sizes)

    def forward(self, x):
        h = self.trunk(x)
        return tuple(head(h) for head in self.heads)


def train_multitask(model: SharedTrunk, x, targets, weights=None, steps: int = 300, lr: float = 0.01,
                    batch_size: int = 64, seed: int = 0, weight_decay: float = 1e-4) -> SharedTrunk:
    """Adam on ``sum_k weights[k] * cross_entropy(logits_k, targets[k])`` in mini-batches."""
    targets = tuple(targets)
    if len(targets) != len(model.heads):
        raise ValueError(f"train_multitask: the model has {len(model.heads)} heads; got {len(targets)} target arrays")
    weights = (1.0,) * len(targets) if weights is None else tuple(weights)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)
        outputs = model(x[idx])
        loss = sum(w * F.cross_entropy(o, t[idx]) for w, o, t in zip(weights, outputs, targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


@torch.no_grad()
def task_accuracies(model: SharedTrunk, x, targets) -> list[float]:
    return [float((o.argmax(-1) == t).float().mean()) for o, t in zip(model(x), targets)]
