"""Learning-rate schedules, as ``torch.optim.lr_scheduler`` (reachable as ``optim.lr_scheduler``).

A scheduler multiplies each group's initial learning rate by a factor that depends on the
step count. Call ``scheduler.step()`` once after each ``optimizer.step()``.

The schedule used to train Transformers is :func:`warmup_cosine`: a linear warm-up (large
updates at the start, while Adam's second-moment estimates are still noisy, can wreck
training), then a cosine decay to ``min_ratio`` of the peak.
"""

from __future__ import annotations

import math
from typing import Callable

__all__ = ["LRScheduler", "LambdaLR", "CosineAnnealingLR", "warmup_cosine"]


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """The factor (in [min_ratio, 1]) that multiplies the peak learning rate at ``step``.

    - steps 0 .. warmup-1: linear ramp (step + 1) / warmup, reaching 1 at step warmup - 1;
    - steps warmup .. total: min_ratio + (1 - min_ratio) * (1 + cos(pi * progress)) / 2,
      with progress going from 0 to 1; after ``total`` it stays at ``min_ratio``.

    Use it with ``LambdaLR(opt, lambda s: warmup_cosine(s, warmup, total, min_ratio))``.
    """
    if warmup < 0 or total < 1 or warmup > total:
        raise ValueError(f"warmup_cosine needs 0 <= warmup <= total and total >= 1; got warmup={warmup}, total={total}")
    if not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"warmup_cosine: min_ratio must be in [0, 1]; got {min_ratio}")
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class LRScheduler:
    """Base class: keeps ``base_lrs`` and sets each group's ``lr`` on every ``step()``."""

    def __init__(self, optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()  # as in torch: the constructor sets the learning rate of step 0

    def get_lr(self) -> list[float]:  # pragma: no cover - subclasses implement it
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return self._last_lr


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(step), one function (or one per group)."""

    def __init__(self, optimizer, lr_lambda: Callable[[int], float] | list, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(self.lr_lambdas) != n:
            raise ValueError(f"LambdaLR expects {n} lr_lambdas (one per param group); got {len(self.lr_lambdas)}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]


class CosineAnnealingLR(LRScheduler):
    """eta_min + (initial_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2 (the closed form)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        cosine = (1 + math.cos(math.pi * t / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]
