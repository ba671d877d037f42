"""Chapter 9a graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch09a
from labs.kg import filtered_tail_ranks, mrr


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 9a.x: not yet")


GRADERS = [ch09a.per_class_scores, ch09a.filtered_mrr, ch09a.ensemble_gain, ch09a.recall_at_k]


@pytest.mark.parametrize("grader", GRADERS)
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 9a.x"):
        grader(stub)


# ----------------------------------------------------------------------------- Exercise 9a.1


def scores_right(confusion):
    confusion = np.asarray(confusion, dtype=float)
    tp = np.diag(confusion)
    predicted, actual = confusion.sum(0), confusion.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    return precision, recall, f1


def test_per_class_scores_accepts_the_reference(capsys):
    ch09a.per_class_scores(scores_right)
    assert "Exercise 9a.1 passed" in capsys.readouterr().out


def test_per_class_scores_names_swapped_axes_and_the_arithmetic_mean():
    def swapped(confusion):
        p, r, f = scores_right(confusion)
        return r, p, f

    with pytest.raises(ExerciseFailed, match="swapped"):
        ch09a.per_class_scores(swapped)

    def arithmetic(confusion):
        p, r, _ = scores_right(confusion)
        return p, r, (p + r) / 2

    with pytest.raises(ExerciseFailed, match="harmonic mean"):
        ch09a.per_class_scores(arithmetic)

    def nan_for_unpredicted(confusion):
        confusion = np.asarray(confusion, dtype=float)
        p = np.diag(confusion) / confusion.sum(0)
        _, r, f = scores_right(confusion)
        return p, r, f

    with pytest.raises(ExerciseFailed, match="NaN"):
        ch09a.per_class_scores(nan_for_unpredicted)


# ----------------------------------------------------------------------------- Exercise 9a.2


def test_filtered_mrr_accepts_the_library_and_rejects_the_unfiltered_and_the_optimistic(capsys):
    ch09a.filtered_mrr(lambda d, q, k: mrr(filtered_tail_ranks(d, q, k)))
    assert "Exercise 9a.2 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="filtered setting"):
        ch09a.filtered_mrr(lambda d, q, k: mrr(filtered_tail_ranks(d, q, q)))

    def optimistic(d, q, k):
        return float(np.mean([1 / (1 + np.sum(np.delete(row, [t]) < row[t])) for row, (_, _, t) in zip(d, q)]))

    with pytest.raises(ExerciseFailed, match="tie with the true tail counts half"):
        ch09a.filtered_mrr(optimistic)


# ----------------------------------------------------------------------------- Exercise 9a.3


def gain_right(probabilities, labels):
    members = [np.mean(p.argmax(1) == labels) for p in probabilities]
    return float(np.mean(np.mean(probabilities, axis=0).argmax(1) == labels) - np.mean(members))


def test_ensemble_gain_accepts_the_reference_and_reports_both_measurements(capsys):
    ch09a.ensemble_gain(gain_right)
    out = capsys.readouterr().out
    assert "Exercise 9a.3 passed" in out and "5 seeds of a logistic regression gain +0.000" in out


def test_ensemble_gain_rejects_the_accuracy_and_the_vote():
    with pytest.raises(ExerciseFailed, match="minus"):
        ch09a.ensemble_gain(lambda p, y: float(np.mean(np.mean(p, axis=0).argmax(1) == y)))

    def vote(probabilities, labels):
        votes = np.array([p.argmax(1) for p in probabilities])
        majority = np.array([np.bincount(v, minlength=3).argmax() for v in votes.T])
        return float(np.mean(majority == labels) - np.mean([np.mean(v == labels) for v in votes]))

    with pytest.raises(ExerciseFailed, match="average the probabilities"):
        ch09a.ensemble_gain(vote)


# ----------------------------------------------------------------------------- Exercise 9a.4


def recall_right(scores, relevant, k):
    right = scores[np.arange(len(relevant)), relevant]
    return float(np.mean((scores >= right[:, None]).sum(1) <= k))


def test_recall_at_k_accepts_the_reference_and_rejects_the_wrong_direction_and_optimistic_ties(capsys):
    ch09a.recall_at_k(recall_right)
    assert "Exercise 9a.4 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="largest"):
        ch09a.recall_at_k(lambda s, r, k: recall_right(-s, r, k))

    def optimistic(scores, relevant, k):
        right = scores[np.arange(len(relevant)), relevant]
        return float(np.mean((scores > right[:, None]).sum(1) + 1 <= k))

    with pytest.raises(ExerciseFailed, match="tie counts against"):
        ch09a.recall_at_k(optimistic)
