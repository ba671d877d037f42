"""Learning-rate schedules, as ``torch.optim.lr_scheduler`` (reachable as ``optim.lr_scheduler``).

A scheduler multiplies each group's initial learning rate by a factor that depends on the
step count. Call ``scheduler.step()`` once after each ``optimizer.step()``.

The schedule used to train Transformers is :func:`warmup_cosine`: a linear warm-up (large
updates at the start, while Adam's second-moment estimates are still noisy, can wreck
training), then a cosine decay to ``min_ratio`` of the peak.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from labs.fit_common import warmup_cosine  # one formula for both training loops

__all__ = ["CosineAnnealingLR", "LRScheduler", "LambdaLR", "warmup_cosine"]


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
