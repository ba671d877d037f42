"""Chapter 14 graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch14
from labs.evaluation import expected_calibration_error, kfold_indices, precision_recall_f1


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 14.x: not yet")


@pytest.mark.parametrize("grader", [ch14.ece, ch14.macro_f1, ch14.stratified_folds])
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 14.x"):
        grader(stub)


def test_ece(capsys):
    ch14.ece(expected_calibration_error)
    assert "Exercise 14.1 passed" in capsys.readouterr().out

    def unweighted(probs, y, n_bins):
        conf, correct = probs.max(1), probs.argmax(1) == y
        edges = np.linspace(0, 1, n_bins + 1)
        which = np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, n_bins - 1)
        return float(np.mean([abs(correct[which == b].mean() - conf[which == b].mean())
                              for b in range(n_bins) if np.any(which == b)]))

    with pytest.raises(ExerciseFailed, match="share of the samples"):
        ch14.ece(unweighted)
    with pytest.raises(ExerciseFailed, match="opposite sign cancel"):
        ch14.ece(lambda p, y, b: abs(np.mean(p.max(1)) - np.mean(p.argmax(1) == y)))


def test_macro_f1(capsys):
    ch14.macro_f1(lambda t, p, n: precision_recall_f1(t, p, "macro", n)[2])
    assert "Exercise 14.2 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="micro-F1"):
        ch14.macro_f1(lambda t, p, n: float(np.mean(t == p)))

    def nan_for_empty(t, p, n):
        out = []
        for c in range(n):
            tp, fp, fn = np.sum((t == c) & (p == c)), np.sum((t != c) & (p == c)), np.sum((t == c) & (p != c))
            with np.errstate(invalid="ignore", divide="ignore"):
                out.append(2 * tp / (2 * tp + fp + fn))
        return float(np.mean(out))

    with pytest.raises(ExerciseFailed, match="by convention"):
        ch14.macro_f1(nan_for_empty)


def test_stratified_folds(capsys):
    def right(y, k):
        folds, position = [[] for _ in range(k)], 0
        for c in np.unique(y):
            for i in np.flatnonzero(y == c):
                folds[position % k].append(i)
                position += 1
        return [np.array(f) for f in folds]

    ch14.stratified_folds(right)
    assert "Exercise 14.3 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="not stratified"):
        ch14.stratified_folds(lambda y, k: [t for _, t in kfold_indices(len(y), k)])
    with pytest.raises(ExerciseFailed, match="exactly once"):
        ch14.stratified_folds(lambda y, k: [np.arange(len(y))] * k)

    def restarting(y, k):
        folds = [[] for _ in range(k)]
        for c in np.unique(y):
            for position, i in enumerate(np.flatnonzero(y == c)):
                folds[position % k].append(i)
        return folds

    with pytest.raises(ExerciseFailed, match="fold sizes"):
        ch14.stratified_folds(restarting)
