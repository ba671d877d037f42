"""The NumPy twin of :mod:`labs.models.gpt`, on ``labs.scratch``: the same GPT, line for line.

    twin = GPT(config, dtype=np.float64)
    twin.load_state_dict(torch_model.state_dict())        # tied weights included
    logits = twin(idx)                                     # a labs.scratch Tensor (B, T, V)
    out = generate(twin, idx, 100, temperature=0.8)        # the torch model's tokens, same seed

Same classes (``KVCache``, ``CausalSelfAttention``, ``MLP``, ``Block``, ``Transformer``,
``GPT``), same ``state_dict`` keys, same methods (``forward``, ``features``,
``attention_maps``, ``new_cache``) and the same ``generate``; a diff between the two files
shows only what differs between the engines. The tests check that logits and every
gradient agree with PyTorch in float64, and that both engines write the same text.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

import labs.scratch as st
from labs.scratch import F, nn

from labs.attention import causal_mask, positional_encoding
from labs.models.gpt2_weights import load_pretrained
from labs.models.gpt_config import GPTConfig, check_cache, check_generate_args, check_ids, check_lengths, parameter_count
from labs.sampling import sample_next_batch

__all__ = ["GPTConfig", "GPT", "GPTClassifier", "KVCache", "generate", "parameter_count", "from_pretrained"]


class KVCache:
    """The keys and values of every layer for the tokens read so far.

    ``keys[i]`` and ``values[i]`` are (B, n_head, capacity, head_size) arrays, of which the
    first ``length`` positions hold data. Memory: 2 (keys and values) x n_layer x B x
    capacity x n_embd numbers (``nbytes``), whatever the number of heads.
    """

    def __init__(self, n_layer: int, batch_size: int, n_head: int, head_size: int, capacity: int,
                 dtype=np.float32):
        self.n_layer, self.batch_size, self.n_head, self.head_size = n_layer, batch_size, n_head, head_size
        self.capacity = capacity
        shape = (batch_size, n_head, capacity, head_size)
        self.keys = [np.zeros(shape, dtype=dtype) for _ in range(n_layer)]
        self.values = [np.zeros(shape, dtype=dtype) for _ in range(n_layer)]
        self.length = 0

    def reset(self) -> None:
        """Forget every token (the memory is kept for reuse)."""
        self.length = 0

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.keys + self.values)

    def update(self, layer: int, k, v):
        """Store ``layer``'s keys and values of the new tokens, (B, n_head, T, head_size), after
        the ``length`` cached ones; return all of them, (B, n_head, length + T, head_size).

        Gradients flow into the new keys and values, not into cached ones (those are
        constants from earlier calls). ``length`` moves on in :meth:`advance`, once every
        layer has written.
        """
        start, end = self.length, self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KVCache: {end} tokens do not fit in a cache of capacity {self.capacity}: reset() it")
        self.keys[layer][:, :, start:end] = k.data
        self.values[layer][:, :, start:end] = v.data
        keys = st.cat((st.Tensor(self.keys[layer][:, :, :start]), k), dim=2)
        values = st.cat((st.Tensor(self.values[layer][:, :, :start]), v), dim=2)
        return keys, values

    def advance(self, n: int) -> None:
        """Count ``n`` more tokens as cached (the model calls this after its last layer)."""
        self.length += n


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention: one projection to q, k, v, split into heads by a reshape."""

    def __init__(self, config: GPTConfig, dtype=None):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias, dtype=dtype)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias, dtype=dtype)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout, self.causal = config.n_head, config.n_embd, config.dropout, config.causal

    def _heads(self, x, cache, layer):
        B, T, C = x.shape
        qkv = self.c_attn(x)  # (B, T, 3C)
        q, k, v = qkv[:, :, :C], qkv[:, :, C:2 * C], qkv[:, :, 2 * C:]
        q = q.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, nh, S, hs): the cached tokens, then these T
        return q, k, v

    def _mask(self, L: int, S: int):
        """A boolean (L, S) mask (True = may attend) or None; None with is_causal for L == S."""
        if not self.causal or L == 1:
            return None  # one new query comes after every key: it may read them all
        if L == S:
            return None  # L == S: the top-left is_causal equals our bottom-right mask
        return causal_mask(L, S)

    def forward(self, x, cache=None, layer: int = 0):
        B, T, C = x.shape
        q, k, v = self._heads(x, cache, layer)
        L, S = q.shape[2], k.shape[2]
        # the fast path: one fused op computes softmax(q k^T / sqrt(hs)) v (see weights())
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self._mask(L, S),
                                           dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=self.causal and L == S)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))

    def weights(self, x):
        """The readable path: the attention weights softmax(q k^T / sqrt(hs)), (B, nh, T, T)."""
        q, k, _ = self._heads(x, None, 0)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))  # (B, nh, T, T)
        if self.causal:
            att = att.masked_fill(~causal_mask(q.shape[2], k.shape[2]), float("-inf"))
        return F.softmax(att, dim=-1)


class MLP(nn.Module):
    """The position-wise feed-forward network: C -> 4C -> GELU -> C."""

    def __init__(self, config: GPTConfig, dtype=None):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias, dtype=dtype)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's GELU
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias, dtype=dtype)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-LayerNorm Transformer block: each sub-layer reads a normalised copy and adds to x."""

    def __init__(self, config: GPTConfig, dtype=None):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias, dtype=dtype)
        self.attn = CausalSelfAttention(config, dtype)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias, dtype=dtype)
        self.mlp = MLP(config, dtype)

    def forward(self, x, cache=None, layer: int = 0):
        x = x + self.attn(self.ln_1(x), cache, layer)  # tokens exchange information
        x = x + self.mlp(self.ln_2(x))  # each token is processed on its own
        return x


class Transformer(nn.Module):
    """The trunk under nanoGPT's names: ``wte``, ``wpe`` (learned positions only), ``drop``, ``h``, ``ln_f``."""

    def __init__(self, config: GPTConfig, dtype=None):
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd, dtype=dtype)
        if config.position == "learned":
            self.wpe = nn.Embedding(config.block_size, config.n_embd, dtype=dtype)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config, dtype) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias, dtype=dtype)


class GPT(nn.Module):
    """``GPT(config, dtype=None)``: ``forward(idx, cache=None)`` -> logits (B, T, vocab_size).

    Also ``features(idx, cache=None)`` (B, T, n_embd), the final hidden states;
    ``attention_maps(idx)`` (n_layer, B, n_head, T, T); ``new_cache(batch_size)``.
    Initialisation is nanoGPT's: N(0, 0.02) weights, zero biases, and the residual
    projections (``c_proj``) at 0.02 / sqrt(2 n_layer), so the residual stream's variance
    does not grow with depth.
    """

    def __init__(self, config: GPTConfig, dtype=None):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT expects a GPTConfig; got {type(config).__name__}: GPT(GPTConfig(vocab_size=..., ...))")
        self.config = config
        self.transformer = Transformer(config, dtype)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False, dtype=dtype)
        if config.tie_weights:
            self.lm_head.weight = self.transformer.wte.weight  # one matrix reads tokens in and writes them out
        if config.position == "sinusoidal":
            table = positional_encoding(config.block_size, config.n_embd)  # float64, cast where it is added
            self.register_buffer("pe", st.tensor(table), persistent=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _checked(self, idx, cache, crop: bool = False):
        """The ids as int64, after every check of the contract (before any model op)."""
        if not isinstance(idx, (st.Tensor, np.ndarray)):
            raise TypeError(f"GPT expects a labs.scratch Tensor (or ndarray) of token ids of shape (B, T); got {type(idx).__name__}: "
                            "use labs.scratch.tensor(ids)[None]")
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"GPT: cache must be a KVCache from model.new_cache(batch_size); got {type(cache).__name__}")
        if cache is not None and not self.config.causal:
            raise ValueError("GPT: a KV cache needs a causal model (with causal=False, earlier tokens would "
                             "attend to later ones, so their cached keys would go stale)")
        idx = idx if isinstance(idx, st.Tensor) else st.tensor(idx)
        integer = np.issubdtype(idx.dtype, np.integer)
        past = 0 if cache is None else cache.length
        check_ids(tuple(idx.shape), str(idx.dtype), integer, idx.data.min, idx.data.max, self.config, past, crop=crop)
        if cache is not None:
            check_cache(cache, idx.shape[0], self.config)
        return idx.long()

    def _embed(self, idx, start: int):
        T = idx.shape[1]
        x = self.transformer.wte(idx)  # (B, T, C)
        if self.config.position == "sinusoidal":
            x = x * math.sqrt(self.config.n_embd) + self.pe[start:start + T].to(x.dtype)  # the scale keeps tokens audible over the table
        elif self.config.position == "learned":
            x = x + self.transformer.wpe(st.arange(start, start + T))  # (T, C) broadcast over B
        return self.transformer.drop(x)

    def features(self, idx, cache=None):
        """The final hidden states, after ``ln_f``: (B, T, n_embd)."""
        idx = self._checked(idx, cache)
        x = self._embed(idx, 0 if cache is None else cache.length)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, cache, layer)
        if cache is not None:
            cache.advance(idx.shape[1])
        return self.transformer.ln_f(x)

    def forward(self, idx, cache=None):
        return self.lm_head(self.features(idx, cache))  # (B, T, V)

    def attention_maps(self, idx):
        """Every layer's and head's attention weights, (n_layer, B, n_head, T, T), in eval mode."""
        idx = self._checked(idx, None)
        maps = []
        with _eval_no_grad(self):
            x = self._embed(idx, 0)
            for block in self.transformer.h:
                maps.append(block.attn.weights(block.ln_1(x)))
                x = block(x)
        return st.stack(maps)

    def new_cache(self, batch_size: int) -> KVCache:
        """An empty cache for ``batch_size`` sequences, on the model's device and dtype."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"new_cache: batch_size must be an int >= 1; got {batch_size!r}")
        c, weight = self.config, self.transformer.wte.weight
        return KVCache(c.n_layer, batch_size, c.n_head, c.head_size, c.block_size, dtype=weight.dtype)


@contextlib.contextmanager
def _eval_no_grad(model):
    """Evaluation mode without a graph, then the mode the model had before."""
    was_training = model.training
    model.eval()
    try:
        with st.no_grad():
            yield
    finally:
        model.train(was_training)


def _last_logits(logits) -> np.ndarray:
    return logits.data[:, -1].astype(np.float64)  # (B, V) in float64 for labs.sampling


def generate(model: GPT, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, use_cache: bool = True, seed: int = 0):
    """Continue every row of ``idx`` (B, T) by exactly ``max_new_tokens`` tokens: (B, T + max_new_tokens).

    Each step reads at most ``block_size`` tokens (a longer prompt is read from its last
    ``block_size``). With ``use_cache`` the prompt is read once, then one token a step;
    when the cache is full the window moves on, every position shifts, and the last
    ``block_size`` tokens are read again. So cached and uncached generation see the same
    tokens at the same positions and write the same text. Sampling is
    :func:`labs.sampling.sample_next_batch` with ``numpy.random.default_rng(seed)``.
    Runs in eval mode without gradients, then restores the model's mode.
    """
    temperature, top_k, top_p = check_generate_args(max_new_tokens, temperature, top_k, top_p, use_cache, seed)
    if not isinstance(model, GPT):
        raise TypeError(f"generate expects a labs.scratch.models.gpt.GPT; got {type(model).__name__}")
    if not model.config.causal:
        raise ValueError("generate needs a causal model (GPTConfig(causal=True)): a bidirectional one reads the future")
    out = model._checked(idx, None, crop=True)
    block, rng = model.config.block_size, np.random.default_rng(seed)
    with _eval_no_grad(model):
        cache = model.new_cache(out.shape[0]) if use_cache else None
        logits = model(out[:, -block:], cache)
        for step in range(max_new_tokens):
            token = st.tensor(sample_next_batch(_last_logits(logits), temperature, rng, top_k, top_p))
            out = st.cat((out, token[:, None]), dim=1)
            if step == max_new_tokens - 1:
                break  # the last token needs no logits after it
            if cache is None:
                logits = model(out[:, -block:])
            elif cache.length < block:
                logits = model(token[:, None], cache)  # one token; the others are in the cache
            else:
                cache.reset()  # full: the window moves on and every position shifts
                logits = model(out[:, -block:], cache)
    return out


def from_pretrained(name: str = "gpt2", timeout: float = 60.0, dtype=None) -> GPT:
    """OpenAI's GPT-2 in our GPT, in eval mode: downloaded once, SHA-256 checked, read with safetensors.

    Offline without a cached copy it raises :class:`labs.data.OfflineError`, which says so.
    """
    config, state = load_pretrained(name, timeout)
    model = GPT(config, dtype)
    model.load_state_dict(state)
    return model.eval()


class GPTClassifier(nn.Module):
    """``GPTClassifier(backbone, num_classes, pool="last")``: ``forward(idx, lengths=None)`` -> logits (B, num_classes).

    A linear ``head`` reads the backbone's final hidden state at each sequence's last real
    token, position ``lengths[b] - 1`` (the last position when ``lengths`` is None). In a
    causal GPT that token has read the whole sequence and nothing after it, so right padding
    changes nothing. Reading ``[:, -1]`` after right padding reads a pad token instead.
    ``pool="mean"`` averages the hidden states of the real tokens instead (padding left out).
    A bidirectional backbone (``causal=False``) would let every token read the pads, so it
    reads each group of equal lengths cropped to that length: padding changes nothing there too.
    """

    def __init__(self, backbone: GPT, num_classes: int, pool: str = "last"):
        super().__init__()
        if not isinstance(backbone, GPT):
            raise TypeError(f"GPTClassifier expects a labs.scratch.models.gpt.GPT backbone; got {type(backbone).__name__}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"GPTClassifier: num_classes must be an int >= 2; got {num_classes!r}")
        if pool not in ("last", "mean"):
            raise ValueError(f"GPTClassifier: pool must be 'last' (the last real token) or 'mean' (of the real tokens); got {pool!r}")
        self.backbone, self.num_classes, self.pool = backbone, num_classes, pool
        weight = backbone.transformer.wte.weight
        self.head = nn.Linear(backbone.config.n_embd, num_classes, dtype=weight.dtype)

    def pooled(self, idx, lengths=None):
        """The pooled hidden state of each sequence's real tokens: (B, n_embd)."""
        idx = self.backbone._checked(idx, None)
        B, T = idx.shape
        real = np.full(B, T, dtype=np.int64) if lengths is None else check_lengths(lengths, (B, T))
        if self.backbone.config.causal or (real == T).all():
            return self._pool(self.backbone.features(idx), real)
        rows = [None] * B
        for n in np.unique(real):  # bidirectional: each group reads its real tokens only
            chosen = np.flatnonzero(real == n)
            hidden = self._pool(self.backbone.features(idx[chosen, :n]), real[chosen])  # (len(chosen), C)
            for row, i in enumerate(chosen):
                rows[i] = hidden[row]
        return st.stack(rows)

    def _pool(self, hidden, real):
        """(b, T, C) hidden states, (b,) real lengths -> (b, C)."""
        if self.pool == "last":
            return hidden[np.arange(len(real)), real - 1]
        mask = (np.arange(hidden.shape[1]) < real[:, None])[..., None]  # (b, T, 1): True on real tokens
        mask = st.tensor(mask.astype(hidden.dtype))
        return (hidden * mask).sum(1) / st.tensor(real[:, None].astype(hidden.dtype))

    def forward(self, idx, lengths=None):
        return self.head(self.pooled(idx, lengths))  # (B, num_classes)
