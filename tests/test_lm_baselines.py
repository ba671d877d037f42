"""labs.lm_baselines: counting models, their smoothing and their bits per character."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from labs.lm_baselines import BigramLM, UnigramLM, nats_to_bits, uniform_bits_per_char


def test_probabilities_sum_to_one_including_unseen_rows():
    ids = np.array([0, 1, 2, 1, 0, 1, 2, 2])
    bigram = BigramLM(5, k=0.5).fit(ids)  # ids 3 and 4 never occur
    np.testing.assert_allclose(bigram.probs.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(bigram.probs[3], 1 / 5)
    unigram = UnigramLM(5, k=0.5).fit(ids)
    assert unigram.probs.sum() == pytest.approx(1.0)
    assert np.all(unigram.probs > 0)


def test_bigram_matches_counting_by_hand():
    text = "abracadabra"
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text])
    V, k = len(vocab), 1.0
    pairs = Counter(zip(text, text[1:]))
    firsts = Counter(text[:-1])
    model = BigramLM(V, k).fit(ids)
    for a in vocab:
        for b in vocab:
            expected = (pairs[(a, b)] + k) / (firsts[a] + k * V)
            assert model.probs[vocab.index(a), vocab.index(b)] == pytest.approx(expected)
    val = "cadabra"
    val_ids = np.array([vocab.index(c) for c in val])
    by_hand = -np.mean([math.log2((pairs[(a, b)] + k) / (firsts[a] + k * V)) for a, b in zip(val, val[1:])])
    assert model.bits_per_char(val_ids) == pytest.approx(by_hand)


def test_a_uniform_model_scores_log2_of_the_vocabulary():
    V = 13
    ids = np.tile(np.arange(V), 20)  # every character equally frequent: the unigram is uniform
    assert UnigramLM(V).fit(ids).bits_per_char(ids) == pytest.approx(math.log2(V), rel=1e-12)
    assert uniform_bits_per_char(V) == pytest.approx(math.log2(V))
    # a huge smoothing constant drowns the counts: the bigram tends to uniform too
    assert BigramLM(V, k=1e12).fit(ids[::-1].copy()).bits_per_char(ids) == pytest.approx(math.log2(V), rel=1e-6)


def test_bigram_uses_context_that_the_unigram_cannot():
    ids = np.tile([0, 1, 2, 3], 50)  # the next id is determined by the current one
    unigram = UnigramLM(4).fit(ids).bits_per_char(ids)
    bigram = BigramLM(4, k=0.01).fit(ids).bits_per_char(ids)
    assert unigram == pytest.approx(2.0, abs=1e-3)
    assert bigram < 0.01


def test_unseen_validation_characters_get_a_finite_score():
    model = BigramLM(4).fit(np.array([0, 1, 0, 1, 0]))
    assert math.isfinite(model.bits_per_char(np.array([2, 3, 2, 3])))


def test_sampling_is_seeded():
    model = BigramLM(5).fit(np.random.default_rng(0).integers(0, 5, 200))
    a, b, c = model.sample(50, seed=1), model.sample(50, seed=1), model.sample(50, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() < 5
    np.testing.assert_array_equal(UnigramLM(5).fit(a).sample(20, seed=3), UnigramLM(5).fit(a).sample(20, seed=3))


def test_nats_to_bits():
    assert nats_to_bits(math.log(8)) == pytest.approx(3.0)


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="k must be a positive"):
        BigramLM(5, k=0)
    with pytest.raises(ValueError, match="vocab_size"):
        UnigramLM(0)
    with pytest.raises(TypeError, match="encode it first"):
        BigramLM(5).fit("hello")
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        BigramLM(5).fit(np.array([0, 1, 7]))
    with pytest.raises(RuntimeError, match="fit"):
        BigramLM(5).bits_per_char(np.array([0, 1]))
    with pytest.raises(ValueError, match="at least 2"):
        BigramLM(5).fit(np.array([0, 1])).bits_per_char(np.array([1]))
    with pytest.raises(TypeError, match="integers"):
        BigramLM(5).fit(np.array([0.0, 1.0]))
