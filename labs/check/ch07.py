"""Graders for the exercises of Chapter 7, "Attention and Transformers".

Each grader calls the student's function on a few inputs, compares with a reference that
does not share the student's code (a real KV cache of :mod:`labs.models.gpt`, a
``labs.models.gpt.Block``, ``torch.nn.MultiheadAttention``) and either prints one success
line or raises :class:`labs.check.ExerciseFailed` saying what went in, what was expected
and what came back, with a hint aimed at the usual mistake (found by computing that mistake
and comparing). ``NotImplementedError`` from an unfinished stub is let through unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from labs.check import call_student, expect_close, fail, matches as _matches, passed

__all__ = ["cross_attention", "kv_cache_bytes", "left_padded_causal_mask", "transformer_block"]


# --------------------------------------------------------------------------- Exercise 7.1


def kv_cache_bytes(fn) -> None:
    """``fn(n_layer, n_embd, n_head, batch_size, block_size, bytes_per_number)`` -> bytes of a full cache."""
    import torch

    from labs.models.gpt import GPT, GPTConfig

    ex = "Exercise 7.1"
    cases = [  # (n_layer, n_embd, n_head, batch, block, dtype)
        (2, 64, 4, 1, 32, torch.float32),
        (4, 96, 6, 3, 48, torch.float32),
        (3, 48, 2, 2, 20, torch.float64),
        (1, 32, 8, 5, 16, torch.float16),
    ]
    for n_layer, n_embd, n_head, batch, block, dtype in cases:
        bytes_per = torch.finfo(dtype).bits // 8
        config = GPTConfig(vocab_size=13, block_size=block, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
        torch.manual_seed(0)
        model = GPT(config).to(dtype=dtype)
        cache = model.new_cache(batch)
        with torch.no_grad():  # fill it: the memory is allocated for block_size tokens, used or not
            model(torch.zeros(batch, block, dtype=torch.long), cache)
        measured = sum(t.numel() * t.element_size() for t in cache.keys + cache.values)
        text = (f"n_layer={n_layer}, n_embd={n_embd}, n_head={n_head}, batch_size={batch}, block_size={block}, "
                f"bytes_per_number={bytes_per}")
        got = call_student(ex, fn, (n_layer, n_embd, n_head, batch, block, bytes_per), text)
        if isinstance(got, bool) or not isinstance(got, (int, float, np.integer, np.floating)):
            fail(ex, f"kv_cache_bytes({text}) should return a number of bytes; got {type(got).__name__}: {got!r}")
        if float(got) == measured:
            continue
        base = n_layer * batch * block * n_embd * bytes_per
        hint = "count, per layer, one key and one value vector of width n_embd for every token of every sequence"
        if float(got) == measured * n_head:
            hint = "the heads split the width n_embd into n_head slices of head_size; they do not multiply it"
        elif float(got) == base:
            hint = "a cache holds keys *and* values: a factor 2"
        elif float(got) == measured / batch:
            hint = "every sequence of the batch has its own keys and values: multiply by batch_size"
        elif float(got) == measured / bytes_per:
            hint = "that is the number of stored numbers; multiply by bytes_per_number for bytes"
        elif float(got) == measured / n_layer:
            hint = "every layer keeps its own keys and values: multiply by n_layer"
        fail(ex, f"kv_cache_bytes({text}) returned {got}; a real cache of that model measures {measured:,} bytes", hint)
    passed(ex, "your formula predicts the bytes of real KV caches (four models, three dtypes)")


# --------------------------------------------------------------------------- Exercise 7.2

_BLOCK_KEYS = ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
               "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
               "mlp.c_proj.weight", "mlp.c_proj.bias")


def _ln(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x, exact: bool = False):
    if exact:
        return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _block_variant(x, p, n_head, *, residual=True, pre_ln=True, causal=True, heads=None, exact_gelu=False):
    """The block and its usual wrong variants, in NumPy (for hints only)."""
    from labs.attention import causal_mask, multi_head_attention

    T = x.shape[1]
    mask = causal_mask(T) if causal else None

    def attn(z):
        return multi_head_attention(z, z, z, p["attn.c_attn.weight"], p["attn.c_attn.bias"], p["attn.c_proj.weight"],
                                    p["attn.c_proj.bias"], heads or n_head, mask=mask)[0]

    def mlp(z):
        return _gelu(z @ p["mlp.c_fc.weight"].T + p["mlp.c_fc.bias"], exact_gelu) @ p["mlp.c_proj.weight"].T + p["mlp.c_proj.bias"]

    def ln1(z):
        return _ln(z, p["ln_1.weight"], p["ln_1.bias"])

    def ln2(z):
        return _ln(z, p["ln_2.weight"], p["ln_2.bias"])

    if not pre_ln:  # the original paper's post-LN placement
        x = ln1(x + attn(x))
        return ln2(x + mlp(x))
    if not residual:
        return mlp(ln2(attn(ln1(x))))
    x = x + attn(ln1(x))
    return x + mlp(ln2(x))


def transformer_block(fn) -> None:
    """``fn(x, params, n_head)``: the pre-LN block of labs.models.gpt, in NumPy, for x (B, T, d)."""
    import torch

    from labs.models.gpt import GPT, GPTConfig

    ex = "Exercise 7.2"
    for batch, T, d, n_head, seed in [(1, 5, 8, 2, 0), (2, 7, 16, 4, 1), (3, 4, 12, 3, 2)]:
        torch.manual_seed(seed)
        block = GPT(GPTConfig(vocab_size=7, block_size=T, n_layer=1, n_head=n_head, n_embd=d)).double().transformer.h[0]
        with torch.no_grad():  # larger than the init, so every part of the block matters
            for name, t in block.named_parameters():
                t.copy_(torch.randn_like(t) * (0.3 if name.endswith("weight") and "ln" not in name else 0.2)
                        + (1.0 if name.startswith("ln") and name.endswith("weight") else 0.0))
        params = {name: t.detach().numpy().copy() for name, t in block.named_parameters()}
        assert set(params) == set(_BLOCK_KEYS)
        x = np.random.default_rng(70 + seed).standard_normal((batch, T, d))
        with torch.no_grad():
            expected = block(torch.from_numpy(x)).numpy()
        text = f"x of shape {x.shape}, n_head={n_head}, params with GPT's names"
        got = call_student(ex, fn, (x.copy(), {k: v.copy() for k, v in params.items()}, n_head), text)
        hint = ("x = x + attention(LN_1(x)) with a causal mask and n_head heads, then x = x + FFN(LN_2(x)); "
                "LayerNorm uses the biased variance and eps = 1e-5, the FFN is c_fc, GELU (tanh form), c_proj")
        variants = {
            "no residual connections: the block adds each sub-layer's output to its input, x + F(LN(x))": dict(residual=False),
            "that is the post-LN block (LayerNorm after the addition); GPT-2's block normalises the *input* of each sub-layer": dict(pre_ln=False),
            "a decoder block is causal: position t may attend to positions <= t only (labs.attention.causal_mask)": dict(causal=False),
            "that is a single-head attention over the full width; split it into n_head heads": dict(heads=1),
            "GPT-2's GELU is the tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))": dict(exact_gelu=True),
        }
        for message, kwargs in variants.items():
            if _matches(got, _block_variant(x, params, n_head, **kwargs)):
                hint = message
                break
        expect_close(ex, got, expected, what="transformer_block(x, params, n_head)", inputs=text, rtol=1e-7, atol=1e-9, hint=hint)
    passed(ex, "your NumPy block equals labs.models.gpt.Block: heads, causal mask, residuals, pre-LN and the FFN")


# --------------------------------------------------------------------------- Exercise 7.3


def _left_mask(lengths, T):
    lengths = np.asarray(lengths)
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    real_key = j[None] >= (T - lengths)[:, None, None]
    return (j <= i)[None] & real_key


def left_padded_causal_mask(fn) -> None:
    """``fn(lengths, T)`` -> bool (B, T, T): causal, and no attention to the left padding."""
    from labs.attention import attention, causal_mask

    ex = "Exercise 7.3"
    rng = np.random.default_rng(73)
    for lengths, T in [([3, 5], 5), ([1, 4, 6, 2], 6), ([7], 7)]:
        expected = _left_mask(lengths, T)
        text = f"lengths={lengths}, T={T}"
        got = call_student(ex, fn, (list(lengths), T), text)
        arr = np.asarray(got) if got is not None else None
        if arr is None or arr.shape != expected.shape:
            fail(ex, f"left_padded_causal_mask({text}) should return a boolean array of shape {expected.shape}; "
                     f"got {None if arr is None else arr.shape}")
        if arr.dtype != bool:
            fail(ex, f"the mask for {text} should be boolean (True = may attend); got dtype {arr.dtype}",
                 "build it from comparisons such as j <= i, which give booleans")
        if np.array_equal(arr, expected):
            continue
        hint = "query i may attend key j when j <= i and key j is a real token, i.e. j >= T - lengths[b]"
        right = np.arange(T)[None, None, :] < np.asarray(lengths)[:, None, None]
        if np.array_equal(arr, right & causal_mask(T)[None]):
            hint = "that is right padding (real tokens first); with left padding the real tokens are the *last* lengths[b]"
        elif np.array_equal(arr, np.broadcast_to(_left_mask(lengths, T)[:, -1:, :], expected.shape)):
            hint = "the mask must also be causal: a query may not look at keys after it (j <= i)"
        elif np.array_equal(arr, np.broadcast_to(causal_mask(T), expected.shape)):
            hint = "the padding positions must be masked too: keys with j < T - lengths[b] are filler"
        wrong = np.argwhere(arr != expected)[0]
        fail(ex, f"left_padded_causal_mask({text}) is wrong at [b, i, j] = {tuple(int(v) for v in wrong)}: "
                 f"expected {bool(expected[tuple(wrong)])}, got {bool(arr[tuple(wrong)])}", hint)
    # what the mask is for: each prompt, padded on the left, attends exactly as it would alone
    lengths, T, d = [2, 5, 3], 5, 4
    mask = np.asarray(call_student(ex, fn, (lengths, T), f"lengths={lengths}, T={T}"), dtype=bool)
    x = rng.standard_normal((len(lengths), T, d))
    out = attention(x, x, x, mask=mask)
    for b, n in enumerate(lengths):
        alone = attention(x[b, T - n:], x[b, T - n:], x[b, T - n:], mask=causal_mask(n))
        expect_close(ex, out[b, T - n:], alone, what=f"attention over row {b} with your mask", inputs=f"lengths={lengths}",
                     rtol=1e-10, atol=1e-12)
    passed(ex, "with your mask a left-padded batch attends exactly like each prompt alone")


# --------------------------------------------------------------------------- Exercise 7.4


def cross_attention(fn) -> None:
    """``fn(x, memory, memory_lengths, w_q, w_k, w_v, w_o, n_head)`` -> (B, L, d), like nn.MultiheadAttention."""
    import torch

    ex = "Exercise 7.4"
    rng = np.random.default_rng(74)
    for B, L, S, d, n_head, lengths in [(1, 3, 4, 8, 2, [4]), (2, 5, 6, 12, 3, [6, 2]), (3, 2, 7, 16, 4, [1, 7, 4])]:
        x = rng.standard_normal((B, L, d))
        memory = rng.standard_normal((B, S, d))
        w_q, w_k, w_v, w_o = (rng.standard_normal((d, d)) / math.sqrt(d) for _ in range(4))
        mha = torch.nn.MultiheadAttention(d, n_head, bias=False, batch_first=True).double()
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([w_q, w_k, w_v])))
            mha.out_proj.weight.copy_(torch.from_numpy(w_o))
            padding = torch.from_numpy(np.arange(S)[None, :] >= np.asarray(lengths)[:, None])  # True = ignore
            expected = mha(torch.from_numpy(x), torch.from_numpy(memory), torch.from_numpy(memory),
                           key_padding_mask=padding, need_weights=False)[0].numpy()
        text = f"x {x.shape}, memory {memory.shape}, memory_lengths={lengths}, n_head={n_head}"
        args = (x.copy(), memory.copy(), list(lengths), w_q.copy(), w_k.copy(), w_v.copy(), w_o.copy(), n_head)
        got = call_student(ex, fn, args, text)
        hint = ("queries from x, keys and values from memory, n_head heads of width d // n_head, padded memory "
                "positions masked out, no causal mask; then the output projection w_o")
        from labs.attention import causal_mask, multi_head_attention, padding_mask

        w_in = np.concatenate([w_q, w_k, w_v])
        pad = padding_mask(np.asarray(lengths), S)[:, None, None, :]
        candidates = {
            "the padded memory positions must not be attended to: mask keys j >= memory_lengths[b]": (x, memory, None, n_head),
            "the keys and values come from the memory, not from x (that would be self-attention)": (x, x, None, n_head),
            "use n_head heads of width d // n_head, each with its own softmax": (x, memory, pad, 1),
        }
        for message, (q_in, kv_in, m, heads) in candidates.items():
            wrong = multi_head_attention(q_in, kv_in, kv_in, w_in, None, w_o, None, heads, mask=m)[0]
            if _matches(got, wrong):
                hint = message
                break
        if L <= S and _matches(got, multi_head_attention(x, memory, memory, w_in, None, w_o, None, n_head,
                                                         mask=causal_mask(L, S)[None, None] & pad)[0]):
            hint = "cross-attention is not causal: every query may read every real memory position"
        expect_close(ex, got, expected, what="cross_attention(...)", inputs=text, rtol=1e-8, atol=1e-10, hint=hint)
    passed(ex, "your cross-attention equals torch.nn.MultiheadAttention with a key padding mask")
