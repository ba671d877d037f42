"""labs.models.gpt: the contract of chapter 7's GPT (sizes, causality, cache, generate, bad input)."""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from labs.models.gpt import GPT, GPTConfig, KVCache, generate, parameter_count
from labs.param_count import gpt_params


def small(**changes):
    return GPTConfig(**(dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8) | changes))


def model64(seed=0, **changes):
    torch.manual_seed(seed)
    return GPT(small(**changes)).double().eval()


def ids(B, T, V=13, seed=0):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


# --- configuration and parameters ------------------------------------------------------------
@pytest.mark.parametrize("changes,words", [
    (dict(n_embd=10, n_head=4), "divisible"),
    (dict(n_layer=0), "n_layer"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(block_size=-1), "block_size"),
    (dict(n_head=2.0), "n_head"),
    (dict(dropout=1.0), "dropout"),
    (dict(position="rotary"), "position"),
    (dict(position="sinusoidal", n_embd=6, n_head=3, vocab_size=5), None),
    (dict(bias="yes"), "bias"),
])
def test_config_refuses_impossible_sizes(changes, words):
    if words is None:  # a valid config: sinusoidal with an even width
        small(**changes)
        return
    with pytest.raises(ValueError) as info:
        small(**changes)
    assert words in str(info.value)


@settings(max_examples=20)
@given(st.booleans(), st.booleans(), st.sampled_from(["learned", "sinusoidal", "none"]), st.integers(1, 3),
       st.sampled_from([(1, 4), (2, 8), (4, 16)]))
def test_parameter_count_closed_form(bias, tie, position, n_layer, heads_width):
    n_head, n_embd = heads_width
    config = small(bias=bias, tie_weights=tie, position=position, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    assert sum(p.numel() for p in GPT(config).parameters()) == parameter_count(config)


def test_parameter_count_agrees_with_chapter_1_and_gpt2_small():
    config = small(n_layer=3, n_embd=16, n_head=4)
    assert parameter_count(config) == gpt_params(3, 16, 13, 8)
    assert parameter_count(GPTConfig()) == 124_439_808  # GPT-2 small, as Hugging Face counts it


def test_state_dict_keys_are_nanogpts_and_the_head_is_tied():
    model = GPT(small(n_layer=1))
    assert list(model.state_dict()) == [
        "transformer.wte.weight", "transformer.wpe.weight",
        "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
        "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
        "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias",
        "transformer.h.0.ln_2.weight", "transformer.h.0.ln_2.bias",
        "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
        "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias",
        "transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight",
    ]
    assert model.lm_head.weight is model.transformer.wte.weight
    untied = GPT(small(tie_weights=False, position="sinusoidal", bias=False))
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    assert "transformer.wpe.weight" not in untied.state_dict() and "pe" not in untied.state_dict()
    assert not any(k.endswith(".bias") for k in untied.state_dict())


def test_initialisation_is_nanogpts():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=500, block_size=64, n_layer=4, n_head=4, n_embd=128))
    params = dict(model.named_parameters())
    assert abs(params["transformer.wte.weight"].std().item() - 0.02) < 0.002
    assert abs(params["transformer.h.0.attn.c_attn.weight"].std().item() - 0.02) < 0.002
    for name in ("transformer.h.1.attn.c_proj.weight", "transformer.h.2.mlp.c_proj.weight"):
        assert abs(params[name].std().item() - 0.02 / math.sqrt(2 * 4)) < 0.001
    assert all(p.abs().max() == 0 for n, p in params.items() if n.endswith(".bias") and "ln_" not in n)
    assert all(torch.equal(p, torch.ones_like(p)) for n, p in params.items() if "ln_" in n and n.endswith("weight"))


# --- what the model computes -----------------------------------------------------------------
def test_forward_shapes():
    model = GPT(small())
    x = ids(3, 5)
    assert model(x).shape == (3, 5, 13)
    assert model.features(x).shape == (3, 5, 8)
    assert model.attention_maps(x).shape == (2, 3, 2, 5, 5)


def test_future_tokens_do_not_change_past_logits():
    model = model64()
    x = ids(2, 8)
    y = x.clone()
    y[:, 5:] = (y[:, 5:] + 1) % 13
    a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :5], b[:, :5], rtol=0, atol=1e-12)
    assert not torch.allclose(a[:, 5:], b[:, 5:])
    # a bidirectional model (BERT's encoder) lets the future in
    bert = model64(causal=False)
    assert not torch.allclose(bert(x)[:, :5], bert(y)[:, :5])


def test_attention_maps_are_causal_distributions_and_match_the_fast_path():
    model = model64()
    x = ids(2, 6)
    maps = model.attention_maps(x)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 2, 6, dtype=torch.float64))
    assert torch.all(maps[..., torch.triu(torch.ones(6, 6, dtype=torch.bool), 1)] == 0)
    # the readable path's weights, times v, give what scaled_dot_product_attention gives
    block = model.transformer.h[0]
    with torch.no_grad():
        h = block.ln_1(model._embed(x, 0))
        q, k, v = block.attn._heads(h, None, 0)
        fast = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(maps[0] @ v, fast)
    full = model64(causal=False).attention_maps(x)
    assert torch.all(full > 0)


def test_attention_equals_torch_multiheadattention_on_the_same_weights():
    model = model64(causal=False)
    attn = model.transformer.h[0].attn
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.c_attn.weight)
        mha.in_proj_bias.copy_(attn.c_attn.bias)
        mha.out_proj.weight.copy_(attn.c_proj.weight)
        mha.out_proj.bias.copy_(attn.c_proj.bias)
        x = torch.randn(2, 5, 8, dtype=torch.float64)
        torch.testing.assert_close(attn(x), mha(x, x, x, need_weights=False)[0])
        causal = model64().transformer.h[0].attn
        causal.load_state_dict(attn.state_dict())
        blocked = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)  # MultiheadAttention: True = blocked
        torch.testing.assert_close(causal(x), mha(x, x, x, attn_mask=blocked, need_weights=False)[0])


def test_without_positions_the_model_cannot_tell_the_order():
    model = model64(position="none", causal=False)
    x = ids(1, 6)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    torch.testing.assert_close(model(x)[:, perm], model(x[:, perm]))
    ordered = model64(causal=False)
    assert not torch.allclose(ordered(x)[:, perm], ordered(x[:, perm]))


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "none"])
def test_cache_gives_the_logits_of_a_full_recompute(position):
    model = model64(position=position)
    x = ids(2, 8, seed=3)
    full = model(x)
    cache = model.new_cache(2)
    pieces = [model(x[:, :3], cache)] + [model(x[:, t:t + 1], cache) for t in range(3, 8)]
    assert cache.length == 8
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-10, atol=1e-12)
    cache.reset()
    assert cache.length == 0
    torch.testing.assert_close(model(x[:, :4], cache), full[:, :4], rtol=1e-10, atol=1e-12)


def test_cache_memory_is_two_layers_of_b_t_c_numbers():
    model = GPT(small())
    cache = model.new_cache(3)
    assert isinstance(cache, KVCache) and len(cache.keys) == len(cache.values) == 2
    assert cache.keys[0].shape == (3, 2, 8, 4)
    assert cache.nbytes == 2 * 2 * 3 * 8 * 8 * 4  # 2 (k and v) x n_layer x B x block_size x n_embd x 4 bytes


def test_gradients_flow_through_a_cached_forward():
    model = GPT(small()).double()
    x = ids(1, 5)
    cache = model.new_cache(1)
    model(x[:, :4], cache)
    model(x[:, 4:], cache).sum().backward()
    assert model.transformer.h[0].attn.c_attn.weight.grad.abs().sum() > 0


# --- generate --------------------------------------------------------------------------------
def _reads(model):
    """Record the length of every call's input, and the cache length before it."""
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append((args[0].shape[1], args[1].length if len(args) > 1 and args[1] is not None else 0)))
    return seen


@pytest.mark.parametrize("kwargs", [dict(), dict(temperature=0.0), dict(temperature=0.7, top_k=4, top_p=0.9)])
def test_cached_and_uncached_generation_write_the_same_tokens_past_block_size(kwargs):
    model = model64(seed=1)
    prompt = ids(3, 5, seed=2)
    cached = generate(model, prompt, 20, use_cache=True, seed=4, **kwargs)
    plain = generate(model, prompt, 20, use_cache=False, seed=4, **kwargs)
    assert cached.shape == (3, 25) and torch.equal(cached[:, :5], prompt)
    assert torch.equal(cached, plain)


def test_generate_reads_at_most_block_size_tokens_and_one_token_a_step_while_the_cache_has_room():
    model = model64()
    seen = _reads(model)
    generate(model, ids(1, 5), 6, use_cache=True)
    assert seen[0] == (5, 0) and seen[1:4] == [(1, 5), (1, 6), (1, 7)]  # prefill, then one token a step
    assert seen[4:] == [(8, 0), (8, 0)]  # full: read the last 8 tokens again, from an emptied cache
    seen.clear()
    generate(model, ids(1, 12), 3, use_cache=False)  # a prompt longer than the context is cropped
    assert [n for n, _ in seen] == [8, 8, 8]


def test_generate_is_seeded_restores_the_mode_and_records_no_graph():
    model = GPT(small(dropout=0.2))
    model.train()
    a = generate(model, ids(2, 3), 7, seed=11)
    assert model.training
    b = generate(model, ids(2, 3), 7, seed=11)
    assert torch.equal(a, b) and a.shape == (2, 10) and not a.requires_grad and a.dtype == torch.int64
    assert torch.equal(generate(model, ids(2, 3), 0), ids(2, 3))
    model.eval()
    generate(model, ids(1, 3), 2)
    assert not model.training


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("call,error,words", [
    (lambda m: m(ids(1, 3)[0]), ValueError, "idx[None]"),
    (lambda m: m(ids(1, 3)[0]), ValueError, "(B, T)"),
    (lambda m: m(ids(1, 3).float()), TypeError, "long()"),
    (lambda m: m([[1, 2]]), TypeError, "torch.as_tensor"),
    (lambda m: m(torch.tensor([[1, 13]])), ValueError, "vocab"),
    (lambda m: m(torch.tensor([[-1, 2]])), ValueError, "vocab"),
    (lambda m: m(ids(1, 9)), ValueError, "block_size"),
    (lambda m: m(torch.zeros(1, 0, dtype=torch.long)), ValueError, "at least one"),
    (lambda m: m(ids(2, 3), m.new_cache(3)), ValueError, "batch size"),
    (lambda m: m(ids(1, 3), "cache"), TypeError, "KVCache"),
    (lambda m: m.new_cache(0), ValueError, "batch_size"),
    (lambda m: generate(m, ids(1, 3), 5, top_k=0), ValueError, "top_k"),
    (lambda m: generate(m, ids(1, 3), 5, top_p=0.0), ValueError, "top_p"),
    (lambda m: generate(m, ids(1, 3), 5, top_p=1.5), ValueError, "top_p"),
    (lambda m: generate(m, ids(1, 3), 5, temperature=-1.0), ValueError, "temperature"),
    (lambda m: generate(m, ids(1, 3), 5, temperature=float("nan")), ValueError, "temperature"),
    (lambda m: generate(m, ids(1, 3), -1), ValueError, "max_new_tokens"),
    (lambda m: generate(m, ids(1, 3)[0], 5), ValueError, "idx[None]"),
    (lambda m: generate(m, ids(1, 3).double(), 5), TypeError, "long()"),
    (lambda m: generate(m, torch.tensor([[99]]), 5), ValueError, "vocab"),
])
def test_bad_input_names_the_fix(call, error, words):
    with pytest.raises(error) as info:
        call(GPT(small()))
    assert words in str(info.value)


def test_cache_overflow_is_refused_before_anything_changes():
    model = model64()
    cache = model.new_cache(1)
    model(ids(1, 6), cache)
    keys = cache.keys[0].clone()
    with pytest.raises(ValueError, match="reset"):
        model(ids(1, 3), cache)
    assert cache.length == 6 and torch.equal(cache.keys[0], keys)
    with pytest.raises(ValueError, match="causal"):
        bert = model64(causal=False)
        bert(ids(1, 2), bert.new_cache(1))
    with pytest.raises(ValueError, match="causal"):
        generate(model64(causal=False), ids(1, 2), 3)


def test_the_cache_works_under_bfloat16_autocast():
    model = GPT(small()).eval()
    x = ids(2, 6)
    cache = model.new_cache(2)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        full = model(x).float()
        pieces = torch.cat([model(x[:, :4], cache), model(x[:, 4:5], cache), model(x[:, 5:], cache)], dim=1).float()
    torch.testing.assert_close(pieces, full, rtol=0.05, atol=0.05)  # bfloat16 keeps about 3 digits
