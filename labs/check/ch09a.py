"""Graders for the exercises of Chapter 9a, "Applications I: text, knowledge and sequences".

Each grader calls the student's function on inputs of its own, compares with a reference
(scikit-learn's metrics where the field uses them, :mod:`labs.kg` for the filtered ranking)
and either prints one success line or raises :class:`labs.check.ExerciseFailed` saying what
went in, what was expected and what came back, with a hint for the usual mistake (found by
computing that mistake and comparing). ``NotImplementedError`` from a stub is let through.
"""

from __future__ import annotations

import warnings

import numpy as np

from labs.check import call_student, expect_close, fail, matches, passed

__all__ = ["per_class_scores", "filtered_mrr", "ensemble_gain", "recall_at_k"]


# --------------------------------------------------------------------------- Exercise 9a.1


def _confusions():
    rng = np.random.default_rng(0)
    yield np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]]), "a 3-class confusion matrix"
    yield np.array([[3, 2, 0], [1, 4, 0], [2, 1, 0]]), "a matrix whose class 2 is never predicted (column of zeros)"
    yield rng.integers(0, 9, (5, 5)), "a random 5-class confusion matrix"


def per_class_scores(fn) -> None:
    """``fn(confusion)`` -> (precision, recall, f1) per class, 0 where undefined, as scikit-learn's."""
    from sklearn.metrics import precision_recall_fscore_support

    ex = "Exercise 9a.1"
    for confusion, what in _confusions():
        labels = np.arange(len(confusion))
        y_true = np.repeat(np.repeat(labels, len(labels)), confusion.ravel())  # one example per count
        y_pred = np.repeat(np.tile(labels, len(labels)), confusion.ravel())
        expected = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)[:3]
        got = call_student(ex, fn, (confusion.copy(),), inputs=f"{what} {confusion.tolist()}")
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            fail(ex, f"for {what} expected a tuple (precision, recall, f1) of three arrays; got {type(got).__name__}")
        for name, g, e, other in zip(("precision", "recall", "f1"), got, expected, (expected[1], expected[0], None)):
            hint = None
            if other is not None and matches(g, other) and not np.allclose(e, other):
                hint = ("precision and recall are swapped: precision divides the diagonal by the *column* sums "
                        "(everything predicted as the class), recall by the *row* sums (everything truly in it)")
            elif name == "f1" and matches(g, (expected[0] + expected[1]) / 2):
                hint = "F1 is the harmonic mean 2PR / (P + R), not the arithmetic mean (P + R) / 2"
            expect_close(ex, g, e, what=name, inputs=f"{what} {confusion.tolist()}", rtol=1e-9, atol=1e-12, hint=hint)
    passed(ex, "precision, recall and F1 per class equal scikit-learn's precision_recall_fscore_support, "
               "including a class that is never predicted")


# --------------------------------------------------------------------------- Exercise 9a.2


def filtered_mrr(fn) -> None:
    """``fn(distances, queries, known)`` -> the filtered MRR of :mod:`labs.kg`, ties counting half."""
    from labs.kg import filtered_tail_ranks, mrr

    ex = "Exercise 9a.2"
    rng = np.random.default_rng(1)
    distances = rng.random((6, 8))
    distances[2, 5] = distances[2, 1]  # a tie with the true tail
    queries = np.array([[0, 0, 1], [0, 0, 3], [2, 1, 1], [4, 1, 7], [5, 0, 0], [6, 1, 2]])
    known = np.concatenate([queries, [[0, 0, 6], [4, 1, 2], [4, 1, 5], [6, 1, 2]]])  # other true tails
    cases = [((distances, queries, queries), "6 queries, one tie, nothing else known (no filtering)"),
             ((distances, queries, known), "the same queries with other true tails in known")]
    for args, what in cases:
        expected = mrr(filtered_tail_ranks(*args))
        got = call_student(ex, fn, tuple(a.copy() for a in args), inputs=what)
        hint = None
        if args[2] is known and matches(got, mrr(filtered_tail_ranks(args[0], args[1], args[1]))):
            hint = "the other true tails in `known` must leave the candidates (the filtered setting); yours kept them"
        else:
            optimistic = np.mean([1 / (1 + np.sum(np.delete(d, [t]) < d[t])) for d, (_, _, t) in zip(args[0], args[1])])
            if args[2] is queries and matches(got, optimistic):
                hint = "a tie with the true tail counts half: rank = 1 + closer + 0.5 * ties"
        expect_close(ex, got, expected, what="filtered_mrr", inputs=what, rtol=1e-9, hint=hint)
    passed(ex, "filtered ranks with ties counting half, the MRR that labs.kg reports")


# --------------------------------------------------------------------------- Exercise 9a.3


def _reference_gain(probabilities, labels) -> float:
    members = [np.mean(p.argmax(1) == labels) for p in probabilities]
    return float(np.mean(np.mean(probabilities, axis=0).argmax(1) == labels) - np.mean(members))


def ensemble_gain(fn) -> None:
    """``fn(probabilities, labels)`` -> ensemble accuracy minus mean member accuracy; then it measures twins."""
    from sklearn.datasets import make_classification
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    ex = "Exercise 9a.3"
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 40)
    probabilities = [rng.dirichlet(np.ones(3), 40) for _ in range(4)]
    got = call_student(ex, fn, ([p.copy() for p in probabilities], labels.copy()), inputs="4 random members, 40 examples")
    hint = None
    votes = np.array([p.argmax(1) for p in probabilities])
    if matches(got, np.mean(np.mean(probabilities, axis=0).argmax(1) == labels)):
        hint = "return the gain: the ensemble's accuracy *minus* the members' mean accuracy"
    elif matches(got, np.mean([np.bincount(v, minlength=3).argmax() for v in votes.T] == labels) - np.mean(
            [np.mean(v == labels) for v in votes])):
        hint = "average the probabilities, then take the argmax (a majority vote of argmaxes is another ensemble)"
    expect_close(ex, got, _reference_gain(probabilities, labels), what="ensemble_gain", inputs="4 random members",
                 rtol=1e-9, hint=hint)

    X, y = make_classification(n_samples=600, n_features=20, n_informative=6, n_classes=3, random_state=0)
    train, test = slice(0, 400), slice(400, None)
    twins = [LogisticRegression(max_iter=2000, random_state=seed).fit(X[train], y[train]).predict_proba(X[test])
             for seed in range(5)]
    halves = [np.random.default_rng(seed).permutation(400)[:200] for seed in range(5)]
    with warnings.catch_warnings():  # a few hundred Adam steps need not converge for the point to hold
        warnings.simplefilter("ignore", ConvergenceWarning)
        different = [MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=seed).fit(X[h], y[h]).predict_proba(X[test])
                     for seed, h in enumerate(halves)]
    twin_gain = float(call_student(ex, fn, (twins, y[test]), inputs="5 logistic regressions, seeds 0-4"))
    different_gain = float(call_student(ex, fn, (different, y[test]), inputs="5 MLPs, each on its own half of the data"))
    expect_close(ex, twin_gain, _reference_gain(twins, y[test]), what="ensemble_gain", inputs="5 seeded logistic regressions")
    expect_close(ex, different_gain, _reference_gain(different, y[test]), what="ensemble_gain", inputs="5 different MLPs")
    passed(ex, f"measured: 5 seeds of a logistic regression gain {twin_gain:+.3f} (one convex minimum: the twins are "
               f"identical), 5 MLPs on different halves gain {different_gain:+.3f}; was your prediction right?")


# --------------------------------------------------------------------------- Exercise 9a.4


def recall_at_k(fn) -> None:
    """``fn(scores, relevant, k)`` -> the share of questions whose document is in the top k, ties pessimistic."""
    from sklearn.metrics import top_k_accuracy_score

    ex = "Exercise 9a.4"
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((30, 12))
    relevant = rng.integers(0, 12, 30)
    for k in (1, 3, 7):
        expected = top_k_accuracy_score(relevant, scores, k=k, labels=np.arange(12))
        got = call_student(ex, fn, (scores.copy(), relevant.copy(), k), inputs=f"30 questions, 12 documents, k={k}")
        hint = None
        if matches(got, top_k_accuracy_score(relevant, -scores, k=k, labels=np.arange(12))):
            hint = "higher scores are better here: the top k are the k *largest* scores"
        expect_close(ex, got, expected, what=f"recall_at_k with k={k}", inputs=f"30 questions, 12 documents, k={k}",
                     rtol=1e-9, hint=hint)
    tied = np.zeros((4, 5))  # every document scores the same: pessimistically, the right one comes last
    got = call_student(ex, fn, (tied, np.array([0, 1, 2, 3]), 2), inputs="all scores equal, k=2")
    expect_close(ex, got, 0.0, what="recall_at_k", inputs="all scores tied, k=2",
                 hint="a tie counts against the right document: rank = number of documents scored >= it")
    passed(ex, "recall@k equals scikit-learn's top_k_accuracy_score, and ties count against the right document")
