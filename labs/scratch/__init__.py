"""``labs.scratch``: a deep-learning engine in NumPy that mirrors PyTorch's API.

Read it in this order:

- ``tensor.py``: the :class:`Tensor` with automatic differentiation (each operation's
  backward rule sits next to its forward computation);
- ``functional.py``: activations, losses, dropout, embedding, layer norm (``F`` below), and
  the convolution, pooling and attention of ``conv.py`` and ``attention.py``;
- ``nn/``: layers as modules holding parameters, with PyTorch's ``state_dict`` keys;
- ``optim.py`` and ``lr_scheduler.py``: SGD, Adagrad, Adam and AdamW with PyTorch's update rules;
- ``ops.py``: tril/triu, cumsum, logsumexp, gather, topk, split/chunk (also Tensor methods);
- ``gradcheck.py``: checks any backward rule against central differences;
- ``serialization.py``: ``save``/``load`` of weights and optimizer state as ``.npz`` (no pickle);
- ``per_sample.py`` (one gradient per example, for DP-SGD) and ``quantize.py`` (int8 matmul with
  int32 accumulation, for quantization).

Because the names match, ``import labs.scratch as torch`` runs many small PyTorch programs
unchanged, and the tests run both and compare the numbers. Torch habits behave as in torch
or raise a clear error, never do something else: ``p.grad`` is a Tensor (``p.grad.zero_()``,
``p.grad.norm()``; ``p.grad.data`` is its NumPy array), in-place operators change the tensor
itself (``p -= lr * p.grad`` under ``no_grad()``), positional arguments follow torch's order
(``tests/test_scratch_signatures.py``), and ``set_default_dtype(float64)`` makes every new
tensor and layer float64.
"""

from labs.scratch.tensor import (
    Parameter,
    Tensor,
    arange,
    bool_,
    cat,
    enable_grad,
    eye,
    float32,
    float64,
    full,
    get_default_dtype,
    get_generator,
    int8,
    int32,
    int64,
    is_grad_enabled,
    linspace,
    manual_seed,
    no_grad,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    set_default_dtype,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)
from labs.scratch.ops import chunk, cumsum, gather, logsumexp, split, topk, tril, triu
from labs.scratch.serialization import load, save
from labs.scratch.per_sample import per_sample_grads
from labs.scratch.quantize import dequantize_symmetric, int8_matmul, quantize_symmetric
from labs.scratch import functional
from labs.scratch import functional as F
from labs.scratch import optim
from labs.scratch.gradcheck import gradcheck
from labs.scratch import nn

__all__ = [
    "Tensor", "Parameter", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
    "functional", "F", "nn", "optim", "gradcheck",
    "cat", "stack", "where", "zeros", "ones", "zeros_like", "ones_like", "full", "eye",
    "arange", "linspace", "rand", "randn", "randint", "manual_seed", "get_generator",
    "float32", "float64", "int64", "int32", "int8", "bool_", "set_default_dtype", "get_default_dtype",
    "tril", "triu", "cumsum", "logsumexp", "gather", "topk", "split", "chunk", "save", "load",
    "per_sample_grads", "int8_matmul", "quantize_symmetric", "dequantize_symmetric",
]
