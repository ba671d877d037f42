"""The one training loop of the course.

Every chapter trains its models with :func:`fit` and measures them with
:func:`evaluate`, so a reader learns one loop and the book's numbers all come
from the same code. The loop is written for PyTorch models; a model built with
the NumPy engine (``labs.scratch.nn.Module``) is handed to the twin loop in
:mod:`labs.scratch.train`, which has the same call shape::

    history = fit(model, (x_train, y_train), (x_val, y_val),
                  epochs=10, batch_size=64, lr=1e-3)
    history.val_accuracy[-1], evaluate(model, (x_test, y_test)).accuracy

Data is ``(x, y)`` as NumPy arrays or torch tensors (shuffled with a seeded
generator), or any iterable of ``(x, y)`` batches such as a ``DataLoader``.
Targets of an integer dtype are class labels: the loop then reports accuracy.
Outputs of shape ``(..., C)`` with targets of shape ``(...)`` (for example a
language model's ``(B, T, V)`` logits and ``(B, T)`` next tokens) are flattened
by the default loss, so one loop serves classifiers and sequence models.

This module imports torch lazily, so ``History`` and the batching helpers also
serve the NumPy engine on a machine without torch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

__all__ = ["History", "Metrics", "fit", "evaluate", "predict", "cross_entropy", "mse", "batch_indices", "make_scheduler"]


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


def _check_positive_int(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")


def _is_pair(data) -> bool:
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


def _is_classification_target(y) -> bool:
    dtype = getattr(y, "dtype", None)
    if dtype is None:
        return False
    if isinstance(dtype, np.dtype):
        return np.issubdtype(dtype, np.integer)
    return not (dtype.is_floating_point or dtype.is_complex) and str(dtype) != "torch.bool"


# --------------------------------------------------------------------------- losses (PyTorch)


def cross_entropy(output, target):
    """Cross-entropy from logits; flattens ``(..., C)`` outputs against ``(...)`` targets."""
    import torch.nn.functional as F

    if output.ndim > 2:
        output = output.reshape(-1, output.shape[-1])
        target = target.reshape(-1)
    return F.cross_entropy(output, target)


def mse(output, target):
    """Mean squared error; the output is squeezed to the target's shape when it has an extra 1."""
    import torch.nn.functional as F

    if output.shape != target.shape and output.shape[:-1] == target.shape and output.shape[-1] == 1:
        output = output[..., 0]
    return F.mse_loss(output, target)


_LOSSES = {"cross_entropy": cross_entropy, "mse": mse}


def _resolve_loss(loss_fn, targets_are_labels: bool, losses: dict = _LOSSES):
    """The loss to train with: ``loss_fn`` itself, a name from ``losses``, or (``None``)
    cross-entropy for class labels and MSE otherwise. The NumPy loop passes its own table."""
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
    """(number correct, number of targets) for ``(..., C)`` scores against ``(...)`` labels."""
    pred = output.argmax(-1)
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(
            f"cannot compute accuracy: predictions have shape {tuple(pred.shape)} (argmax over the last axis of "
            f"outputs {tuple(output.shape)}) but targets have shape {tuple(target.shape)}"
        )
    return int((pred == target).sum()), int(np.prod(tuple(target.shape)))


# --------------------------------------------------------------------------- PyTorch loop


def _is_scratch_module(model) -> bool:
    try:
        from labs.scratch.nn import Module as ScratchModule
    except ImportError:  # the engine is optional for this loop
        return False
    return isinstance(model, ScratchModule)


def _float_dtype(model):
    """The dtype of the model's floating-point weights (float32 unless it was made ``.double()``)."""
    import torch

    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _as_model_dtype(t, dtype):
    # Floating-point data takes the model's dtype: NumPy's float64 arrays feed a float32
    # model, and a model made .double() (to compare two engines without float32 rounding)
    # gets float64 inputs. Half-precision data is left to autocast.
    import torch

    return t.to(dtype) if t.dtype in (torch.float32, torch.float64) and t.dtype != dtype else t


def _torch_pair(data, name: str, device, dtype=None):
    import torch

    dtype = torch.float32 if dtype is None else dtype
    x, y = check_pair(data, name)
    x = torch.as_tensor(np.asarray(x) if isinstance(x, np.ndarray) else x)
    y = torch.as_tensor(np.asarray(y) if isinstance(y, np.ndarray) else y)
    x, y = _as_model_dtype(x, dtype), _as_model_dtype(y, dtype)
    if y.dtype in (torch.int32, torch.int16, torch.uint8, torch.int8):
        y = y.long()
    return x.to(device), y.to(device)


def _torch_batches(data, name, device, batch_size, shuffle, generator, drop_last=False, dtype=None):
    """Yield (x, y) batches on ``device``: from an (x, y) pair or an iterable of batches."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if _is_pair(data):
        x, y = _torch_pair(data, name, device, dtype)
        # The order comes from NumPy, exactly as in the NumPy engine's loop, so the twins
        # of a model see the same batches in the same order and train to the same numbers.
        for idx in batch_indices(len(x), batch_size, shuffle=shuffle, rng=generator, drop_last=drop_last):
            index = torch.from_numpy(idx).to(device)
            yield x[index], y[index]
        return
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise describe_data_error(data, name)
    for batch in data:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise TypeError(f"each batch of {name} must be an (x, y) pair; got {type(batch).__name__}")
        xb, yb = (_as_model_dtype(torch.as_tensor(b), dtype) for b in batch)
        yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)


def _targets_are_labels(data) -> bool:
    if _is_pair(data):
        return _is_classification_target(data[1])
    return True  # a DataLoader: decided on the first batch instead


def _autocast(device, amp: bool):
    """bfloat16 (or float16) autocast on CUDA when ``amp``; a no-op elsewhere."""
    import contextlib

    import torch

    if not (amp and device.type == "cuda"):
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # float16 needs loss scaling against underflow; bfloat16 has float32's range and does not.
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast(device_type="cuda", dtype=dtype), scaler


def _make_optimizer(optimizer, params, lr, weight_decay):
    import torch

    if optimizer is None or isinstance(optimizer, str):
        name = (optimizer or "adam").lower()
        lr = 1e-3 if lr is None else lr
        choices = {
            "adam": lambda: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
            "adamw": lambda: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
            "sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=weight_decay),
            "sgd_momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay),
        }
        if name not in choices:
            raise ValueError(f"optimizer must be an optimizer, a factory(params), or one of {sorted(choices)}; got {optimizer!r}")
        return choices[name]()
    if isinstance(optimizer, torch.optim.Optimizer):
        if lr is not None:
            raise ValueError("give either lr= or a ready optimizer (which has its own lr), not both")
        return optimizer
    if callable(optimizer):
        return optimizer(params)
    raise TypeError(f"optimizer must be None, a name, a torch.optim.Optimizer or a factory(params); got {type(optimizer).__name__}")


def evaluate(model, data, *, loss_fn=None, batch_size: int = 1024, device=None, amp: bool = False) -> Metrics:
    """Mean loss and accuracy of ``model`` on ``data`` (no gradients, eval mode).

    The model's train/eval mode is restored afterwards. ``accuracy`` is ``None``
    when the targets are not class labels.
    """
    if _is_scratch_module(model):
        from labs.scratch.train import evaluate as scratch_evaluate

        return scratch_evaluate(model, data, loss_fn=loss_fn, batch_size=batch_size)
    import torch

    _check_positive_int("batch_size", batch_size)
    device = _model_device(model) if device is None else torch.device(device)
    loss = _resolve_loss(loss_fn, _targets_are_labels(data))
    was_training = model.training
    model.eval()
    total_loss, correct, count, n_labels, labelled = 0.0, 0, 0, 0, None
    ctx, _ = _autocast(device, amp)
    try:
        with torch.no_grad(), ctx:
            for xb, yb in _torch_batches(data, "data", device, batch_size, False, None, dtype=_float_dtype(model)):
                out = model(xb)
                n = len(xb)
                total_loss += float(loss(out, yb)) * n
                count += n
                if labelled is None:
                    labelled = _is_classification_target(yb)
                if labelled:
                    # accuracy is per label: a language model has B*T labels per batch
                    c, k = accuracy_counts(out, yb)
                    correct += c
                    n_labels += k
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("data gave no batches to evaluate")
    return Metrics(total_loss / count, correct / n_labels if labelled else None, count)


def predict(model, x, *, batch_size: int = 1024, device=None):
    """The model's outputs for inputs ``x``, as a NumPy array (eval mode, no gradients)."""
    if _is_scratch_module(model):
        from labs.scratch.train import predict as scratch_predict

        return scratch_predict(model, x, batch_size=batch_size)
    import torch

    device = _model_device(model) if device is None else torch.device(device)
    xt = _as_model_dtype(torch.as_tensor(np.asarray(x) if isinstance(x, np.ndarray) else x), _float_dtype(model))
    was_training = model.training
    model.eval()
    outs = []
    try:
        with torch.no_grad():
            for start in range(0, len(xt), batch_size):
                out = model(xt[start : start + batch_size].to(device))
                # half-precision outputs (autocast) come back as float32; a .double() model's stay float64
                outs.append((out.float() if out.dtype in (torch.float16, torch.bfloat16) else out).cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs).numpy()


def _model_device(model):
    import torch

    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def fit(
    model,
    train_data,
    val_data=None,
    *,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float | None = None,
    optimizer=None,
    loss_fn: Callable | str | None = None,
    weight_decay: float = 0.0,
    scheduler: Callable | str | None = None,
    clip_grad_norm: float | None = None,
    device=None,
    seed: int = 0,
    amp: bool = True,
    progress: bool = True,
    eval_every: int | None = None,
    max_steps: int | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    callback: Callable | None = None,
    eval_batch_size: int = 1024,
) -> History:
    """Train ``model`` on ``train_data``; return a :class:`History`.

    Parameters
    ----------
    model: a ``torch.nn.Module`` (or a ``labs.scratch.nn.Module``: then the NumPy loop runs).
    train_data, val_data: ``(x, y)`` arrays/tensors, or iterables of ``(x, y)`` batches.
    epochs, batch_size: passes over the data and examples per step.
    lr / optimizer: a learning rate for Adam (default 1e-3); or an optimizer name
        (``"adam"``, ``"adamw"``, ``"sgd"``, ``"sgd_momentum"``), a ready
        ``torch.optim.Optimizer``, or a factory ``params -> optimizer``.
    loss_fn: ``callable(output, target) -> scalar``, or ``"cross_entropy"``/``"mse"``;
        default: cross-entropy for integer targets, else mean squared error.
    scheduler: ``"cosine"`` (cosine decay to 0 over the run, either backend) or a factory
        ``optimizer -> lr scheduler``; stepped after every optimisation step.
    clip_grad_norm: clip the global gradient norm to this value when given.
    device: ``"cpu"``, ``"cuda"`` or a ``torch.device``; default: the best available.
        The model is moved there.
    seed: seeds PyTorch and NumPy before training, so shuffling and dropout repeat:
        the same call twice gives the same losses (on the same machine).
    amp: mixed precision (bfloat16/float16 autocast) on CUDA; ignored on CPU.
    progress: a tqdm progress bar (``tqdm.auto``, a widget in notebooks).
    eval_every: evaluate on ``val_data`` every this many steps (default: once per epoch).
    max_steps: stop after this many optimisation steps (the last epoch may be partial).
    callback: called as ``callback(history, model)`` after every evaluation.
    """
    if _is_scratch_module(model):
        from labs.scratch.train import fit as scratch_fit

        if device is not None and str(device) != "cpu":
            raise ValueError(f"the NumPy engine runs on the CPU only; got device={device!r}")
        return scratch_fit(
            model, train_data, val_data, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
            loss_fn=loss_fn, weight_decay=weight_decay, scheduler=scheduler, clip_grad_norm=clip_grad_norm,
            seed=seed, progress=progress, eval_every=eval_every, max_steps=max_steps, shuffle=shuffle,
            drop_last=drop_last, callback=callback, eval_batch_size=eval_batch_size,
        )

    import torch

    from labs.device import get_device
    from labs.seed import seed_everything

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or a labs.scratch.nn.Module; got {type(model).__name__}")
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("eval_every", eval_every, allow_none=True)
    _check_positive_int("max_steps", max_steps, allow_none=True)
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number; got {lr!r}")
    if _is_pair(train_data):
        check_pair(train_data, "train_data")
    elif isinstance(train_data, (tuple, list)) and len(train_data) != 2 or not isinstance(train_data, Iterable):
        raise describe_data_error(train_data, "train_data")
    if val_data is not None and _is_pair(val_data):
        check_pair(val_data, "val_data")

    device = get_device() if device is None else torch.device(device)
    # Arrays go to the device once, not once per epoch.
    if _is_pair(train_data):
        train_data = _torch_pair(train_data, "train_data", device, _float_dtype(model))
    if val_data is not None and _is_pair(val_data):
        val_data = _torch_pair(val_data, "val_data", device, _float_dtype(model))
    seed_everything(seed)
    generator = np.random.default_rng(seed)  # the shuffling order, shared with labs.scratch.train
    model.to(device)
    opt = _make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad], lr, weight_decay)
    labels = _targets_are_labels(train_data)
    loss = _resolve_loss(loss_fn, labels)
    ctx_factory = lambda: _autocast(device, amp)[0]  # noqa: E731 (a fresh context per step)
    _, scaler = _autocast(device, amp)

    history = History(backend="torch", device=str(device))
    n_batches = _count_batches(train_data, batch_size, drop_last)
    total = n_batches * epochs if n_batches is not None else None
    if max_steps is not None and total is not None:
        total = min(total, max_steps)
    sched = make_scheduler(scheduler, opt, total)
    bar = _progress_bar(total, progress, "train")
    start_time = time.perf_counter()

    def run_eval(epoch_float):
        if val_data is None:
            return
        metrics = evaluate(model, val_data, loss_fn=loss, batch_size=eval_batch_size, device=device, amp=amp)
        post = history.record_validation(epoch_float, metrics)
        if bar is not None:
            bar.set_postfix(post)
        if callback is not None:
            callback(history, model)

    model.train()
    stop = False
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        losses, sizes, correct, counted, done_in_epoch = [], [], 0, 0, 0
        for xb, yb in _torch_batches(train_data, "train_data", device, batch_size, shuffle, generator, drop_last,
                                     dtype=_float_dtype(model)):
            with ctx_factory():
                out = model(xb)
                value = loss(out, yb)
            if not value.ndim == 0:
                raise ValueError(f"loss_fn must return a scalar; got a tensor of shape {tuple(value.shape)}")
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(value).backward()
                scaler.unscale_(opt)
            else:
                value.backward()
            if clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            if sched is not None:
                sched.step()
            # Keep losses on the device; one transfer per epoch avoids a sync per step on a GPU.
            # (float32 unless the model is float64, whose losses are kept exactly)
            losses.append(value.detach() if value.dtype == torch.float64 else value.detach().float())
            sizes.append(len(xb))
            if labels and _is_classification_target(yb):
                with torch.no_grad():
                    c, k = accuracy_counts(out.detach(), yb)
                correct += c
                counted += k
            history.steps += 1
            history.samples_seen += len(xb)
            done_in_epoch += 1
            if bar is not None:
                bar.update(1)
            if eval_every is not None and history.steps % eval_every == 0:
                frac = epoch + done_in_epoch / n_batches if n_batches else float(epoch + 1)
                run_eval(frac)
                model.train()
            if max_steps is not None and history.steps >= max_steps:
                stop = True
                break
        history.record_epoch(torch.stack(losses).cpu().tolist() if losses else [], sizes, correct, counted)
        # evaluate at the end of every epoch unless eval_every already did at this very step
        if val_data is not None and (not history.val_step or history.val_step[-1] != history.steps):
            run_eval(epoch + (done_in_epoch / n_batches if (n_batches and stop) else 1.0))
            model.train()
        history.epoch_time.append(time.perf_counter() - epoch_start)
        if stop:
            break
    if bar is not None:
        bar.close()
    history.time_s = time.perf_counter() - start_time
    model.eval()
    return history


def make_scheduler(scheduler, optimizer, total_steps: int | None):
    """``None``; ``"cosine"`` (decay to 0 over all steps, either backend); or a factory(optimizer)."""
    if scheduler is None:
        return None
    if isinstance(scheduler, str):
        if scheduler != "cosine":
            raise ValueError(f"scheduler must be None, 'cosine' or a factory(optimizer) -> scheduler; got {scheduler!r}")
        if total_steps is None:
            raise ValueError("scheduler='cosine' needs to know the number of steps: give max_steps= or sized data")
        if type(optimizer).__module__.startswith("torch"):
            from torch.optim.lr_scheduler import CosineAnnealingLR
        else:
            from labs.scratch.lr_scheduler import CosineAnnealingLR
        return CosineAnnealingLR(optimizer, T_max=total_steps)
    if not callable(scheduler):
        raise TypeError(f"scheduler must be None, 'cosine' or a factory(optimizer) -> scheduler; got {type(scheduler).__name__}")
    return scheduler(optimizer)


def _count_batches(data, batch_size: int, drop_last: bool) -> int | None:
    if _is_pair(data):
        n = len(data[0])
        return n // batch_size if drop_last else math.ceil(n / batch_size)
    try:
        return len(data)
    except TypeError:
        return None


def _progress_bar(total, progress: bool, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)
