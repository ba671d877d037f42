"""Convolution and pooling for the NumPy engine, vectorised with im2col.

What the frameworks call "convolution" is **cross-correlation**: the kernel slides over
the input *without being flipped*,

    out[n, o, y, x] = bias[o] + sum_{c, i, j} w[o, c, i, j] * x_pad[n, c, y*s_h + i, x*s_w + j]

whereas the convolution of signal processing flips the kernel (``w[o, c, -i, -j]``). A
learned kernel does not care which one is used (it learns the flipped weights), so
PyTorch, TensorFlow, JAX and this engine all compute the cross-correlation and call it
``conv2d``. Chapter 5 shows the difference with ``scipy.signal``.

How it is vectorised (no Python loop over pixels; at most a loop over chunks of images):

* **im2col**: ``np.lib.stride_tricks.sliding_window_view`` gives a *view* of every
  kh x kw window, shape ``(N, C, H_out, W_out, kh, kw)``; one reshape copies the windows
  into the "columns", one matrix of shape ``(C*kh*kw, H_out*W_out)`` per example, and a
  single (batched) matrix product with the weights, reshaped to ``(C_out, C*kh*kw)``,
  gives every output pixel at once. Backward: ``grad_weight = sum over examples of
  grad_out @ columns^T``; ``grad_columns = weight^T @ grad_out``, and **col2im** adds
  each column entry back to the input pixel it came from (windows overlap, so entries
  must be *added*: one vectorised slice-add per kernel offset, like ``np.add.at`` but
  much faster). This runs strided convolutions and first layers (1-3 input channels).
* **stride 1, several channels**, the convolutions inside a CNN, take one of two faster
  routes, chosen by shape (``_use_columns``): on larger images, **shifted products**,
  kh*kw matrix products over the flattened padded images with no im2col copy; on
  small images, **im2col in channels-last layout**, one large product per chunk of
  images, whose kept columns give the weight gradient in one more product. The input
  gradient is a transposed convolution (the output gradient convolved with the flipped
  kernel), which picks its own route for its own shape. The sections below say why.

Shapes follow PyTorch: ``conv2d`` takes ``(N, C_in, H, W)`` (or an unbatched
``(C_in, H, W)``) and a weight ``(C_out, C_in, kh, kw)``; ``conv1d`` takes ``(N, C_in, L)``
and ``(C_out, C_in, k)``. The output size along each axis is
``floor((size + pad_before + pad_after - k) / stride) + 1``.

Each public function has a pure NumPy kernel (``_conv2d_forward``/``_conv2d_backward``
and friends) and a thin wrapper that records the operation on the autograd graph with
``Tensor.from_op``.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from labs.scratch.tensor import Tensor, is_grad_enabled

__all__ = ["conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"]


# --------------------------------------------------------------------------------------
# Argument checking: every message says what was expected, what was given, what to try.
# --------------------------------------------------------------------------------------


def _int_tuple(value, n: int, name: str, fn: str) -> tuple[int, ...]:
    """Turn an int or a length-n tuple of ints into a tuple of n Python ints."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(
        isinstance(v, Integral) and not isinstance(v, bool) for v in value
    ):
        return tuple(int(v) for v in value)
    raise TypeError(f"{fn} expects {name} to be an int or a tuple of {n} ints; got {value!r}")


def _positive(values: tuple[int, ...], name: str, fn: str, given=None) -> None:
    if any(v <= 0 for v in values):
        raise ValueError(f"{fn} expects a positive {name}; got {values if given is None else given!r}")


def _padding_amounts(padding, kernel: tuple[int, ...], stride: tuple[int, ...], fn: str) -> tuple[tuple[int, int], ...]:
    """Padding per spatial axis as (before, after) pairs, PyTorch's rules.

    ``'valid'`` is no padding; ``'same'`` keeps the size (stride 1 only, as in PyTorch) and,
    for an even kernel, puts the extra row/column after the input, as PyTorch does.
    """
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{fn}: padding='same' needs stride 1 (as in PyTorch); got stride {stride}: use an explicit padding instead")
            return tuple(((k - 1) // 2, (k - 1) - (k - 1) // 2) for k in kernel)
        raise ValueError(f"{fn} expects padding 'valid', 'same', an int or a tuple of {n} ints; got {padding!r}")
    pads = _int_tuple(padding, n, "padding", fn)
    if any(p < 0 for p in pads):
        raise ValueError(f"{fn} expects a non-negative padding; got {padding!r}")
    return tuple((p, p) for p in pads)


def _check_tensor(x, name: str, fn: str):
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{fn} expects {name} to be a labs.scratch Tensor; got {type(x).__name__}: "
            f"wrap it with labs.scratch.tensor(...)"
        )
    if not np.issubdtype(x.data.dtype, np.floating):
        raise TypeError(f"{fn} expects a floating-point {name}; got dtype {x.data.dtype}: convert it with .float() or .double()")
    return x


def _check_dtypes(fn: str, **tensors) -> None:
    dtypes = {name: t.data.dtype for name, t in tensors.items() if t is not None}
    if len(set(dtypes.values())) > 1:
        given = ", ".join(f"{k} {v}" for k, v in dtypes.items())
        raise TypeError(f"{fn} expects input, weight and bias of one dtype; got {given}: cast them alike (e.g. module.double())")


def _batched(x, spatial: int, fn: str, layout: str, hint: str):
    """Return (data with a batch axis, whether the input was unbatched)."""
    shape = x.data.shape
    if x.data.ndim == spatial + 2:
        batched, unbatched = x.data, False
    elif x.data.ndim == spatial + 1:  # PyTorch also accepts one unbatched example
        batched, unbatched = x.data[None], True
    else:
        raise ValueError(f"{fn} expects input of shape {layout}; got {shape}: {hint}")
    if batched.shape[0] == 0:
        raise ValueError(f"{fn} got an empty batch (input shape {shape}); expected at least one example")
    if any(s == 0 for s in batched.shape[1:]):
        raise ValueError(f"{fn} expects non-empty channel and spatial axes; got input shape {shape}")
    return batched, unbatched


def _needs_grad(*tensors) -> bool:
    return is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


# --------------------------------------------------------------------------------------
# Pure NumPy kernels (2-D; the 1-D versions add a height axis of size 1).
# --------------------------------------------------------------------------------------


def _pad2d(x: np.ndarray, pads, value=0.0) -> np.ndarray:
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


def _windows(xp: np.ndarray, kernel, stride) -> np.ndarray:
    """A view (no copy) of every window: shape (N, C, H_out, W_out, kh, kw)."""
    (kh, kw), (sh, sw) = kernel, stride
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def _col2im(dwin: np.ndarray, padded_shape, stride, pads) -> np.ndarray:
    """Add window gradients (N, C, kh, kw, H_out, W_out) back onto the input pixels.

    Overlapping windows share pixels, so their contributions must be summed: one
    vectorised slice-add per kernel offset (i, j) covers every window at once.
    """
    n, c, kh, kw, ho, wo = dwin.shape
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    grad = np.zeros(padded_shape, dtype=dwin.dtype)
    for i in range(kh):
        for j in range(kw):
            grad[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw] += dwin[:, :, i, j]
    hp, wp = padded_shape[2:]
    return grad[:, :, pt : hp - pb, pl : wp - pr]


def _conv2d_forward(x, w, b, stride, pads, keep_columns: bool):
    """Cross-correlate x (N, C, H, W) with w (O, C, kh, kw); return (out, columns or None).

    The columns are laid out (N, C*kh*kw, H_out*W_out), so that one batched matrix product
    ``w (O, C*kh*kw) @ columns`` lands directly in the output layout (N, O, H_out*W_out),
    with no transpose of the (large) output afterwards.
    """
    n, c = x.shape[:2]
    o, _, kh, kw = w.shape
    win = _windows(_pad2d(x, pads), (kh, kw), stride)  # (N, C, Ho, Wo, kh, kw), a view
    ho, wo = win.shape[2:4]
    # im2col: the one copy of the forward pass; row (c, i, j) of example n holds the pixel
    # at offset (i, j) of channel c for every output position
    columns = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, ho * wo)
    out = np.matmul(w.reshape(o, c * kh * kw), columns)  # (N, O, Ho*Wo)
    if b is not None:
        out += b[:, None]
    return out.reshape(n, o, ho, wo), (columns if keep_columns else None)


def _conv2d_backward(grad_out, x_shape, w, columns, stride, pads, need_x, need_w, need_b):
    """Gradients of _conv2d_forward w.r.t. x, w and b (None where not needed)."""
    n, c, h, wd = x_shape
    o, _, kh, kw = w.shape
    ho, wo = grad_out.shape[2:]
    g = grad_out.reshape(n, o, ho * wo)
    grad_w = grad_b = grad_x = None
    if need_w:  # sum over examples of g[n] @ columns[n]^T
        grad_w = np.matmul(g, columns.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    if need_b:
        grad_b = g.sum(axis=(0, 2))
    if need_x:
        (pt, pb), (pl, pr) = pads
        # gradient of every window entry, (N, C*kh*kw, Ho*Wo), viewed as (N, C, kh, kw, Ho, Wo) for col2im
        dwin = np.matmul(w.reshape(o, c * kh * kw).T, g).reshape(n, c, kh, kw, ho, wo)
        grad_x = _col2im(dwin, (n, c, h + pt + pb, wd + pl + pr), stride, pads)
    return grad_x, grad_w, grad_b


def _stride1_backward(grad_out, x_shape, w, saved, pads, need_x, need_w, need_b):
    """Gradients of a stride-1 convolution: x through a transposed convolution (which picks
    its own algorithm for its own shape), w from what the forward pass kept, b directly."""
    grad_x = grad_w = grad_b = None
    wide = None
    if need_x:
        grad_x, wide = _conv2d_input_grad_stride1(grad_out, w, x_shape[2:], pads, saved)
    if need_w:
        if saved[0] == "columns":
            grad_w = _columns_weight_grad(grad_out, saved[1], w.shape)
        else:
            grad_w = _shifted_weight_grad(grad_out, *saved[1:], w.shape[2:], wide)
    if need_b:
        grad_b = grad_out.sum(axis=(0, 2, 3))
    return grad_x, grad_w, grad_b


def _conv2d_input_grad_stride1(grad_out, w, in_hw, pads, saved=None):
    """dL/dx of a stride-1 convolution, as a convolution of the output gradient.

    Input pixel (y, x) touched output (y - i + pt, x - j + pl) through kernel offset (i, j),
    so dx is the output gradient, padded by k - 1 - p, cross-correlated with the kernel
    flipped in both axes and with in/out channels swapped (a "transposed convolution").
    That is a stride-1 convolution like the forward pass, instead of a product followed by
    kh * kw scattered additions (col2im).

    Returns (dx, wide): ``wide`` is the output gradient in the "wide" layout that the shifted
    weight gradient reads (see _shifted_weight_grad), as a view of the padded copy made here,
    when the forward pass was shifted and the two layouts line up; None otherwise.
    """
    kh, kw = w.shape[2:]
    (pt, _), (pl, _) = pads
    h, wd = in_hw
    ho, wo = grad_out.shape[2:]
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C, O, kh, kw)
    # padding that makes the output come out at the input's size: k - 1 - p before, the rest after
    top, left = kh - 1 - pt, kw - 1 - pl
    bottom, right = h + kh - 1 - top - ho, wd + kw - 1 - left - wo
    g = grad_out
    cropped = min(top, left, bottom, right) < 0
    if bottom < 0 or right < 0:  # output rows that saw only padding: crop instead of pad
        g = g[:, :, : ho + min(bottom, 0), : wo + min(right, 0)]
        bottom, right = max(bottom, 0), max(right, 0)
    if top < 0 or left < 0:  # padding larger than kernel - 1: those output rows saw only padding
        g = g[:, :, max(-top, 0):, max(-left, 0):]
        top, left = max(top, 0), max(left, 0)
    grad_x, padded = _stride1_conv(g, flipped, ((top, bottom), (left, right)), keep=False)
    wide = None
    if saved is not None and saved[0] == "shifted" and padded is not None and not cropped and padded[3] == saved[3]:
        # same row length Wp as the forward pass: row y of the gradient starts at (top + y) * Wp
        # + left, and the padding around it is the zero "junk" columns the wide layout needs
        start = top * padded[3] + left
        wide = padded[1][:, :, start : start + ho * padded[3]]
    return grad_x, wide


def _stride1_conv(x, w, pads, keep, bias=None):
    """Stride-1 cross-correlation by whichever algorithm suits the shape (see _use_columns).

    Returns (out, saved): what the weight gradient needs, ("columns", columns) when ``keep``
    is true, or ("shifted", flat, Hp, Wp) (the padded copy exists anyway); otherwise None.
    """
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (pt, pb), (pl, pr) = pads
    ho, wo = h + pt + pb - kh + 1, wd + pl + pr - kw + 1
    if _use_columns(c, o, ho * wo):
        out, columns = _columns_conv(_channels_last_padded(x, pads), w, bias, keep)
        return out, (("columns", columns) if keep else None)
    flat, hp, wp = _flat_padded(x, pads, kw)
    return _shifted_conv(flat, hp, wp, w, bias), ("shifted", flat, hp, wp)


# ---- which algorithm for a stride-1 convolution ----------------------------------------
#
# Both compute the same sums; they differ in what they copy and how many BLAS calls they
# make. The shifted products (below) copy nothing but make kh*kw small products per image
# and add kh*kw - 1 partial outputs together; im2col ("columns") first copies the input
# kh*kw times and then makes one large product. On small images the per-image products are
# so small that the call overhead and the wide rows' junk columns dominate, and one product
# over several images wins; on medium images it still wins when the output has more
# channels than the input, because the copies are then smaller than the partial outputs they
# save, and the kept columns make the weight gradient a single product (measured with
# benchmarks/engine_vs_torch.py and other shapes; see book/benchmarks.md).

_COLUMNS_ALWAYS_PIXELS = 64  # output images of at most 8 x 8 pixels: columns
_COLUMNS_WIDENING_PIXELS = 256  # up to 16 x 16: columns when C_out > C_in


def _use_columns(c_in: int, c_out: int, out_pixels: int) -> bool:
    if out_pixels <= _COLUMNS_ALWAYS_PIXELS:
        return True
    return out_pixels <= _COLUMNS_WIDENING_PIXELS and c_out > c_in


# ---- small images: im2col in channels-last layout, one product per chunk of images ------
#
# In channels-last layout (N, H, W, C) the kw*C numbers under one kernel row of a window are
# contiguous, so each row of the column matrix (one per output pixel, laid out (i, j, c))
# is kh contiguous copies, and the product columns @ weights (kh*kw*C, O) gives the output
# in channels-last order, transposed back to (N, O, H, W) once, with the bias added in the
# same pass. The columns are filled and multiplied a chunk of images at a time so that they
# are still in cache when the product reads them.

_COLUMNS_CHUNK_BYTES = 1 << 20
# OpenBLAS multiplies small matrices (up to about a million multiply-adds) with a kernel that
# skips the packing step of its general one. When one image's product, (O, K) @ (K, pixels),
# is that small, a product per image is faster than one product per chunk, and it lands in
# (N, O, H*W) with no transpose (measured: 16 -> 32 channels on 14 x 14 images gains, 32 -> 32
# on 16 x 16, just above the size, loses).
_SMALL_PRODUCT = 10**6


def _channels_last_padded(x: np.ndarray, pads) -> np.ndarray:
    """(N, Hp, Wp, C) zero-padded channels-last copy of x (N, C, H, W)."""
    n, c, h, wd = x.shape
    (pt, pb), (pl, pr) = pads
    xp = np.zeros((n, h + pt + pb, wd + pl + pr, c), dtype=x.dtype)
    xp[:, pt : pt + h, pl : pl + wd, :] = x.transpose(0, 2, 3, 1)
    return xp


def _fill_columns(xp: np.ndarray, kernel, columns: np.ndarray) -> None:
    """Write the im2col rows of the images xp (n, Hp, Wp, C) into columns (n*Ho*Wo, kh*kw*C)."""
    n, hp, wp, c = xp.shape
    kh, kw = kernel
    ho, wo = hp - kh + 1, wp - kw + 1
    rows = columns.reshape(n, ho, wo, kh, kw * c)
    for i in range(kh):
        # kernel row i of every window: the kw*C contiguous numbers from (y + i, x), a view
        rows[:, :, :, i] = as_strided(xp[:, i:], (n, ho, wo, kw * c), xp.strides)


def _columns_weight(w: np.ndarray) -> np.ndarray:
    """(O, C, kh, kw) weights as the (kh*kw*C, O) matrix that multiplies channels-last columns."""
    o, c, kh, kw = w.shape
    return w.transpose(2, 3, 1, 0).reshape(kh * kw * c, o)


def _columns_conv(xp, w, bias, keep: bool):
    """Stride-1 cross-correlation of xp (N, Hp, Wp, C) with w: (out (N, O, Ho, Wo), columns or None)."""
    n, hp, wp, c = xp.shape
    o, _, kh, kw = w.shape
    ho, wo = hp - kh + 1, wp - kw + 1
    pixels, depth = ho * wo, kh * kw * c
    weight = _columns_weight(w)
    out = np.empty((n, o, ho, wo), dtype=np.result_type(xp, w))
    step = max(1, min(n, _COLUMNS_CHUNK_BYTES // (pixels * depth * xp.itemsize)))
    columns = np.empty((n * pixels if keep else step * pixels, depth), dtype=xp.dtype)
    per_image = o * depth * pixels <= _SMALL_PRODUCT
    product = None if per_image else np.empty((step * pixels, o), dtype=out.dtype)
    for start in range(0, n, step):
        k = min(step, n - start)
        cols = columns[start * pixels : (start + k) * pixels] if keep else columns[: k * pixels]
        _fill_columns(xp[start : start + k], (kh, kw), cols)
        target = out[start : start + k].reshape(k, o, pixels)
        if per_image:  # (O, K) @ (K, pixels) for each image lands in (N, O, H*W) as it is
            np.matmul(weight.T, cols.reshape(k, pixels, depth).transpose(0, 2, 1), out=target)
            if bias is not None:
                target += bias[:, None]
            continue
        # one (pixels of k images, K) @ (K, O) product, then back to channels first (+ bias)
        np.matmul(cols, weight, out=product[: k * pixels])
        channels_first = product[: k * pixels].reshape(k, pixels, o).transpose(0, 2, 1)
        if bias is None:
            target[...] = channels_first
        else:
            np.add(channels_first, bias[:, None], out=target)
    return out, (columns if keep else None)


def _columns_weight_grad(grad_out, columns, w_shape):
    """dL/dw = columns^T @ (output gradient, channels last): one product over the whole batch."""
    o, c, kh, kw = w_shape
    g = np.ascontiguousarray(grad_out.transpose(0, 2, 3, 1)).reshape(-1, o)
    return (columns.T @ g).reshape(kh, kw, c, o).transpose(3, 2, 0, 1)


# ---- stride 1: shifted matrix products on flattened padded images (no im2col copy) ------
#
# Flatten each padded image (C, Hp, Wp) to (C, Hp*Wp). Kernel offset (i, j) then reads the
# contiguous slice that starts at i*Wp + j, and output pixel (y, x) sits at y*Wp + x of a
# "wide" output with Wp columns per row (its last kw - 1 columns are junk and are cut off).
# So the convolution is kh*kw matrix products w[:, :, i, j] @ slice added up, reading the
# image where it lies, where im2col first copies it kh*kw times. The batch is processed a
# few images at a time so that the running sum stays in the CPU cache: memory traffic, not
# arithmetic, is what limits a NumPy convolution (see book/benchmarks.md).

_SHIFTED_MIN_CHANNELS = 4
_CACHE_BYTES = 1 << 18  # the running sum of one chunk of images should fit in L2


def _flat_padded(x: np.ndarray, pads, kw: int):
    """(N, C, Hp*Wp + kw - 1) zero-padded copy of x, and (Hp, Wp)."""
    n, c, h, wd = x.shape
    (pt, pb), (pl, pr) = pads
    hp, wp = h + pt + pb, wd + pl + pr
    flat = np.zeros((n, c, hp * wp + kw - 1), dtype=x.dtype)  # kw - 1 spare: the last slice stays in bounds
    flat[:, :, : hp * wp].reshape(n, c, hp, wp)[:, :, pt : pt + h, pl : pl + wd] = x
    return flat, hp, wp


def _chunks(n: int, bytes_per_image: int):
    step = max(1, _CACHE_BYTES // max(bytes_per_image, 1))
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def _shifted_conv(flat, hp, wp, w, bias=None):
    """Stride-1 cross-correlation of a flat padded batch with w (O, C, kh, kw): (N, O, Ho, Wo) + bias.

    With no more input than output channels, each chunk of images is first copied kw times,
    shifted by 0..kw-1 (``_stack_kernel_row``): a whole kernel row is then one product that
    sums over C*kw terms, so a chunk costs kh products and kh - 1 additions of partial
    outputs instead of kh*kw and kh*kw - 1, and the copies are smaller than what they save.
    """
    n, c = flat.shape[:2]
    o, _, kh, kw = w.shape
    ho, wo = hp - kh + 1, wp - kw + 1
    length = ho * wp
    dtype = np.result_type(flat, w)
    out = np.empty((n, o, ho, wo), dtype=dtype)
    stacked = c <= o and kw > 1
    if stacked:  # one tap per kernel row i: w[:, :, i, :] as an (O, C*kw) matrix, reading from i*Wp
        taps = [(np.ascontiguousarray(w[:, :, i, :]).reshape(o, c * kw), i * wp) for i in range(kh)]
    else:  # one tap per kernel offset, a contiguous (O, C) matrix (BLAS reads it as it is)
        taps = [(np.ascontiguousarray(w[:, :, i, j]), i * wp + j) for i in range(kh) for j in range(kw)]
    parts = _chunks(n, o * length * dtype.itemsize)
    step = parts[0].stop
    acc_buffer, term_buffer = np.empty((step, o, length), dtype=dtype), np.empty((step, o, length), dtype=dtype)
    span = (kh - 1) * wp + length  # how far the kernel rows of one image read
    rows_buffer = np.empty((step, c, kw, span), dtype=flat.dtype) if stacked else None
    for part in parts:
        k = part.stop - part.start
        acc, term = acc_buffer[:k], term_buffer[:k]
        if stacked:
            rows = _stack_kernel_row(flat[part], rows_buffer[:k])
            windows = [rows[..., s : s + length].reshape(k, c * kw, length) for _, s in taps]
        else:
            windows = [flat[part][:, :, s : s + length] for _, s in taps]
        np.matmul(taps[0][0], windows[0], out=acc)
        for (tap, _), window in zip(taps[1:], windows[1:]):
            np.matmul(tap, window, out=term)
            acc += term
        # drop the wide rows' junk columns (and add the bias) while the chunk is still in cache
        wide = acc.reshape(k, o, ho, wp)[:, :, :, :wo]
        if bias is None:
            out[part] = wide
        else:
            np.add(wide, bias[:, None, None], out=out[part])
    return out


def _stack_kernel_row(images, buffer):
    """buffer (k, C, kw, span)[:, :, j, q] = images[:, :, q + j]: the kw offsets of a kernel row side by side."""
    kw, span = buffer.shape[2:]
    for j in range(kw):
        buffer[:, :, j] = images[:, :, j : j + span]
    return buffer


def _shifted_weight_grad(grad_out, flat, hp, wp, kernel, wide=None):
    """dL/dw[:, :, i, j] = sum over images of (wide output gradient) @ (slice (i, j))^T.

    ``wide`` is the output gradient laid out like the wide output, (N, O, Ho*Wp) with zeros
    in the junk columns; it is built here unless the input gradient already made one.
    """
    n, o, ho, wo = grad_out.shape
    kh, kw = kernel
    c = flat.shape[1]
    length = ho * wp
    if wide is None:
        wide = np.zeros((n, o, ho, wp), dtype=grad_out.dtype)
        wide[:, :, :, :wo] = grad_out  # the junk columns of the wide output get no gradient
        wide = wide.reshape(n, o, length)
    grad_w = np.zeros((kh, kw, o, c), dtype=grad_out.dtype)
    for part in _chunks(n, (o + c) * length * grad_out.dtype.itemsize):
        g, images = wide[part], flat[part]
        for i in range(kh):
            for j in range(kw):
                start = i * wp + j
                grad_w[i, j] += np.matmul(g, images[:, :, start : start + length].transpose(0, 2, 1)).sum(axis=0)
    return grad_w.transpose(2, 3, 0, 1)


def _max_pool2d_forward(x, kernel, stride, pads, keep_index: bool):
    """Max over each window (padding counts as -inf); returns (out, argmax index or None)."""
    n, c = x.shape[:2]
    win = _windows(_pad2d(x, pads, value=-np.inf), kernel, stride)
    ho, wo = win.shape[2:4]
    flat = win.reshape(n, c, ho, wo, kernel[0] * kernel[1])
    if not keep_index:
        return flat.max(axis=-1), None
    # argmax takes the first maximum (row-major in the window), as PyTorch's CPU kernel does
    index = flat.argmax(axis=-1)
    return np.take_along_axis(flat, index[..., None], axis=-1)[..., 0], index


def _max_pool2d_backward(grad_out, index, x_shape, kernel, stride, pads):
    """Send each output gradient to the input pixel that won its window."""
    kh, kw = kernel
    dwin = np.zeros(grad_out.shape[:2] + (kh, kw) + grad_out.shape[2:], dtype=grad_out.dtype)
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        dwin[:, :, i, j] = np.where(index == k, grad_out, 0)
    (pt, pb), (pl, pr) = pads
    padded = (x_shape[0], x_shape[1], x_shape[2] + pt + pb, x_shape[3] + pl + pr)
    return _col2im(dwin, padded, stride, pads)


def _avg_pool2d_divisor(x_shape, kernel, stride, pads, count_include_pad, dtype):
    """Number of elements each window averages: kh*kw, or only the real (unpadded) pixels."""
    if count_include_pad:
        return np.asarray(kernel[0] * kernel[1], dtype=dtype)
    ones = _pad2d(np.ones((1, 1) + tuple(x_shape[2:]), dtype=dtype), pads)
    return _windows(ones, kernel, stride).sum(axis=(-2, -1))[0, 0]  # (Ho, Wo)


def _avg_pool2d_forward(x, kernel, stride, pads, divisor):
    win = _windows(_pad2d(x, pads), kernel, stride)
    return win.sum(axis=(-2, -1)) / divisor


def _avg_pool2d_backward(grad_out, x_shape, kernel, stride, pads, divisor):
    kh, kw = kernel
    share = grad_out / divisor  # every pixel of a window gets an equal share
    dwin = np.broadcast_to(share[:, :, None, None], grad_out.shape[:2] + (kh, kw) + grad_out.shape[2:])
    (pt, pb), (pl, pr) = pads
    padded = (x_shape[0], x_shape[1], x_shape[2] + pt + pb, x_shape[3] + pl + pr)
    return _col2im(dwin, padded, stride, pads)


# --------------------------------------------------------------------------------------
# Public functions: check arguments, run the kernel, record the op for autograd.
# --------------------------------------------------------------------------------------


def _conv(input, weight, bias, stride, padding, spatial: int, fn: str):
    layout = "(N, C, H, W)" if spatial == 2 else "(N, C, L)"
    wlayout = "(C_out, C_in, kH, kW)" if spatial == 2 else "(C_out, C_in, k)"
    hint = (
        "add batch and channel axes with x[None, None]" if input.ndim == spatial
        else "reshape it to the expected layout"
    ) if isinstance(input, Tensor) else ""
    _check_tensor(input, "input", fn)
    _check_tensor(weight, "weight", fn)
    if bias is not None:
        _check_tensor(bias, "bias", fn)
    _check_dtypes(fn, input=input, weight=weight, bias=bias)
    x, unbatched = _batched(input, spatial, fn, layout, hint)
    w = weight.data
    if w.ndim != spatial + 2:
        raise ValueError(f"{fn} expects weight of shape {wlayout}; got {w.shape}")
    kernel = tuple(w.shape[2:])
    _positive(kernel, "kernel size", fn)
    if w.shape[0] == 0:
        raise ValueError(f"{fn} expects at least one output channel; got weight shape {w.shape}")
    if w.shape[1] != x.shape[1]:
        where = "axis 0, read as one unbatched example" if unbatched else "axis 1"
        raise ValueError(
            f"{fn}: weight {w.shape} expects {w.shape[1]} input channels, but the input {input.shape} "
            f"has {x.shape[1]} ({where}): check in_channels or the input layout {layout}"
        )
    if bias is not None and bias.data.shape != (w.shape[0],):
        raise ValueError(f"{fn} expects bias of shape ({w.shape[0]},) (one per output channel); got {bias.data.shape}")
    strides = _int_tuple(stride, spatial, "stride", fn)
    _positive(strides, "stride", fn, stride)
    pads = _padding_amounts(padding, kernel, strides, fn)
    padded = tuple(s + a + b for s, (a, b) in zip(x.shape[2:], pads))
    if any(k > p for k, p in zip(kernel, padded)):
        raise ValueError(
            f"{fn}: kernel size {kernel} is larger than the padded input {padded} "
            f"(input {tuple(x.shape[2:])} plus padding): use a smaller kernel or more padding"
        )
    if spatial == 1:  # a 1-D convolution is a 2-D one over an image of height 1
        x, w = x[:, :, None, :], w[:, :, None, :]
        strides, pads = (1,) + strides, ((0, 0),) + pads
    b = None if bias is None else bias.data
    need_x, need_w = _needs_grad(input), _needs_grad(weight)
    need_b = bias is not None and _needs_grad(bias)
    x_shape = x.shape
    # stride 1 with a few input channels: shifted products or channels-last columns (see
    # _use_columns); a first layer (1-3 channels) is faster through the classic im2col, whose
    # one product sums over C*kh*kw
    stride1 = strides == (1, 1) and x.shape[1] >= _SHIFTED_MIN_CHANNELS
    if stride1:
        out, saved = _stride1_conv(x, w, pads, keep=need_w, bias=b)
        columns = None
        if not need_w:  # only the weight gradient reads what the forward pass kept
            saved = None
    else:
        out, columns = _conv2d_forward(x, w, b, strides, pads, keep_columns=need_w)

    def backward(grad):
        g = grad[None] if unbatched else grad
        if spatial == 1:
            g = g[:, :, None, :]
        if stride1:
            gx, gw, gb = _stride1_backward(g, x_shape, w, saved, pads, need_x, need_w, need_b)
        else:
            gx, gw, gb = _conv2d_backward(g, x_shape, w, columns, strides, pads, need_x, need_w, need_b)
        if gx is not None:
            gx = gx.reshape(input.data.shape)
        if gw is not None:
            gw = gw.reshape(weight.data.shape)
        grads = (gx, gw) if bias is None else (gx, gw, gb)
        return grads

    if spatial == 1:
        out = out[:, :, 0, :]
    if unbatched:
        out = out[0]
    parents = (input, weight) if bias is None else (input, weight, bias)
    return Tensor.from_op(out, parents, backward, fn)


def conv2d(input, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation, like ``torch.nn.functional.conv2d`` (no dilation, no groups).

    ``input`` is ``(N, C_in, H, W)`` (or one example ``(C_in, H, W)``), ``weight`` is
    ``(C_out, C_in, kH, kW)``, ``bias`` is ``(C_out,)`` or None. ``stride`` and ``padding``
    are ints or ``(h, w)`` tuples; ``padding`` may also be ``'valid'`` or ``'same'``
    (stride 1). The kernel is *not* flipped: this is cross-correlation, which is what every
    framework computes under the name "convolution" (see the module docstring).
    """
    return _conv(input, weight, bias, stride, padding, 2, "conv2d")


def conv1d(input, weight, bias=None, stride=1, padding=0):
    """1-D cross-correlation, like ``torch.nn.functional.conv1d`` (no dilation, no groups).

    ``input`` is ``(N, C_in, L)`` (or ``(C_in, L)``), ``weight`` is ``(C_out, C_in, k)``.
    Computed as a 2-D cross-correlation over an image of height 1; the kernel is not flipped.
    """
    return _conv(input, weight, bias, stride, padding, 1, "conv1d")


def _pool_args(input, kernel_size, stride, padding, spatial: int, fn: str):
    layout = "(N, C, H, W)" if spatial == 2 else "(N, C, L)"
    _check_tensor(input, "input", fn)
    hint = "add batch and channel axes with x[None, None]" if input.ndim == spatial else "reshape it to the expected layout"
    x, unbatched = _batched(input, spatial, fn, layout, hint)
    kernel = _int_tuple(kernel_size, spatial, "kernel_size", fn)
    _positive(kernel, "kernel_size", fn, kernel_size)
    # PyTorch: stride defaults to the kernel size (non-overlapping windows)
    strides = kernel if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _int_tuple(stride, spatial, "stride", fn)
    _positive(strides, "stride", fn, stride)
    pad = _int_tuple(padding, spatial, "padding", fn)
    if any(p < 0 for p in pad):
        raise ValueError(f"{fn} expects a non-negative padding; got {padding!r}")
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ValueError(f"{fn}: padding {padding!r} should be at most half the kernel size {kernel} (as in PyTorch)")
    pads = tuple((p, p) for p in pad)
    padded = tuple(s + 2 * p for s, p in zip(x.shape[2:], pad))
    if any(k > p for k, p in zip(kernel, padded)):
        raise ValueError(
            f"{fn}: kernel size {kernel} is larger than the padded input {padded}: use a smaller kernel_size"
        )
    if spatial == 1:
        x = x[:, :, None, :]
        kernel, strides, pads = (1,) + kernel, (1,) + strides, ((0, 0),) + pads
    return x, unbatched, kernel, strides, pads


def _unshape(out, spatial, unbatched):
    if spatial == 1:
        out = out[:, :, 0, :]
    return out[0] if unbatched else out


def _reshape_grad(grad, spatial, unbatched):
    g = grad[None] if unbatched else grad
    return g[:, :, None, :] if spatial == 1 else g


def _max_pool(input, kernel_size, stride, padding, spatial, fn):
    x, unbatched, kernel, strides, pads = _pool_args(input, kernel_size, stride, padding, spatial, fn)
    need = _needs_grad(input)
    out, index = _max_pool2d_forward(x, kernel, strides, pads, keep_index=need)
    x_shape = x.shape

    def backward(grad):
        g = _reshape_grad(grad, spatial, unbatched)
        gx = _max_pool2d_backward(g, index, x_shape, kernel, strides, pads)
        return (gx.reshape(input.data.shape),)

    return Tensor.from_op(np.ascontiguousarray(_unshape(out, spatial, unbatched)), (input,), backward, fn)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """Max over each kH x kW window, like ``torch.nn.functional.max_pool2d``.

    ``stride`` defaults to ``kernel_size``; padding pads with -inf and may be at most half
    the kernel. The gradient flows only to the maximum of each window (the first one,
    in row-major order, when several tie).
    """
    return _max_pool(input, kernel_size, stride, padding, 2, "max_pool2d")


def max_pool1d(input, kernel_size, stride=None, padding=0):
    """Max over each window of length ``kernel_size``, like ``torch.nn.functional.max_pool1d``."""
    return _max_pool(input, kernel_size, stride, padding, 1, "max_pool1d")


def _avg_pool(input, kernel_size, stride, padding, count_include_pad, spatial, fn):
    x, unbatched, kernel, strides, pads = _pool_args(input, kernel_size, stride, padding, spatial, fn)
    divisor = _avg_pool2d_divisor(x.shape, kernel, strides, pads, count_include_pad, x.dtype)
    out = _avg_pool2d_forward(x, kernel, strides, pads, divisor)
    x_shape = x.shape

    def backward(grad):
        g = _reshape_grad(grad, spatial, unbatched)
        gx = _avg_pool2d_backward(g, x_shape, kernel, strides, pads, divisor)
        return (gx.reshape(input.data.shape),)

    return Tensor.from_op(np.ascontiguousarray(_unshape(out, spatial, unbatched)), (input,), backward, fn)


def _no_ceil_or_divisor(ceil_mode, divisor_override, fn):
    if ceil_mode:
        raise NotImplementedError(f"{fn}: ceil_mode=True is not implemented in the NumPy engine (windows that "
                                  f"run past the edge are dropped, as with ceil_mode=False)")
    if divisor_override is not None:
        raise NotImplementedError(f"{fn}: divisor_override is not implemented in the NumPy engine")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over each kH x kW window, like ``torch.nn.functional.avg_pool2d`` (same argument order).

    With ``count_include_pad=True`` (PyTorch's default) the zero padding counts in the
    mean; with False only the real pixels do.
    """
    _no_ceil_or_divisor(ceil_mode, divisor_override, "avg_pool2d")
    return _avg_pool(input, kernel_size, stride, padding, count_include_pad, 2, "avg_pool2d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over each window of length ``kernel_size``, like ``torch.nn.functional.avg_pool1d``."""
    _no_ceil_or_divisor(ceil_mode, None, "avg_pool1d")
    return _avg_pool(input, kernel_size, stride, padding, count_include_pad, 1, "avg_pool1d")
