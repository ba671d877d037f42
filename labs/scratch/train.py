"""The training loop of :mod:`labs.train`, for models built with the NumPy engine.

Same call shape, same :class:`labs.fit_common.History`, so a chapter trains a NumPy
model and its PyTorch twin with one line each and compares the histories::

    from labs.train import fit           # dispatches here for a labs.scratch model
    history = fit(numpy_model, (x, y), (x_val, y_val), epochs=5, batch_size=64, lr=1e-3)

Differences from the PyTorch loop, all forced by the engine: CPU only, no mixed
precision (``amp`` is not a parameter), and data must be arrays or an iterable
of ``(x, y)`` batches of arrays (torch tensors are converted to NumPy).

What the two loops share comes from :mod:`labs.fit_common`; nothing here imports the
torch loop or torch itself (a test checks the import graph).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np

from labs.fit_common import (
    History,
    Metrics,
    accuracy_counts,
    batch_indices,
    check_lr,
    check_pair,
    check_positive_int,
    count_batches,
    describe_data_error,
    is_classification_target,
    is_pair,
    progress_bar,
    resolve_loss,
)
from labs.fit_common import make_scheduler as _make_scheduler

__all__ = ["cross_entropy", "evaluate", "fit", "mse", "predict"]


def _np(a) -> np.ndarray:
    """NumPy view of an array, a torch tensor or a labs.scratch Tensor."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # torch.Tensor
        return a.detach().cpu().numpy()
    if hasattr(a, "data") and isinstance(a.data, np.ndarray):  # scratch Tensor
        return a.data
    return np.asarray(a)


def _float_dtype(model) -> np.dtype:
    """The dtype of the model's floating-point weights (float32 unless it was made ``.double()``)."""
    for p in model.parameters():
        if np.issubdtype(p.data.dtype, np.floating):
            return p.data.dtype
    return np.dtype(np.float32)


def _as_input(a: np.ndarray, dtype=np.float32) -> np.ndarray:
    # Floating-point data takes the model's dtype, cast once here: NumPy's float64 arrays
    # feed a float32 model (the engine computes in float32 like torch), and a model made
    # .double() (to compare two engines without float32 rounding) gets float64 inputs.
    return a.astype(dtype) if a.dtype in (np.float32, np.float64) and a.dtype != dtype else a


def cross_entropy(output, target):
    """Cross-entropy from logits; flattens ``(..., C)`` outputs against ``(...)`` targets."""
    from labs.scratch import functional as F

    if output.ndim > 2:
        output = output.reshape(-1, output.shape[-1])
        target = target.reshape(-1)
    return F.cross_entropy(output, target)


def mse(output, target):
    """Mean squared error (the output is squeezed to the target's shape when it has an extra 1)."""
    from labs.scratch import functional as F

    if output.shape != target.shape and output.shape[:-1] == target.shape and output.shape[-1] == 1:
        output = output.reshape(*target.shape)
    return F.mse_loss(output, target)


_LOSSES = {"cross_entropy": cross_entropy, "mse": mse}


def _batches(data, name, batch_size, shuffle, rng, drop_last=False, dtype=np.float32):
    """Yield NumPy (x, y) batches from an (x, y) pair or an iterable of batches."""
    if is_pair(data):
        x, y = check_pair(data, name)
        x, y = _as_input(_np(x), dtype), _as_input(_np(y), dtype)
        for idx in batch_indices(len(x), batch_size, shuffle=shuffle, rng=rng, drop_last=drop_last):
            yield x[idx], y[idx]
        return
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise describe_data_error(data, name)
    for batch in data:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise TypeError(f"each batch of {name} must be an (x, y) pair; got {type(batch).__name__}")
        yield _as_input(_np(batch[0]), dtype), _as_input(_np(batch[1]), dtype)


def _make_optimizer(optimizer, params, lr, weight_decay):
    from labs.scratch import optim

    if optimizer is None or isinstance(optimizer, str):
        name = (optimizer or "adam").lower()
        lr = 1e-3 if lr is None else lr
        choices = {
            "adam": lambda: optim.Adam(params, lr=lr, weight_decay=weight_decay),
            "adamw": lambda: optim.AdamW(params, lr=lr, weight_decay=weight_decay),
            "sgd": lambda: optim.SGD(params, lr=lr, weight_decay=weight_decay),
            "sgd_momentum": lambda: optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay),
        }
        if name not in choices:
            raise ValueError(f"optimizer must be an optimizer, a factory(params), or one of {sorted(choices)}; got {optimizer!r}")
        return choices[name]()
    if hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad"):
        if lr is not None:
            raise ValueError("give either lr= or a ready optimizer (which has its own lr), not both")
        return optimizer
    if callable(optimizer):
        return optimizer(params)
    raise TypeError(f"optimizer must be None, a name, a labs.scratch.optim optimizer or a factory(params); got {type(optimizer).__name__}")


def make_scheduler(scheduler, optimizer, total_steps: int | None, *, warmup_steps: int | None = None,
                   min_lr_ratio: float | None = None):
    """``None``, ``"cosine"``, ``"warmup_cosine"`` or a factory(optimizer), for an engine optimizer
    (the rules, shared with the torch loop: :func:`labs.fit_common.make_scheduler`)."""
    from labs.scratch import lr_scheduler

    return _make_scheduler(scheduler, optimizer, total_steps, lr_scheduler,
                           warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio)


def evaluate(model, data, *, loss_fn=None, batch_size: int = 1024) -> Metrics:
    """Mean loss and accuracy of a NumPy-engine model on ``data`` (no graph, eval mode)."""
    from labs import scratch

    check_positive_int("batch_size", batch_size)
    labels = is_classification_target(data[1]) if is_pair(data) else None
    loss = resolve_loss(loss_fn, labels if labels is not None else True, _LOSSES)
    was_training = getattr(model, "training", True)
    model.eval()
    total, count, correct, n_labels = 0.0, 0, 0, 0
    try:
        with scratch.no_grad():
            for xb, yb in _batches(data, "data", batch_size, False, None, dtype=_float_dtype(model)):
                out = model(scratch.tensor(xb))
                value = loss(out, scratch.tensor(yb))
                total += float(value.item()) * len(xb)
                count += len(xb)
                if labels is None:
                    labels = is_classification_target(yb)
                if labels:
                    c, k = accuracy_counts(out.data, yb)
                    correct += c
                    n_labels += k
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("data gave no batches to evaluate")
    return Metrics(total / count, correct / n_labels if labels else None, count)


def predict(model, x, *, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for inputs ``x`` as a NumPy array (eval mode, no graph)."""
    from labs import scratch

    x = _as_input(_np(x), _float_dtype(model))
    was_training = getattr(model, "training", True)
    model.eval()
    try:
        with scratch.no_grad():
            outs = [model(scratch.tensor(x[i : i + batch_size])).data for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outs)


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
    warmup_steps: int | None = None,
    min_lr_ratio: float | None = None,
    clip_grad_norm: float | None = None,
    seed: int = 0,
    progress: bool = True,
    eval_every: int | None = None,
    max_steps: int | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    callback: Callable | None = None,
    eval_batch_size: int = 1024,
) -> History:
    """Train a ``labs.scratch.nn.Module``; same parameters and result as :func:`labs.train.fit`.

    ``seed`` seeds the engine (``labs.scratch.manual_seed``, used by dropout) and
    the shuffling generator, so two identical calls give identical losses.
    """
    from labs import scratch

    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_int("eval_every", eval_every, allow_none=True)
    check_positive_int("max_steps", max_steps, allow_none=True)
    check_lr(lr)
    if not hasattr(model, "parameters"):
        raise TypeError(f"model must be a labs.scratch.nn.Module; got {type(model).__name__}")
    if is_pair(train_data):
        check_pair(train_data, "train_data")
    if val_data is not None and is_pair(val_data):
        check_pair(val_data, "val_data")

    if hasattr(scratch, "manual_seed"):
        scratch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _make_optimizer(optimizer, params, lr, weight_decay)
    labels = is_classification_target(train_data[1]) if is_pair(train_data) else True
    loss = resolve_loss(loss_fn, labels, _LOSSES)

    history = History(backend="numpy", device="cpu")
    n_batches = count_batches(train_data, batch_size, drop_last)
    total = n_batches * epochs if n_batches is not None else None
    if max_steps is not None and total is not None:
        total = min(total, max_steps)
    sched = make_scheduler(scheduler, opt, total, warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio)
    bar = progress_bar(total, progress, "train (numpy)")
    start_time = time.perf_counter()

    def run_eval(epoch_float):
        if val_data is None:
            return
        metrics = evaluate(model, val_data, loss_fn=loss, batch_size=eval_batch_size)
        post = history.record_validation(epoch_float, metrics)
        if bar is not None:
            bar.set_postfix(post)
        if callback is not None:
            callback(history, model)

    model.train()
    stop = False
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        losses, sizes, correct, counted, done = [], [], 0, 0, 0
        for xb, yb in _batches(train_data, "train_data", batch_size, shuffle, rng, drop_last, dtype=_float_dtype(model)):
            out = model(scratch.tensor(xb))
            value = loss(out, scratch.tensor(yb))
            if value.data.ndim != 0 and value.data.size != 1:
                raise ValueError(f"loss_fn must return a scalar; got a tensor of shape {value.shape}")
            opt.zero_grad()
            value.backward()
            if clip_grad_norm is not None:
                scratch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
            opt.step()
            if sched is not None:
                sched.step()
            losses.append(float(value.item()))
            sizes.append(len(xb))
            if labels and is_classification_target(yb):
                c, k = accuracy_counts(out.data, yb)
                correct += c
                counted += k
            history.steps += 1
            history.samples_seen += len(xb)
            done += 1
            if bar is not None:
                bar.update(1)
            if eval_every is not None and history.steps % eval_every == 0:
                run_eval(epoch + done / n_batches if n_batches else float(epoch + 1))
                model.train()
            if max_steps is not None and history.steps >= max_steps:
                stop = True
                break
        history.record_epoch(losses, sizes, correct, counted)
        if val_data is not None and (not history.val_step or history.val_step[-1] != history.steps):
            run_eval(epoch + (done / n_batches if (n_batches and stop) else 1.0))
            model.train()
        history.epoch_time.append(time.perf_counter() - epoch_start)
        if stop:
            break
    if bar is not None:
        bar.close()
    history.time_s = time.perf_counter() - start_time
    model.eval()
    return history
