"""Transfer learning on MNIST-1D: features learned on classes 0-4, reused to learn 5-9.

A *trunk* (three 1-D convolutions and a global max-pool) is trained on the
classes 0 to 4 of MNIST-1D. The classes 5 to 9 are then learned from a handful of
labelled examples per class, three ways, with the same number of steps:

- from scratch: a fresh trunk and head, trained on the few examples;
- frozen features: the pre-trained trunk is kept fixed, only a new head is trained;
- fine-tuning: the pre-trained trunk and a new head are all trained.

This is the pattern of every large model: pre-train once on a large source task,
adapt cheaply to many target tasks. Multi-task learning shares a trunk in the
same way, but trains all the heads at the same time.

MNIST-1D is used rather than the 8x8 digits because on the digits raw pixels are
already such good features that a network trained from scratch on five examples
per class is hard to beat; the point of transfer is features the raw input lacks.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np

__all__ = ["make_trunk", "with_head", "few_per_class", "split_classes", "pretrain_trunk", "train_target",
           "transfer_vs_scratch", "SOURCE_CLASSES", "TARGET_CLASSES"]

CHANNELS = 32
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)


@contextlib.contextmanager
def _one_thread():
    """Models this small run fastest on one CPU thread (more threads only wait for each other)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_trunk(channels: int = CHANNELS):
    """The shared feature extractor for signals of shape (N, 1, L): three convolutions, then a max over positions."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv1d(1, channels, 5, padding=2), nn.ReLU(),
        nn.Conv1d(channels, channels, 5, padding=2, stride=2), nn.ReLU(),
        nn.Conv1d(channels, channels, 5, padding=2, stride=2), nn.ReLU(),
        nn.AdaptiveMaxPool1d(1), nn.Flatten(),  # (N, C, L) -> (N, C): where a feature fired does not matter
    )


def with_head(trunk, n_classes: int, channels: int = CHANNELS):
    """The trunk followed by a fresh linear classifier head."""
    import torch.nn as nn

    return nn.Sequential(trunk, nn.Linear(channels, n_classes))


def few_per_class(y, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of every class in ``y``, drawn with ``seed``."""
    y = np.asarray(y)
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ValueError(f"per_class must be a positive int; got {per_class!r}")
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(y):
        where = np.flatnonzero(y == c)
        if len(where) < per_class:
            raise ValueError(f"class {c} has only {len(where)} examples; per_class={per_class} is too many")
        picks.append(rng.choice(where, size=per_class, replace=False))
    return np.sort(np.concatenate(picks))


def split_classes(x, y, classes) -> tuple[np.ndarray, np.ndarray]:
    """The examples of ``classes``, as float32 signals of shape (N, 1, L), relabelled 0..len(classes)-1."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"expected x of shape (N, L) and y of shape (N,); got {x.shape} and {y.shape}")
    keep = np.isin(y, classes)
    lookup = {c: i for i, c in enumerate(classes)}
    return x[keep, None, :].astype(np.float32), np.array([lookup[c] for c in y[keep]], dtype=np.int64)


def pretrain_trunk(x, y, epochs: int = 10, seed: int = 0):
    """Train trunk + head on the source classes; return the whole source model.

    ``model[0]`` is the trunk that the target task reuses.
    """
    import torch

    from labs.train import fit

    xs, ys = split_classes(x, y, SOURCE_CLASSES)
    with _one_thread():
        torch.manual_seed(seed)
        model = with_head(make_trunk(), len(SOURCE_CLASSES))
        fit(model, (xs, ys), epochs=epochs, batch_size=64, lr=3e-3, seed=seed, progress=False, device="cpu")
    return model


def train_target(x, y, x_test, y_test, mode: str, trunk=None, steps: int = 60, seed: int = 0) -> float:
    """Train on target examples with ``mode`` in scratch / frozen / finetune; return test accuracy."""
    import torch

    from labs.train import evaluate, fit

    if mode not in ("scratch", "frozen", "finetune"):
        raise ValueError(f"mode must be 'scratch', 'frozen' or 'finetune'; got {mode!r}")
    if mode != "scratch" and trunk is None:
        raise ValueError(f"mode={mode!r} needs the pre-trained trunk (from pretrain_trunk)")
    with _one_thread():
        torch.manual_seed(seed)
        body = make_trunk() if mode == "scratch" else copy.deepcopy(trunk)
        if mode == "frozen":
            for p in body.parameters():
                p.requires_grad_(False)
        model = with_head(body, len(TARGET_CLASSES))
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
        # Full batches and the same number of steps for every mode and every label budget.
        fit(model, (x, y), optimizer=optimizer, epochs=steps, batch_size=len(x), max_steps=steps, seed=seed,
            progress=False, device="cpu")
        return evaluate(model, (x_test, y_test), device="cpu").accuracy


def transfer_vs_scratch(x_train, y_train, x_test, y_test, per_class=(5, 20), seeds=(0, 1, 2),
                        pretrain_epochs: int = 10, steps: int = 60) -> dict:
    """Target-task test accuracy for each label budget and mode, averaged over ``seeds``.

    Returns ``{"per_class": [...], "scratch": [...], "frozen": [...], "finetune": [...],
    "source_accuracy": float}`` where ``source_accuracy`` is the pre-trained model's
    test accuracy on the source classes.
    """
    from labs.train import evaluate

    source_model = pretrain_trunk(x_train, y_train, epochs=pretrain_epochs)
    trunk = source_model[0]
    xt, yt = split_classes(x_train, y_train, TARGET_CLASSES)
    xt_te, yt_te = split_classes(x_test, y_test, TARGET_CLASSES)
    out = {"per_class": list(per_class), "scratch": [], "frozen": [], "finetune": []}
    for k in per_class:
        for mode in ("scratch", "frozen", "finetune"):
            accs = [train_target(xt[idx], yt[idx], xt_te, yt_te, mode, trunk, steps=steps, seed=seed)
                    for seed in seeds for idx in [few_per_class(yt, k, seed=seed)]]
            out[mode].append(float(np.mean(accs)))
    out["source_accuracy"] = evaluate(source_model, split_classes(x_test, y_test, SOURCE_CLASSES), device="cpu").accuracy
    return out
