"""scaled_dot_product_attention and nn.MultiheadAttention against torch: values, gradients, masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import labs.scratch as S
from labs.scratch import nn
from labs.scratch.attention import attention_weights, scaled_dot_product_attention

TOL = dict(rtol=1e-9, atol=1e-10)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def compare(fn_ours, fn_torch, arrays, seed=1, tol=TOL):
    ours = [S.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn_ours(*ours), fn_torch(*theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **tol, err_msg=f"gradient of input {i}")
    return out


# ---------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ---------------------------------------------------------------------------------------
def qkv(batch=(2, 3), L=5, S_=7, E=4, Ev=6, seed=0):
    return [randn(*batch, L, E, seed=seed), randn(*batch, S_, E, seed=seed + 1), randn(*batch, S_, Ev, seed=seed + 2)]


def bool_mask(shape, seed=0):
    mask = np.random.default_rng(seed).random(shape) > 0.4
    mask[..., 0] = True  # every query keeps at least one key
    return mask


MASKS = {
    "none": lambda L, S_: None,
    "bool (L, S)": lambda L, S_: bool_mask((L, S_)),
    "bool (B, 1, L, S)": lambda L, S_: bool_mask((2, 1, L, S_), seed=1),
    "float (L, S)": lambda L, S_: randn(L, S_, seed=3),
    "float with -inf": lambda L, S_: np.where(bool_mask((2, 3, L, S_), seed=2), 0.0, -np.inf),
}


@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("scale", [None, 0.3])
def test_sdpa_matches_torch(mask_name, scale):
    mask = MASKS[mask_name](5, 7)
    compare(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else S.tensor(mask), scale=scale),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else torch.tensor(mask), scale=scale),
        qkv(),
    )


@pytest.mark.parametrize("L,S_", [(5, 5), (3, 6), (6, 3), (1, 1)])
def test_sdpa_causal_matches_torch(L, S_):
    # torch's causal mask is aligned at the top-left corner, also when L != S
    compare(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
        qkv(batch=(2,), L=L, S_=S_),
    )


def test_sdpa_learnable_float_mask_gets_torchs_gradient():
    compare(
        lambda q, k, v, m: scaled_dot_product_attention(q, k, v, attn_mask=m),
        lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
        qkv(batch=(2,), L=3, S_=4) + [randn(3, 4, seed=9)],
    )


@settings(max_examples=15, deadline=None)
@given(B=st.integers(1, 3), H=st.integers(1, 3), L=st.integers(1, 6), S_=st.integers(1, 6),
       E=st.integers(1, 5), causal=st.booleans(), seed=st.integers(0, 2**16))
def test_sdpa_random_shapes_match_torch(B, H, L, S_, E, causal, seed):
    compare(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=causal),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=causal),
        qkv(batch=(B, H), L=L, S_=S_, E=E, Ev=E + 1, seed=seed), seed=seed,
    )


def test_sdpa_equals_the_readable_formula():
    q, k, v = (S.tensor(a) for a in qkv(batch=(2,), L=4, S_=4))
    scores = q.data @ np.swapaxes(k.data, -1, -2) / math.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v).data, weights @ v.data, **TOL)
    np.testing.assert_allclose(attention_weights(q, k).data, weights, **TOL)


def test_all_masked_row_gives_zeros_never_nan():
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False  # query 1 may attend to nothing
    float_mask = np.where(mask, 0.0, -np.inf)
    arrays = qkv(batch=(2,), L=3, S_=4)
    for m in (mask, float_mask):
        ours = [S.tensor(a, requires_grad=True) for a in arrays]
        out = scaled_dot_product_attention(*ours, attn_mask=S.tensor(m))
        assert np.isfinite(out.data).all() and np.all(out.data[:, 1] == 0)
        out.backward(randn(*out.shape, seed=4))
        assert np.all(ours[0].grad[:, 1] == 0)  # nothing flows through the dead row
        theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
        ref = TF.scaled_dot_product_attention(*theirs, attn_mask=torch.tensor(m))
        if torch.isfinite(ref).all():  # recent torch: zeros too, and the same gradients
            ref.backward(torch.tensor(randn(*out.shape, seed=4)))
            np.testing.assert_allclose(out.data, ref.detach().numpy(), **TOL)
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a.grad, b.grad.numpy(), **TOL)
        else:  # older torch returns NaN there; every other row must still agree
            np.testing.assert_allclose(out.data[:, [0, 2]], ref.detach().numpy()[:, [0, 2]], **TOL)
    q, k = (S.tensor(a) for a in qkv(batch=(1,), L=3, S_=4)[:2])
    w = attention_weights(q, k, attn_mask=S.tensor(mask)).data
    np.testing.assert_array_equal(w[0, 1], 0)
    np.testing.assert_allclose(w[0, [0, 2]].sum(-1), 1.0)
    # a plain softmax of an all -inf row is NaN (in torch too): that is what the rule avoids
    assert torch.isnan(torch.softmax(torch.full((3,), -torch.inf), -1)).all()


def test_large_scores_stay_finite():
    q, k, v = (S.tensor(a) for a in qkv(batch=(1,), L=3, S_=3))
    out = scaled_dot_product_attention(S.tensor(q.data * 1e4), k, v)
    assert np.isfinite(out.data).all()


def test_sdpa_dropout():
    q, k, v = (S.tensor(a, requires_grad=True) for a in qkv(batch=(8,), L=16, S_=16))
    S.manual_seed(0)
    dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not np.allclose(dropped.data, scaled_dot_product_attention(q, k, v).data)

    # with the generator reset before each call the mask repeats, so central differences apply
    def fixed_mask(q, k, v):
        S.manual_seed(1)
        return scaled_dot_product_attention(q, k, v, dropout_p=0.3)

    small = [S.tensor(a, requires_grad=True) for a in qkv(batch=(1,), L=3, S_=4, E=2, Ev=2)]
    assert S.gradcheck(fixed_mask, small)
    # on average over many masks, inverted dropout leaves the output unchanged
    S.manual_seed(2)
    q1, k1, v1 = (S.tensor(a) for a in qkv(batch=(1,), L=2, S_=3))
    mean = np.mean([scaled_dot_product_attention(q1, k1, v1, dropout_p=0.5).data for _ in range(3000)], axis=0)
    np.testing.assert_allclose(mean, scaled_dot_product_attention(q1, k1, v1).data, atol=0.1)


def test_gradcheck_sdpa_and_weights():
    q, k, v = (S.tensor(a, requires_grad=True) for a in qkv(batch=(2,), L=3, S_=4, E=2, Ev=3))
    mask = S.tensor(bool_mask((3, 4)))
    assert S.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=mask), (q, k, v))
    assert S.gradcheck(lambda q, k: attention_weights(q, k, is_causal=True), (q, S.tensor(k.data[:, :3], requires_grad=True)))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), S_=st.integers(2, 6))
def test_attention_ignores_the_order_of_keys(seed, S_):
    # permuting keys and values together leaves every output unchanged (no positions in attention)
    q, k, v = qkv(batch=(2,), L=3, S_=S_, seed=seed)
    perm = np.random.default_rng(seed).permutation(S_)
    a = scaled_dot_product_attention(S.tensor(q), S.tensor(k), S.tensor(v)).data
    b = scaled_dot_product_attention(S.tensor(q), S.tensor(k[:, perm]), S.tensor(v[:, perm])).data
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    w = attention_weights(S.tensor(q), S.tensor(k)).data
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12)


def test_sdpa_errors():
    q, k, v = (S.tensor(a) for a in qkv(batch=(1,), L=3, S_=4))
    with pytest.raises(ValueError, match=r"same feature size.*query \(1, 3, 4\) and key \(1, 4, 5\)"):
        scaled_dot_product_attention(q, S.tensor(randn(1, 4, 5)), v)
    with pytest.raises(ValueError, match="same sequence length"):
        scaled_dot_product_attention(q, k, S.tensor(randn(1, 5, 6)))
    with pytest.raises(ValueError, match=r"attn_mask broadcastable to \(\.\.\., L, S\) = \(\.\.\., 3, 4\); got \(4, 3\)"):
        scaled_dot_product_attention(q, k, v, attn_mask=S.tensor(np.ones((4, 3), dtype=bool)))
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        scaled_dot_product_attention(q, k, v, attn_mask=S.tensor(np.ones((3, 4), dtype=bool)), is_causal=True)
    with pytest.raises(TypeError, match="wrap it with labs.scratch.tensor"):
        scaled_dot_product_attention(q.data, k, v)
    with pytest.raises(ValueError, match="0 <= dropout_p < 1"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    with pytest.raises(TypeError, match="one dtype"):
        scaled_dot_product_attention(q, k, S.tensor(v.data.astype(np.float32)))


# ---------------------------------------------------------------------------------------
# nn.MultiheadAttention
# ---------------------------------------------------------------------------------------
def twin_mha(E=8, heads=2, **kwargs):
    theirs = torch.nn.MultiheadAttention(E, heads, **kwargs).double()
    with torch.no_grad():  # non-zero biases, so their gradients are checked too
        if theirs.in_proj_bias is not None:
            theirs.in_proj_bias.normal_()
            theirs.out_proj.bias.normal_()
    ours = nn.MultiheadAttention(E, heads, **kwargs).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def run_mha(ours, theirs, arrays, self_attention, seed=0, **kwargs):
    """Run both; compare output, weights and all gradients. Masks in kwargs are NumPy arrays."""
    xs = [S.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    q_ours, q_theirs = (xs * 3, ts * 3) if self_attention else (xs, ts)
    mine_kwargs = dict(kwargs)
    their_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    out, w = ours(*q_ours, **mine_kwargs)
    ref, ref_w = theirs(*q_theirs, **their_kwargs)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **TOL)
    if ref_w is None:
        assert w is None
    else:
        np.testing.assert_allclose(w.data, ref_w.detach().numpy(), **TOL)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(out.shape)
    loss, ref_loss = (out * S.tensor(a)).sum(), (ref * torch.tensor(a)).sum()
    if w is not None:  # the returned weights are differentiable too
        b = rng.standard_normal(w.shape)
        loss, ref_loss = loss + (w * S.tensor(b)).sum(), ref_loss + (ref_w * torch.tensor(b)).sum()
    loss.backward()
    ref_loss.backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), **TOL)
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(mine[name].grad, p.grad.numpy(), **TOL, err_msg=name)
    return out, w


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("self_attention", [True, False])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_matches_torch(batch_first, self_attention, need_weights, average):
    ours, theirs = twin_mha(batch_first=batch_first)
    N, L, S_ = 3, 4, (4 if self_attention else 6)
    shape = lambda n, t: (n, t, 8) if batch_first else (t, n, 8)  # noqa: E731
    arrays = [randn(*shape(N, L))] if self_attention else [randn(*shape(N, L)), randn(*shape(N, S_), seed=1), randn(*shape(N, S_), seed=2)]
    run_mha(ours, theirs, arrays, self_attention, need_weights=need_weights, average_attn_weights=average)


@pytest.mark.parametrize("mask_kind", ["kpm bool", "kpm float", "attn bool 2d", "attn bool 3d", "attn float", "both"])
def test_mha_masks_match_torch(mask_kind):
    ours, theirs = twin_mha(E=6, heads=3, batch_first=True)
    N, L = 2, 5
    rng = np.random.default_rng(0)
    kpm = np.zeros((N, L), dtype=bool)
    kpm[0, 3:] = True  # padding at the end of the first sequence (True = ignore, torch's MHA convention)
    attn2 = ~np.tril(np.ones((L, L), dtype=bool))  # causal: True above the diagonal = blocked
    attn3 = rng.random((N * 3, L, L)) > 0.6
    attn3[..., 0] = False
    kwargs = {
        "kpm bool": dict(key_padding_mask=kpm),
        "kpm float": dict(key_padding_mask=np.where(kpm, -1e9, 0.0) + rng.standard_normal((N, L))),
        "attn bool 2d": dict(attn_mask=attn2),
        "attn bool 3d": dict(attn_mask=attn3),
        "attn float": dict(attn_mask=rng.standard_normal((L, L))),
        "both": dict(attn_mask=attn2, key_padding_mask=kpm),
    }[mask_kind]
    run_mha(ours, theirs, [randn(N, L, 6)], True, **kwargs)


def test_mha_is_causal_builds_the_causal_mask():
    ours, theirs = twin_mha(batch_first=True)
    x = S.tensor(randn(2, 5, 8))
    causal = ~np.tril(np.ones((5, 5), dtype=bool))
    out, w = ours(x, x, x, is_causal=True)
    ref, ref_w = ours(x, x, x, attn_mask=causal)
    np.testing.assert_array_equal(out.data, ref.data)
    assert np.all(w.data[:, np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]] == 0)


def test_mha_without_bias_and_unbatched():
    ours, theirs = twin_mha(bias=False)
    run_mha(ours, theirs, [randn(5, 8)], True)  # (L, E): one unbatched sequence
    ours, theirs = twin_mha(batch_first=True)
    run_mha(ours, theirs, [randn(4, 8), randn(6, 8, seed=1), randn(6, 8, seed=2)], False, key_padding_mask=np.array([False] * 5 + [True]))


@settings(max_examples=8, deadline=None)
@given(N=st.integers(1, 3), L=st.integers(1, 5), heads=st.sampled_from([1, 2, 4]), seed=st.integers(0, 2**16))
def test_mha_random_shapes_match_torch(N, L, heads, seed):
    torch.manual_seed(seed)
    ours, theirs = twin_mha(E=8, heads=heads, batch_first=True)
    run_mha(ours, theirs, [randn(N, L, 8, seed=seed)], True, seed=seed)


def test_gradcheck_mha_inputs():
    S.manual_seed(0)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    padded = np.array([[False, False, True], [False, False, False]])
    q = S.tensor(randn(2, 2, 4), requires_grad=True)
    kv = S.tensor(randn(2, 3, 4, seed=1), requires_grad=True)
    assert S.gradcheck(lambda q, kv: mha(q, kv, kv, key_padding_mask=padded)[0], (q, kv))
    assert S.gradcheck(lambda q, kv: mha(q, kv, kv, average_attn_weights=False)[1], (q, kv))


def test_mha_dropout_only_in_training():
    S.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True).double()
    x = S.tensor(randn(2, 6, 8))
    mha.eval()
    a, wa = mha(x, x, x)
    b, _ = mha(x, x, x)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_allclose(wa.data.sum(-1), 1.0)
    mha.train()
    c, wc = mha(x, x, x)
    assert not np.allclose(a.data, c.data)
    assert (wc.data == 0).any()  # as torch, the returned weights are the dropped-out ones


def test_mha_errors():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(3\)"):
        nn.MultiheadAttention(10, 3)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = S.tensor(np.zeros((2, 5, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expects query of shape \(batch, seq, embed_dim\).*got \(2, 5, 7\)"):
        mha(S.tensor(np.zeros((2, 5, 7), dtype=np.float32)), x, x)
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(batch, S\) = \(2, 5\); got \(5,\)"):
        mha(x, x, x, key_padding_mask=np.zeros(5, dtype=bool))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(L, S\) = \(5, 5\)"):
        mha(x, x, x, attn_mask=np.zeros((4, 5), dtype=bool))
    with pytest.raises(TypeError, match="dtype float64 but the weights have float32"):
        mha(S.tensor(np.zeros((2, 5, 8))), x, x)


def test_mha_fully_padded_sequence_is_finite_where_torch_gives_nan():
    ours, theirs = twin_mha(batch_first=True)
    x = randn(2, 5, 8)
    padded = np.zeros((2, 5), dtype=bool)
    padded[1] = True  # the second sequence is all padding
    out, w = ours(*[S.tensor(x)] * 3, key_padding_mask=padded)
    ref, ref_w = theirs(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(padded))
    np.testing.assert_allclose(out.data[0], ref[0].detach().numpy(), **TOL)  # the real sequence agrees
    assert np.isfinite(out.data).all()  # torch 2.13 returns NaN for the padded sequence
    np.testing.assert_array_equal(w.data[1], 0)  # ours: zero weights ...
    np.testing.assert_allclose(out.data[1], np.broadcast_to(ours.out_proj.bias.data, (5, 8)))  # ... output = out_proj bias
