"""Speculative decoding keeps the target's distribution exactly: in exact arithmetic for one step
(hypothesis), by sampling for whole sequences (a chi-square test), and token for token at
temperature 0."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats

from labs.models.gpt import GPT, GPTConfig, generate
from labs.speculative import (acceptance_probability, expected_speedup, expected_tokens_per_round, residual_distribution,
                              speculative_generate, speculative_step_distribution)

# The sampling test's significance level: a correct implementation fails it with probability
# ALPHA over the choice of seeds (the seeds are fixed, so the test is deterministic; ALPHA is the
# chance that a fixed seed set is an unlucky one).
ALPHA = 1e-3


def probability_vectors(size):
    weights = st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=size, max_size=size).filter(lambda w: sum(w) > 1e-3)
    return weights.map(lambda w: np.asarray(w) / np.sum(w))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(probability_vectors(n), probability_vectors(n))))
def test_one_step_output_distribution_is_the_target(pq):
    p, q = pq
    np.testing.assert_allclose(speculative_step_distribution(p, q), p, atol=1e-12)


def test_acceptance_and_residual_by_hand():
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.6, 0.2])
    assert acceptance_probability(p, q, 0) == 1.0                   # the target wants it more: always kept
    assert math.isclose(acceptance_probability(p, q, 1), 0.5)        # 0.3 / 0.6
    np.testing.assert_allclose(residual_distribution(p, q), [1.0, 0.0, 0.0])   # only token 0 is under-offered
    np.testing.assert_array_equal(residual_distribution(p, p), p)
    with pytest.raises(ValueError, match="probability 0"):
        acceptance_probability(p, np.array([1.0, 0.0, 0.0]), 1)
    with pytest.raises(ValueError, match="sum to 1"):
        residual_distribution([0.5, 0.2], [0.5, 0.5])


def test_expected_tokens_and_speedup_closed_forms():
    for alpha, gamma in ((0.0, 3), (0.6, 4), (0.95, 7)):
        assert math.isclose(expected_tokens_per_round(alpha, gamma), sum(alpha ** i for i in range(gamma + 1)))
    assert expected_tokens_per_round(1.0, 4) == 5.0
    assert math.isclose(expected_speedup(0.8, 4, 0.0), expected_tokens_per_round(0.8, 4))   # a free draft
    assert expected_speedup(0.0, 4, 0.5) < 1.0                       # a useless draft only costs


def tiny_gpt(seed, vocab=3, n_layer=1, sharpen=30.0):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=vocab, block_size=8, n_layer=n_layer, n_head=2, n_embd=8, tie_weights=False)).double()
    with torch.no_grad():
        model.lm_head.weight.mul_(sharpen)   # random GPTs are nearly uniform; make the two disagree clearly
    return model.eval()


def exact_sequence_probs(model, prompt, n_new, vocab):
    """P(every continuation of n_new tokens) under ancestral sampling from `model`, by enumeration."""
    probs = {}
    with torch.no_grad():
        for seq in itertools.product(range(vocab), repeat=n_new):
            ids = torch.tensor([list(prompt) + list(seq)])
            logp = model(ids)[0].log_softmax(-1)
            probs[seq] = math.exp(sum(logp[len(prompt) - 1 + i, t].item() for i, t in enumerate(seq)))
    assert math.isclose(sum(probs.values()), 1.0, rel_tol=1e-9)
    return probs


def chi_square_p_value(counts, expected_probs, n):
    """Pearson's chi-square goodness of fit, bins with expected count < 5 pooled into one."""
    keys = sorted(expected_probs)
    exp = np.array([expected_probs[k] * n for k in keys])
    obs = np.array([counts.get(k, 0) for k in keys], dtype=float)
    small = exp < 5
    if small.any():
        exp = np.append(exp[~small], exp[small].sum())
        obs = np.append(obs[~small], obs[small].sum())
    return stats.chisquare(obs, exp).pvalue


def test_sampled_sequences_follow_the_target_distribution():
    target, draft = tiny_gpt(0, n_layer=2), tiny_gpt(1)
    prompt, n_new, vocab, runs = [0, 2], 3, 3, 1000
    p_target = exact_sequence_probs(target, prompt, n_new, vocab)
    p_draft = exact_sequence_probs(draft, prompt, n_new, vocab)
    counts, accepted, tested = {}, 0, 0
    for seed in range(runs):
        r = speculative_generate(target, draft, prompt, n_new, gamma=2, temperature=1.0, seed=seed)
        key = tuple(int(t) for t in r.ids[len(prompt):])
        counts[key] = counts.get(key, 0) + 1
        accepted, tested = accepted + r.accepted, tested + r.accepted + r.rejected
    assert chi_square_p_value(counts, p_target, runs) > ALPHA
    # the same test has power: the draft's own distribution (what "always accept" would give) is rejected
    assert chi_square_p_value(counts, p_draft, runs) < ALPHA
    assert 0.05 < accepted / tested < 0.95              # both branches (keep and resample) were exercised


def test_temperature_zero_is_the_target_greedy_text():
    target, draft = tiny_gpt(2, vocab=5, n_layer=2, sharpen=1.0), tiny_gpt(3, vocab=5, sharpen=1.0)
    rejected = 0
    for start in range(20):
        prompt = [start % 5, (start * 3) % 5]
        r = speculative_generate(target, draft, prompt, 6, gamma=3, temperature=0.0)
        greedy = generate(target, torch.tensor([prompt]), 6, temperature=0.0)[0].numpy()
        np.testing.assert_array_equal(r.ids, greedy)
        rejected += r.rejected
    assert rejected > 0                                  # the draft disagreed somewhere, and was corrected


def test_identical_draft_is_always_accepted():
    model = tiny_gpt(4)
    r = speculative_generate(model, model, [1], 7, gamma=3, seed=0)
    assert r.acceptance_rate == 1.0 and r.rejected == 0
    assert r.target_calls == math.ceil(7 / 4)            # each round yields gamma + 1 tokens
    assert r.ids.size == 8 and r.tokens_per_target_call == 7 / r.target_calls


@pytest.mark.parametrize("kwargs, message", [
    ({"max_new_tokens": 8}, "block_size"),
    ({"gamma": 0}, "gamma"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"prompt": [[1, 2]]}, "1-D"),
    ({"prompt": [7]}, r"\[0, 3\)"),
])
def test_bad_arguments_say_what_to_fix(kwargs, message):
    args = {"prompt": [1], "max_new_tokens": 3, "gamma": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        speculative_generate(tiny_gpt(0), tiny_gpt(1), **args)


def test_vocabularies_must_match():
    with pytest.raises(ValueError, match="vocabulary"):
        speculative_generate(tiny_gpt(0, vocab=3), tiny_gpt(1, vocab=4), [1], 3)
