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

What both loops share (``History``, ``Metrics``, batching, loss and schedule choice) lives
in :mod:`labs.fit_common`, which neither loop's backend owns; ``labs.scratch`` imports
nothing from this module. This module imports torch lazily.
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

__all__ = ["History", "Metrics", "batch_indices", "cross_entropy", "evaluate", "fit", "make_scheduler", "mse", "predict"]


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
    if is_pair(data):
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
    if is_pair(data):
        return is_classification_target(data[1])
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


def foreach_for(params) -> bool | None:
    """``foreach=`` for a torch optimizer over ``params``: True on the CPU and CUDA, else PyTorch's default.

    The foreach implementation runs one kernel per operation over all tensors instead of a
    Python loop over them: the same arithmetic (for Adam and AdamW bitwise in the pinned PyTorch; tests/test_train.py checks it to
    rounding in float64), with much less
    overhead per step on a small model. PyTorch only picks it by itself on a GPU.
    """
    params = list(params)
    return True if params and all(p.device.type in ("cpu", "cuda") for p in params) else None


def _make_optimizer(optimizer, params, lr, weight_decay):
    import torch

    if optimizer is None or isinstance(optimizer, str):
        name = (optimizer or "adam").lower()
        lr = 1e-3 if lr is None else lr
        foreach = foreach_for(params)
        choices = {
            "adam": lambda: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=foreach),
            "adamw": lambda: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=foreach),
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

    check_positive_int("batch_size", batch_size)
    device = _model_device(model) if device is None else torch.device(device)
    loss = resolve_loss(loss_fn, _targets_are_labels(data), _LOSSES)
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
                    labelled = is_classification_target(yb)
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
    warmup_steps: int | None = None,
    min_lr_ratio: float | None = None,
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
    scheduler: ``"cosine"`` (cosine decay to 0 over the run), ``"warmup_cosine"`` (a linear
        warm-up over ``warmup_steps`` steps, then cosine decay to ``min_lr_ratio`` times the
        peak lr; default floor 0), or a factory ``optimizer -> lr scheduler``; stepped after
        every optimisation step. Both backends build the same schedule
        (:func:`labs.fit_common.make_scheduler`).
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
            loss_fn=loss_fn, weight_decay=weight_decay, scheduler=scheduler, warmup_steps=warmup_steps,
            min_lr_ratio=min_lr_ratio, clip_grad_norm=clip_grad_norm,
            seed=seed, progress=progress, eval_every=eval_every, max_steps=max_steps, shuffle=shuffle,
            drop_last=drop_last, callback=callback, eval_batch_size=eval_batch_size,
        )

    import torch

    from labs.device import get_device
    from labs.seed import seed_everything

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or a labs.scratch.nn.Module; got {type(model).__name__}")
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_int("eval_every", eval_every, allow_none=True)
    check_positive_int("max_steps", max_steps, allow_none=True)
    check_lr(lr)
    if is_pair(train_data):
        check_pair(train_data, "train_data")
    elif isinstance(train_data, (tuple, list)) and len(train_data) != 2 or not isinstance(train_data, Iterable):
        raise describe_data_error(train_data, "train_data")
    if val_data is not None and is_pair(val_data):
        check_pair(val_data, "val_data")

    device = get_device() if device is None else torch.device(device)
    # Arrays go to the device once, not once per epoch.
    if is_pair(train_data):
        train_data = _torch_pair(train_data, "train_data", device, _float_dtype(model))
    if val_data is not None and is_pair(val_data):
        val_data = _torch_pair(val_data, "val_data", device, _float_dtype(model))
    seed_everything(seed)
    generator = np.random.default_rng(seed)  # the shuffling order, shared with labs.scratch.train
    model.to(device)
    opt = _make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad], lr, weight_decay)
    labels = _targets_are_labels(train_data)
    loss = resolve_loss(loss_fn, labels, _LOSSES)
    def ctx_factory():
        return _autocast(device, amp)[0]

    _, scaler = _autocast(device, amp)

    history = History(backend="torch", device=str(device))
    n_batches = count_batches(train_data, batch_size, drop_last)
    total = n_batches * epochs if n_batches is not None else None
    if max_steps is not None and total is not None:
        total = min(total, max_steps)
    sched = make_scheduler(scheduler, opt, total, warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio)
    bar = progress_bar(total, progress, "train")
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
            if labels and is_classification_target(yb):
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


def make_scheduler(scheduler, optimizer, total_steps: int | None, *, warmup_steps: int | None = None,
                   min_lr_ratio: float | None = None):
    """``None``, ``"cosine"``, ``"warmup_cosine"`` or a factory(optimizer), for a torch optimizer
    (the rules: :func:`labs.fit_common.make_scheduler`)."""
    from torch.optim import lr_scheduler

    return _make_scheduler(scheduler, optimizer, total_steps, lr_scheduler,
                           warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio)
