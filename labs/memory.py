"""Where a training step's memory goes: weights, gradients, Adam state and activations.

- :func:`training_state_bytes` reads the first three from the model's parameters (a tied
  matrix counted once): with Adam, 4 numbers per parameter (weight, gradient, two moments).
- :class:`SavedTensorMeter` measures activations on any device: it hooks what autograd
  saves for the backward pass (``torch.autograd.graph.saved_tensors_hooks``) and adds up
  the distinct storages, leaving out the parameters (already counted above). Views of one
  tensor share a storage, so a tensor saved three times (q, k, v are views of one
  projection) is counted once, as the memory is held once.
- :func:`block_activation_floats` is the formula for one of our pre-LayerNorm blocks, and
  :func:`gpt_activation_bytes` for the whole GPT; the tests check both against the meter.
- :func:`cuda_peak_bytes` is the same measurement from the allocator, on a GPU.
"""

from __future__ import annotations

import contextlib

import torch

from labs.models.gpt_config import GPTConfig

__all__ = ["training_state_bytes", "SavedTensorMeter", "block_activation_floats", "gpt_activation_bytes",
           "checkpointed_blocks", "cuda_peak_bytes"]


def _unique_parameters(model):
    seen, out = set(), []
    for p in model.parameters():  # parameters() already yields a tied tensor once; keep it safe anyway
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            out.append(p)
    return out


def training_state_bytes(model: torch.nn.Module, optimizer: str = "adam") -> dict[str, int]:
    """Bytes of weights, gradients and optimizer state for training ``model`` in its dtype.

    ``optimizer``: "adam" (two moments per parameter: AdamW too), "sgd_momentum" (one),
    "sgd" (none). Returns {"weights", "gradients", "optimizer", "total"}.
    """
    moments = {"adam": 2, "sgd_momentum": 1, "sgd": 0}
    if optimizer not in moments:
        raise ValueError(f"optimizer must be one of {sorted(moments)}; got {optimizer!r}")
    weights = sum(p.numel() * p.element_size() for p in _unique_parameters(model) if p.requires_grad)
    out = {"weights": weights, "gradients": weights, "optimizer": moments[optimizer] * weights}
    out["total"] = sum(out.values())
    return out


class SavedTensorMeter:
    """``with SavedTensorMeter(model) as meter: loss = ...``; then ``meter.nbytes``.

    Counts the bytes of every distinct storage that autograd saves for backward inside
    the block, except the storages of ``model``'s parameters (and of ``exclude``).
    ``meter.records`` lists (nbytes, shape, dtype) of each storage, in order.
    Inside a region checkpointed with ``torch.utils.checkpoint(use_reentrant=False)``
    PyTorch's own hooks take over, so the meter sees what checkpointing keeps: the inputs.
    """

    def __init__(self, model: torch.nn.Module | None = None, exclude=()):
        params = list(model.parameters()) if model is not None else []
        self._skip = {t.untyped_storage().data_ptr() for t in [*params, *exclude]}
        self._storages: dict[int, tuple[int, tuple, torch.dtype]] = {}
        self._hooks = None

    def _pack(self, t):
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in self._skip and key not in self._storages:
            self._storages[key] = (storage.nbytes(), tuple(t.shape), t.dtype)
        return t  # keep the tensor itself: the meter measures, it changes nothing

    def __enter__(self):
        self._storages.clear()
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)
        return False

    @property
    def nbytes(self) -> int:
        return sum(n for n, _, _ in self._storages.values())

    @property
    def records(self) -> list[tuple[int, tuple, torch.dtype]]:
        return list(self._storages.values())


def block_activation_floats(config: GPTConfig, batch_size: int, seq_len: int, fused_attention: bool = True) -> int:
    """Numbers one block saves for backward: B T (16 C + 4 + h) fused, B T (16 C + 4 + h T) on the math path.

    Per token, with C = n_embd and h = n_head: the block input and ln_1's output (2C), q, k
    and v (3C, views of one projection), the attention output (C, which c_proj reads as
    it is), the residual sum and ln_2's output (2C), the MLP's 4C hidden layer before and
    after GELU (8C): 16C. Each LayerNorm keeps a mean and a 1/std per token (4). The fused
    kernel keeps one log-sum-exp per head (h) and recomputes the attention weights in the
    backward pass; the math path keeps the weights themselves, h T per token, which grows
    with the context: the memory that flash-style kernels save. (One detail of PyTorch's
    math path: with a single sequence, B = 1, the v it keeps is a view of the whole q, k, v
    projection rather than a copy, so that storage, 2C more per token, stays alive.)
    """
    C, h, B, T = config.n_embd, config.n_head, batch_size, seq_len
    per_token = 16 * C + 4 + (h if fused_attention else h * T + (2 * C if B == 1 else 0))
    return B * T * per_token


def gpt_activation_bytes(config: GPTConfig, batch_size: int, seq_len: int, fused_attention: bool = True,
                         dtype_bytes: int = 4, loss: bool = True) -> int:
    """Bytes autograd saves for a forward pass of ``GPT(config)`` (float32 by default).

    The blocks (:func:`block_activation_floats` each), the final LayerNorm's input, mean and
    1/std (C + 2 per token), the output layer's input (C); the ids the embedding keeps
    (int64, B T) and, with learned positions, the positions (int64, T). With ``loss``, a
    cross-entropy on the logits also keeps the log-softmax (V per token) and the targets
    (int64, B T) and the number it divides by (one float).
    """
    B, T, C = batch_size, seq_len, config.n_embd
    floats = config.n_layer * block_activation_floats(config, B, T, fused_attention) + B * T * (2 * C + 2)
    ints = B * T + (T if config.position == "learned" else 0)
    if loss:
        floats += B * T * config.vocab_size + 1
        ints += B * T
    return floats * dtype_bytes + ints * 8


@contextlib.contextmanager
def checkpointed_blocks(model):
    """Inside the ``with``, every block of a GPT runs under ``torch.utils.checkpoint``.

    Each block then keeps only its input for the backward pass and runs its forward again
    when the gradient reaches it: activation memory of one block instead of all of them,
    for about one more forward pass of the blocks (PyTorch stops the recomputation once
    it has every tensor the backward needs, so a block's last product, the MLP's c_proj,
    is not re-run: 8 C^2 of its 12 C^2 weights per token, plus attention). The model itself is not changed (the blocks'
    ``forward`` is wrapped for the duration and restored after).
    """
    from torch.utils.checkpoint import checkpoint

    blocks = list(model.transformer.h)

    def wrap(forward):
        def run(x, cache=None, layer: int = 0):
            if cache is not None:
                return forward(x, cache, layer)  # generation: no backward, nothing to save
            return checkpoint(forward, x, None, layer, use_reentrant=False)
        return run

    for block in blocks:
        block.forward = wrap(block.forward)  # an instance attribute shadows the class's forward
    try:
        yield model
    finally:
        for block in blocks:
            del block.forward


def cuda_peak_bytes(fn, *args, **kwargs) -> int:
    """Peak bytes the CUDA allocator held above its starting point while ``fn`` ran (GPU only)."""
    if not torch.cuda.is_available():
        raise RuntimeError("cuda_peak_bytes needs a CUDA GPU; on CPU use SavedTensorMeter")
    torch.cuda.synchronize()
    start = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn(*args, **kwargs)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - start
