"""Chapter 14: two small experiments behind the source articles' training advice.

- :func:`learning_curves`: which model to choose depends on the *data you have and the compute
  you can spend*, measured: test accuracy of a linear model, an MLP and a CNN on the digits as
  the training set grows, with each one's training FLOPs. (Source article 003 picks models by
  "task complexity": MobileNet for simple tasks, BERT or GPT for complex ones.)
- :func:`batch_lr_sweep`: the learning rate and the batch size are not independent knobs: a
  grid of both, trained for the same number of epochs, and where the best learning rate lies
  for each batch size.

Both use torch on the CPU, seeded, float32, and small enough to run in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Curve", "SweepResult", "batch_lr_sweep", "learning_curves", "train_classifier"]


def _model(kind: str, n_in: int = 64, n_classes: int = 10):
    from torch import nn

    from labs.models.cnn2d import CNN2d

    if kind == "linear":
        return nn.Linear(n_in, n_classes)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(n_in, 128), nn.ReLU(), nn.Linear(128, n_classes))
    if kind == "cnn":
        return CNN2d(channels=(8, 16, 16), hidden=32)
    raise ValueError(f"kind must be 'linear', 'mlp' or 'cnn'; got {kind!r}")


def _forward_flops(model, x) -> int:
    """Forward FLOPs of one batch, counted by torch (a multiply-add is 2 FLOPs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


def train_classifier(kind: str, x, y, *, epochs: int, lr: float, batch_size: int, seed: int = 0,
                     optimizer: str = "adam"):
    """Train a fresh model of ``kind`` with mini-batches; return (model, training FLOPs).

    Training FLOPs are 3x the forward FLOPs of every example seen (backward costs about twice
    the forward pass), the usual 6ND rule written per example."""
    import torch
    import torch.nn.functional as F

    if batch_size < 1 or epochs < 1:
        raise ValueError(f"batch_size and epochs must be >= 1; got {batch_size}, {epochs}")
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y, dtype=np.int64))
    if kind == "cnn" and x.ndim == 2:
        x = x.reshape(-1, 1, 8, 8)
    model = _model(kind)
    opt = (torch.optim.Adam(model.parameters(), lr=lr) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=lr))
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=g).split(batch_size):
            opt.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    flops = 3 * _forward_flops(model, x[:1]) * len(x) * epochs
    return model, flops


def _evaluate(model, kind, x, y):
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if kind == "cnn" and x.ndim == 2:
        x = x.reshape(-1, 1, 8, 8)
    y = torch.as_tensor(np.asarray(y, dtype=np.int64))
    with torch.no_grad():
        logits = model(x)
    return float((logits.argmax(1) == y).float().mean()), float(F.cross_entropy(logits, y))


@dataclass(frozen=True)
class Curve:
    kind: str
    sizes: tuple[int, ...]
    accuracy: tuple[float, ...]
    flops: tuple[int, ...]
    params: int


def learning_curves(x_train, y_train, x_test, y_test, sizes, kinds=("linear", "mlp", "cnn"), *,
                    steps: int = 300, batch_size: int = 32, seed: int = 0) -> dict[str, Curve]:
    """Test accuracy of each model kind trained on the first ``size`` (stratified by the caller)
    training examples, for the same number of optimizer steps whatever the size."""
    out = {}
    for kind in kinds:
        accs, flops = [], []
        for size in sizes:
            if size > len(x_train):
                raise ValueError(f"size {size} is more than the {len(x_train)} training examples")
            epochs = max(1, round(steps * batch_size / size))
            model, f = train_classifier(kind, x_train[:size], y_train[:size], epochs=epochs, lr=3e-3,
                                        batch_size=min(batch_size, size), seed=seed)
            accs.append(_evaluate(model, kind, x_test, y_test)[0])
            flops.append(f)
        out[kind] = Curve(kind, tuple(sizes), tuple(accs), tuple(flops), sum(p.numel() for p in model.parameters()))
    return out


@dataclass(frozen=True)
class SweepResult:
    lrs: np.ndarray
    batch_sizes: np.ndarray
    train_loss: np.ndarray  # (batch sizes, lrs)
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    steps: np.ndarray  # optimizer steps taken per batch size

    def best_lr(self) -> np.ndarray:
        """For each batch size, the learning rate with the lowest test loss (NaN runs excluded)."""
        loss = np.where(np.isfinite(self.test_loss), self.test_loss, np.inf)
        return self.lrs[np.argmin(loss, axis=1)]


def batch_lr_sweep(x_train, y_train, x_test, y_test, lrs, batch_sizes, *, epochs: int, seed: int = 0) -> SweepResult:
    """Plain SGD on an MLP for every (batch size, learning rate), the same number of epochs each."""
    lrs, batch_sizes = np.asarray(lrs, dtype=float), np.asarray(batch_sizes, dtype=int)
    shape = (len(batch_sizes), len(lrs))
    train_loss, test_loss, test_acc = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for i, b in enumerate(batch_sizes):
        for j, lr in enumerate(lrs):
            model, _ = train_classifier("mlp", x_train, y_train, epochs=epochs, lr=float(lr), batch_size=int(b),
                                        seed=seed, optimizer="sgd")
            train_loss[i, j] = _evaluate(model, "mlp", x_train, y_train)[1]
            test_acc[i, j], test_loss[i, j] = _evaluate(model, "mlp", x_test, y_test)
    steps = epochs * np.ceil(len(x_train) / batch_sizes).astype(int)
    return SweepResult(lrs, batch_sizes, train_loss, test_loss, test_acc, steps)
