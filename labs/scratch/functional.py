"""Functions of tensors with PyTorch's names, arguments and defaults (``torch.nn.functional``).

Each function computes its forward pass with NumPy and records one backward rule for the
whole function (a *fused* operation) instead of a chain of small tensor operations: that
is both faster and numerically safer. The loss functions check their inputs and explain
what they expected, because a wrong target shape silently broadcasting is the most
common bug in a first training loop.

Convolution, pooling and attention live in ``conv.py`` and ``attention.py`` and are
re-exported at the end of this file, so ``F.conv2d`` works as in PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

from labs.scratch.tensor import IndexOutOfRangeError, Tensor, get_default_dtype, get_generator, scatter_add_rows, unbroadcast

__all__ = [
    "linear", "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softplus",
    "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "l1_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "dropout", "embedding",
    "layer_norm", "one_hot",
    "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "scaled_dot_product_attention", "attention_weights",
]


def _tensor(x, name: str, fn: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, np.generic, float, int, list)):
        return Tensor(np.asarray(x, dtype=get_default_dtype()) if isinstance(x, (float, int, list)) else np.asarray(x))
    raise TypeError(f"{fn} expects {name} to be a Tensor (or an ndarray); got {type(x).__name__}")


def _shape(s) -> str:
    return str(tuple(s))


def _reduce(loss: Tensor, reduction: str, fn: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")


# --------------------------------------------------------------------------------------
# Layers as functions
# --------------------------------------------------------------------------------------
def linear(input, weight, bias=None) -> Tensor:
    """y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch.

    Backward: dx = g W, dW = g^T x (summed over all leading axes of x), db = sum of g.
    """
    x, w = _tensor(input, "input", "linear"), _tensor(weight, "weight", "linear")
    if w.ndim != 2:
        raise ValueError(f"linear expects weight of shape (out_features, in_features); got {_shape(w.shape)}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"linear: input has {x.shape[-1] if x.ndim else 0} features in its last axis (shape {_shape(x.shape)}) "
            f"but weight of shape {_shape(w.shape)} expects {w.shape[1]}"
        )
    xd, wd = x.data, w.data
    # Fold every leading axis into rows: one 2-D matrix product. NumPy's matmul of a 3-D array
    # with a transposed 2-D one does not reach BLAS and was 40x slower (benchmarks/, GPT block).
    x2 = xd.reshape(-1, xd.shape[-1])
    out = (x2 @ wd.T).reshape(*xd.shape[:-1], wd.shape[0])
    parents = (x, w)
    if bias is not None:
        b = _tensor(bias, "bias", "linear")
        if b.shape != (w.shape[0],):
            raise ValueError(f"linear expects bias of shape ({w.shape[0]},); got {_shape(b.shape)}")
        out = _into(out, np.add, out, b.data)  # in place: the product is a fresh array
        parents = (x, w, b)

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])  # fold every leading axis into rows
        gx = (g2 @ wd).reshape(xd.shape) if x.requires_grad else None
        gw = g2.T @ x2 if w.requires_grad else None
        if len(parents) == 3:
            return gx, gw, g2.sum(axis=0)
        return gx, gw

    return Tensor.from_op(out, parents, backward, "linear")


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` picked by integer ``input``: a lookup table.

    Backward: the gradient of each looked-up row is added into that row; a token that
    appears twice gets both contributions (``scatter_add_rows``, a fast ``np.add.at``). The row ``padding_idx`` gets none.
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not implemented")
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    w = _tensor(weight, "weight", "embedding")
    if idx.dtype.kind not in "iu":
        raise TypeError(
            f"embedding expects integer indices; got {idx.dtype} array of shape {_shape(idx.shape)}. "
            f"Convert with .long() or np.asarray(..., dtype=np.int64)"
        )
    n = w.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        # torch raises here too; NumPy would read row -1 as the last row, a silent wrong answer
        bad = int(idx.max() if idx.max() >= n else idx.min())
        raise IndexOutOfRangeError(f"embedding: index {bad} is out of range for a table of {n} rows (valid 0..{n - 1})")
    wd = w.data
    out = wd[idx]
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) or not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx must be an int within [-{n}, {n - 1}] (the table has {n} rows); "
                             f"got {padding_idx!r}")
        padding_idx = int(padding_idx) % n  # a negative padding_idx counts from the end, as in torch

    def backward(g):
        grad = scatter_add_rows(n, idx.reshape(-1), g.reshape(-1, wd.shape[1]))
        if padding_idx is not None:
            grad[padding_idx] = 0
        return (grad,)

    return Tensor.from_op(out, (w,), backward, "embedding")


def _into(buffer, ufunc, a, b) -> np.ndarray:
    """``ufunc(a, b)`` written into ``buffer`` when it has exactly the result's shape and dtype
    (a working array that is no longer needed), else into a fresh array: never a silent cast."""
    if buffer is not None and buffer.shape == np.broadcast_shapes(a.shape, b.shape) \
            and buffer.dtype == np.result_type(a, b):
        return ufunc(a, b, out=buffer)
    return ufunc(a, b)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` axes, then scale and shift.

    y = x_hat * w + b with x_hat = (x - mean) / sqrt(var + eps) (biased variance, as torch).
    Backward, with gh = g * w and means over the normalised axes:
    dx = (gh - mean(gh) - x_hat * mean(gh * x_hat)) / sqrt(var + eps).
    """
    x = _tensor(input, "input", "layer_norm")
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if x.shape[x.ndim - k:] != normalized_shape or x.ndim < k:
        raise ValueError(
            f"layer_norm: normalized_shape {normalized_shape} must equal the last axes of the input; "
            f"got input of shape {_shape(x.shape)}"
        )
    axes = tuple(range(x.ndim - k, x.ndim))
    lead = tuple(range(x.ndim - k))
    xd = x.data
    # Normalisation runs twice per Transformer block, so the full-size arrays are reused
    # (out=, in place) rather than allocated per operation; the operations are the formula's.
    x_hat = xd - xd.mean(axis=axes, keepdims=True)  # centred, then scaled in place below
    work = np.multiply(x_hat, x_hat)
    rstd = 1.0 / np.sqrt(work.mean(axis=axes, keepdims=True) + eps)
    x_hat *= rstd
    parents = [x]
    out = x_hat
    w = b = None
    if weight is not None:
        w = _tensor(weight, "weight", "layer_norm")
        out = _into(work, np.multiply, x_hat, w.data)
        parents.append(w)
    if bias is not None:
        b = _tensor(bias, "bias", "layer_norm")
        out = _into(out if out is work else None, np.add, out, b.data)
        parents.append(b)

    def backward(g):
        gh = g * w.data if w is not None else g
        scaled = np.multiply(gh, x_hat)
        gh_mean, scaled_mean = gh.mean(axis=axes, keepdims=True), scaled.mean(axis=axes, keepdims=True)
        if gh is g or gh.dtype != x_hat.dtype:  # g is not ours to overwrite (or mixed dtypes): plainly
            gx = rstd * (gh - gh_mean - x_hat * scaled_mean)
        else:  # the same, in the two arrays above
            gx = np.subtract(gh, gh_mean, out=gh)
            gx -= np.multiply(x_hat, scaled_mean, out=scaled)
            gx *= rstd
        grads = [gx]
        if w is not None:
            grads.append((g * x_hat).sum(axis=lead))
        if b is not None:
            grads.append(g.sum(axis=lead))
        return tuple(grads)

    return Tensor.from_op(out, tuple(parents), backward, "layer_norm")


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the survivors by 1/(1-p) (inverted dropout).

    Scaling during training keeps the expected activation unchanged, so evaluation
    (``training=False``) is the identity. The mask comes from the generator that
    ``labs.scratch.manual_seed`` seeds; the backward rule multiplies by the same mask.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be between 0 and 1; got {p}")
    x = _tensor(input, "input", "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=x.dtype)
    else:
        mask = (get_generator().random(x.shape, dtype=np.float32) >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return Tensor.from_op(x.data * mask, (x,), lambda g: (g * mask,), "dropout")


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    idx = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot expects integer class indices; got dtype {idx.dtype}")
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: class values must be non-negative; got {int(idx.min())}")
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes=")
        n = int(idx.max()) + 1
    else:
        n = int(num_classes)
        if n < 1 or idx.size and idx.max() >= n:
            raise ValueError(f"one_hot: class values must be smaller than num_classes={n}; got {int(idx.max())}"
                             if n >= 1 else f"one_hot: num_classes must be -1 (infer) or positive; got {num_classes}")
    return Tensor((idx[..., None] == np.arange(n)).astype(np.int64))


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------
def relu(input, inplace: bool = False) -> Tensor:
    return _tensor(input, "input", "relu").relu()


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    x = _tensor(input, "input", "leaky_relu")
    slope = np.where(x.data > 0, 1, negative_slope).astype(x.dtype)
    return Tensor.from_op(x.data * slope, (x,), lambda g: (g * slope,), "leaky_relu")


def sigmoid(input) -> Tensor:
    return _tensor(input, "input", "sigmoid").sigmoid()


def tanh(input) -> Tensor:
    return _tensor(input, "input", "tanh").tanh()


def silu(input, inplace: bool = False) -> Tensor:
    x = _tensor(input, "input", "silu")
    s = x.sigmoid().data
    return Tensor.from_op(x.data * s, (x,), lambda g: (g * s * (1 + x.data * (1 - s)),), "silu")


def softplus(input, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, written as max(z, 0) + log1p(e^-|z|) so it never overflows."""
    x = _tensor(input, "input", "softplus")
    z = beta * x.data
    out = np.where(z > threshold, x.data, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)
    e = np.exp(-np.abs(z))
    sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))  # d softplus / dx = sigmoid(beta x)
    sig = np.where(z > threshold, 1, sig)
    return Tensor.from_op(out.astype(x.dtype), (x,), lambda g: (g * sig,), "softplus")


def _erf_float32(z: np.ndarray) -> np.ndarray:
    """erf for float32 arrays: Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7 before rounding.

    That is within a few float32 rounding steps, and it is several times faster than SciPy's
    float32 erf, which was a quarter of a GPT block's step (benchmarks/engine_vs_torch.py).
    """
    a = np.abs(z)
    t = a * np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(1, poly, out=poly)
    return np.copysign(poly, z, out=poly)


def _erf(z: np.ndarray) -> np.ndarray:
    """erf: SciPy's (exact to float64 rounding) except for float32, where a fast approximation does."""
    if z.dtype == np.float32:
        return _erf_float32(z)
    from scipy.special import erf  # NumPy has no erf; SciPy's is vectorised

    return erf(z)


def _gelu_exact(x: Tensor) -> Tensor:
    """GELU(x) = x Phi(x), Phi(x) = 0.5 (1 + erf(x / sqrt 2)); derivative Phi(x) + x phi(x),
    phi(x) = exp(-x^2 / 2) / sqrt(2 pi). The wide MLP activation again: the arrays that the
    formula creates are reused in place (same operations, same order), and phi is computed
    in backward, the only place that needs it.
    """
    xd = x.data
    cdf = _erf(xd / xd.dtype.type(math.sqrt(2.0)))  # a fresh array (erf's working array)
    cdf += 1.0
    cdf *= 0.5
    out = xd * cdf

    def backward(g):
        grad = np.multiply(-0.5, xd)
        grad *= xd
        np.exp(grad, out=grad)
        grad /= math.sqrt(2.0 * math.pi)  # phi(x)
        grad *= xd
        grad = _into(grad, np.add, grad, cdf)  # Phi(x) + x phi(x) (float16 x: SciPy's erf is float32)
        grad *= g
        return (grad,)

    return Tensor.from_op(out.astype(xd.dtype, copy=False), (x,), backward, "gelu")


def _gelu_tanh(x: Tensor) -> Tensor:
    """GPT-2's GELU, 0.5 x (1 + tanh(c (x + 0.044715 x^3))) with c = sqrt(2/pi), and its derivative

        0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2),   t = tanh(...).

    It runs on the widest activation of a Transformer (4 n_embd), so each step writes into
    one working array (out=) instead of allocating a temporary per operation; the
    operations and their order are those of the formula. Cubing is x * x * x: NumPy sends
    ``x ** 3`` to its general power routine, about 200x slower (torch's kernel multiplies too).
    """
    xd = x.data if x.data.dtype.kind == "f" else x.data.astype(np.float64)  # integers: float64, as before
    c = math.sqrt(2.0 / math.pi)
    t = np.multiply(xd, xd)
    t *= xd
    t *= 0.044715
    t += xd
    t *= c
    np.tanh(t, out=t)  # t = tanh(c (x + 0.044715 x^3))
    out = np.add(t, 1)
    out *= 0.5
    out *= xd  # 0.5 (1 + t) x; halving is exact, so its place in the product does not matter

    def backward(g):
        slope = np.multiply(3 * 0.044715, xd)
        slope *= xd
        slope += 1
        slope *= c  # c (1 + 3 * 0.044715 x^2), the derivative of tanh's argument
        grad = np.multiply(t, t)
        np.subtract(1, grad, out=grad)
        grad *= xd
        grad *= slope
        grad *= 0.5  # 0.5 x (1 - t^2) c (...)
        slope = np.add(t, 1, out=slope)
        slope *= 0.5
        grad += slope  # + 0.5 (1 + t)
        grad *= g
        return (grad,)

    return Tensor.from_op(out, (x,), backward, "gelu")


def gelu(input, approximate: str = "none") -> Tensor:
    """GELU(x) = x * Phi(x), Phi the standard normal CDF; ``approximate='tanh'`` uses
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) as in GPT-2.

    Backward: Phi(x) + x phi(x) for the exact form (phi the normal density).
    """
    x = _tensor(input, "input", "gelu")
    if approximate == "none":
        return _gelu_exact(x)
    if approximate == "tanh":
        return _gelu_tanh(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")


def _softmax_dim(x: Tensor, dim, fn: str) -> int:
    if dim is None:
        raise TypeError(
            f"{fn} needs dim= (the axis that should sum to one); for logits of shape (N, C) that is dim=1 or dim=-1"
        )
    if not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
        raise ValueError(f"{fn}: dim {dim} is out of range for a tensor of shape {_shape(x.shape)}")
    return dim


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along ``dim``, computed after subtracting the maximum
    (which cancels in the ratio) so that exp never overflows.

    Backward: ds = s * (g - sum(g * s)).
    """
    x = _tensor(input, "input", "softmax")
    dim = _softmax_dim(x, dim, "softmax")
    xd = x.data if dtype is None else x.data.astype(dtype)
    e = np.exp(xd - xd.max(axis=dim, keepdims=True))
    s = e / e.sum(axis=dim, keepdims=True)

    def backward(g):
        return ((s * (g - (g * s).sum(axis=dim, keepdims=True))).astype(x.dtype, copy=False),)

    return Tensor.from_op(s, (x,), backward, "softmax")


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """x - logsumexp(x) along ``dim``, with logsumexp(x) = m + log(sum exp(x - m)), m = max x.

    Stable for logits of any size (exp only sees numbers <= 0). Backward: g - softmax * sum(g).
    """
    x = _tensor(input, "input", "log_softmax")
    dim = _softmax_dim(x, dim, "log_softmax")
    xd = x.data if dtype is None else x.data.astype(dtype)
    shifted = xd - xd.max(axis=dim, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    return Tensor.from_op(
        out, (x,), lambda g: ((g - np.exp(out) * g.sum(axis=dim, keepdims=True)).astype(x.dtype, copy=False),),
        "log_softmax",
    )


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------
def _check_class_target(x: Tensor, target, fn: str) -> np.ndarray:
    """Validate (input, target) for nll_loss / cross_entropy with class-index targets."""
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if x.ndim == 0:
        raise ValueError(f"{fn} expects input of shape (N, C) or (N, C, d1, ...) or (C,); got a scalar")
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{fn} expects integer class indices as target; got {t.dtype} array of shape {_shape(t.shape)}. "
            f"Convert with .long() (or pass class probabilities of the input's shape {_shape(x.shape)})"
        )
    expected = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
    if t.shape != expected:
        raise ValueError(
            f"{fn}: input of shape {_shape(x.shape)} needs a target of shape {_shape(expected)} "
            f"(one class index per {'sample' if x.ndim <= 2 else 'position'}); got {_shape(t.shape)}"
        )
    if x.ndim >= 2 and x.shape[0] == 0:
        raise ValueError(f"{fn} got an empty batch: input of shape {_shape(x.shape)}; pass at least one sample")
    return t


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -input[n, target[n]] (input holds log-probabilities).

    With class weights w, sample n counts w[target[n]] times and 'mean' divides by the sum
    of those weights (PyTorch's rule); samples whose target is ``ignore_index`` count zero.
    Backward: -w[target[n]] at the target's position, zero elsewhere (scaled by the reduction).
    """
    x = _tensor(input, "input", "nll_loss")
    t = _check_class_target(x, target, "nll_loss")
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    ignored = t == ignore_index
    bad = (~ignored) & ((t < 0) | (t >= C))
    if bad.any():
        raise ValueError(
            f"nll_loss: class index {int(t[bad].flat[0])} is out of range for {C} classes (valid 0..{C - 1}"
            f"{f', or ignore_index={ignore_index}' if ignore_index is not None else ''})"
        )
    safe_t = np.where(ignored, 0, t)
    w_sample = np.where(ignored, 0.0, 1.0).astype(x.dtype)
    if weight is not None:
        wv = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=x.dtype)
        if wv.shape != (C,):
            raise ValueError(f"nll_loss: weight must have one entry per class, shape ({C},); got {_shape(wv.shape)}")
        w_sample = w_sample * wv[safe_t]
    # move the class axis last, pick the target's log-probability
    axis = 0 if x.ndim == 1 else 1
    picked = np.take_along_axis(x.data, np.expand_dims(safe_t, axis), axis=axis).squeeze(axis)
    losses = -w_sample * picked
    if reduction == "none":
        out, scale = losses, None
    elif reduction == "sum":
        out, scale = losses.sum(), 1.0
    elif reduction == "mean":
        total = w_sample.sum()
        out, scale = losses.sum() / total, 1.0 / total
    else:
        raise ValueError(f"nll_loss: reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")

    def backward(g):
        grad = np.zeros_like(x.data)
        per = -w_sample * (g if scale is None else g * scale)
        np.put_along_axis(grad, np.expand_dims(safe_t, axis), np.expand_dims(per.astype(x.dtype), axis), axis=axis)
        return (grad,)

    return Tensor.from_op(np.asarray(out, dtype=x.dtype), (x,), backward, "nll_loss")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits against class indices (or class probabilities): nll_loss(log_softmax(x)).

    ``input`` holds raw scores (logits), shape (N, C) or (N, C, d1, ...) or (C,); never apply
    softmax first. With ``label_smoothing`` e, the target distribution is (1 - e) one-hot + e/C,
    which adds e/C times the mean of -log p over classes (PyTorch's formula, weights included).
    """
    x = _tensor(input, "input", "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0 and 1; got {label_smoothing}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")
    class_dim = 0 if x.ndim == 1 else 1
    t_raw = target.data if isinstance(target, Tensor) else np.asarray(target)
    if np.issubdtype(t_raw.dtype, np.floating) and t_raw.shape == x.shape and x.ndim >= 1:
        return _cross_entropy_probs(x, target, weight, reduction, label_smoothing, class_dim)
    t = _check_class_target(x, target, "cross_entropy")
    logp = log_softmax(x, dim=class_dim)
    loss = nll_loss(logp, t, weight=weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0.0:
        return loss
    C = x.shape[class_dim]
    ignored = t == ignore_index
    if weight is not None:
        wv = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight, dtype=x.dtype))
        shape = [1] * x.ndim
        shape[class_dim] = C
        smooth = -(logp * wv.reshape(shape)).sum(dim=class_dim)
    else:
        smooth = -logp.sum(dim=class_dim)
    smooth = smooth.masked_fill(ignored, 0.0)
    if reduction == "mean":
        if weight is not None:
            wd = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
            smooth = smooth.sum() / wd[t[~ignored]].sum()
        else:
            smooth = smooth.sum() / (~ignored).sum()
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * loss + smooth * (label_smoothing / C)


def _cross_entropy_probs(x, target, weight, reduction, label_smoothing, class_dim):
    """Cross-entropy against a target distribution: -sum_c w_c p_c log q_c per sample."""
    p = target if isinstance(target, Tensor) else Tensor(np.asarray(target))
    if x.ndim >= 2 and x.shape[0] == 0:
        raise ValueError(f"cross_entropy got an empty batch: input of shape {_shape(x.shape)}")
    C = x.shape[class_dim]
    if label_smoothing > 0:
        p = p * (1 - label_smoothing) + label_smoothing / C
    logp = log_softmax(x, dim=class_dim)
    prod = logp * p
    if weight is not None:
        shape = [1] * x.ndim
        shape[class_dim] = C
        wv = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight, dtype=x.dtype))
        prod = prod * wv.reshape(shape)
    losses = -prod.sum(dim=class_dim)
    return _reduce(losses, reduction, "cross_entropy")


def _check_same_shape(x: Tensor, y: Tensor, fn: str) -> None:
    if x.shape != y.shape:
        raise ValueError(
            f"{fn}: input of shape {_shape(x.shape)} and target of shape {_shape(y.shape)} differ; they would "
            f"broadcast silently to the wrong loss. Reshape one of them, e.g. target.reshape({_shape(x.shape)[1:-1]})"
        )
    if x.data.size == 0:
        raise ValueError(f"{fn} got an empty batch (shape {_shape(x.shape)})")


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Mean squared error (x - y)^2. Unlike PyTorch (which only warns), differing shapes are an
    error: (N, 1) against (N,) would broadcast to an (N, N) matrix of wrong differences."""
    x, y = _tensor(input, "input", "mse_loss"), _tensor(target, "target", "mse_loss")
    _check_same_shape(x, y, "mse_loss")
    diff = x - y
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    x, y = _tensor(input, "input", "l1_loss"), _tensor(target, "target", "l1_loss")
    _check_same_shape(x, y, "l1_loss")
    return _reduce((x - y).abs(), reduction, "l1_loss")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
    """BCE of probabilities; log is clamped at -100 like PyTorch. Prefer the ``_with_logits`` form."""
    p, y = _tensor(input, "input", "binary_cross_entropy"), _tensor(target, "target", "binary_cross_entropy")
    _check_same_shape(p, y, "binary_cross_entropy")
    if (p.data < 0).any() or (p.data > 1).any():
        raise ValueError(
            "binary_cross_entropy expects probabilities in [0, 1]; for raw scores (logits) use "
            "binary_cross_entropy_with_logits"
        )
    pd, yd = p.data, y.data
    log_p = np.maximum(np.log(pd), -100)
    log_1p = np.maximum(np.log1p(-pd), -100)
    losses = -(yd * log_p + (1 - yd) * log_1p)
    eps = 1e-12  # torch clamps the denominator the same way
    grad_p = (pd - yd) / np.maximum(pd * (1 - pd), eps)
    if weight is not None:
        wd = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=pd.dtype)
        losses, grad_p = losses * wd, grad_p * wd
    loss = Tensor.from_op(losses.astype(pd.dtype), (p,), lambda g: (g * grad_p,), "binary_cross_entropy")
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """BCE on logits x with targets y in [0, 1], in the stable form PyTorch uses:

        loss = (1 - y) x + (1 + (pw - 1) y) * softplus(-x),  softplus(-x) = log1p(e^-|x|) + max(-x, 0)

    which never takes the log of 0 nor exponentiates a large number (pw is ``pos_weight``).
    Backward: d/dx = (1 - y) - (1 + (pw - 1) y) sigmoid(-x), d/dy = -x + (pw - 1) softplus(-x).
    """
    fn = "binary_cross_entropy_with_logits"
    x, y = _tensor(input, "input", fn), _tensor(target, "target", fn)
    _check_same_shape(x, y, fn)
    xd, yd = x.data, y.data
    softplus_neg = np.log1p(np.exp(-np.abs(xd))) + np.maximum(-xd, 0)
    e = np.exp(-np.abs(xd))
    sig_neg = np.where(xd >= 0, e / (1 + e), 1 / (1 + e))  # sigmoid(-x)
    if pos_weight is not None:
        pw = np.asarray(pos_weight.data if isinstance(pos_weight, Tensor) else pos_weight, dtype=xd.dtype)
        log_weight = 1 + (pw - 1) * yd
    else:
        pw, log_weight = None, 1.0
    losses = (1 - yd) * xd + log_weight * softplus_neg
    gx = (1 - yd) - log_weight * sig_neg
    gy = -xd + ((pw - 1) * softplus_neg if pw is not None else 0)
    if weight is not None:
        wd = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=xd.dtype)
        losses, gx, gy = losses * wd, gx * wd, gy * wd
    loss = Tensor.from_op(
        losses.astype(xd.dtype, copy=False), (x, y),
        lambda g: (unbroadcast(g * gx, x.shape), unbroadcast(g * gy, y.shape)), "binary_cross_entropy_with_logits",
    )
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


# Convolution, pooling and attention (written in conv.py and attention.py), re-exported so that
# F.conv2d and F.scaled_dot_product_attention work as in torch.nn.functional.
from labs.scratch.conv import avg_pool1d, avg_pool2d, conv1d, conv2d, max_pool1d, max_pool2d  # noqa: E402
from labs.scratch.attention import attention_weights, scaled_dot_product_attention  # noqa: E402
