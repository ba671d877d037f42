"""Multi-task learning on MNIST-1D: one shared trunk, two heads, one weighted loss.

Task A is to tell the classes 5-9 apart from a handful of labelled signals per class;
task B is to tell the classes 0-4 apart, with every training signal labelled. A
multi-task model shares the trunk of :mod:`labs.concepts.transfer` between two linear
heads and minimises

    L = lambda_A * L_A + lambda_B * L_B,

so the plentiful labels of task B shape the features that task A uses. With
``lambda_B = 0`` the same code trains task A alone, which is the single-task
baseline: the two runs differ only in the weight of the second loss.
"""

from __future__ import annotations

import numpy as np

from labs.concepts.transfer import SOURCE_CLASSES, TARGET_CLASSES, _one_thread, few_per_class, make_trunk, split_classes

__all__ = ["multitask_loss", "TwoHeadModel", "train_two_tasks", "multitask_vs_single"]  # noqa: F822 (TwoHeadModel comes from __getattr__)


def multitask_loss(logits: list, targets: list, weights: list):
    """``sum_k weights[k] * cross_entropy(logits[k], targets[k])`` (PyTorch tensors)."""
    import torch.nn.functional as F

    if not (len(logits) == len(targets) == len(weights)) or not logits:
        raise ValueError(f"need one logits tensor, one target tensor and one weight per task; "
                         f"got {len(logits)}, {len(targets)} and {len(weights)}")
    if any(w < 0 for w in weights):
        raise ValueError(f"task weights must be >= 0 (a negative weight would reward a task's error); got {weights}")
    return sum(w * F.cross_entropy(z, y) for z, y, w in zip(logits, targets, weights))


def _two_head_module():
    import torch.nn as nn

    class TwoHeadModel(nn.Module):
        """A shared trunk and one linear head per task; ``forward`` returns both heads' logits."""

        def __init__(self, n_a: int = len(TARGET_CLASSES), n_b: int = len(SOURCE_CLASSES), channels: int = 32):
            super().__init__()
            self.trunk = make_trunk(channels)
            self.head_a = nn.Linear(channels, n_a)
            self.head_b = nn.Linear(channels, n_b)

        def forward(self, x):
            features = self.trunk(x)  # (N, channels), shared by both tasks
            return self.head_a(features), self.head_b(features)

    return TwoHeadModel


def __getattr__(name):  # TwoHeadModel is built on first use, so importing this module does not import torch
    if name == "TwoHeadModel":
        return _two_head_module()
    raise AttributeError(name)


def train_two_tasks(x_a, y_a, x_b, y_b, weight_b: float, steps: int = 150, batch_b: int = 64, seed: int = 0):
    """Train a :class:`TwoHeadModel` on ``weight_a = 1`` times task A's loss plus ``weight_b`` times task B's.

    Every step uses all of task A's few examples and a fresh batch of ``batch_b`` from
    task B. Returns the trained model.
    """
    import torch

    if steps < 1 or batch_b < 1:
        raise ValueError(f"steps and batch_b must be positive; got steps={steps}, batch_b={batch_b}")
    xa, ya = torch.as_tensor(x_a), torch.as_tensor(y_a)
    xb, yb = torch.as_tensor(x_b), torch.as_tensor(y_b)
    rng = np.random.default_rng(seed)
    with _one_thread():
        torch.manual_seed(seed)
        model = _two_head_module()()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(steps):
            pick = torch.as_tensor(rng.choice(len(xb), size=min(batch_b, len(xb)), replace=False))
            logits_a, _ = model(xa)
            _, logits_b = model(xb[pick])
            loss = multitask_loss([logits_a, logits_b], [ya, yb[pick]], [1.0, weight_b])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def _accuracy_a(model, x, y) -> float:
    import torch

    with torch.no_grad():
        return float((model(torch.as_tensor(x))[0].argmax(dim=1).numpy() == np.asarray(y)).mean())


def multitask_vs_single(x_train, y_train, x_test, y_test, per_class: int = 5, weight_b: float = 1.0,
                        seeds=(0, 1, 2), steps: int = 150) -> dict:
    """Task A's test accuracy trained alone (``weight_b = 0``) and together with task B.

    Returns ``{"single": [...], "multi": [...]}`` (one accuracy per seed) and the
    settings used.
    """
    xa_all, ya_all = split_classes(x_train, y_train, TARGET_CLASSES)
    xb, yb = split_classes(x_train, y_train, SOURCE_CLASSES)
    xa_te, ya_te = split_classes(x_test, y_test, TARGET_CLASSES)
    out = {"single": [], "multi": [], "per_class": per_class, "weight_b": weight_b, "n_b": len(yb), "steps": steps}
    for seed in seeds:
        idx = few_per_class(ya_all, per_class, seed=seed)
        for key, w in (("single", 0.0), ("multi", weight_b)):
            model = train_two_tasks(xa_all[idx], ya_all[idx], xb, yb, weight_b=w, steps=steps, seed=seed)
            out[key].append(_accuracy_a(model, xa_te, ya_te))
    return out
