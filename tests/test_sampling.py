"""labs.sampling: temperature, top-k and top-p against their definitions, the draw, and bad input."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from labs.sampling import sample_next, sample_next_batch, sampling_probs

logit_rows = arrays(np.float64, st.integers(2, 30), elements=st.floats(-20, 20))


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _reference(logits, temperature, top_k, top_p):
    """The definition, written as plainly as possible: one token at a time."""
    p = _softmax(np.asarray(logits, dtype=np.float64) / temperature)
    ranked = sorted(range(len(p)), key=lambda i: (-p[i], i))
    if top_k is not None:
        ranked = ranked[:top_k]
    kept_p = np.zeros_like(p)
    kept_p[ranked] = p[ranked]
    kept_p /= kept_p.sum()
    if top_p is not None:
        nucleus, mass = [], 0.0
        for i in ranked:  # the smallest prefix whose mass reaches p, crossing token included
            nucleus.append(i)
            mass += kept_p[i]
            if mass >= top_p:
                break
        ranked = nucleus
    out = np.zeros_like(p)
    out[ranked] = p[ranked]
    return out / out.sum()


@given(logit_rows, st.sampled_from([0.3, 1.0, 2.5]), st.one_of(st.none(), st.integers(1, 40)),
       st.one_of(st.none(), st.floats(0.01, 1.0)))
def test_sampling_probs_follows_the_definition(logits, temperature, top_k, top_p):
    np.testing.assert_allclose(sampling_probs(logits, temperature, top_k, top_p),
                               _reference(logits, temperature, top_k, top_p), rtol=1e-9, atol=1e-12)


@given(logit_rows, st.integers(1, 30))
def test_top_k_keeps_exactly_k_tokens_even_with_ties(logits, k):
    logits = np.round(logits)  # many ties
    probs = sampling_probs(logits, 1.0, top_k=k)
    assert np.count_nonzero(probs) == min(k, len(logits))
    kept = np.flatnonzero(probs)
    dropped = np.setdiff1d(np.arange(len(logits)), kept)
    if len(dropped):
        assert logits[kept].min() >= logits[dropped].max()


def test_top_p_keeps_the_token_that_crosses_p():
    logits = np.log([0.5, 0.3, 0.15, 0.05])
    kept = lambda p: np.flatnonzero(sampling_probs(logits, 1.0, top_p=p)).tolist()  # noqa: E731
    assert kept(0.4) == [0]  # 0.5 alone already reaches 0.4
    assert kept(0.7) == [0, 1]  # 0.5 < 0.7, so the crossing token (0.3) is kept: 0.8
    assert kept(0.9) == [0, 1, 2]
    assert kept(1.0) == [0, 1, 2, 3]
    np.testing.assert_allclose(sampling_probs(logits, 1.0, top_p=0.7), [0.625, 0.375, 0.0, 0.0])


def test_temperature_comes_before_top_p():
    logits = np.log([0.5, 0.3, 0.2])
    # at T=0.5 it is 0.66/0.24/0.10: two tokens reach 0.75; at T=3 it is 0.39/0.33/0.29: two make 0.72
    assert np.count_nonzero(sampling_probs(logits, 0.5, top_p=0.75)) == 2
    assert np.count_nonzero(sampling_probs(logits, 3.0, top_p=0.75)) == 3


def test_temperature_zero_is_argmax_and_draws_nothing():
    logits = np.array([0.1, 3.0, 3.0, -1.0])
    rng = np.random.default_rng(0)
    assert sample_next(logits, 0.0, rng, top_k=2, top_p=0.5) == 1  # the first of the tied maxima
    assert rng.random() == np.random.default_rng(0).random()  # the generator was not touched
    np.testing.assert_array_equal(sampling_probs(logits, 0.0), [0, 1, 0, 0])
    assert sample_next_batch(np.stack([logits, -logits]), 0, rng).tolist() == [1, 3]


def test_tiny_temperature_and_huge_logits_stay_finite():
    probs = sampling_probs(np.array([1e6, 1e6 - 1.0, -1e6]), 1e-6)
    assert np.isfinite(probs).all() and probs[0] == 1.0


def test_draws_follow_the_probabilities_and_never_leave_the_support():
    logits = np.array([2.0, 1.0, 0.5, -np.inf, 0.0, -3.0])
    rng = np.random.default_rng(1)
    for top_k, top_p in [(None, None), (3, None), (None, 0.8), (4, 0.9)]:
        probs = sampling_probs(logits, 0.9, top_k, top_p)
        draws = np.array([sample_next(logits, 0.9, rng, top_k, top_p) for _ in range(20000)])
        counts = np.bincount(draws, minlength=len(logits)) / len(draws)
        assert set(np.flatnonzero(counts)) <= set(np.flatnonzero(probs))
        np.testing.assert_allclose(counts, probs, atol=0.015)


def test_the_draw_is_the_inverse_cdf_of_one_uniform_number():
    logits = np.random.default_rng(2).normal(size=(5, 9))
    probs = sampling_probs(logits, 1.3, top_k=6)
    u = np.random.default_rng(3).random(5)
    expected = [int(np.searchsorted(np.cumsum(row), x * row.sum(), side="right")) for row, x in zip(probs, u)]
    assert sample_next_batch(logits, 1.3, np.random.default_rng(3), top_k=6).tolist() == expected
    # one row of a batch draws what sample_next draws with the same generator
    assert sample_next_batch(logits[:1], 1.3, np.random.default_rng(3), top_k=6)[0] == \
        sample_next(logits[0], 1.3, np.random.default_rng(3), top_k=6)


def test_same_seed_same_tokens_and_torch_logits_accepted():
    import torch

    logits = torch.randn(7, generator=torch.Generator().manual_seed(0))
    a = [sample_next(logits, 1.0, rng, top_p=0.9) for rng in [np.random.default_rng(5)] for _ in range(20)]
    b = [sample_next(logits.numpy(), 1.0, rng, top_p=0.9) for rng in [np.random.default_rng(5)] for _ in range(20)]
    assert a == b


@pytest.mark.parametrize("kwargs,error,words", [
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(temperature=float("nan")), ValueError, "temperature"),
    (dict(temperature=float("inf")), ValueError, "finite"),
    (dict(top_k=0), ValueError, "top_k must be >= 1"),
    (dict(top_k=-2), ValueError, "top_k"),
    (dict(top_k=2.5), TypeError, "top_k"),
    (dict(top_p=0.0), ValueError, "(0, 1]"),
    (dict(top_p=1.5), ValueError, "top_p"),
    (dict(top_p=float("nan")), ValueError, "top_p"),
])
def test_bad_knobs_are_refused_before_any_work(kwargs, error, words):
    args = dict(temperature=1.0, top_k=None, top_p=None) | kwargs
    with pytest.raises(error) as info:
        sampling_probs(np.zeros(4), **args)
    assert words in str(info.value)
    with pytest.raises(error):
        sample_next(np.zeros(4), args["temperature"], np.random.default_rng(0), args["top_k"], args["top_p"])


@pytest.mark.parametrize("call,error,words", [
    (lambda: sample_next(np.array([0.0, np.nan]), 1.0, np.random.default_rng(0)), ValueError, "NaN"),
    (lambda: sample_next(np.full(3, -np.inf), 1.0, np.random.default_rng(0)), ValueError, "all -inf"),
    (lambda: sample_next(np.zeros((2, 3)), 1.0, np.random.default_rng(0)), ValueError, "sample_next_batch"),
    (lambda: sample_next_batch(np.zeros(3), 1.0, np.random.default_rng(0)), ValueError, "(B, V)"),
    (lambda: sample_next(np.zeros(3), 1.0, 0), TypeError, "default_rng"),
    (lambda: sampling_probs(np.zeros(0)), ValueError, "V >= 1"),
])
def test_bad_logits_are_explained(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


def test_the_kept_tokens_are_hugging_faces():
    """transformers' warpers (temperature, then top-k, then top-p) keep the same tokens."""
    pytest.importorskip("transformers")
    import torch
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    rng = np.random.default_rng(6)
    for _ in range(50):
        logits = rng.normal(size=(3, 40)) * rng.uniform(0.5, 4.0)
        temperature, top_k, top_p = rng.uniform(0.3, 2.0), int(rng.integers(1, 40)), rng.uniform(0.05, 0.99)
        scores = torch.from_numpy(logits)
        for warper in (TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k), TopPLogitsWarper(top_p)):
            scores = warper(None, scores)
        theirs = torch.softmax(scores, dim=-1).numpy()
        ours = sampling_probs(logits, temperature, top_k, top_p)
        np.testing.assert_array_equal(ours > 0, theirs > 0)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
