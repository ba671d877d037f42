"""The GPT's configuration and the argument checks that both engines share (no torch here).

:class:`GPTConfig` keeps nanoGPT's field names, so a nanoGPT config reads unchanged;
``labs.models.gpt`` (PyTorch) and ``labs.scratch.models.gpt`` (NumPy) both import it. The
checks below run before any tensor operation, so a wrong call fails with a sentence that
names the fix, not with an indexing error three layers down.
"""

from __future__ import annotations

import numbers

import numpy as np
from dataclasses import dataclass

from labs.sampling import check_sampling_args

__all__ = ["GPTConfig", "POSITIONS", "parameter_count", "check_ids", "check_cache", "check_generate_args"]

POSITIONS = ("learned", "sinusoidal", "none")


@dataclass
class GPTConfig:
    """A GPT's sizes. The defaults are GPT-2 small (124M parameters).

    ``vocab_size``, ``block_size`` (the longest context), ``n_layer``, ``n_head``,
    ``n_embd`` (the width), ``dropout`` and ``bias`` (in the Linear and LayerNorm layers)
    are nanoGPT's. Added here: ``tie_weights`` (the output layer reuses the token
    embedding), ``position`` (``"learned"``: a trained table ``wpe``; ``"sinusoidal"``: the
    fixed table of :func:`labs.attention.positional_encoding`, with the token embedding
    scaled by sqrt(n_embd) as in "Attention Is All You Need"; ``"none"``) and ``causal``
    (False makes the attention bidirectional, as in BERT's encoder).
    """

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    position: str = "learned"
    causal: bool = True

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"GPTConfig: {name} must be an int >= 1; got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head} "
                             f"(each head gets n_embd // n_head features); try n_head={_nearest_divisor(self.n_embd, self.n_head)}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers.Real) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be a probability in [0, 1); got {self.dropout!r}")
        for name in ("bias", "tie_weights", "causal"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"GPTConfig: {name} must be True or False; got {getattr(self, name)!r}")
        if self.position not in POSITIONS:
            raise ValueError(f"GPTConfig: position must be one of {POSITIONS}; got {self.position!r}")
        if self.position == "sinusoidal" and self.n_embd % 2:
            raise ValueError(f"GPTConfig: sinusoidal positions come in sin/cos pairs, so n_embd must be even; got {self.n_embd}")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head


def _nearest_divisor(n: int, near: int) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - near), d))


def parameter_count(config: GPTConfig) -> int:
    """The number of parameters of ``GPT(config)``, in closed form.

    Per block, with C = n_embd: attention 4C^2 (+ 4C biases), MLP 8C^2 (+ 5C biases) and
    two LayerNorms 2C (+ 2C biases), i.e. 12C^2 + 13C with biases, 12C^2 + 2C without.
    Around the blocks: the token table V*C, the learned positions block_size*C, the final
    LayerNorm C (+ C) and, untied, an output layer V*C (it never has a bias, as in nanoGPT).
    """
    C, V = config.n_embd, config.vocab_size
    per_block = 12 * C * C + (13 * C if config.bias else 2 * C)
    total = V * C + config.n_layer * per_block + (2 * C if config.bias else C)
    if config.position == "learned":
        total += config.block_size * C
    if not config.tie_weights:
        total += V * C
    return total


def check_ids(shape, dtype_name: str, is_integer: bool, low, high, config: GPTConfig, past: int = 0,
              crop: bool = False, fn: str = "GPT") -> None:
    """Refuse ids that the model cannot read, saying what to do instead.

    ``shape``/``dtype_name``/``is_integer`` describe the ids; ``low``/``high`` are a callable
    giving their min and max (only called once the shape is fine); ``past`` is the number
    of tokens already in a cache; ``crop`` (generate) reads only the last block_size tokens,
    so a longer context is fine there.
    """
    if not is_integer:
        raise TypeError(f"{fn} expects integer token ids of shape (B, T); got dtype {dtype_name}: "
                        "convert with idx.long() (ids are row numbers of the embedding table, not numbers to compute with)")
    if len(shape) != 2:
        hint = "use idx[None] for a single sequence" if len(shape) == 1 else "flatten the extra axes"
        raise ValueError(f"{fn} expects token ids of shape (B, T); got shape {tuple(shape)}: {hint}")
    if shape[1] < 1 or shape[0] < 1:
        raise ValueError(f"{fn} expects at least one sequence of at least one token, shape (B, T) with B, T >= 1; got {tuple(shape)}")
    if not crop and past + shape[1] > config.block_size:
        if past:
            raise ValueError(f"{fn}: the cache holds {past} tokens and {shape[1]} more would make {past + shape[1]}, "
                             f"beyond block_size={config.block_size}: reset() the cache and feed the last {config.block_size} tokens")
        raise ValueError(f"{fn}: a context of {shape[1]} tokens is longer than block_size={config.block_size}: "
                         f"crop it to the last {config.block_size} tokens, idx[:, -{config.block_size}:]")
    lo, hi = (int(v) for v in (low(), high()))
    if lo < 0 or hi >= config.vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{fn}: token id {bad} is outside the vocab [0, {config.vocab_size}): "
                         "was the text encoded with the tokenizer this model was built for (vocab_size)?")


def check_cache(cache, batch_size: int, config: GPTConfig, fn: str = "GPT") -> None:
    """A cache must come from this model's ``new_cache`` with the batch size of the ids."""
    if cache.batch_size != batch_size:
        raise ValueError(f"{fn}: the cache was made for batch size {cache.batch_size} but the ids have batch size "
                         f"{batch_size}: make one with model.new_cache({batch_size})")
    if cache.n_layer != config.n_layer or cache.n_head != config.n_head or cache.head_size != config.head_size:
        raise ValueError(f"{fn}: the cache has {cache.n_layer} layers x {cache.n_head} heads x {cache.head_size} features, "
                         f"the model {config.n_layer} x {config.n_head} x {config.head_size}: make it with model.new_cache(batch_size)")


def check_generate_args(max_new_tokens, temperature, top_k, top_p, use_cache, seed):
    """Validate generate()'s arguments; returns the sampling knobs cleaned up."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) or max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens must be an int >= 0 (how many tokens to add); got {max_new_tokens!r}")
    if not isinstance(use_cache, bool):
        raise ValueError(f"generate: use_cache must be True or False; got {use_cache!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"generate: seed must be an int (the same seed writes the same text); got {seed!r}")
    return check_sampling_args(temperature, top_k, top_p)


def check_lengths(lengths, shape):
    """``lengths`` as an int64 (B,) NumPy array with 1 <= lengths[b] <= T, for ids of shape (B, T).

    ``lengths[b]`` counts the real tokens of row b, the padding being on the right.
    Accepts a list, a NumPy array, a labs.scratch Tensor or a torch tensor (on any device).
    """
    if hasattr(lengths, "detach") and hasattr(lengths, "cpu"):  # a torch tensor, without importing torch
        lengths = lengths.detach().cpu().numpy()
    values = np.asarray(lengths)
    B, T = shape
    if values.shape != (B,) or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"GPTClassifier: lengths must be {B} integers, one per sequence (its number of real "
                         f"tokens); got {values.dtype} of shape {values.shape}")
    if values.min() < 1 or values.max() > T:
        raise ValueError(f"GPTClassifier: every length must be in 1..{T} (the number of real tokens, padding "
                         f"on the right); got min {values.min()}, max {values.max()}")
    return values.astype(np.int64)
