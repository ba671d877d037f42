"""Our GPT is GPT-2: the same random weights in Hugging Face's GPT2LMHeadModel and in both of our
engines give the same logits; GPT-2's weight files load offline-safely (SHA-256, safetensors)."""

import os
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from labs.data.download import ChecksumError, OfflineError, sha256_of
from labs.models import gpt as torch_gpt
from labs.models import gpt2_weights
from labs.scratch.models import gpt as numpy_gpt

transformers = pytest.importorskip("transformers")
safetensors_numpy = pytest.importorskip("safetensors.numpy")


def hf_model(seed=0, vocab=17, positions=10, n_embd=12, n_layer=2, n_head=3):
    """A random GPT-2 of Hugging Face's, built from a config (no network), in float64 eval mode."""
    config = transformers.GPT2Config(vocab_size=vocab, n_positions=positions, n_embd=n_embd, n_layer=n_layer,
                                     n_head=n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                     bos_token_id=0, eos_token_id=0)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).double().eval()
    with torch.no_grad():  # HF initialises LayerNorms to (1, 0) and biases to 0: make them random too
        for name, p in model.named_parameters():
            if "ln_" in name or name.endswith(".bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


def ours_from(hf, n_head=3):
    config, state = gpt2_weights.gpt2_state_dict(hf.state_dict(), n_head, dtype=np.float64)
    model = torch_gpt.GPT(config).double().eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    twin = numpy_gpt.GPT(config, dtype=np.float64)
    twin.load_state_dict(state)
    return model, twin


def test_same_random_weights_give_hugging_faces_logits_in_both_engines():
    hf = hf_model()
    model, twin = ours_from(hf)
    assert model.config.vocab_size == 17 and model.config.block_size == 10 and model.config.n_layer == 2
    x = torch.randint(0, 17, (2, 10), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(x).logits
        torch.testing.assert_close(model(x), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(twin(x.numpy()).data, model(x).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_greedy_generation_equals_hugging_faces_generate():
    hf = hf_model(seed=2)
    model, twin = ours_from(hf)
    prompt = torch.tensor([[3, 1, 4]])
    theirs = hf.generate(prompt, max_new_tokens=7, do_sample=False, pad_token_id=0, eos_token_id=None)
    assert torch.equal(torch_gpt.generate(model, prompt, 7, temperature=0.0), theirs)
    np.testing.assert_array_equal(numpy_gpt.generate(twin, prompt.numpy(), 7, temperature=0.0).data, theirs.numpy())


def _openai_layout(hf) -> dict:
    """The arrays as OpenAI's file stores them: no 'transformer.' prefix, no lm_head, a mask per layer."""
    arrays = {k[len("transformer."):]: v.float().numpy() for k, v in hf.state_dict().items() if k.startswith("transformer.")}
    P = hf.config.n_positions
    for i in range(hf.config.n_layer):
        arrays[f"h.{i}.attn.bias"] = np.tril(np.ones((P, P), dtype=np.float32))[None, None]
    return arrays


def test_a_safetensors_file_in_openais_layout_loads_into_both_engines(tmp_path):
    hf = hf_model(seed=3)
    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file(_openai_layout(hf), str(path))
    config, state = gpt2_weights.load_gpt2_safetensors(path, n_head=3)
    assert state["lm_head.weight"] is state["transformer.wte.weight"]
    assert not any(k.endswith(".attn.bias") for k in state)
    model = torch_gpt.GPT(config).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    x = torch.tensor([[5, 2, 9, 0]])
    with torch.no_grad():
        torch.testing.assert_close(model(x).double(), hf(x).logits, rtol=1e-4, atol=1e-5)


@pytest.fixture
def tiny_pretrained(tmp_path, monkeypatch):
    """A registered 'tiny' model whose file is a local safetensors file, fetched by URL like GPT-2's."""
    hf = hf_model(seed=4)
    source = tmp_path / "source" / "model.safetensors"
    source.parent.mkdir()
    safetensors_numpy.save_file(_openai_layout(hf), str(source))
    entry = {"n_head": 3, "weights": (source.as_uri(), sha256_of(source), source.stat().st_size)}
    monkeypatch.setitem(gpt2_weights.PRETRAINED, "tiny", entry)
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    return hf


def test_from_pretrained_downloads_verifies_caches_and_both_engines_write_the_same_text(tiny_pretrained, monkeypatch):
    model = torch_gpt.from_pretrained("tiny")
    twin = numpy_gpt.from_pretrained("tiny", dtype=np.float64)
    assert not model.training and not twin.training
    prompt = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(model(prompt).double(), tiny_pretrained(prompt).logits, rtol=1e-4, atol=1e-5)
    # the text, token for token: a float64 copy of the torch model against the float64 twin
    model64 = model.double()
    ours = numpy_gpt.generate(twin, prompt.numpy(), 12, temperature=0.9, top_k=8, seed=5)
    theirs = torch_gpt.generate(model64, prompt, 12, temperature=0.9, top_k=8, seed=5)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    # the second time, the cached file is used: no network needed

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert torch_gpt.from_pretrained("tiny").config == model.config


def test_a_file_with_the_wrong_hash_is_refused(tiny_pretrained, monkeypatch):
    url, _, size = gpt2_weights.PRETRAINED["tiny"]["weights"]
    monkeypatch.setitem(gpt2_weights.PRETRAINED, "tiny", {"n_head": 3, "weights": (url, "0" * 64, size)})
    with pytest.raises(ChecksumError):
        torch_gpt.from_pretrained("tiny")


@pytest.mark.parametrize("load", [torch_gpt.from_pretrained, numpy_gpt.from_pretrained])
def test_offline_from_pretrained_says_so(load, tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(OfflineError) as info:
        load("gpt2")
    message = str(info.value)
    assert "offline" in message and "548 MB" in message and "chapter 7" in message
    assert not list(tmp_path.iterdir())  # nothing half-written was left in the cache


def test_unknown_names_and_foreign_arrays_are_refused():
    with pytest.raises(ValueError, match="available"):
        torch_gpt.from_pretrained("gpt5")
    with pytest.raises(ValueError, match="not GPT-2's"):
        gpt2_weights.gpt2_state_dict({"weight": np.zeros((2, 2))}, n_head=1)


@pytest.mark.skipif(os.environ.get("LABS_ONLINE_TESTS") != "1", reason="downloads 548 MB: set LABS_ONLINE_TESTS=1")
def test_openais_gpt2_writes_the_same_text_in_both_engines():  # pragma: no cover - needs the network
    model = torch_gpt.from_pretrained("gpt2").double()  # float64 in both engines: equal tokens, not luck
    twin = numpy_gpt.from_pretrained("gpt2", dtype=np.float64)
    tokenizer = gpt2_weights.gpt2_tokenizer()
    prompt = torch.tensor([tokenizer.encode("The meaning of life is")])
    ours = numpy_gpt.generate(twin, prompt.numpy(), 10, temperature=0.0)
    theirs = torch_gpt.generate(model, prompt, 10, temperature=0.0)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert len(tokenizer.decode(theirs[0].tolist())) > len("The meaning of life is")


def test_the_tokenizer_files_are_fetched_verified_and_read(tmp_path, monkeypatch):
    import json

    source = tmp_path / "source"
    source.mkdir()
    (source / "vocab.json").write_text(json.dumps({"h": 0, "i": 1, "hi": 2, "!": 3, "<|endoftext|>": 4}))
    (source / "merges.txt").write_text("#version: 0.2\nh i\n")
    files = {part: ((source / f).as_uri(), sha256_of(source / f), None) for part, f in (("vocab", "vocab.json"), ("merges", "merges.txt"))}
    monkeypatch.setitem(gpt2_weights.PRETRAINED, "tiny", {"n_head": 1, **files})
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    tokenizer = gpt2_weights.gpt2_tokenizer("tiny")
    assert tokenizer.encode("hi!hi") == [2, 3, 2]  # the merge h + i applied
    assert tokenizer.decode([2, 3]) == "hi!"
