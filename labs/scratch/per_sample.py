"""Per-sample gradients: one gradient per example instead of their batch mean (for DP-SGD).

Differentially private SGD clips *each example's* gradient before averaging, so that no
single example can move the model by more than the clip norm. A normal ``backward`` only
gives the sum over the batch; this module gives every example's own gradient, the same
numbers as ``torch.func.vmap(torch.func.grad(loss))`` over the batch (the tests compare them),
two ways:

- ``method="loop"``: one backward pass per example, each example a batch of one. Always
  right, whatever the model, and B times the Python overhead of a backward pass.
- ``method="vectorised"``: one forward and one backward pass over the whole batch
  (Goodfellow 2015, "Efficient per-example gradient computations"; what Opacus's grad
  samplers do). A ``Linear`` layer computes ``y = x W^T + b`` row by row, so the gradient of
  example ``i``'s loss with respect to ``W`` is ``g_i^T x_i``: the layer's input for that
  example times the gradient of the loss with respect to the layer's output for that example
  (summed over any extra axes between the batch and the features, e.g. the positions of a
  sequence), and the bias's is ``g_i`` summed the same way. The batch pass records ``x`` and
  ``g`` at every supported layer and one einsum forms all B gradients at once.
- ``method="auto"`` (the default): vectorised where that is exact, the loop otherwise.

The vectorised path is exact when every trainable parameter sits in a supported layer
(``nn.Linear`` itself), each such layer sees the batch on its first axis, no layer couples the
examples (a batch norm in training mode would: each example's output depends on the others,
and only a batch of one gives the loop's answer), and the loss is the sum or the mean of one
loss per example. All of that is checked (the last two on the actual pass), and ``auto`` falls
back to the loop where a check fails. What cannot be checked is an operation in a model's own
``forward`` that mixes examples (``x - x.mean(0)``); such a model needs ``method="loop"``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labs.scratch.tensor import Tensor

__all__ = ["per_sample_grads", "METHODS", "VectorisationError"]

METHODS = ("auto", "loop", "vectorised")
# layers whose output for one example depends on the other examples of the batch (in training mode)
_BATCH_COUPLING = ("BatchNorm", "SyncBatchNorm")


class VectorisationError(ValueError):
    """The vectorised per-sample gradients would not be exact for this model or loss."""


def per_sample_grads(model, loss_fn: Callable, inputs, targets, *, method: str = "auto") -> dict[str, np.ndarray]:
    """``{name: array of shape (B, *param.shape)}``: the gradient of ``loss_fn(model(x_i), y_i)``
    with respect to every parameter that requires grad, for each example ``i`` of the batch.

    ``loss_fn(output, target)`` must be the mean or the sum over the examples of one loss per
    example (``F.cross_entropy``, ``F.mse_loss`` with either reduction): with the mean, each
    example's gradient is that of its own loss, as if it were a batch of one (what the loop
    computes), not 1/B of it. ``method``: ``"auto"`` (vectorised where exact, else the loop),
    ``"loop"`` (one backward per example) or ``"vectorised"`` (one backward for the batch;
    raises :class:`VectorisationError` naming what stands in the way). Put the model in
    ``eval()`` mode first if it has dropout: otherwise each example draws its own mask (still a
    valid per-example gradient, but not the batch's). The parameters' own ``.grad`` are left as
    they were.
    """
    if method not in METHODS:
        raise ValueError(f"per_sample_grads: method must be one of {METHODS}; got {method!r}")
    x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
    y = targets if isinstance(targets, Tensor) else Tensor(np.asarray(targets))
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"per_sample_grads expects inputs and targets with the same first (batch) dimension; got shapes "
            f"{x.shape} and {y.shape}"
        )
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("per_sample_grads: the model has no parameter that requires grad")
    if len(x) == 0:
        return {name: np.zeros((0, *p.shape), dtype=p.dtype) for name, p in named}
    saved = [p.grad for _, p in named]
    try:
        if method == "loop":
            return _loop(model, loss_fn, x, y, named)
        problem = _static_problem(model, named)
        if problem is None:
            try:
                return _vectorised(model, loss_fn, x, y, named)
            except VectorisationError as error:
                problem = str(error)
        if method == "vectorised":
            raise VectorisationError(f"per_sample_grads(method='vectorised'): {problem}; use method='loop' (or 'auto')")
        return _loop(model, loss_fn, x, y, named)
    finally:
        for (_, p), g in zip(named, saved):
            p.grad = g


def _loop(model, loss_fn, x, y, named) -> dict[str, np.ndarray]:
    """One backward pass per example, each example as a batch of one (``x[i:i+1]``)."""
    out = {name: np.zeros((len(x), *p.shape), dtype=p.dtype) for name, p in named}
    for i in range(len(x)):
        for _, p in named:
            p.grad = None
        loss = loss_fn(model(x[i:i + 1]), y[i:i + 1])
        _check_scalar(loss, "one example")
        loss.backward()
        for name, p in named:
            if p.grad is not None:  # a parameter this example did not reach keeps its zeros
                out[name][i] = p.grad.data
    return out


def _check_scalar(loss, what: str) -> None:
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        shape = loss.shape if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar Tensor for {what}; got {shape}")


def _supported_layers(model) -> list:
    """The modules whose parameters the vectorised path handles (exactly ``nn.Linear``, not subclasses)."""
    from labs.scratch.nn.linear import Linear

    # modules() lists a shared module once: it is patched once, and each of its calls is recorded
    return [m for m in model.modules() if type(m) is Linear]


def _static_problem(model, named) -> str | None:
    """Why the vectorised path cannot be exact for this model, or None."""
    for prefix, module in model.named_modules():
        kind = type(module).__name__
        if module.training and kind.startswith(_BATCH_COUPLING):
            return (f"module {prefix or '(the model)'!r} ({kind}) couples the examples of a batch in training mode, "
                    f"so each example's gradient needs a batch of its own")
    covered = {id(p) for m in _supported_layers(model) for p in (m.weight, m.bias) if p is not None}
    owners = {}
    for prefix, module in model.named_modules():
        for pname, p in module._parameters.items():
            if p is not None:
                owners.setdefault(id(p), (prefix, module, pname))
    for name, p in named:
        if id(p) not in covered:
            prefix, module, _ = owners[id(p)]
            return (f"parameter {name!r} belongs to module {prefix or '(the model)'!r} ({type(module).__name__}), "
                    f"a layer the vectorised path does not support (it supports Linear)")
    return None


def _vectorised(model, loss_fn, x, y, named) -> dict[str, np.ndarray]:
    """One forward and one backward pass over the batch; per-example gradients from each Linear's input
    and output gradient (see the module docstring)."""
    batch = len(x)
    calls = []  # (layer, input array, [output gradient]) for every call of a supported layer
    layers = _supported_layers(model)
    for layer in layers:
        object.__setattr__(layer, "forward", _tapped_forward(layer, calls, batch))
    for _, p in named:
        p.grad = None
    try:
        output = model(x)
    finally:
        for layer in layers:
            del layer.__dict__["forward"]
    if not isinstance(output, Tensor) or output.ndim == 0 or len(output) != batch:
        raise VectorisationError(f"the model's output must keep the batch on its first axis ({batch}); got "
                                 f"{getattr(output, 'shape', type(output).__name__)}")
    seen = []
    tapped = Tensor.from_op(output.data, (output,), lambda g: (seen.append(g) or g,), "per_sample_tap")
    loss = loss_fn(tapped, y)
    _check_scalar(loss, f"a batch of {batch}")
    if not loss.requires_grad:
        raise VectorisationError("the loss does not depend on any trainable parameter")
    loss.backward()
    reached = [name for name, p in named if p.grad is not None]
    if reached:  # a parameter was also used by an operation outside the recorded layers (e.g. a tied weight)
        raise VectorisationError(f"parameter {reached[0]!r} is used outside a Linear layer's forward")
    scale = _reduction_scale(loss_fn, output, y, seen[0] if seen else None)

    names = {id(p): name for name, p in named}
    found: dict[str, np.ndarray] = {}

    def add(name, value):  # the first contribution is kept as it is: a fresh zeros + value costs 3x the einsum
        found[name] = value if name not in found else found[name] + value

    for layer, xd, grads in calls:
        if not grads:  # this call's output did not reach the loss
            continue
        g = grads[0] if len(grads) == 1 else sum(grads)
        x3 = xd.reshape(batch, -1, xd.shape[-1])  # (B, positions, in): every axis between batch and features
        g3 = g.reshape(batch, -1, g.shape[-1])  # (B, positions, out)
        if scale != 1:
            g3 = g3 * np.asarray(scale, dtype=g3.dtype)
        w, b = layer.weight, layer.bias
        if w.requires_grad and id(w) in names:
            if x3.shape[1] == 1:  # one position: an outer product per example
                gw = np.einsum("bo,bi->boi", g3[:, 0], x3[:, 0])
            else:
                gw = np.matmul(g3.transpose(0, 2, 1), x3)  # sum over positions of g_t^T x_t
            add(names[id(w)], gw)
        if b is not None and b.requires_grad and id(b) in names:
            add(names[id(b)], g3.sum(axis=1))
    # a parameter that no example reached gets zeros, as in the loop
    return {name: found[name] if name in found else np.zeros((batch, *p.shape), dtype=p.dtype) for name, p in named}


def _tapped_forward(layer, calls: list, batch: int):
    """``layer.forward`` that records its input and, in backward, the gradient of its output.

    The weight's and bias's gradients are not summed over the batch here (their backward returns
    None): the per-example gradients replace that sum.
    """
    original = type(layer).forward

    def forward(input):
        if not isinstance(input, Tensor) or input.ndim == 0 or input.shape[-1] != layer.in_features:
            return original(layer, input)  # its own error message
        if input.ndim < 2 or input.shape[0] != batch:
            raise VectorisationError(
                f"a Linear layer saw an input of shape {tuple(input.shape)}, without the batch ({batch}) on its "
                f"first axis")
        w, b = layer.weight, layer.bias
        xd, wd = input.data, w.data
        out = (xd.reshape(-1, xd.shape[-1]) @ wd.T).reshape(*xd.shape[:-1], wd.shape[0])
        if b is not None:
            out = out + b.data
        grads: list = []
        calls.append((layer, xd, grads))

        def backward(g):
            grads.append(g)
            gx = (g.reshape(-1, g.shape[-1]) @ wd).reshape(xd.shape) if input.requires_grad else None
            return (gx, None, None) if b is not None else (gx, None)

        return Tensor.from_op(out, (input, w, b) if b is not None else (input, w), backward, "linear")

    return forward


def _reduction_scale(loss_fn, output: Tensor, y: Tensor, batch_grad) -> float:
    """1 for a loss that sums the examples' losses, B for one that averages them; else an error.

    Checked on the example whose output gradient is largest: the batch loss's gradient there
    must be the example's own loss's gradient (sum) or 1/B of it (mean).
    """
    batch = len(output)
    if batch_grad is None:
        return 1.0
    sizes = np.abs(batch_grad.reshape(batch, -1)).max(axis=1)
    k = int(np.argmax(sizes))
    if sizes[k] == 0:  # every output gradient is zero: every per-example gradient is zero, at any scale
        return 1.0
    alone = Tensor(output.data[k:k + 1].copy(), requires_grad=True)
    loss = loss_fn(alone, y[k:k + 1])
    _check_scalar(loss, "one example")
    loss.backward()
    own = alone.grad.data.reshape(-1) if alone.grad is not None else np.zeros(batch_grad[k].size)
    mine = batch_grad[k].reshape(-1)
    tol = 1e-4 if mine.dtype == np.float32 else 1e-9
    for scale in (1.0, float(batch)):  # sum, mean
        if np.allclose(mine * scale, own, rtol=tol, atol=tol * np.abs(own).max()):
            return scale
    ratio = float(np.dot(mine, own) / max(np.dot(own, own), np.finfo(float).tiny))
    raise VectorisationError(
        f"loss_fn is not the sum or the mean of one loss per example: the batch loss's gradient for example {k} "
        f"is {ratio:.4g} times that example's own loss's gradient, where a sum gives 1 and a mean 1/{batch}")
