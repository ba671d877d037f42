"""labs.models.char_lm and its NumPy twin: shapes, state, sampling, bits per character, parity, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import labs.scratch as st
from labs.data.corpus import CharTokenizer
from labs.lm_baselines import BigramLM
from labs.models.char_lm import CharLM, bits_per_char, generate, next_char_probs, next_char_windows, sample_next
from labs.scratch.models import char_lm as scratch_char_lm

TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog. "
TOK = CharTokenizer.fit(TEXT)


def _model(cell="lstm", seed=0, **kwargs):
    torch.manual_seed(seed)
    return CharLM(TOK.vocab_size, embed_dim=6, hidden_size=12, cell=cell, **kwargs).double()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_shapes_and_carried_state(cell):
    model = _model(cell, num_layers=2)
    ids = torch.as_tensor(TOK.encode(TEXT[:20]))[None].repeat(3, 1)
    logits = model(ids)
    assert logits.shape == (3, 20, TOK.vocab_size)
    # reading the text in two halves, carrying the state, gives the same logits as one pass
    first, state = model(ids[:, :8], return_state=True)
    second = model(ids[:, 8:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits)


def test_logits_at_t_do_not_depend_on_later_characters():
    model = _model()
    ids = torch.as_tensor(TOK.encode(TEXT[:15]))[None]
    changed = ids.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % TOK.vocab_size
    torch.testing.assert_close(model(ids)[:, :10], model(changed)[:, :10])


def test_next_char_windows_shift_by_one():
    ids = np.arange(20)
    x, y = next_char_windows(ids, 6, stride=4)
    assert x.shape == y.shape == (4, 6)
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(x[:, 0], [0, 4, 8, 12])
    with pytest.raises(ValueError, match="too short"):
        next_char_windows(np.arange(5), 6)


def test_sample_next_follows_softmax_with_temperature():
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    assert sample_next(logits, 0.0, np.random.default_rng(0)) == 0
    rng = np.random.default_rng(0)
    for temperature in (0.5, 1.0, 2.0):
        draws = np.array([sample_next(logits, temperature, rng) for _ in range(20000)])
        expected = np.exp(logits / temperature) / np.exp(logits / temperature).sum()
        np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), expected, atol=0.015)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, -1.0, rng)


def test_generate_is_seeded_and_has_the_right_length():
    model = _model()
    a = generate(model, TOK, "the ", 40, temperature=1.0, seed=7)
    assert a == generate(model, TOK, "the ", 40, temperature=1.0, seed=7)
    assert a != generate(model, TOK, "the ", 40, temperature=1.0, seed=8)
    assert len(a) == 44 and a.startswith("the ")
    greedy = generate(model, TOK, "the ", 10, temperature=0.0, seed=1)
    assert greedy == generate(model, TOK, "the ", 10, temperature=0.0, seed=2)  # argmax ignores the seed
    with pytest.raises(ValueError, match="outside the vocabulary"):
        generate(model, TOK, "QQ", 5)
    with pytest.raises(ValueError, match="non-empty"):
        generate(model, TOK, "", 5)


def test_next_char_probs_sharpen_as_temperature_falls():
    model = _model()
    probs = {t: next_char_probs(model, TOK, "the c", t) for t in (0.25, 1.0, 4.0)}
    for p in probs.values():
        assert p.sum() == pytest.approx(1.0)
    entropy = {t: -(p * np.log(p)).sum() for t, p in probs.items()}
    assert entropy[0.25] < entropy[1.0] < entropy[4.0] < math.log(TOK.vocab_size)


def test_bits_per_char_scores_every_target_once():
    model = _model(seed=3)
    ids = TOK.encode(TEXT * 2)
    # One pass over the whole text: the reference
    logits = model(torch.as_tensor(ids[:-1])[None])[0]
    full = torch.nn.functional.cross_entropy(logits, torch.as_tensor(ids[1:])).item() / math.log(2)
    # chunks whose warm-up reaches back to the start see exactly the same history
    assert bits_per_char(model, ids, chunk=17, context=len(ids)) == pytest.approx(full, rel=1e-10)
    # short warm-ups change the history, but every target is still scored once (the function asserts it)
    assert abs(bits_per_char(model, ids, chunk=17, context=4, batch_size=3) - full) < 0.5


def test_a_model_with_zero_head_scores_log2_v():
    model = _model()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    assert bits_per_char(model, TOK.encode(TEXT)) == pytest.approx(math.log2(TOK.vocab_size), rel=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_numpy_twin_has_the_same_logits_gradients_and_samples(cell):
    model = _model(cell, num_layers=2)
    twin = scratch_char_lm.CharLM(TOK.vocab_size, embed_dim=6, hidden_size=12, num_layers=2, cell=cell, dtype=st.float64)
    twin.load_state_dict({k: v.detach().numpy() for k, v in model.state_dict().items()})
    assert list(twin.state_dict()) == list(model.state_dict())
    ids = TOK.encode(TEXT[:30]).reshape(2, 15)
    logits = model(torch.as_tensor(ids))
    logits_np = twin(ids)
    np.testing.assert_allclose(logits_np.data, logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    targets = np.roll(ids, -1, axis=1)
    torch.nn.functional.cross_entropy(logits.reshape(-1, TOK.vocab_size), torch.as_tensor(targets).reshape(-1)).backward()
    st.F.cross_entropy(logits_np.reshape(-1, TOK.vocab_size), targets.reshape(-1)).backward()
    named = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(named[name].grad, p.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)
    assert scratch_char_lm.generate(twin, TOK, "the ", 30, 1.0, seed=5) == generate(model, TOK, "the ", 30, 1.0, seed=5)


def test_training_with_the_course_loop_beats_the_bigram():
    from labs.train import fit

    ids = TOK.encode(TEXT * 40)
    x, y = next_char_windows(ids, 32, stride=8)
    torch.manual_seed(0)
    model = CharLM(TOK.vocab_size, embed_dim=8, hidden_size=32, cell="lstm")
    fit(model, (x, y), epochs=3, batch_size=16, lr=1e-2, clip_grad_norm=1.0, progress=False, device="cpu")
    bigram = BigramLM(TOK.vocab_size).fit(ids).bits_per_char(ids)
    assert bits_per_char(model, ids) < bigram - 0.5


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="cell must be one of"):
        CharLM(10, cell="transformer")
    with pytest.raises(ValueError, match="hidden_size"):
        CharLM(10, hidden_size=0)
    model = _model()
    with pytest.raises(TypeError, match="integer character ids"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="n "):
        generate(model, TOK, "the", -1)
