"""Multimodal fusion, early and late, on two views of the same digits.

Real multimodal data pair, say, an image with its caption. The mechanics of
fusion do not depend on what the views are, so the chapter uses two views that
need no download: the left and the right half of each 8x8 digit image. Each half
alone is ambiguous (a 1 and a 7 share much of their right half); together they
are not.

- Early fusion joins the views' features first and trains one model on the
  concatenation; it can use interactions between the views.
- Late fusion trains one model per view and combines their predicted class
  probabilities; it keeps working when one view is missing at test time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["split_views", "fit_view_model", "early_fusion", "late_fusion", "fusion_accuracies"]


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
