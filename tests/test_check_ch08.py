"""Chapter 8 graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch.nn as nn

from labs.check import ExerciseFailed, ch08


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 8.x: not yet")


@pytest.mark.parametrize("grader", [ch08.winner, ch08.transfer_model, ch08.bert_corrupt, ch08.bits_per_byte])
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 8.x"):
        grader(stub)


# ----------------------------------------------------------------------------- Exercise 8.1


def winner_right(results):
    if any(len(a) < 2 for a in results.values()):
        raise ValueError("need at least two seeds per mode")
    stats = {m: (np.mean(a), np.std(a, ddof=1) / math.sqrt(len(a))) for m, a in results.items()}
    best = max(stats, key=lambda m: stats[m][0])
    for m, (mean, se) in stats.items():
        if m != best and stats[best][0] - mean <= 2 * math.hypot(stats[best][1], se):
            return "tie"
    return best


def test_winner_accepts_the_reference(capsys):
    ch08.winner(winner_right)
    assert "passed" in capsys.readouterr().out


def test_winner_rejects_the_highest_mean_alone():
    def argmax_only(results):
        if any(len(a) < 2 for a in results.values()):
            raise ValueError("two seeds")
        return max(results, key=lambda m: np.mean(results[m]))

    with pytest.raises(ExerciseFailed, match="error bars overlap"):
        ch08.winner(argmax_only)


def test_winner_rejects_the_standard_deviation_as_error_bar():
    def std_not_se(results):
        if any(len(a) < 2 for a in results.values()):
            raise ValueError("two seeds")
        stats = {m: (np.mean(a), np.std(a, ddof=1)) for m, a in results.items()}
        best = max(stats, key=lambda m: stats[m][0])
        ok = all(stats[best][0] - mu > 2 * math.hypot(stats[best][1], s) for m, (mu, s) in stats.items() if m != best)
        return best if ok else "tie"

    with pytest.raises(ExerciseFailed, match="standard error"):
        ch08.winner(std_not_se)


def test_winner_wants_a_value_error_for_one_seed():
    def no_check(results):
        return winner_right({m: list(a) * 2 for m, a in results.items()}) if len(next(iter(results.values()))) < 2 else winner_right(results)

    with pytest.raises(ExerciseFailed, match="ValueError"):
        ch08.winner(no_check)


# ----------------------------------------------------------------------------- Exercise 8.2


class Transfer(nn.Module):
    def __init__(self, base, out_channels, num_classes):
        super().__init__()
        self.base = base.eval()
        for p in base.parameters():
            p.requires_grad_(False)
        self.pool, self.head = nn.AdaptiveAvgPool2d(1), nn.Linear(out_channels, num_classes)

    def train(self, mode=True):
        super().train(mode)
        self.base.eval()
        return self

    def forward(self, x):
        return self.head(self.pool(self.base(x)).flatten(1))


def test_transfer_model_accepts_the_fix(capsys):
    ch08.transfer_model(Transfer)
    assert "passed" in capsys.readouterr().out


def test_transfer_model_rejects_the_seeds_flatten():
    def seed_like(base, out_channels, num_classes):
        for p in base.parameters():
            p.requires_grad_(False)
        return nn.Sequential(base, nn.Flatten(), nn.Linear(out_channels * 8 * 8, num_classes))

    with pytest.raises(ExerciseFailed, match="AdaptiveAvgPool2d"):
        ch08.transfer_model(seed_like)


def test_transfer_model_rejects_an_unfrozen_base():
    def unfrozen(base, out_channels, num_classes):
        return nn.Sequential(base, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(out_channels, num_classes))

    with pytest.raises(ExerciseFailed, match="requires_grad"):
        ch08.transfer_model(unfrozen)


def test_transfer_model_rejects_batchnorm_statistics_that_move():
    def frozen_but_train_mode(base, out_channels, num_classes):
        for p in base.parameters():
            p.requires_grad_(False)
        return nn.Sequential(base, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(out_channels, num_classes))

    with pytest.raises(ExerciseFailed, match="running statistics"):
        ch08.transfer_model(frozen_but_train_mode)


# ----------------------------------------------------------------------------- Exercise 8.3


def corrupt_right(ids, mask_id, vocab_size, rng):
    ids = np.asarray(ids)
    chosen = rng.random(ids.shape) < 0.15
    labels = np.where(chosen, ids, -100)
    u = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (u < 0.8)] = mask_id
    rand = chosen & (u >= 0.8) & (u < 0.9)
    inputs[rand] = rng.integers(0, vocab_size, size=int(rand.sum()))
    return inputs, labels


def test_bert_corrupt_accepts_the_recipe_and_the_library(capsys):
    from labs.concepts.self_supervised import mask_tokens

    ch08.bert_corrupt(corrupt_right)
    ch08.bert_corrupt(lambda ids, m, V, rng: mask_tokens(ids, 0.15, m, rng, corruption="bert", vocab_size=V)[:2])
    assert capsys.readouterr().out.count("passed") == 2


def test_bert_corrupt_rejects_mask_only_and_labels_everywhere():
    from labs.concepts.self_supervised import mask_tokens

    with pytest.raises(ExerciseFailed, match="80 % mask"):
        ch08.bert_corrupt(lambda ids, m, V, rng: mask_tokens(ids, 0.15, m, rng)[:2])

    def labels_everywhere(ids, m, V, rng):
        inputs, _ = corrupt_right(ids, m, V, rng)
        return inputs, np.asarray(ids).copy()

    with pytest.raises(ExerciseFailed, match="-100"):
        ch08.bert_corrupt(labels_everywhere)


# ----------------------------------------------------------------------------- Exercise 8.4


def test_bits_per_byte_accepts_the_formula_and_names_the_slips(capsys):
    ch08.bits_per_byte(lambda loss, n, text: loss * n / math.log(2) / len(text.encode("utf-8")))
    assert "passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="UTF-8 bytes"):
        ch08.bits_per_byte(lambda loss, n, text: loss * n / math.log(2) / len(text))
    with pytest.raises(ExerciseFailed, match="nats"):
        ch08.bits_per_byte(lambda loss, n, text: loss * n / len(text.encode("utf-8")))
    with pytest.raises(ExerciseFailed, match="bits per token"):
        ch08.bits_per_byte(lambda loss, n, text: loss / math.log(2))
