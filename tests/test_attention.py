"""labs.attention: every formula against PyTorch, the masks' alignment, and the positions' rotation."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

from labs.attention import (
    additive_scores, attention, attention_scores, attention_weights, causal_mask, merge_heads,
    multi_head_attention, padding_mask, position_rotation, positional_encoding, softmax, split_heads,
)


def _t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


def _qkv(rng, B=2, H=3, L=4, S=6, d=8, dv=5):
    return rng.normal(size=(B, H, L, d)), rng.normal(size=(B, H, S, d)), rng.normal(size=(B, H, S, dv))


def test_attention_equals_torch_sdpa_without_mask():
    q, k, v = _qkv(np.random.default_rng(0))
    ours = attention(q, k, v)
    theirs = F.scaled_dot_product_attention(_t(q), _t(k), _t(v)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("L,S", [(5, 5), (1, 7), (3, 8)])
def test_bottom_right_causal_mask_equals_torch_with_the_same_boolean_mask(L, S):
    q, k, v = _qkv(np.random.default_rng(L * 10 + S), L=L, S=S)
    mask = causal_mask(L, S)
    ours = attention(q, k, v, mask)
    theirs = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), attn_mask=_t(mask)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_causal_mask_alignment_matches_is_causal_only_when_square():
    assert np.array_equal(causal_mask(4), np.tril(np.ones((4, 4), dtype=bool)))
    # with a cache, the 2 new queries are positions 4 and 5 of 6: they see keys 0..4 and 0..5
    assert causal_mask(2, 6).tolist() == [[True] * 5 + [False], [True] * 6]
    q, k, v = _qkv(np.random.default_rng(1), L=2, S=6)
    top_left = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), is_causal=True).numpy()
    assert not np.allclose(attention(q, k, v, causal_mask(2, 6)), top_left)  # torch's is_causal is top-left
    square = F.scaled_dot_product_attention(_t(k), _t(k), _t(v), is_causal=True).numpy()
    np.testing.assert_allclose(attention(k, k, v, causal_mask(6)), square, rtol=1e-12, atol=1e-12)


def test_a_query_sees_exactly_its_past_and_the_future_cannot_change_it():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 6, 4))
    out = attention(x, x, x, causal_mask(6))
    x2 = x.copy()
    x2[:, 4:] += 10.0  # change the last two positions only
    out2 = attention(x2, x2, x2, causal_mask(6))
    np.testing.assert_allclose(out[:, :4], out2[:, :4], rtol=0, atol=0)
    assert not np.allclose(out[:, 4:], out2[:, 4:])
    weights = attention(x, x, x, causal_mask(6), return_weights=True)[1]
    assert np.all(weights[0][~causal_mask(6)] == 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-12)


def test_padding_mask_and_torch_agree_and_padded_keys_get_zero_weight():
    lengths = np.array([3, 6, 1])
    mask = padding_mask(lengths, 6)
    assert mask.tolist()[0] == [True, True, True, False, False, False]
    q, k, v = _qkv(np.random.default_rng(3), B=3, L=6, S=6)
    both = mask[:, None, None, :] & causal_mask(6)  # (B, 1, L, S): padding and causality together
    ours, weights = attention(q, k, v, both, return_weights=True)
    theirs = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), attn_mask=_t(both)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    assert np.all(weights[0, :, :, 3:] == 0.0)


def test_a_fully_masked_row_gives_zeros_not_nan():
    q, k, v = _qkv(np.random.default_rng(4), B=1, H=1, L=2, S=3)
    mask = np.array([[False, False, False], [True, False, True]])
    out, weights = attention(q, k, v, mask, return_weights=True)
    assert np.isfinite(out).all() and np.all(out[..., 0, :] == 0.0) and np.all(weights[..., 0, :] == 0.0)
    np.testing.assert_allclose(weights[..., 1, :].sum(-1), 1.0)


def test_softmax_is_stable_for_huge_scores():
    np.testing.assert_allclose(softmax(np.array([1000.0, 1000.0, -1000.0])), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(softmax(np.array([[-np.inf, 0.0]])), [[0.0, 1.0]])


def test_scale_keeps_score_variance_near_one_and_unscaled_softmax_saturates():
    rng = np.random.default_rng(5)
    d = 512
    q, k = rng.normal(size=(1, 64, d)), rng.normal(size=(1, 64, d))
    scaled, unscaled = attention_scores(q, k), attention_scores(q, k, scale=1.0)
    assert 0.8 < scaled.var() < 1.2  # q.k sums d products of unit variance: variance d, scaled back to 1
    assert 0.8 * d < unscaled.var() < 1.2 * d
    # without the scale, most rows put nearly all their weight on one key
    assert attention_weights(unscaled).max(-1).mean() > 0.9 > attention_weights(scaled).max(-1).mean()


def test_additive_scores_follow_bahdanaus_formula():
    rng = np.random.default_rng(6)
    q, k = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 6))
    w_q, w_k, v = rng.normal(size=(7, 4)), rng.normal(size=(7, 6)), rng.normal(size=7)
    scores = additive_scores(q, k, w_q, w_k, v)
    assert scores.shape == (2, 3, 5)
    for b in range(2):
        for i in range(3):
            for j in range(5):
                expected = v @ np.tanh(w_q @ q[b, i] + w_k @ k[b, j])
                assert math.isclose(scores[b, i, j], expected, rel_tol=1e-12, abs_tol=1e-12)


def test_split_and_merge_heads_are_inverse_reshapes():
    x = np.arange(2 * 3 * 8, dtype=np.float64).reshape(2, 3, 8)
    heads = split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 2)
    np.testing.assert_array_equal(heads[:, 1, :, :], x[:, :, 2:4])  # head 1 reads features 2..3
    np.testing.assert_array_equal(merge_heads(heads), x)


@pytest.mark.parametrize("use_mask", [False, True])
def test_multi_head_attention_equals_torch_multiheadattention(use_mask):
    torch.manual_seed(0)
    E, heads, L, S = 12, 3, 4, 4
    mha = torch.nn.MultiheadAttention(E, heads, batch_first=True, dtype=torch.float64)
    rng = np.random.default_rng(7)
    x, mem = rng.normal(size=(2, L, E)), rng.normal(size=(2, S, E))
    mask = causal_mask(L, S) if use_mask else None
    # nn.MultiheadAttention's boolean attn_mask means the opposite: True = blocked
    theirs, their_weights = mha(_t(x), _t(mem), _t(mem), attn_mask=None if mask is None else _t(~mask),
                                need_weights=True, average_attn_weights=False)
    params = {n: p.detach().numpy() for n, p in mha.named_parameters()}
    ours, our_weights = multi_head_attention(x, mem, mem, params["in_proj_weight"], params["in_proj_bias"],
                                             params["out_proj.weight"], params["out_proj.bias"], heads, mask)
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(our_weights, their_weights.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_one_head_is_not_multi_head():
    """The seed's "multi-head" formula is the single-head one: with h heads the weights differ."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(1, 5, 8))
    w, b = rng.normal(size=(24, 8)) * 0.5, np.zeros(24)
    wo = np.eye(8)
    one = multi_head_attention(x, x, x, w, b, wo, None, 1)[0]
    four = multi_head_attention(x, x, x, w, b, wo, None, 4)[0]
    assert not np.allclose(one, four)


def test_positional_encoding_is_the_interleaved_formula():
    pe = positional_encoding(50, 16)
    assert pe.dtype == np.float64 and pe.shape == (50, 16)
    for p in (0, 1, 7, 49):
        for i in range(8):
            angle = p / 10000.0 ** (2 * i / 16)
            assert math.isclose(pe[p, 2 * i], math.sin(angle), abs_tol=1e-15)
            assert math.isclose(pe[p, 2 * i + 1], math.cos(angle), abs_tol=1e-15)
    np.testing.assert_array_equal(pe[0], np.tile([0.0, 1.0], 8))  # position 0: sin 0, cos 0
    np.testing.assert_allclose(positional_encoding(4, 4, base=100.0)[1], [math.sin(1), math.cos(1), math.sin(0.1), math.cos(0.1)])


@given(st.integers(0, 200), st.integers(-50, 50), st.sampled_from([2, 8, 64]))
def test_moving_k_positions_is_one_fixed_rotation(p, offset, d):
    pe = positional_encoding(300, d)
    rotation = position_rotation(offset, d)
    if 0 <= p + offset < 300:
        np.testing.assert_allclose(rotation @ pe[p], pe[p + offset], atol=1e-9)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(d), atol=1e-12)  # a rotation: lengths kept
    np.testing.assert_allclose(position_rotation(3, d) @ rotation, position_rotation(offset + 3, d), atol=1e-9)


def test_every_position_has_the_same_length_and_a_different_code():
    pe = positional_encoding(128, 32)
    np.testing.assert_allclose(np.linalg.norm(pe, axis=1), 4.0)  # sqrt(16 pairs of sin^2 + cos^2)
    distances = np.linalg.norm(pe[:, None] - pe[None], axis=-1)
    assert distances[~np.eye(128, dtype=bool)].min() > 0.1


@pytest.mark.parametrize("call,error,words", [
    (lambda: attention(np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 4))), ValueError, "d_k"),
    (lambda: attention(np.ones((3, 4)), np.ones((5, 4)), np.ones((6, 4))), ValueError, "same number of positions"),
    (lambda: attention(np.ones((3, 4)), np.ones((3, 4)), np.ones((3, 4)), mask=np.ones((3, 3))), TypeError, "boolean"),
    (lambda: attention(np.ones((3, 4)), np.ones((3, 4)), np.ones((3, 4)), mask=np.ones((2, 3), bool)), ValueError, "broadcastable"),
    (lambda: attention(torch.ones(3, 4), np.ones((3, 4)), np.ones((3, 4))), TypeError, ".numpy()"),
    (lambda: attention_weights(np.array([[np.nan, 1.0]])), ValueError, "NaN"),
    (lambda: causal_mask(5, 3), ValueError, "S >= L"),
    (lambda: causal_mask(0), ValueError, "L"),
    (lambda: padding_mask([2, 7], 6), ValueError, "between 0 and S=6"),
    (lambda: padding_mask([[2]], 6), ValueError, "1-D"),
    (lambda: positional_encoding(10, 7), ValueError, "even"),
    (lambda: positional_encoding(10, 8, base=1.0), ValueError, "base"),
    (lambda: split_heads(np.ones((1, 2, 6)), 4), ValueError, "divisible"),
    (lambda: position_rotation(1.5, 4), ValueError, "offset"),
])
def test_bad_inputs_say_what_was_expected(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
