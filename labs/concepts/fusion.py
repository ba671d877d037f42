"""Multimodal fusion, early and late, on two views of the same digits.

Real multimodal data pair, say, an image with its caption. The mechanics of
fusion do not depend on what the views are, so the chapter uses two views that
need no download: the left and the right half of each 8x8 digit image. Each half
alone is ambiguous (a 1 and a 7 share much of their right half); together they
are not.

- Early fusion joins the views' features first and trains one model on the
  concatenation. With a *linear* model, softmax(W[a; b] + c), the class scores are
  W_a a + W_b b + c: a sum of one term per view, with no cross-view terms. What it
  gains over late fusion is that both views' weights are fitted together, and that the
  evidence is added in log space (a product of the views' experts) rather than
  averaged. Interactions between the views need a hidden layer on [a; b]
  (:func:`fit_hidden_fusion`); :func:`interaction_strength` measures them.
- Late fusion trains one model per view and combines their predicted class
  probabilities; it keeps working when one view is missing at test time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["split_views", "fit_view_model", "early_fusion", "late_fusion", "fusion_accuracies",
           "softmax_of_linear", "fit_hidden_fusion", "hidden_fusion_logits", "interaction_strength"]


def split_views(x) -> tuple[np.ndarray, np.ndarray]:
    """Left and right halves of flattened 8x8 images: (N, 64) -> (N, 32), (N, 32)."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 64:
        raise ValueError(f"split_views expects flattened 8x8 images of shape (N, 64); got {x.shape}")
    images = x.reshape(-1, 8, 8)
    return images[:, :, :4].reshape(len(x), 32), images[:, :, 4:].reshape(len(x), 32)


def fit_view_model(x, y, seed: int = 0):
    """A multinomial logistic regression on one set of features (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    # A problem this small runs fastest on one BLAS thread; several threads on a
    # busy 2-core machine spend their time waiting for each other.
    with threadpool_limits(limits=1):
        return LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(x, y)


def early_fusion(train_views, y_train, test_views, seed: int = 0) -> np.ndarray:
    """Concatenate the views' features, fit one model; return test class probabilities."""
    model = fit_view_model(np.hstack(train_views), y_train, seed)
    return model.predict_proba(np.hstack(test_views))


def late_fusion(prob_a, prob_b, weight: float = 0.5) -> np.ndarray:
    """Weighted average of two models' class probabilities (rows still sum to 1).

    An average, not a product: with a product one model's near-zero probability
    vetoes a class the other model is sure of.
    """
    a = np.asarray(prob_a, dtype=np.float64)
    b = np.asarray(prob_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"prob_a and prob_b must both have shape (N, C); got {a.shape} and {b.shape}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight is prob_a's share and must lie in [0, 1]; got {weight}")
    return weight * a + (1.0 - weight) * b


def fusion_accuracies(x_train, y_train, x_test, y_test, seed: int = 0) -> dict[str, float]:
    """Test accuracy of: each view alone, early fusion, late fusion, and both fusions
    when the right view is missing at test time (replaced by zeros)."""
    left_tr, right_tr = split_views(x_train)
    left_te, right_te = split_views(x_test)
    y_test = np.asarray(y_test)
    left_model = fit_view_model(left_tr, y_train, seed)
    right_model = fit_view_model(right_tr, y_train, seed)
    p_left, p_right = left_model.predict_proba(left_te), right_model.predict_proba(right_te)
    early = fit_view_model(np.hstack([left_tr, right_tr]), y_train, seed)
    classes = early.classes_

    def acc(p):
        return float((classes[np.argmax(p, axis=1)] == y_test).mean())

    missing = np.zeros_like(right_te)
    return {
        "left view only": acc(p_left),
        "right view only": acc(p_right),
        "early fusion": acc(early.predict_proba(np.hstack([left_te, right_te]))),
        "late fusion": acc(late_fusion(p_left, p_right)),
        "early fusion, right view missing": acc(early.predict_proba(np.hstack([left_te, missing]))),
        "late fusion, right view missing": acc(late_fusion(p_left, p_right, weight=1.0)),
    }


def softmax_of_linear(W, c, a, b) -> np.ndarray:
    """The early-fusion formula, softmax(W [a; b] + c), computed stably, row by row.

    ``W`` has shape (classes, features_a + features_b), as scikit-learn's ``coef_``.
    """
    z = np.hstack([np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)]) @ np.asarray(W).T + c
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_hidden_fusion(train_views, y_train, hidden: int = 64, seed: int = 0, max_iter: int = 400):
    """Early fusion with one hidden ReLU layer on [a; b] (scikit-learn ``MLPClassifier``).

    The hidden units see both views at once, so the class scores can depend on
    products and other joint patterns of the two views.
    """
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1e-3, max_iter=max_iter, random_state=seed).fit(
            np.hstack(train_views), y_train)


def hidden_fusion_logits(model, a, b) -> np.ndarray:
    """The class scores (before softmax) of :func:`fit_hidden_fusion`'s model: ReLU(X W1 + b1) W2 + b2."""
    x = np.hstack([np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)])
    (W1, W2), (b1, b2) = model.coefs_, model.intercepts_
    return np.maximum(x @ W1 + b1, 0.0) @ W2 + b2


def interaction_strength(scores, a, b, pairs: int = 500, seed: int = 0) -> float:
    """How far ``scores(a, b)`` is from a sum of one term per view, on real pairs of examples.

    For two examples i and j, ``s(a_i, b_i) - s(a_j, b_i) - s(a_i, b_j) + s(a_j, b_j)``
    is exactly 0 for every class when the scores are f(a) + g(b); the mean absolute
    value over ``pairs`` random pairs is returned.
    """
    a, b = np.asarray(a), np.asarray(b)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need two views of the same (at least 2) examples; got {len(a)} and {len(b)} rows")
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(a), size=(2, pairs))
    mixed = scores(a[i], b[i]) - scores(a[j], b[i]) - scores(a[i], b[j]) + scores(a[j], b[j])
    return float(np.mean(np.abs(mixed)))
