"""Graders for the exercises of Chapter 14, "Questions, answered by experiments".

Each grader calls the student's function on inputs of its own, compares with
:mod:`labs.evaluation` (itself checked against scikit-learn) or checks the property the
exercise asks for, and either prints one success line or raises
:class:`labs.check.ExerciseFailed` with the input, the expected and the returned value, and a
hint for the usual mistake (recognised by computing that mistake).
"""

from __future__ import annotations

import numpy as np

from labs.check import call_student, expect_close, fail, matches, passed
from labs.evaluation import expected_calibration_error, precision_recall_f1, softmax

__all__ = ["ece", "macro_f1", "stratified_folds"]


# --------------------------------------------------------------------------- Exercise 14.1


def ece(fn) -> None:
    """``fn(probs, y, n_bins)``: expected calibration error with equal-width (a, b] bins."""
    ex = "Exercise 14.1"
    rng = np.random.default_rng(141)
    uniform = np.full((50, 10), 0.1)
    cases = [
        (uniform, np.r_[np.zeros(5, int), np.ones(45, int)], 10, "10 classes, every probability 0.1, right 1 time in 10"),
        (softmax(rng.normal(size=(300, 4)) * 3), rng.integers(0, 4, 300), 10, "300 random 4-class predictions"),
        (softmax(rng.normal(size=(200, 3)) * 5), rng.integers(0, 3, 200), 7, "200 predictions in 7 bins"),
        (np.array([[0.3, 0.7], [0.6, 0.4], [1.0, 0.0]]), np.array([1, 1, 0]), 5, "3 binary predictions, one at confidence 1"),
    ]
    for probs, y, bins, what in cases:
        expected = expected_calibration_error(probs, y, bins)
        got = call_student(ex, fn, (probs.copy(), y.copy(), bins), inputs=what)
        hint = None
        if got is not None and not isinstance(got, str):
            full = _per_bin_gaps(probs, y, bins)
            if matches(got, np.mean(full[1])):
                hint = "weight each bin's |accuracy - confidence| by its share of the samples, not equally"
            elif matches(got, abs(np.mean(probs.max(1)) - np.mean(probs.argmax(1) == y))):
                hint = "ECE is measured per bin: one overall |accuracy - confidence| lets errors of opposite sign cancel"
        expect_close(ex, got, expected, what="ECE", inputs=what, rtol=1e-9, atol=1e-12, hint=hint)
    passed(ex, "equal to labs.evaluation.expected_calibration_error, including a model that is calibrated at 0.1")


def _per_bin_gaps(probs, y, bins):
    conf, correct = probs.max(1), probs.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, bins - 1)
    sizes, gaps = [], []
    for b in range(bins):
        if np.any(which == b):
            sizes.append(np.mean(which == b))
            gaps.append(abs(correct[which == b].mean() - conf[which == b].mean()))
    return np.array(sizes), np.array(gaps)


# --------------------------------------------------------------------------- Exercise 14.2


def macro_f1(fn) -> None:
    """``fn(y_true, y_pred, n_classes)``: F1 per class averaged with equal weights."""
    ex = "Exercise 14.2"
    rng = np.random.default_rng(142)
    cases = [
        (np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), np.zeros(10, int), 2, "9 negatives, 1 positive, always predict 0"),
        (rng.integers(0, 5, 100), rng.integers(0, 5, 100), 5, "100 random labels, 5 classes"),
        (np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]), 4, "4 classes, class 3 never seen nor predicted"),
    ]
    for y_true, y_pred, n, what in cases:
        expected = precision_recall_f1(y_true, y_pred, "macro", n)[2]
        got = call_student(ex, fn, (y_true.copy(), y_pred.copy(), n), inputs=what)
        hint = None
        if matches(got, precision_recall_f1(y_true, y_pred, "micro", n)[2]) and not np.isclose(expected, got):
            hint = "that is micro-F1 (every sample weighs the same; it equals accuracy here): average the per-class F1s"
        elif got is not None and not isinstance(got, str) and not np.all(np.isfinite(np.asarray(got, dtype=float))):
            hint = "a class with TP = FP = FN = 0 has F1 = 0 by convention, not 0/0"
        expect_close(ex, got, expected, what="macro-F1", inputs=what, rtol=1e-9, atol=1e-12, hint=hint)
    passed(ex, "equal to scikit-learn's f1_score(average='macro', zero_division=0)")


# --------------------------------------------------------------------------- Exercise 14.3


def stratified_folds(fn) -> None:
    """``fn(y, k)``: k test folds partitioning the indices, each class spread evenly over them."""
    ex = "Exercise 14.3"
    rng = np.random.default_rng(143)
    cases = [
        (np.repeat(np.arange(3), [10, 10, 10]), 5, "30 labels sorted by class, 5 folds"),
        (rng.integers(0, 4, 57), 3, "57 random labels of 4 classes, 3 folds"),
        (np.array([1, 0, 1, 1, 0, 1, 1, 1]), 2, "8 labels, imbalanced, 2 folds"),
    ]
    for y, k, what in cases:
        folds = call_student(ex, fn, (y.copy(), k), inputs=what)
        try:
            folds = [np.asarray(f, dtype=int).ravel() for f in folds]
        except (TypeError, ValueError):
            fail(ex, f"for {what} expected a list of {k} index arrays; got {type(folds).__name__}")
        if len(folds) != k:
            fail(ex, f"for {what} expected {k} folds; got {len(folds)}")
        every = np.sort(np.concatenate(folds)) if folds else np.array([], int)
        if not np.array_equal(every, np.arange(len(y))):
            fail(ex, f"for {what} the folds must hold every index 0..{len(y) - 1} exactly once; "
                     f"they hold {len(every)} indices, {len(set(every.tolist()))} distinct")
        for c in np.unique(y):
            counts = [int(np.sum(y[f] == c)) for f in folds]
            if max(counts) - min(counts) > 1:
                hint = ("dealing class by class round-robin keeps each class within one of even; "
                        "cutting the sorted indices into consecutive blocks puts whole classes in one fold")
                fail(ex, f"for {what} class {c} is spread over the folds as {counts}: not stratified", hint)
        sizes = [len(f) for f in folds]
        if max(sizes) - min(sizes) > 1:
            fail(ex, f"for {what} the fold sizes {sizes} differ by more than one",
                 "continue the round-robin position from one class to the next instead of restarting it at fold 0")
    passed(ex, "every index once, every class within one of even across the folds, fold sizes within one")
