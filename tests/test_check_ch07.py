"""Chapter 7 graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs import attention as att
from labs.check import ExerciseFailed, ch07


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 7.x: not yet")


# ----------------------------------------------------------------------------- Exercise 7.1


def kv_right(n_layer, n_embd, n_head, batch, block, nbytes):
    return 2 * n_layer * batch * block * n_embd * nbytes


@pytest.mark.parametrize("wrong, hint", [
    (lambda L, C, H, B, T, b: 2 * L * B * T * C * b * H, "heads"),
    (lambda L, C, H, B, T, b: L * B * T * C * b, "factor 2"),
    (lambda L, C, H, B, T, b: 2 * L * T * C * b, "batch_size"),
    (lambda L, C, H, B, T, b: 2 * L * B * T * C, "bytes_per_number"),
    (lambda L, C, H, B, T, b: 2 * B * T * C * b, "n_layer"),
])
def test_kv_cache_bytes_rejects_the_usual_slips(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch07.kv_cache_bytes(wrong)


def test_kv_cache_bytes_accepts_the_formula_and_lets_a_stub_through(capsys):
    ch07.kv_cache_bytes(kv_right)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(NotImplementedError):
        ch07.kv_cache_bytes(stub)
    with pytest.raises(ExerciseFailed, match="number of bytes"):
        ch07.kv_cache_bytes(lambda *a: "lots")


# ----------------------------------------------------------------------------- Exercise 7.2


def _ln(z, w, b):
    return (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + 1e-5) * w + b


def _gelu(z):
    return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))


def make_block(*, residual=True, causal=True, heads=None, pre_ln=True, gelu=_gelu):
    def block(x, p, n_head):
        mask = att.causal_mask(x.shape[1]) if causal else None
        def attn(z):
            return att.multi_head_attention(z, z, z, p["attn.c_attn.weight"], p["attn.c_attn.bias"],
                                            p["attn.c_proj.weight"], p["attn.c_proj.bias"], heads or n_head, mask=mask)[0]

        def mlp(z):
            return gelu(z @ p["mlp.c_fc.weight"].T + p["mlp.c_fc.bias"]) @ p["mlp.c_proj.weight"].T + p["mlp.c_proj.bias"]

        def ln1(z):
            return _ln(z, p["ln_1.weight"], p["ln_1.bias"])

        def ln2(z):
            return _ln(z, p["ln_2.weight"], p["ln_2.bias"])

        if not pre_ln:
            x = ln1(x + attn(x))
            return ln2(x + mlp(x))
        if not residual:
            return mlp(ln2(attn(ln1(x))))
        x = x + attn(ln1(x))
        return x + mlp(ln2(x))
    return block


def test_transformer_block_accepts_the_pre_ln_block(capsys):
    ch07.transformer_block(make_block())
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, hint", [
    (dict(residual=False), "residual"),
    (dict(pre_ln=False), "post-LN"),
    (dict(causal=False), "causal"),
    (dict(heads=1), "single-head"),
    (dict(gelu=lambda z: 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))), "tanh form"),
    (dict(gelu=lambda z: np.maximum(z, 0)), r"GELU \(tanh form\)"),
])
def test_transformer_block_names_the_missing_part(kwargs, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch07.transformer_block(make_block(**kwargs))


def test_transformer_block_reports_a_crash_with_its_input():
    def crashes(x, params, n_head):
        return x @ params["attn.c_attn.weight"]  # wrong orientation: a shape error
    with pytest.raises(ExerciseFailed, match="raised ValueError"):
        ch07.transformer_block(crashes)
    with pytest.raises(NotImplementedError):
        ch07.transformer_block(stub)


# ----------------------------------------------------------------------------- Exercise 7.3


def left_right(lengths, T):
    j = np.arange(T)
    return (j[None, :] <= j[:, None])[None] & (j[None, None, :] >= T - np.asarray(lengths)[:, None, None])


def test_left_padded_mask_accepts_the_mask(capsys):
    ch07.left_padded_causal_mask(left_right)
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda lengths, T: (np.arange(T)[None, None, :] < np.asarray(lengths)[:, None, None]) & att.causal_mask(T)[None], "right padding"),
    (lambda lengths, T: np.broadcast_to(att.causal_mask(T), (len(lengths), T, T)).copy(), "padding positions"),
    (lambda lengths, T: np.broadcast_to(np.arange(T)[None, None, :] >= T - np.asarray(lengths)[:, None, None], (len(lengths), T, T)).copy(), "causal"),
    (lambda lengths, T: left_right(lengths, T).astype(int), "boolean"),
    (lambda lengths, T: left_right(lengths, T)[0], "shape"),
])
def test_left_padded_mask_rejects_the_usual_slips(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch07.left_padded_causal_mask(wrong)


# ----------------------------------------------------------------------------- Exercise 7.4


def make_cross(*, pad=True, kv_from_x=False, heads=None, causal=False):
    def cross(x, memory, lengths, w_q, w_k, w_v, w_o, n_head):
        src = x if kv_from_x else memory
        S = src.shape[1]
        mask = att.padding_mask(np.asarray(lengths), S)[:, None, None, :] if pad and not kv_from_x else None
        if causal:
            mask = mask & att.causal_mask(x.shape[1], S)[None, None]
        w_in = np.concatenate([w_q, w_k, w_v])
        return att.multi_head_attention(x, src, src, w_in, None, w_o, None, heads or n_head, mask=mask)[0]
    return cross


def test_cross_attention_accepts_the_reference(capsys):
    ch07.cross_attention(make_cross())
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, hint", [
    (dict(pad=False), "padded memory"),
    (dict(kv_from_x=True), "from the memory"),
    (dict(heads=1), "n_head heads"),
    (dict(causal=True), "not causal"),
])
def test_cross_attention_names_the_mistake(kwargs, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch07.cross_attention(make_cross(**kwargs))
