"""Self-training: a model that labels its own data, the simplest form of the "autonomy" trend.

Chapter 1 names autonomy, models that direct their own learning, among the trends of
the field. Its oldest concrete form is self-training (pseudo-labelling): train on the few
labelled examples, let the model label a pool of unlabelled ones, keep the labels it is
confident about, and retrain on both. No person labels anything after the first step,
and nothing checks the model's own labels either: that is the risk as well as the gain.
"""

from __future__ import annotations

import numpy as np

__all__ = ["self_training"]


def self_training(x_labelled, y_labelled, x_pool, x_test, y_test, threshold: float = 0.9, rounds: int = 3,
                  y_pool=None) -> dict:
    """Train a logistic regression, then let it add its confident pseudo-labels, ``rounds`` times.

    Returns ``test_accuracy`` (one per round, round 0 = labelled data only), ``added``
    (pool examples in the training set at each round) and, when the true ``y_pool`` is
    given (to measure, never to train), ``pseudo_error``: the share of wrong self-labels.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold is a probability and must lie in (0, 1); got {threshold}")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1; got {rounds}")
    x_labelled, y_labelled = np.asarray(x_labelled), np.asarray(y_labelled)
    x_pool, y_test = np.asarray(x_pool), np.asarray(y_test)
    out = {"test_accuracy": [], "added": [], "pseudo_error": []}
    x_fit, y_fit = x_labelled, y_labelled
    with threadpool_limits(limits=1):  # small problem: one BLAS thread is fastest on a shared machine
        for r in range(rounds + 1):
            model = LogisticRegression(max_iter=2000).fit(x_fit, y_fit)
            out["test_accuracy"].append(float(model.score(x_test, y_test)))
            if r == rounds:
                break
            proba = model.predict_proba(x_pool)
            confident = proba.max(axis=1) >= threshold
            pseudo = model.classes_[proba.argmax(axis=1)]
            out["added"].append(int(confident.sum()))
            if y_pool is not None:
                wrong = pseudo[confident] != np.asarray(y_pool)[confident]
                out["pseudo_error"].append(float(wrong.mean()) if confident.any() else 0.0)
            x_fit = np.concatenate([x_labelled, x_pool[confident]])
            y_fit = np.concatenate([y_labelled, pseudo[confident]])
    return out
