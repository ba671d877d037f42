"""Train an image classifier on a freshly augmented copy of its training set every epoch.

    model = fit_with_augmentation(CNN2d(...), x, y, augment_fn=lambda b, rng: augment(b, rng), epochs=30)

``augment_fn(batch, rng)`` is any NumPy function of :mod:`labs.augment` (or None for no
augmentation); it is called on each mini-batch with one seeded generator, so a run is
reproducible. The model never sees the same shifted or rotated image twice, which is what
makes augmentation a regulariser: more distinct inputs, the same labels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["fit_with_augmentation", "predict_labels"]


def fit_with_augmentation(model, x, y, augment_fn=None, epochs: int = 30, batch_size: int = 50, lr: float = 3e-3,
                          weight_decay: float = 1e-4, seed: int = 0):
    """Adam on cross-entropy over ``epochs`` shuffled passes; ``augment_fn`` applied per mini-batch."""
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"fit_with_augmentation needs as many labels as images; got {len(x)} images, {len(y)} labels")
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            batch = x[idx] if augment_fn is None else augment_fn(x[idx], rng)
            loss = F.cross_entropy(model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))),
                                   torch.from_numpy(y[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return model


@torch.no_grad()
def predict_labels(model, x) -> np.ndarray:
    """Arg-max class of each image, as a NumPy array."""
    model.eval()
    return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).argmax(-1).numpy()
