"""The popular "image CNN" example, ported to PyTorch and run with and without its bug.

The example (a TensorFlow/Keras tutorial that seed article 003 repeats) trains
:class:`labs.models.cnn2d.CNN2d` on CIFAR-10 with ``validation_split=0.1`` for ten
epochs. Its last layer applies a softmax, and its loss is told the outputs are
logits (``from_logits=True``), so softmax is applied twice. This module runs the
two versions side by side from the same initial weights on the same batches:

    runs = compare_double_softmax(train, test, image_size=8, in_channels=1, padding=1)
    runs["double softmax"].history.val_accuracy, runs["fixed"].test_accuracy

It also holds the split rule the log of that example gets wrong
(:func:`keras_validation_split`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["keras_validation_split", "Run", "compare_double_softmax", "logit_gradient_norms"]


def keras_validation_split(x, y, fraction: float):
    """Keras's ``validation_split``: the *last* ``fraction`` of the arrays, before any shuffling.

    Returns ``(x_train, y_train), (x_val, y_val)``. With CIFAR-10's 50,000 training
    images and ``fraction=0.1`` the model trains on 45,000 images per epoch.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1; got {fraction}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    # Keras: split_at = int(n * (1 - validation_split)); the tail is the validation set
    split_at = int(len(x) * (1.0 - fraction))
    if split_at in (0, len(x)):
        raise ValueError(f"a fraction of {fraction} of {len(x)} examples leaves one of the two splits empty")
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


@dataclass
class Run:
    history: object  # labs.train.History
    test_accuracy: float
    train_accuracy: float
    samples_per_epoch: int
    model: object = field(repr=False, default=None)


def compare_double_softmax(train, test, *, image_size: int, in_channels: int, padding: int, epochs: int = 10,
                           batch_size: int = 32, lr: float = 1e-3, validation_split: float = 0.1, seed: int = 0,
                           device=None, progress: bool = False) -> dict[str, Run]:
    """Train CNN2d twice (softmax output + logits loss, and plain logits) from the same weights.

    Both runs use the example's settings: Adam with learning rate 1e-3, batches of 32,
    ``validation_split`` of the training data held out as Keras does. Returns
    ``{"double softmax": Run, "fixed": Run}``.
    """
    import torch

    from labs.models.cnn2d import CNN2d
    from labs.train import evaluate, fit

    (x_fit, y_fit), val = keras_validation_split(*train, validation_split)
    torch.manual_seed(seed)
    reference = CNN2d(in_channels, 10, image_size, padding=padding)
    runs = {}
    for name, bug in (("double softmax", True), ("fixed", False)):
        model = CNN2d(in_channels, 10, image_size, padding=padding, softmax_output=bug)
        model.load_state_dict(reference.state_dict())  # the same starting point for both
        history = fit(model, (x_fit, y_fit), val, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                      device=device, progress=progress)
        # Accuracy needs only the argmax, which the extra softmax does not change.
        test_acc = evaluate(model, test).accuracy
        train_acc = evaluate(model, (x_fit, y_fit)).accuracy
        runs[name] = Run(history, test_acc, train_acc, history.samples_seen // history.epochs, model)
    return runs


def logit_gradient_norms(logits, targets) -> tuple[np.ndarray, np.ndarray]:
    """Per-example norm of dLoss/dlogits: cross-entropy of the logits vs of softmax(logits).

    The second is what a network with a softmax output layer receives when its loss
    applies softmax again. Returns ``(single, double)``, each of shape (N,).
    """
    import torch
    import torch.nn.functional as F

    z = torch.as_tensor(np.asarray(logits, dtype=np.float64)).clone().requires_grad_(True)
    t = torch.as_tensor(np.asarray(targets, dtype=np.int64))
    norms = []
    for transform in (lambda v: v, lambda v: v.softmax(dim=1)):
        if z.grad is not None:
            z.grad = None
        F.cross_entropy(transform(z), t, reduction="sum").backward()  # sum: one example's own gradient per row
        norms.append(z.grad.norm(dim=1).numpy().copy())
    return norms[0], norms[1]
