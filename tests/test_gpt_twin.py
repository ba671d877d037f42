"""The NumPy GPT against the PyTorch GPT: same weights, same logits, same gradients, same text."""

import numpy as np
import pytest
import torch

import labs.scratch as st
from labs.models import gpt as torch_gpt
from labs.scratch.models import gpt as numpy_gpt

CONFIGS = {
    "learned": dict(),
    "sinusoidal, untied, no bias": dict(position="sinusoidal", tie_weights=False, bias=False),
    "no positions, bidirectional": dict(position="none", causal=False),
}


def config(**changes):
    return torch_gpt.GPTConfig(**(dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8) | changes))


def pair(seed=0, **changes):
    """A float64 torch GPT and its NumPy twin holding the same weights."""
    torch.manual_seed(seed)
    model = torch_gpt.GPT(config(**changes)).double()
    twin = numpy_gpt.GPT(config(**changes), dtype=np.float64)
    twin.load_state_dict(model.state_dict())
    return model, twin


def ids(B, T, seed=0):
    return torch.randint(0, 13, (B, T), generator=torch.Generator().manual_seed(seed))


def test_same_keys_same_tying_and_loading_both_ways():
    model, twin = pair()
    assert list(twin.state_dict()) == list(model.state_dict())
    assert twin.lm_head.weight is twin.transformer.wte.weight
    assert sum(p.numel() for p in twin.parameters()) == torch_gpt.parameter_count(model.config)
    back = torch_gpt.GPT(model.config).double()
    back.load_state_dict({k: torch.from_numpy(v) for k, v in twin.state_dict().items()})
    x = ids(2, 5)
    torch.testing.assert_close(back(x), model(x))


@pytest.mark.parametrize("name", CONFIGS)
def test_forward_features_and_attention_maps_match_torch(name):
    model, twin = pair(**CONFIGS[name])
    x = ids(3, 7, seed=1)
    with torch.no_grad():
        np.testing.assert_allclose(twin(x.numpy()).data, model(x).numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(twin.features(x.numpy()).data, model.features(x).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(twin.attention_maps(x.numpy()).data, model.attention_maps(x).numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_gradient_matches_torch(name):
    model, twin = pair(seed=2, **CONFIGS[name])
    x, y = ids(2, 8, seed=3), ids(2, 8, seed=4)
    loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 13), y.reshape(-1))
    loss.backward()
    twin_loss = st.F.cross_entropy(twin(x.numpy()).reshape(-1, 13), y.numpy().reshape(-1))
    twin_loss.backward()
    assert abs(twin_loss.item() - loss.item()) < 1e-12
    twin_params = dict(twin.named_parameters())
    names = [n for n, _ in model.named_parameters()]
    assert names == list(twin_params)  # each parameter once: the tied head is the embedding
    for name_, p in model.named_parameters():
        np.testing.assert_allclose(twin_params[name_].grad, p.grad.numpy(), rtol=1e-9, atol=1e-13, err_msg=name_)


def test_the_twin_matches_central_differences_on_a_tiny_model():
    twin = numpy_gpt.GPT(config(n_layer=1, n_embd=4, n_head=2, vocab_size=5, block_size=4), dtype=np.float64)
    x, y = np.array([[1, 4, 0, 2]]), np.array([1, 3, 3, 0])
    weight = twin.transformer.h[0].attn.c_attn.weight

    def loss():
        return st.F.cross_entropy(twin(x).reshape(-1, 5), y).item()

    twin.zero_grad()
    st.F.cross_entropy(twin(x).reshape(-1, 5), y).backward()
    numeric = np.zeros_like(weight.data)
    for index in np.ndindex(weight.shape):
        saved = weight.data[index]
        weight.data[index] = saved + 1e-6
        up = loss()
        weight.data[index] = saved - 1e-6
        down = loss()
        weight.data[index] = saved
        numeric[index] = (up - down) / 2e-6
    np.testing.assert_allclose(weight.grad, numeric, rtol=1e-5, atol=1e-8)


def test_the_twins_cache_gives_the_logits_of_a_full_recompute_and_of_torch():
    model, twin = pair(seed=5)
    x = ids(2, 8, seed=6)
    cache = twin.new_cache(2)
    pieces = [twin(x[:, :3].numpy(), cache).data] + [twin(x[:, t:t + 1].numpy(), cache).data for t in range(3, 8)]
    assert cache.length == 8
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), twin(x.numpy()).data, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        np.testing.assert_allclose(np.concatenate(pieces, axis=1), model(x).numpy(), rtol=1e-10, atol=1e-12)
    torch_cache = model.new_cache(2)
    assert cache.nbytes == torch_cache.nbytes


@pytest.mark.parametrize("kwargs", [dict(), dict(temperature=0.0), dict(temperature=0.8, top_k=5, top_p=0.9)])
@pytest.mark.parametrize("use_cache", [True, False])
def test_both_engines_write_the_same_tokens_past_block_size(kwargs, use_cache):
    model, twin = pair(seed=7)
    prompt = ids(2, 5, seed=8)
    ours = numpy_gpt.generate(twin, prompt.numpy(), 15, use_cache=use_cache, seed=9, **kwargs)
    theirs = torch_gpt.generate(model, prompt, 15, use_cache=use_cache, seed=9, **kwargs)
    assert ours.shape == (2, 20)
    np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_twin_generate_restores_the_mode_and_its_cache_can_be_reset():
    twin = numpy_gpt.GPT(config(dropout=0.1))
    twin.train()
    a = numpy_gpt.generate(twin, np.array([[1, 2]]), 4, seed=1)
    assert twin.training and a.shape == (1, 6)
    np.testing.assert_array_equal(a.data, numpy_gpt.generate(twin, np.array([[1, 2]]), 4, seed=1).data)
    cache = twin.new_cache(1)
    twin(np.array([[1, 2, 3]]), cache)
    cache.reset()
    assert cache.length == 0


@pytest.mark.parametrize("call,error,words", [
    (lambda m: m(np.array([1, 2])), ValueError, "idx[None]"),
    (lambda m: m(np.array([[1.0, 2.0]])), TypeError, "long()"),
    (lambda m: m([[1, 2]]), TypeError, "labs.scratch.tensor"),
    (lambda m: m(np.array([[1, 13]])), ValueError, "vocab"),
    (lambda m: m(np.zeros((1, 9), dtype=np.int64)), ValueError, "block_size"),
    (lambda m: m(np.zeros((2, 3), dtype=np.int64), m.new_cache(1)), ValueError, "batch size"),
    (lambda m: m(np.zeros((1, 3), dtype=np.int64), torch_gpt.GPT(config()).new_cache(1)), TypeError, "KVCache"),
    (lambda m: numpy_gpt.generate(m, np.array([[1]]), 3, top_k=0), ValueError, "top_k"),
    (lambda m: numpy_gpt.generate(m, np.array([[1]]), 3, top_p=2.0), ValueError, "top_p"),
    (lambda m: numpy_gpt.generate(m, np.array([[1]]), 3, temperature=-0.5), ValueError, "temperature"),
    (lambda m: numpy_gpt.generate(m, np.array([[1]]), -2), ValueError, "max_new_tokens"),
])
def test_the_twin_refuses_bad_input_like_torch(call, error, words):
    with pytest.raises(error) as info:
        call(numpy_gpt.GPT(config()))
    assert words in str(info.value)


def test_twin_cache_overflow_is_refused():
    twin = numpy_gpt.GPT(config())
    cache = twin.new_cache(1)
    twin(np.zeros((1, 7), dtype=np.int64), cache)
    with pytest.raises(ValueError, match="reset"):
        twin(np.zeros((1, 2), dtype=np.int64), cache)
    assert cache.length == 7
