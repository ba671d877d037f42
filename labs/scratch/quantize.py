"""Integer matrix products for quantized inference: int8 inputs, int32 accumulation.

A quantized layer stores weights as int8 with one float scale, w ~ scale_w * q_w. The
product of two such matrices is scale_a * scale_b * (q_a @ q_b), and q_a @ q_b is computed
exactly in integers: each term is at most 128 * 128 = 2^14 in size, so int32 holds a sum
of up to 2^31 / 2^14 = 131072 of them without overflow. That is the contract of int8
hardware kernels (and of ``torch._int_mm``, which the tests compare against).
"""

from __future__ import annotations

import numpy as np

from labs.scratch.tensor import Tensor

__all__ = ["MAX_INT8_DEPTH", "dequantize_symmetric", "int8_matmul", "quantize_symmetric"]

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
