"""Membership inference: was this example in the training set? (Yeom et al. 2018, the loss threshold.)

A model fits its training examples better than fresh ones, so a low loss hints "member".
The attack scores each example by minus its loss; how well the score separates members
from non-members is the privacy leak, as a number:

- **AUC**: the probability that a random member scores higher than a random non-member
  (0.5 is guessing, 1 is total leakage); ties count one half (the Mann-Whitney statistic,
  checked against ``sklearn.metrics.roc_auc_score`` in the tests);
- **advantage**: the best threshold's true-positive rate minus its false-positive rate
  (Yeom et al.'s membership advantage; 0 is guessing). A model trained with
  (epsilon, delta)-DP bounds it by :func:`labs.dp_accountant.membership_advantage_bound`.

NumPy only: the scores come from any engine.
"""

from __future__ import annotations

import numpy as np

__all__ = ["membership_auc", "membership_advantage", "loss_threshold_attack"]


def _scores(member_scores, nonmember_scores):
    m = np.asarray(member_scores, dtype=float).ravel()
    n = np.asarray(nonmember_scores, dtype=float).ravel()
    if len(m) == 0 or len(n) == 0:
        raise ValueError(f"need at least one member and one non-member score; got {len(m)} and {len(n)}")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(n))):
        raise ValueError("membership scores must be finite (a NaN loss means the model diverged)")
    return m, n


def membership_auc(member_scores, nonmember_scores) -> float:
    """P(member score > non-member score) + P(equal) / 2, from the ranks of all the scores."""
    m, n = _scores(member_scores, nonmember_scores)
    both = np.concatenate([m, n])
    order = np.argsort(both, kind="stable")
    ranks = np.empty(len(both))
    sorted_scores = both[order]
    # average ranks over ties, so equal scores count one half
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0  # 1-based mean rank of each run of equal scores
    ranks[order] = np.repeat(avg, counts)
    u = ranks[: len(m)].sum() - len(m) * (len(m) + 1) / 2.0
    return float(u / (len(m) * len(n)))


def membership_advantage(member_scores, nonmember_scores) -> float:
    """max over thresholds t of TPR(t) - FPR(t), "member" meaning score >= t (0 when nothing beats guessing)."""
    m, n = _scores(member_scores, nonmember_scores)
    thresholds = np.unique(np.concatenate([m, n]))
    tpr = (m[None, :] >= thresholds[:, None]).mean(axis=1)
    fpr = (n[None, :] >= thresholds[:, None]).mean(axis=1)
    return float(max(0.0, np.max(tpr - fpr)))


def loss_threshold_attack(member_losses, nonmember_losses) -> dict:
    """The attack's ``{"auc", "advantage", "member_loss", "nonmember_loss"}``: scores are minus the losses."""
    m, n = _scores(member_losses, nonmember_losses)
    return {"auc": membership_auc(-m, -n), "advantage": membership_advantage(-m, -n),
            "member_loss": float(m.mean()), "nonmember_loss": float(n.mean())}
