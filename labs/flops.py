"""Counting the floating-point operations of our GPT, by formula and by PyTorch's counter.

Chapter 10a checks the formula against :class:`torch.utils.flop_counter.FlopCounterMode`
run on the real model (``labs.models.gpt.GPT``). Conventions, the counter's and Kaplan et
al.'s: a multiply-add is 2 FLOPs; only matrix products count (biases, LayerNorm, GELU,
softmax are a few FLOPs per element, negligible next to the products for any real width).

Forward pass of a batch of B sequences of T tokens, width C, L blocks, vocabulary V::

    2 B T (12 L C^2 + V C)     every weight matrix: 2 FLOPs per weight per token
    + 4 L B T^2 C              attention: q k^T and (weights) v, each 2 B T^2 C per layer

The backward pass costs twice the forward (one product for the input's gradient, one for
the weight's), so training is 3x forward: ``6 N D`` with N the weights in matrix
products, plus ``12 L B T^2 C`` for attention. The attention term is counted in full
(T^2): the math path computes the whole score matrix and then masks it; a causal kernel
that skips the masked half does half of it (Kaplan et al. count it so).
"""

from __future__ import annotations

import contextlib

from labs.models.gpt_config import GPTConfig

__all__ = ["matmul_params", "gpt_forward_flops", "gpt_training_flops", "attention_flop_share",
           "count_flops", "flops_per_token"]


def _check_batch(batch_size, seq_len, config: GPTConfig):
    if not isinstance(config, GPTConfig):
        raise TypeError(f"expected a GPTConfig; got {type(config).__name__}")
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    if seq_len > config.block_size:
        raise ValueError(f"seq_len={seq_len} is longer than the model's block_size={config.block_size}")


def matmul_params(config: GPTConfig) -> int:
    """The weights that take part in a matrix product per token: 12 L C^2 + V C.

    That is every block's four attention and two MLP matrices, plus the output layer; the
    embedding tables are looked up, not multiplied, and biases and LayerNorms are left out.
    """
    C = config.n_embd
    return 12 * config.n_layer * C * C + config.vocab_size * C


def gpt_forward_flops(config: GPTConfig, batch_size: int, seq_len: int) -> int:
    """FLOPs of one forward pass of ``GPT(config)`` on a (batch_size, seq_len) batch."""
    _check_batch(batch_size, seq_len, config)
    B, T, C, L = batch_size, seq_len, config.n_embd, config.n_layer
    return 2 * B * T * matmul_params(config) + 4 * L * B * T * T * C


def gpt_training_flops(config: GPTConfig, batch_size: int, seq_len: int) -> int:
    """FLOPs of one forward and backward pass: 3x the forward (the backward is two products per one)."""
    return 3 * gpt_forward_flops(config, batch_size, seq_len)


def flops_per_token(config: GPTConfig, seq_len: int) -> float:
    """Training FLOPs per token at context ``seq_len``: 6 N_matmul + 12 L T C."""
    return gpt_training_flops(config, 1, seq_len) / seq_len


def attention_flop_share(config: GPTConfig, seq_len: int) -> float:
    """The fraction of the forward FLOPs spent on attention scores, 2 L T C / (N_matmul + 2 L T C)."""
    total = gpt_forward_flops(config, 1, seq_len)
    return 4 * config.n_layer * seq_len * seq_len * config.n_embd / total


def count_flops(fn, *args, math_attention: bool = True, **kwargs):
    """Run ``fn(*args, **kwargs)`` under FlopCounterMode; return (total FLOPs, fn's result).

    ``math_attention`` runs scaled_dot_product_attention on PyTorch's math path, whose
    products the counter sees. On CPU, PyTorch's fused attention kernel is not one of the
    operations the counter knows, so without it the attention FLOPs would silently be
    missing from the count.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    backend = sdpa_kernel(SDPBackend.MATH) if math_attention else contextlib.nullcontext()
    with backend, FlopCounterMode(display=False) as counter:
        result = fn(*args, **kwargs)
    return counter.get_total_flops(), result
