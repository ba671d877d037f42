"""Chapter 14: evaluating a classifier properly, built by hand and checked against scikit-learn.

- :func:`kfold_indices` and :func:`cross_val_scores`: k-fold cross-validation is a *procedure*
  for estimating a score (and choosing hyper-parameters), not a metric of its own;
- :func:`confusion_matrix` and :func:`precision_recall_f1`: the metrics that the Chinese word
  精度 leaves ambiguous (accuracy? precision?), per class and averaged;
- :func:`reliability` and :func:`expected_calibration_error`: whether a model's confidence
  means what it says, and :func:`fit_temperature`, the one-parameter fix of Guo et al. (2017).

``tests/test_evaluation.py`` checks each against ``sklearn.metrics``, ``sklearn.model_selection``
and ``sklearn.calibration`` on random inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Reliability", "confusion_matrix", "cross_val_scores", "expected_calibration_error", "fit_temperature",
           "kfold_indices", "precision_recall_f1", "reliability", "softmax"]


def _labels(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer class labels; got shape {y.shape}, dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"{name} holds a negative label ({y.min()}); labels are 0, 1, ..., n_classes - 1")
    return y


def kfold_indices(n: int, k: int, *, shuffle: bool = False, seed: int = 0):
    """The k (train, test) index pairs of k-fold cross-validation: the first ``n % k`` folds have
    one sample more, as in ``sklearn.model_selection.KFold``."""
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer >= 2 (k = 1 leaves nothing to test on); got {k!r}")
    if n < k:
        raise ValueError(f"cannot split {n} samples into {k} folds: each fold needs at least one sample")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    sizes = np.full(k, n // k) + (np.arange(k) < n % k)
    folds, start = [], 0
    for size in sizes:
        test = order[start:start + size]
        train = np.concatenate([order[:start], order[start + size:]])
        folds.append((train, test))
        start += size
    return folds


def cross_val_scores(make_model, x, y, k: int = 5, *, shuffle: bool = True, seed: int = 0, score=None) -> np.ndarray:
    """Fit a fresh ``make_model()`` on each training part and score it on the held-out fold.

    ``score(model, x_test, y_test)`` defaults to the model's own ``.score`` (accuracy for a
    scikit-learn classifier). Returns one score per fold: report their mean *and* spread."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of samples; got {len(x)} and {len(y)}")
    out = []
    for train, test in kfold_indices(len(x), k, shuffle=shuffle, seed=seed):
        model = make_model()
        model.fit(x[train], y[train])
        out.append(score(model, x[test], y[test]) if score else model.score(x[test], y[test]))
    return np.array(out, dtype=float)


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """C[i, j] = the number of samples of true class i predicted as class j (scikit-learn's convention)."""
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length; got {len(y_true)} and {len(y_pred)}")
    n = int(n_classes if n_classes is not None else max(y_true.max(initial=-1), y_pred.max(initial=-1)) + 1)
    if y_true.size and max(y_true.max(), y_pred.max()) >= n:
        raise ValueError(f"a label is >= n_classes = {n}")
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def precision_recall_f1(y_true, y_pred, average: str | None = "macro", n_classes: int | None = None):
    """Precision TP/(TP+FP), recall TP/(TP+FN) and F1 (their harmonic mean), per class
    (``average=None``), or averaged: ``"macro"`` (classes weigh the same), ``"micro"`` (samples
    weigh the same: equals accuracy for single-label problems). A class with no prediction has
    precision 0 (scikit-learn's ``zero_division=0``), not NaN."""
    if average not in (None, "macro", "micro"):
        raise ValueError(f"average must be None, 'macro' or 'micro'; got {average!r}")
    c = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(c).astype(float)
    predicted, actual = c.sum(axis=0).astype(float), c.sum(axis=1).astype(float)
    if average == "micro":
        tp, predicted, actual = tp.sum(), predicted.sum(), actual.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    if average == "macro":
        return float(precision.mean()), float(recall.mean()), float(f1.mean())
    if average == "micro":
        return float(precision), float(recall), float(f1)
    return precision, recall, f1


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)  # exp of a large logit would overflow
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Reliability:
    edges: np.ndarray  # bin edges of the confidence axis, n_bins + 1
    confidence: np.ndarray  # mean top-class probability in each bin (NaN where empty)
    accuracy: np.ndarray  # fraction correct in each bin (NaN where empty)
    count: np.ndarray  # samples in each bin


def _probs(probs, y):
    probs = np.asarray(probs, dtype=np.float64)
    y = _labels(y, "y")
    if probs.ndim != 2 or len(probs) != len(y):
        raise ValueError(f"probs must be (n_samples, n_classes) with one row per label; got {probs.shape} for {len(y)} labels")
    if np.any(probs < 0) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("each row of probs must be a probability distribution (non-negative, summing to 1): "
                         "apply softmax to logits first")
    return probs, y


def reliability(probs, y, n_bins: int = 10) -> Reliability:
    """Bin samples by the confidence of the predicted class; per bin, mean confidence and accuracy.
    Bins are (a, b], the first [0, b], as in ``sklearn.calibration.calibration_curve``."""
    probs, y = _probs(probs, y)
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    correct = (predicted == y).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges[1:-1], confidence, side="left"), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        conf = np.bincount(which, weights=confidence, minlength=n_bins) / count
        acc = np.bincount(which, weights=correct, minlength=n_bins) / count
    return Reliability(edges, conf, acc, count)


def expected_calibration_error(probs, y, n_bins: int = 10) -> float:
    """ECE = sum over bins of (bin size / n) * |accuracy - confidence| (Naeini et al. 2015; Guo et al. 2017)."""
    r = reliability(probs, y, n_bins)
    full = r.count > 0
    return float(np.sum(r.count[full] / r.count.sum() * np.abs(r.accuracy[full] - r.confidence[full])))


def fit_temperature(logits, y) -> float:
    """The temperature T > 0 that minimises the negative log-likelihood of softmax(logits / T):
    temperature scaling, fitted on held-out data. It changes confidence, never the predicted class."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    y = _labels(y, "y")

    def nll(log_t):
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -log_p[np.arange(len(y)), y].mean()

    result = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded", options={"xatol": 1e-8})
    return float(np.exp(result.x))
