"""What the two training loops share: records, batching, argument checks, loss and schedule choice.

The course trains PyTorch models with :mod:`labs.train` and NumPy-engine models with
:mod:`labs.scratch.train`. Both loops return the same :class:`History`, shuffle with the same
NumPy generator (so twins see the same batches in the same order) and understand the same
``loss_fn`` and ``scheduler`` names. That common part lives here, so neither loop imports the
other: this module imports neither torch nor ``labs.scratch`` (a test checks it), and each
loop passes in its own backend's pieces (its loss table, its scheduler classes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "SCHEDULERS",
    "History",
    "Metrics",
    "accuracy_counts",
    "batch_indices",
    "check_lr",
    "check_pair",
    "check_positive_int",
    "cosine",
    "count_batches",
    "describe_data_error",
    "is_classification_target",
    "is_pair",
    "make_scheduler",
    "progress_bar",
    "resolve_loss",
    "warmup_cosine",
]


# --------------------------------------------------------------------------- records


class Metrics(NamedTuple):
    """What :func:`evaluate` returns: mean loss and accuracy (``None`` for regression)."""

    loss: float
    accuracy: float | None
    count: int


@dataclass
class History:
    """What :func:`fit` returns: every number the loop measured, in plain lists.

    - ``step_loss[i]``: training loss of optimisation step ``i + 1`` (one batch);
    - ``train_loss[e]``: mean training loss over epoch ``e + 1`` (weighted by batch size);
    - ``val_step[j]``, ``val_epoch[j]``: when evaluation ``j`` happened (step count,
      and the epoch as a fraction); ``val_loss[j]``, ``val_accuracy[j]``: its results;
    - ``epoch_time[e]``: wall seconds of epoch ``e + 1`` (evaluation included);
      ``time_s``: the whole run; ``samples_seen``: training examples processed.
    """

    step_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_epoch: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    time_s: float = 0.0
    samples_seen: int = 0
    steps: int = 0
    backend: str = "torch"
    device: str = "cpu"

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def record_validation(self, epoch: float, metrics: Metrics) -> dict[str, str]:
        """Append one evaluation made at ``epoch`` (a fraction); return the progress-bar postfix."""
        self.val_step.append(self.steps)
        self.val_epoch.append(epoch)
        self.val_loss.append(metrics.loss)
        self.val_accuracy.append(metrics.accuracy)
        post = {"val_loss": f"{metrics.loss:.4f}"}
        if metrics.accuracy is not None:
            post["val_acc"] = f"{metrics.accuracy:.3f}"
        return post

    def record_epoch(self, step_losses: list[float], sizes: list[int], correct: int, counted: int) -> None:
        """Append an epoch's per-step losses, its size-weighted mean loss and its accuracy."""
        if not step_losses:
            raise ValueError("train_data gave no batches: is it empty, or batch_size larger than it with drop_last=True?")
        self.step_loss.extend(step_losses)
        self.train_loss.append(float(np.average(step_losses, weights=sizes)))
        if counted:
            self.train_accuracy.append(correct / counted)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def summary(self) -> str:
        """One line: epochs, steps, last losses and accuracy, wall time."""
        parts = [f"{self.epochs} epochs", f"{self.steps} steps"]
        if self.train_loss:
            parts.append(f"train loss {self.train_loss[-1]:.4f}")
        if self.val_loss:
            parts.append(f"val loss {self.val_loss[-1]:.4f}")
        if self.val_accuracy and self.val_accuracy[-1] is not None:
            parts.append(f"val accuracy {self.val_accuracy[-1]:.2%}")
        parts.append(f"{self.time_s:.1f} s on {self.device} ({self.backend})")
        return " | ".join(parts)

    def __repr__(self) -> str:
        return f"History({self.summary()})"

    def plot(self, axes=None, title: str | None = None):
        """Loss curves (per step, per epoch, validation) and validation accuracy.

        Returns the figure; call ``plt.show()`` after it in a notebook.
        """
        import matplotlib.pyplot as plt

        has_acc = any(a is not None for a in self.val_accuracy) or bool(self.train_accuracy)
        if axes is None:
            fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5, 3.5))
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
        ax = axes[0]
        if self.step_loss:
            steps_per_epoch = max(1, self.steps / max(1, self.epochs))
            x = np.arange(1, len(self.step_loss) + 1) / steps_per_epoch
            ax.plot(x, self.step_loss, color="0.75", lw=0.8, label="train (per step)")
        if self.train_loss:
            ax.plot(np.arange(1, self.epochs + 1), self.train_loss, "o-", label="train (epoch mean)")
        if self.val_loss:
            ax.plot(self.val_epoch, self.val_loss, "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
        if has_acc and len(axes) > 1:
            ax = axes[1]
            if self.train_accuracy:
                ax.plot(np.arange(1, self.epochs + 1), self.train_accuracy, "o-", label="train")
            accs = [(e, a) for e, a in zip(self.val_epoch, self.val_accuracy) if a is not None]
            if accs:
                ax.plot(*zip(*accs), "s-", label="validation")
            ax.set_xlabel("epoch")
            ax.set_ylabel("accuracy")
            ax.set_ylim(0, 1)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig


# --------------------------------------------------------------------------- data helpers


def batch_indices(n: int, batch_size: int, *, shuffle: bool, rng: np.random.Generator | None, drop_last: bool = False):
    """Yield index arrays that cover ``range(n)`` in batches (a seeded shuffle when asked)."""
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - (n % batch_size) if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def check_positive_int(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")


def is_pair(data) -> bool:
    return isinstance(data, (tuple, list)) and len(data) == 2 and all(hasattr(a, "shape") for a in data)


def check_pair(data, name: str):
    """Validate an ``(x, y)`` pair of arrays; return it as a tuple."""
    x, y = data
    if len(x) != len(y):
        raise ValueError(
            f"{name} has {len(x)} inputs but {len(y)} targets; x and y must have the same first dimension"
        )
    if len(x) == 0:
        raise ValueError(f"{name} is empty; give at least one example")
    return x, y


def describe_data_error(data, name: str) -> TypeError:
    return TypeError(
        f"{name} must be an (x, y) pair of NumPy arrays or torch tensors, or an iterable of (x, y) "
        f"batches such as a torch DataLoader; got {type(data).__name__}"
        + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "")
    )


def is_classification_target(y) -> bool:
    dtype = getattr(y, "dtype", None)
    if dtype is None:
        return False
    if isinstance(dtype, np.dtype):
        return np.issubdtype(dtype, np.integer)
    return not (dtype.is_floating_point or dtype.is_complex) and str(dtype) != "torch.bool"



def check_lr(lr) -> None:
    if lr is not None and not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number; got {lr!r}")


def count_batches(data, batch_size: int, drop_last: bool) -> int | None:
    """Batches per epoch of an ``(x, y)`` pair or a sized iterable; ``None`` when unknown."""
    if is_pair(data):
        n = len(data[0])
        return n // batch_size if drop_last else math.ceil(n / batch_size)
    try:
        return len(data)
    except TypeError:
        return None


def progress_bar(total, progress: bool, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


# --------------------------------------------------------------------------- losses and accuracy


def resolve_loss(loss_fn, targets_are_labels: bool, losses: dict[str, Callable]):
    """The loss to train with: ``loss_fn`` itself, a name from ``losses`` (the backend's own
    table), or (``None``) cross-entropy for class labels and MSE otherwise."""
    if loss_fn is None:
        return losses["cross_entropy"] if targets_are_labels else losses["mse"]
    if isinstance(loss_fn, str):
        if loss_fn not in losses:
            raise ValueError(f"loss_fn must be a callable or one of {sorted(losses)}; got {loss_fn!r}")
        return losses[loss_fn]
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable(output, target) -> scalar loss; got {type(loss_fn).__name__}")
    return loss_fn


def accuracy_counts(output, target) -> tuple[int, int]:
    """(number correct, number of targets) for ``(..., C)`` scores against ``(...)`` labels.

    Works on NumPy arrays and torch tensors alike (both have ``argmax``, ``==`` and ``sum``).
    """
    pred = output.argmax(-1)
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(
            f"cannot compute accuracy: predictions have shape {tuple(pred.shape)} (argmax over the last axis of "
            f"outputs {tuple(output.shape)}) but targets have shape {tuple(target.shape)}"
        )
    return int((pred == target).sum()), int(np.prod(tuple(target.shape)))


# --------------------------------------------------------------------------- learning-rate schedules


SCHEDULERS = ("cosine", "warmup_cosine")


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """The factor (in [min_ratio, 1]) that multiplies the peak learning rate at ``step``.

    - steps 0 .. warmup-1: linear ramp (step + 1) / warmup, reaching 1 at step warmup - 1;
    - steps warmup .. total: min_ratio + (1 - min_ratio) * (1 + cos(pi * progress)) / 2,
      with progress going from 0 to 1; after ``total`` it stays at ``min_ratio``.

    The warm-up exists because Adam's second-moment estimates are noisy for the first
    steps, and full-size updates then can wreck a Transformer's training.
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


def cosine(step: int, total: int) -> float:
    """Cosine decay from 1 to 0 over ``total`` steps (``warmup_cosine`` without warm-up or floor)."""
    return warmup_cosine(step, 0, total, 0.0)


def make_scheduler(scheduler, optimizer, total_steps: int | None, lr_scheduler, *,
                   warmup_steps: int | None = None, min_lr_ratio: float | None = None):
    """The scheduler a training loop steps after every optimisation step.

    ``scheduler`` is ``None``; ``"cosine"`` (decay to 0 over all steps); ``"warmup_cosine"``
    (``warmup_steps`` linear warm-up, then cosine down to ``min_lr_ratio`` of the peak, the
    Transformer recipe); or a factory ``optimizer -> scheduler``. ``lr_scheduler`` is the
    backend's scheduler module (``torch.optim.lr_scheduler`` or ``labs.scratch.lr_scheduler``),
    so both loops build the same schedule from the same formula.
    """
    if scheduler != "warmup_cosine" and (warmup_steps is not None or min_lr_ratio is not None):
        raise ValueError(
            f"warmup_steps= and min_lr_ratio= shape scheduler='warmup_cosine'; got scheduler={scheduler!r}, "
            "where they would be ignored"
        )
    if scheduler is None:
        return None
    if isinstance(scheduler, str):
        if scheduler not in SCHEDULERS:
            raise ValueError(
                f"scheduler must be None, one of {list(SCHEDULERS)} or a factory(optimizer) -> scheduler; got {scheduler!r}"
            )
        if total_steps is None:
            raise ValueError(f"scheduler={scheduler!r} needs to know the number of steps: give max_steps= or sized data")
        if scheduler == "cosine":
            return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        if warmup_steps is None:
            raise ValueError(
                "scheduler='warmup_cosine' needs warmup_steps= (how many steps the learning rate ramps up; "
                f"a few percent of the {total_steps} steps is usual)"
            )
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, (int, np.integer)):
            raise TypeError(f"warmup_steps must be an int; got {type(warmup_steps).__name__}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, {total_steps}] (the number of steps); got {warmup_steps}")
        ratio = 0.0 if min_lr_ratio is None else float(min_lr_ratio)
        warmup_cosine(0, int(warmup_steps), total_steps, ratio)  # checks min_ratio before training starts
        warm, total = int(warmup_steps), int(total_steps)
        return lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warm, total, ratio))
    if not callable(scheduler):
        raise TypeError(
            f"scheduler must be None, one of {list(SCHEDULERS)} or a factory(optimizer) -> scheduler; "
            f"got {type(scheduler).__name__}"
        )
    return scheduler(optimizer)
