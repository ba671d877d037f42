"""Chapter 6 graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs.check import ExerciseFailed
from labs.check import ch06


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ----------------------------------------------------------------------------- Exercise 6.1


def rnn_concat_right(x_t, h_prev, W, b):
    return np.tanh(np.concatenate([h_prev, x_t], axis=1) @ W.T + b)


def rnn_concat_swapped(x_t, h_prev, W, b):
    return np.tanh(np.concatenate([x_t, h_prev], axis=1) @ W.T + b)


def rnn_concat_no_tanh(x_t, h_prev, W, b):
    return np.concatenate([h_prev, x_t], axis=1) @ W.T + b


def rnn_concat_no_bias(x_t, h_prev, W, b):
    return np.tanh(np.concatenate([h_prev, x_t], axis=1) @ W.T)


# ----------------------------------------------------------------------------- Exercise 6.2


def lstm_right(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, g, o = np.split(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=1)
    c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c_new), c_new


def lstm_keras_order(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, o, g = np.split(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=1)  # i, f, o, g: a common slip
    c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c_new), c_new


def lstm_no_tanh_on_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, g, o = np.split(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=1)
    c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * c_new, c_new


def lstm_returns_h_only(x, h, c, w_ih, w_hh, b_ih, b_hh):
    return lstm_right(x, h, c, w_ih, w_hh, b_ih, b_hh)[0]


# ----------------------------------------------------------------------------- Exercise 6.3


def steps_right(rho, threshold):
    return int(math.floor(math.log(threshold) / math.log(rho))) + 1


def steps_floor(rho, threshold):
    return int(math.floor(math.log(threshold) / math.log(rho)))


def steps_mixed_bases(rho, threshold):
    return int(math.ceil(math.log10(threshold) / math.log(rho)))


def steps_negative(rho, threshold):
    return -steps_right(rho, threshold)


def steps_float(rho, threshold):
    return math.log(threshold) / math.log(rho)


# ----------------------------------------------------------------------------- Exercise 6.4


def trigram_probs(train_ids, vocab_size, k, axis=2):
    counts = np.zeros((vocab_size,) * 3)
    np.add.at(counts, (train_ids[:-2], train_ids[1:-1], train_ids[2:]), 1)
    return (counts + k) / (counts.sum(axis=axis, keepdims=True) + k * vocab_size)


def trigram_right(train_ids, val_ids, vocab_size, k):
    probs = trigram_probs(train_ids, vocab_size, k)
    return float(-np.mean(np.log2(probs[val_ids[:-2], val_ids[1:-1], val_ids[2:]])))


def trigram_nats(train_ids, val_ids, vocab_size, k):
    probs = trigram_probs(train_ids, vocab_size, k)
    return float(-np.mean(np.log(probs[val_ids[:-2], val_ids[1:-1], val_ids[2:]])))


def trigram_unsmoothed(train_ids, val_ids, vocab_size, k):
    with np.errstate(all="ignore"):
        return trigram_right(train_ids, val_ids, vocab_size, 0.0)


def trigram_wrong_axis(train_ids, val_ids, vocab_size, k):
    probs = trigram_probs(train_ids, vocab_size, k, axis=0)
    return float(-np.mean(np.log2(probs[val_ids[:-2], val_ids[1:-1], val_ids[2:]])))


def trigram_divides_by_len(train_ids, val_ids, vocab_size, k):
    probs = trigram_probs(train_ids, vocab_size, k)
    return float(-np.sum(np.log2(probs[val_ids[:-2], val_ids[1:-1], val_ids[2:]])) / len(val_ids))


def trigram_is_a_bigram(train_ids, val_ids, vocab_size, k):
    from labs.lm_baselines import BigramLM

    return BigramLM(vocab_size, k).fit(train_ids).bits_per_char(val_ids)


# ----------------------------------------------------------------------------- Exercise 6.5


def logits_right(outputs, weight, bias):
    return outputs[:, -1] @ weight.T + bias


def logits_every_step(outputs, weight, bias):
    return outputs @ weight.T + bias


def logits_softmaxed(outputs, weight, bias):
    z = outputs[:, -1] @ weight.T + bias
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def logits_first_step(outputs, weight, bias):
    return outputs[:, 0] @ weight.T + bias


# ----------------------------------------------------------------------------- the tests

RIGHT = [
    (ch06.rnn_step_concat, rnn_concat_right),
    (ch06.lstm_cell_step, lstm_right),
    (ch06.steps_until_vanished, steps_right),
    (ch06.trigram_bits_per_char, trigram_right),
    (ch06.sequence_logits, logits_right),
]


@pytest.mark.parametrize("grader,answer", RIGHT, ids=lambda v: getattr(v, "__name__", ""))
def test_right_answers_pass(grader, answer, capsys):
    grader(answer)
    assert "passed" in capsys.readouterr().out


WRONG = [
    (ch06.rnn_step_concat, rnn_concat_swapped, "put h_prev first"),
    (ch06.rnn_step_concat, rnn_concat_no_tanh, "apply np.tanh"),
    (ch06.rnn_step_concat, rnn_concat_no_bias, "add b"),
    (ch06.lstm_cell_step, lstm_keras_order, "i, f, g, o"),
    (ch06.lstm_cell_step, lstm_no_tanh_on_cell, "o * np.tanh(c_new)"),
    (ch06.lstm_cell_step, lstm_returns_h_only, "(h_new, c_new)"),
    (ch06.steps_until_vanished, steps_floor, "rounded down"),
    (ch06.steps_until_vanished, steps_mixed_bases, "logarithm bases"),
    (ch06.steps_until_vanished, steps_negative, "negative"),
    (ch06.steps_until_vanished, steps_float, "should return an int"),
    (ch06.trigram_bits_per_char, trigram_nats, "np.log2"),
    (ch06.trigram_bits_per_char, trigram_unsmoothed, "add k"),
    (ch06.trigram_bits_per_char, trigram_wrong_axis, "last axis"),
    (ch06.trigram_bits_per_char, trigram_divides_by_len, "len(val_ids) - 2"),
    (ch06.trigram_bits_per_char, trigram_is_a_bigram, "two previous characters"),
    (ch06.sequence_logits, logits_every_step, "every step"),
    (ch06.sequence_logits, logits_softmaxed, "probabilities"),
    (ch06.sequence_logits, logits_first_step, "first time step"),
]


@pytest.mark.parametrize("grader,answer,hint", WRONG, ids=lambda v: getattr(v, "__name__", None) or str(v)[:20])
def test_wrong_answers_fail_with_a_useful_hint(grader, answer, hint):
    with pytest.raises(ExerciseFailed) as info:
        grader(answer)
    assert hint in str(info.value), str(info.value)


@pytest.mark.parametrize("grader", [g for g, _ in RIGHT], ids=lambda g: g.__name__)
def test_stub_error_passes_through(grader):
    def stub(*args):
        raise NotImplementedError("Exercise 6.x: not done")

    with pytest.raises(NotImplementedError, match="not done"):
        grader(stub)


@pytest.mark.parametrize("grader", [g for g, _ in RIGHT], ids=lambda g: g.__name__)
def test_crash_and_none_are_reported(grader):
    def crash(*args):
        raise KeyError("oops")

    with pytest.raises(ExerciseFailed, match="raised KeyError"):
        grader(crash)
    with pytest.raises(ExerciseFailed):
        grader(lambda *args: None)
    with pytest.raises(ExerciseFailed, match="expected a function"):
        grader(42)
