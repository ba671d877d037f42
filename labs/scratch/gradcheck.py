"""Check a backward rule against central differences, like ``torch.autograd.gradcheck``.

For a function f of tensors, we reduce its output(s) to one number with a fixed random
projection, L = sum(f(x) * a), so that every output element matters with its own weight.
The analytic gradient dL/dx comes from ``backward()``; the numeric one perturbs each input
element by +-eps:

    dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

whose error is O(eps^2) (the first-order terms cancel). Both are computed in float64,
where eps = 1e-6 leaves about 1e-10 of rounding error: float32 would drown the difference.
"""

from __future__ import annotations

import numpy as np

from labs.scratch.tensor import Tensor, no_grad

__all__ = ["gradcheck"]


def _outputs(result) -> list[Tensor]:
    items = result if isinstance(result, (tuple, list)) else (result,)
    outs = [o for o in items if isinstance(o, Tensor) and np.issubdtype(o.dtype, np.floating)]
    if not outs:
        raise TypeError(
            f"gradcheck: fn must return a floating-point Tensor (or a tuple of them); got {type(result).__name__}"
        )
    return outs


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, seed: int = 0) -> bool:
    """Compare analytic and numeric gradients of ``fn(*inputs)`` for every input that requires grad.

    Inputs are copied to float64 (the originals are not touched). On a mismatch, where
    |analytic - numeric| > atol + rtol * |numeric|, it raises an AssertionError naming the worst
    element (which input, its index, both values), or returns False when
    ``raise_exception=False``. Returns True when all gradients agree.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    xs = [
        Tensor(np.array(x.data, dtype=np.float64), requires_grad=x.requires_grad)
        if isinstance(x, Tensor) and np.issubdtype(x.dtype, np.floating) else x
        for x in inputs
    ]
    checked = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; create at least one with requires_grad=True")

    outs = _outputs(fn(*xs))
    rng = np.random.default_rng(seed)
    projections = [rng.standard_normal(o.shape) for o in outs]

    def objective(result) -> float:
        return float(sum(np.sum(o.data.astype(np.float64) * a) for o, a in zip(_outputs(result), projections)))

    # analytic: backward of L = sum(out * a) is backward of out with gradient a
    for o, a in zip(outs, projections):
        if o.requires_grad:
            o.backward(a.astype(o.dtype))

    worst = None  # (excess over tolerance, input position, index, analytic, numeric)
    with no_grad():
        for i in checked:
            x = xs[i]
            analytic = x.grad.data if x.grad is not None else np.zeros_like(x.data)
            numeric = np.zeros_like(x.data)
            flat = x.data.reshape(-1)  # a view: perturbing it perturbs x
            for j in range(flat.size):  # one element at a time: that is what a numeric gradient costs
                original = flat[j]
                flat[j] = original + eps
                plus = objective(fn(*xs))
                flat[j] = original - eps
                minus = objective(fn(*xs))
                flat[j] = original
                numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
            excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
            if excess.size and excess.max() > 0:
                k = int(np.argmax(excess))
                index = np.unravel_index(k, x.shape)
                candidate = (excess.reshape(-1)[k], i, tuple(int(v) for v in index),
                             analytic.reshape(-1)[k], numeric.reshape(-1)[k])
                if worst is None or candidate[0] > worst[0]:
                    worst = candidate
    if worst is None:
        return True
    _, i, index, a_val, n_val = worst
    message = (
        f"gradcheck failed for input {i} (shape {tuple(xs[i].shape)}) at index {index}: "
        f"analytic gradient {a_val:.6g} vs numeric {n_val:.6g} (difference {abs(a_val - n_val):.3g}, "
        f"allowed atol + rtol*|numeric| = {atol + rtol * abs(n_val):.3g}). Check that op's backward rule."
    )
    if raise_exception:
        raise AssertionError(message)
    return False
