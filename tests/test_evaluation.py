"""labs.evaluation against scikit-learn: folds, confusion matrix, precision/recall/F1,
calibration curve; and temperature scaling's promises (same predictions, lower NLL)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import KFold, cross_val_score

from labs.evaluation import (
    confusion_matrix,
    cross_val_scores,
    expected_calibration_error,
    fit_temperature,
    kfold_indices,
    precision_recall_f1,
    reliability,
    softmax,
)


@given(n=st.integers(2, 60), k=st.integers(2, 10))
def test_folds_are_sklearns(n, k):
    if n < k:
        with pytest.raises(ValueError, match="folds"):
            kfold_indices(n, k)
        return
    ours = kfold_indices(n, k)
    theirs = list(KFold(n_splits=k).split(np.zeros(n)))
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs):
        np.testing.assert_array_equal(np.sort(a_train), b_train)
        np.testing.assert_array_equal(a_test, b_test)
    shuffled = kfold_indices(n, k, shuffle=True, seed=3)
    assert sorted(np.concatenate([t for _, t in shuffled]).tolist()) == list(range(n))


def test_cross_val_scores_equal_sklearn_on_the_same_folds():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 4))
    y = (x[:, 0] + 0.5 * rng.normal(size=90) > 0).astype(int)
    ours = cross_val_scores(lambda: LogisticRegression(), x, y, k=5, shuffle=False)
    theirs = cross_val_score(LogisticRegression(), x, y, cv=KFold(5))
    np.testing.assert_allclose(ours, theirs)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 80), classes=st.integers(2, 6))
def test_metrics_equal_sklearn(seed, n, classes):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, classes, n), rng.integers(0, classes, n)
    labels = list(range(classes))
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, classes), sk_confusion(y_true, y_pred, labels=labels))
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    ours = precision_recall_f1(y_true, y_pred, average=None, n_classes=classes)
    for a, b in zip(ours, (p, r, f)):
        np.testing.assert_allclose(a, b, atol=1e-12)
    for average in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)
        np.testing.assert_allclose(precision_recall_f1(y_true, y_pred, average, classes), (p, r, f), atol=1e-12)


def test_micro_precision_is_accuracy():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    assert precision_recall_f1(y_true, y_pred, "micro")[0] == pytest.approx(np.mean(y_true == y_pred))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_bins=st.integers(2, 12))
def test_binary_reliability_equals_sklearns_calibration_curve(seed, n_bins):
    rng = np.random.default_rng(seed)
    p1 = rng.uniform(0.5, 1.0, 200)  # confidence of class 1 >= 0.5, so the top class is class 1
    y = (rng.uniform(size=200) < p1 ** 2).astype(int)
    probs = np.stack([1 - p1, p1], axis=1)
    r = reliability(probs, y, n_bins)
    prob_true, prob_pred = calibration_curve(y, p1, n_bins=n_bins, strategy="uniform")
    full = r.count > 0
    np.testing.assert_allclose(r.accuracy[full], prob_true, atol=1e-12)
    np.testing.assert_allclose(r.confidence[full], prob_pred, atol=1e-12)


def test_ece_of_a_perfectly_calibrated_model_is_small_and_of_an_overconfident_one_is_not():
    rng = np.random.default_rng(2)
    n = 200_000
    conf = rng.uniform(0.5, 1.0, n)
    y = (rng.uniform(size=n) < conf).astype(int)  # right with probability conf
    calibrated = np.stack([1 - conf, conf], axis=1)
    assert expected_calibration_error(calibrated, y) < 0.01
    sharp = np.stack([1 - conf ** 0.1, conf ** 0.1], axis=1)  # claims more than it knows
    assert expected_calibration_error(sharp, y) > 0.15


def test_temperature_scaling_keeps_predictions_and_lowers_nll():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(500, 5)) * 4
    y = np.array([rng.choice(5, p=p) for p in softmax(logits / 3)])  # the truth is 3x softer
    t = fit_temperature(logits, y)
    assert 2.0 < t < 4.5
    np.testing.assert_array_equal(softmax(logits, t).argmax(1), softmax(logits).argmax(1))

    def nll(temp):
        return -np.log(softmax(logits, temp)[np.arange(len(y)), y]).mean()

    assert nll(t) < nll(1.0) and nll(t) <= nll(t * 1.05) and nll(t) <= nll(t / 1.05)


@pytest.mark.parametrize("call, match", [
    (lambda: kfold_indices(10, 1), "k must be an integer >= 2"),
    (lambda: confusion_matrix([0, 1.5], [0, 1]), "integer class labels"),
    (lambda: confusion_matrix([0, 1], [0, 1, 1]), "same length"),
    (lambda: precision_recall_f1([0, 1], [0, 1], average="weighted"), "average must be"),
    (lambda: reliability(np.array([[2.0, -1.0]]), [0]), "probability distribution"),
    (lambda: reliability(np.array([0.5, 0.5]), [0]), r"\(n_samples, n_classes\)"),
    (lambda: cross_val_scores(LogisticRegression, np.zeros((4, 2)), np.zeros(3)), "same number of samples"),
])
def test_bad_input_is_explained(call, match):
    with pytest.raises(ValueError, match=match):
        call()
