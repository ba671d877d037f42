"""Integer matrix products for quantized inference: int8 inputs, int32 accumulation.

A quantized layer stores weights as int8 with one float scale, w ~ scale_w * q_w. The
product of two such matrices is scale_a * scale_b * (q_a @ q_b), and q_a @ q_b is computed
exactly in integers: each term is at most 128 * 128 = 2^14 in size, so int32 holds a sum
of up to 2^31 / 2^14 = 131072 of them without overflow. That is the contract of int8
hardware kernels (and of ``torch._int_mm``, which the tests compare against).

Two schemes build on it:

- **symmetric** (``quantize_symmetric``): q = round(x / s) in [-127, 127], zero maps to zero;
  per tensor (one scale) or per channel (one scale per output row of a weight matrix).
  ``int8_linear`` quantizes weights *and* activations this way and
  ``int8_linear_error_bound`` is the worst case of its rounding error (derived there).
- **affine** (``choose_qparams_affine``, ``quantize_affine``): q = round(x / s) + z in
  [qmin, qmax], for activations that are mostly positive. ``dynamic_int8_linear`` is the
  dynamic-quantized Linear of PyTorch's x86/fbgemm engine written out in NumPy: uint8
  activations with range [0, 127] ("reduce_range"), int8 weights, int32 accumulation,
  and a zero-point correction; the tests check it equals ``torch.ao`` 's result.
"""

from __future__ import annotations

import numpy as np

from labs.scratch.tensor import Tensor

__all__ = ["MAX_INT8_DEPTH", "choose_qparams_affine", "dequantize_symmetric", "dynamic_int8_linear", "int8_linear",
           "int8_linear_error_bound", "int8_matmul", "quantize_affine", "quantize_symmetric"]

MAX_INT8_DEPTH = 2**31 // (128 * 128)  # the longest inner dimension int32 accumulation can hold exactly


def _int8(x, name: str) -> np.ndarray:
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    if arr.dtype != np.int8:
        raise TypeError(f"int8_matmul expects int8 {name}; got dtype {arr.dtype} (quantize it first: "
                        f"quantize_symmetric(x) returns int8 values and a scale)")
    return arr


def int8_matmul(a, b) -> Tensor:
    """``a @ b`` for int8 matrices (batched like ``matmul``), as exact int32 (no gradient)."""
    qa, qb = _int8(a, "a"), _int8(b, "b")
    if qa.ndim < 2 or qb.ndim < 2:
        raise ValueError(f"int8_matmul needs matrices (at least 2-D); got shapes {qa.shape} and {qb.shape}")
    if qa.shape[-1] != qb.shape[-2]:
        raise ValueError(f"int8_matmul: shapes {qa.shape} and {qb.shape} do not line up (the last axis of a "
                         f"must equal the second-to-last of b)")
    depth = qa.shape[-1]
    if depth > MAX_INT8_DEPTH:
        raise ValueError(f"int8_matmul: an inner dimension of {depth} could overflow int32 accumulation "
                         f"(at most {MAX_INT8_DEPTH} is exact); split the product")
    # NumPy has no int8 x int8 -> int32 kernel: widen first, then every sum is exact in int32
    return Tensor(np.matmul(qa.astype(np.int32), qb.astype(np.int32)))


def quantize_symmetric(x, dim=None) -> tuple[Tensor, np.ndarray]:
    """Symmetric int8 quantization: q = round(x / scale) in [-127, 127], scale = max|x| / 127
    (over all of x, or per slice along ``dim``: per output channel for a weight matrix)."""
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"quantize_symmetric expects a floating-point tensor; got dtype {arr.dtype}")
    if dim is None:
        amax = np.max(np.abs(arr)) if arr.size else 0.0
    else:
        axes = tuple(i for i in range(arr.ndim) if i != dim % arr.ndim)
        amax = np.max(np.abs(arr), axis=axes, keepdims=True)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(arr.dtype)  # an all-zero slice keeps scale 1
    q = np.clip(np.rint(arr / scale), -127, 127).astype(np.int8)
    return Tensor(q), scale


def dequantize_symmetric(q, scale) -> Tensor:
    """Back to floating point: q * scale."""
    arr = q.data if isinstance(q, Tensor) else np.asarray(q)
    return Tensor(arr.astype(np.asarray(scale).dtype) * scale)


def _float(x, fn: str) -> np.ndarray:
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{fn} expects floating-point inputs; got dtype {arr.dtype}")
    return arr


def _linear_shapes(fn: str, x: np.ndarray, w: np.ndarray) -> None:
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{fn}: x of shape (..., in_features) and weight of shape (out_features, in_features) "
                         f"are expected, as in torch.nn.Linear; got x {x.shape} and weight {w.shape}")


def int8_linear(x, weight, bias=None, per_channel: bool = True) -> Tensor:
    """``x @ weight.T + bias`` computed in int8: both operands quantized symmetrically
    (activations per tensor, on the fly; weights per output channel or per tensor), the
    product accumulated exactly in int32, then rescaled by ``scale_x * scale_w``."""
    xa, wa = _float(x, "int8_linear"), _float(weight, "int8_linear")
    _linear_shapes("int8_linear", xa, wa)
    qx, sx = quantize_symmetric(xa)
    qw, sw = quantize_symmetric(wa, dim=0 if per_channel else None)   # sw: (out, 1) or a scalar
    acc = int8_matmul(qx.data.reshape(-1, xa.shape[-1]), qw.data.T).data   # (rows, out), exact int32
    out = acc * (sx * np.reshape(sw, -1))
    if bias is not None:
        out = out + _float(bias, "int8_linear")
    return Tensor(out.reshape(*xa.shape[:-1], wa.shape[0]).astype(xa.dtype))


def int8_linear_error_bound(x, weight, per_channel: bool = True) -> np.ndarray:
    """The worst-case error of :func:`int8_linear` against the exact ``x @ weight.T``, per output.

    Write x = sx*qx + ex and w = sw*qw + ew. Rounding to the nearest step leaves
    |ex| <= sx/2 and |ew| <= sw/2 (no clipping: the scale comes from the max), so

        x.w - (sx*qx).(sw*qw) = sum_k (x_k ew_k + ex_k w_k - ex_k ew_k)
        |error| <= sw/2 * sum|x_k| + sx/2 * sum|w_k| + K * sx*sw/4.

    The three terms are the weight's rounding, the activation's, and their product.
    """
    xa, wa = _float(x, "int8_linear_error_bound"), _float(weight, "int8_linear_error_bound")
    _linear_shapes("int8_linear_error_bound", xa, wa)
    _, sx = quantize_symmetric(xa)
    _, sw = quantize_symmetric(wa, dim=0 if per_channel else None)
    sw = np.reshape(sw, -1)                                            # (out,) or (1,)
    k = xa.shape[-1]
    abs_x = np.abs(xa).sum(-1, keepdims=True)                          # (..., 1)
    abs_w = np.abs(wa).sum(-1)                                         # (out,)
    return (sw / 2 * abs_x + sx / 2 * abs_w + k * sx * sw / 4).astype(np.float64)


def choose_qparams_affine(xmin: float, xmax: float, qmin: int = 0, qmax: int = 255) -> tuple[float, int]:
    """Scale and zero point that map [xmin, xmax] (widened to contain 0) onto [qmin, qmax].

    The range must contain 0 so that 0 (ReLU's output, padding) is exactly representable.
    The zero point is the integer nearest to ``qmin - xmin / scale`` (or ``qmax - xmax /
    scale``, whichever end is computed with less rounding error), as fbgemm chooses it.
    """
    if not (np.isfinite(xmin) and np.isfinite(xmax)) or xmin > xmax:
        raise ValueError(f"choose_qparams_affine needs finite xmin <= xmax; got {xmin}, {xmax}")
    if not qmin < qmax:
        raise ValueError(f"choose_qparams_affine needs qmin < qmax; got {qmin}, {qmax}")
    xmin, xmax = min(float(xmin), 0.0), max(float(xmax), 0.0)
    scale = float(np.float32((xmax - xmin) / (qmax - qmin)))
    if scale == 0.0 or not np.isfinite(1.0 / np.float32(scale)):
        scale = 0.1                                                   # an all-zero tensor: any scale works
    from_min, from_max = qmin - xmin / scale, qmax - xmax / scale
    err_min, err_max = abs(qmin) + abs(xmin / scale), abs(qmax) + abs(xmax / scale)
    zero_point = from_min if err_min < err_max else from_max
    return scale, int(np.clip(np.rint(zero_point), qmin, qmax))


def quantize_affine(x, scale: float, zero_point: int, qmin: int = 0, qmax: int = 255) -> np.ndarray:
    """q = clip(round(x / scale) + zero_point, qmin, qmax), as int32 (it may hold uint8 values)."""
    arr = _float(x, "quantize_affine")
    return np.clip(np.rint(arr / scale) + zero_point, qmin, qmax).astype(np.int32)


def dynamic_int8_linear(x, qweight, weight_scale, bias=None, reduce_range: bool = True) -> Tensor:
    """PyTorch's dynamically quantized Linear, in NumPy, from its int8 weight and scale.

    The activation is quantized per call to uint8 with an affine scale and zero point over
    its own min and max (range [0, 127] with ``reduce_range``, which x86's fbgemm kernels use
    so that their 16-bit intermediate sums cannot saturate; [0, 255] otherwise). Then

        y = sx * sw * (sum_k (qx_k - zx) qw_k) + b,

    with the sum exact in int32. ``weight_scale`` is a float (per tensor) or one per row.
    """
    xa = _float(x, "dynamic_int8_linear")
    qw = _int8(qweight, "qweight")
    _linear_shapes("dynamic_int8_linear", xa, qw)
    qmax = 127 if reduce_range else 255
    scale, zero = choose_qparams_affine(float(xa.min()), float(xa.max()), 0, qmax)
    qx = quantize_affine(xa.reshape(-1, xa.shape[-1]).astype(np.float64), scale, zero, 0, qmax)
    # (qx - zx) lies in [-255, 255] and qw in [-128, 127]: still exact in int32 for these depths
    acc = np.matmul(qx - zero, qw.astype(np.int32).T)
    out = acc * (scale * np.reshape(np.asarray(weight_scale, dtype=np.float64), -1))
    if bias is not None:
        out = out + _float(bias, "dynamic_int8_linear")
    return Tensor(out.reshape(*xa.shape[:-1], qw.shape[0]))
