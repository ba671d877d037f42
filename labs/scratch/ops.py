"""Tensor operations a GPT needs beyond arithmetic: masks, running sums, picking and splitting.

``tril``/``triu`` build causal masks, ``cumsum`` and ``logsumexp`` appear in sampling and in
losses, ``gather`` picks one entry per row (the log-probability of the target token),
``topk`` keeps the k most likely tokens, ``split``/``chunk`` cut a fused projection into
query, key and value. Each is a function (as ``torch.tril``) and a ``Tensor`` method (as
``x.tril()``), with its backward rule next to it.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from labs.scratch.tensor import IndexOutOfRangeError, Tensor, _normalize_dims

__all__ = ["chunk", "cumsum", "gather", "logsumexp", "split", "topk", "tril", "triu"]

_TopK = namedtuple("topk", ["values", "indices"])  # what torch.topk returns


def _check(x, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn} expects a labs.scratch Tensor; got {type(x).__name__}: wrap it with labs.scratch.tensor(...)")
    return x


def _one_dim(dim, ndim: int, fn: str) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{fn}: dim must be an int; got {type(dim).__name__} {dim!r}")
    (d,) = _normalize_dims(dim, ndim, fn) or (0,)
    return d


def _triangle(input, diagonal, keep_lower: bool, fn: str) -> Tensor:
    x = _check(input, fn)
    if x.ndim < 2:
        raise ValueError(f"{fn} needs a tensor with at least 2 dimensions (it works on the last two); got shape {x.shape}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TypeError(f"{fn}: diagonal must be an int; got {type(diagonal).__name__}")
    pick = np.tril if keep_lower else np.triu
    # the same mask cuts the gradient: entries set to 0 did not depend on x
    return Tensor.from_op(pick(x.data, int(diagonal)), (x,), lambda g: (pick(g, int(diagonal)),), fn)


def tril(input, diagonal: int = 0) -> Tensor:
    """The lower triangle (entries with column - row <= diagonal); the rest set to 0."""
    return _triangle(input, diagonal, True, "tril")


def triu(input, diagonal: int = 0) -> Tensor:
    """The upper triangle (entries with column - row >= diagonal); the rest set to 0."""
    return _triangle(input, diagonal, False, "triu")


def cumsum(input, dim: int, *, dtype=None) -> Tensor:
    """Running sum along ``dim``. Backward: output j sums inputs i <= j, so input i receives
    the sum of the gradients of outputs j >= i, a running sum taken from the other end."""
    x = _check(input, "cumsum")
    d = _one_dim(dim, x.ndim, "cumsum")
    data = x.data if dtype is None else x.data.astype(dtype)
    if x.ndim == 0:
        return Tensor.from_op(data.copy(), (x,), lambda g: (g,), "cumsum")
    out = np.cumsum(data, axis=d)
    return Tensor.from_op(out, (x,), lambda g: (np.flip(np.cumsum(np.flip(g, d), axis=d), d),), "cumsum")


def logsumexp(input, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) along ``dim``, computed as m + log(sum(exp(x - m))) with m the maximum,
    so no exp overflows. Its gradient is softmax(x) along ``dim``."""
    x = _check(input, "logsumexp")
    dims = _normalize_dims(dim, x.ndim, "logsumexp")
    xd = x.data
    m = np.max(xd, axis=dims, keepdims=True) if xd.size else np.zeros((1,) * xd.ndim, xd.dtype)
    m = np.where(np.isfinite(m), m, 0)  # a row of -inf gives -inf, not NaN
    with np.errstate(divide="ignore"):
        full = m + np.log(np.sum(np.exp(xd - m), axis=dims, keepdims=True))
    out = full if keepdim else np.squeeze(full, dims)

    def backward(g):
        gk = g if keepdim else np.expand_dims(g, dims)
        with np.errstate(invalid="ignore"):
            weights = np.where(np.isneginf(full), 0, np.exp(xd - full))
        return (gk * weights,)

    return Tensor.from_op(out, (x,), backward, "logsumexp")


def gather(input, dim: int, index) -> Tensor:
    """``out[i][j] = input[i][index[i][j]]`` for ``dim=1`` (likewise for any dim), as torch.gather.

    ``index`` has as many dimensions as ``input`` and, on the other axes, at most its sizes.
    Backward: each picked entry sends its gradient back to where it was read; an entry
    read twice gets both contributions (``np.add.at``).
    """
    x = _check(input, "gather")
    idx = np.asarray(index.data if isinstance(index, Tensor) else index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather expects an integer index (int64); got dtype {idx.dtype}")
    if idx.ndim != x.ndim:
        raise ValueError(
            f"gather: index must have as many dimensions as input ({x.ndim}); got index of shape {idx.shape}"
        )
    d = _one_dim(dim, x.ndim, "gather")
    for axis, (n_i, n_x) in enumerate(zip(idx.shape, x.shape)):
        if axis != d and n_i > n_x:
            raise ValueError(
                f"gather: index shape {idx.shape} is larger than input shape {x.shape} on dim {axis}; on every "
                f"dim except {d} the index may be at most as large as the input"
            )
    n = x.shape[d]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.min() if idx.min() < 0 else idx.max())
        raise IndexOutOfRangeError(f"gather: index {bad} is out of range for dim {d} of size {n} (valid 0..{n - 1})")
    # index positions along every axis: the index itself on `d`, a plain grid elsewhere
    grid = list(np.indices(idx.shape, sparse=True))
    grid[d] = idx
    where = tuple(grid)
    out = x.data[where]
    shape, dtype = x.shape, x.dtype

    def backward(g):
        grad = np.zeros(shape, dtype=dtype)
        np.add.at(grad, where, g)
        return (grad,)

    return Tensor.from_op(out, (x,), backward, "gather")


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """The ``k`` largest (or smallest) entries along ``dim`` and their indices, largest first.

    Backward: the gradient of each kept value goes to the position it came from; the
    other entries get none (as for ``max``).
    """
    x = _check(input, "topk")
    d = _one_dim(dim, x.ndim, "topk")
    size = x.shape[d] if x.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= size:
        raise ValueError(f"topk: k must be an int in [0, {size}] (the size of dim {d}); got {k!r}")
    data = x.data if x.ndim else x.data.reshape(1)
    # a stable sort of the negated values puts the largest first and keeps ties in index order
    order = np.argsort(-data if largest else data, axis=d, kind="stable")
    idx = np.take(order, np.arange(k), axis=d)
    values = np.take_along_axis(data, idx, axis=d)
    shape = data.shape

    def backward(g):
        grad = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(grad, idx, g, axis=d)
        return (grad.reshape(x.shape),)

    return _TopK(Tensor.from_op(values, (x,), backward, "topk"), Tensor(idx.astype(np.int64)))


def split(tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Cut along ``dim`` into pieces of ``split_size`` (the last may be smaller) or of the
    listed sizes; each piece is a slice, so its gradient goes back to its own rows."""
    x = _check(tensor, "split")
    d = _one_dim(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)) and not isinstance(split_size_or_sections, bool):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be a positive int; got {size}")
        sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} must be non-negative and add up to the size of dim {d}, {n}")
    pieces, start = [], 0
    for s in sizes:
        index = (slice(None),) * d + (slice(start, start + s),)
        pieces.append(x[index])
        start += s
    return tuple(pieces)


def chunk(input, chunks: int, dim: int = 0) -> tuple:
    """Cut into ``chunks`` pieces of ceil(size / chunks) along ``dim`` (fewer if the size runs
    out), as torch.chunk; ``q, k, v = qkv.chunk(3, dim=-1)``."""
    x = _check(input, "chunk")
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int; got {chunks!r}")
    d = _one_dim(dim, x.ndim, "chunk")
    n = x.shape[d]
    return split(x, max(1, -(-n // int(chunks))), d)


def _install_methods() -> None:
    """``x.tril()``, ``x.gather(1, i)``, ``x.topk(5)``, ... as in torch."""
    for fn in (tril, triu, cumsum, logsumexp, gather, topk, split, chunk):
        setattr(Tensor, fn.__name__, fn)


_install_methods()
