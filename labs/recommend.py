"""Recommendation by matrix factorisation: generated ratings, training, cold start, metrics.

The model (``MatrixFactorization``) lives in ``labs.models.matrix_factorization`` (PyTorch) and
``labs.scratch.models.matrix_factorization`` (NumPy engine); this module holds what is shared:

- :func:`make_ratings`: users and items with true low-rank tastes, so that a fit can be checked
  against the truth (the true rank is known). Which items a user rates is not random: popular
  items and items the user likes are seen more often, as in real logs (missing not at random).
- :func:`train_test_split_ratings`: hold out a fraction of each user's ratings.
- :func:`fit_matrix_factorization`: full-batch Adam on squared error + L2, for either engine.
- :func:`fit_implicit`: the same model on the 0/1 "did the user interact" matrix (all cells,
  observed ones weighted up), the implicit-feedback setting.
- :func:`fold_in_user`: a new user's factors from a few ratings with the item factors fixed
  (ridge regression in closed form): the cold-start remedy.
- :func:`rmse`, :func:`recall_at_k`, :func:`ndcg_at_k`: the metrics, written out (NDCG is checked
  against ``sklearn.metrics.ndcg_score`` in the tests); :func:`popularity_scores` and
  :func:`truncated_svd_scores` are the baselines.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Ratings", "make_ratings", "train_test_split_ratings", "to_matrix", "fit_matrix_factorization", "matrix_factorization_loss", "fit_implicit", "implicit_loss",
           "fold_in_user", "rmse", "recall_at_k", "ndcg_at_k", "popularity_scores", "truncated_svd_scores",
           "effective_rank"]


@dataclasses.dataclass
class Ratings:
    """Observed (user, item, rating) triples and the truth they were drawn from."""

    users: np.ndarray          # (n,) int64
    items: np.ndarray          # (n,) int64
    ratings: np.ndarray        # (n,) float64: true rating + noise
    num_users: int
    num_items: int
    true_scores: np.ndarray    # (num_users, num_items): mu + P Q^T, the noiseless ratings
    rank: int                  # rank of P Q^T
    noise: float               # standard deviation of the rating noise


def make_ratings(num_users: int = 300, num_items: int = 200, rank: int = 3, per_user: int = 30, noise: float = 0.3,
                 popularity_skew: float = 1.0, taste_weight: float = 1.0, seed: int = 0) -> Ratings:
    """Generate ratings ``mu + p_u . q_i + noise`` with a known rank, observed missing-not-at-random.

    Each user rates ``per_user`` distinct items, drawn with probability proportional to
    ``popularity_i * exp(taste_weight * (p_u . q_i))``: ``popularity`` is log-normal with spread
    ``popularity_skew`` (a few items are seen by many users), and users pick items they like.
    """
    for name, value in (("num_users", num_users), ("num_items", num_items), ("rank", rank), ("per_user", per_user)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"make_ratings: {name} must be a positive int; got {value!r}")
    if per_user > num_items:
        raise ValueError(f"make_ratings: per_user={per_user} is more than the {num_items} items there are")
    if rank > min(num_users, num_items):
        raise ValueError(f"make_ratings: rank={rank} cannot exceed min(num_users, num_items)={min(num_users, num_items)}")
    rng = np.random.default_rng(seed)
    # Factor entries N(0, 1/sqrt(rank)) keep p_u . q_i of size ~1 for any rank: ratings around 3.5 +- 1.
    p = rng.normal(0.0, rank ** -0.25, (num_users, rank))
    q = rng.normal(0.0, rank ** -0.25, (num_items, rank))
    taste = p @ q.T
    mu = 3.5
    log_pop = rng.normal(0.0, popularity_skew, num_items)
    users, items = [], []
    for u in range(num_users):
        logits = log_pop + taste_weight * taste[u]
        weights = np.exp(logits - logits.max())
        chosen = rng.choice(num_items, size=per_user, replace=False, p=weights / weights.sum())
        users.append(np.full(per_user, u))
        items.append(np.sort(chosen))
    users, items = np.concatenate(users).astype(np.int64), np.concatenate(items).astype(np.int64)
    ratings = mu + taste[users, items] + rng.normal(0.0, noise, len(users))
    return Ratings(users, items, ratings, num_users, num_items, mu + taste, rank, noise)


def train_test_split_ratings(data: Ratings, test_fraction: float = 0.2, seed: int = 0):
    """Hold out ``test_fraction`` of each user's ratings: returns two boolean masks over the triples."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1; got {test_fraction}")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(data.users), dtype=bool)
    for u in range(data.num_users):
        idx = np.flatnonzero(data.users == u)
        n_test = max(1, int(round(test_fraction * len(idx))))
        test[rng.choice(idx, size=n_test, replace=False)] = True
    return ~test, test


def to_matrix(users, items, values, num_users: int, num_items: int, fill: float = 0.0) -> np.ndarray:
    """A dense (num_users, num_items) matrix with ``values`` at the given cells and ``fill`` elsewhere."""
    out = np.full((num_users, num_items), fill, dtype=np.float64)
    out[np.asarray(users), np.asarray(items)] = values
    return out


def fit_matrix_factorization(model, users, items, ratings, engine, steps: int = 300, lr: float = 0.1,
                             l2: float = 0.2):
    """Full-batch Adam on ``mean((r_hat - r)^2) + l2 * (||P||^2 + ||Q||^2) / n`` over the n training pairs.

    ``engine`` is ``torch`` or ``labs.scratch``: the same loop trains either twin. The predictions
    are read from ``model.scores()`` (one (users, items) matrix product, then the observed cells),
    which on these small matrices is cheaper than one embedding lookup per pair and gives the same
    numbers as ``model(users, items)`` (the tests check it). Returns the loss per step.
    """
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    if not (users.shape == items.shape == np.shape(ratings)) or users.ndim != 1 or len(users) == 0:
        raise ValueError(f"fit_matrix_factorization expects three 1-D arrays of one length (user, item, rating per "
                         f"pair); got shapes {users.shape}, {items.shape}, {np.shape(ratings)}")
    model._check(users, items)
    flat = engine.tensor(users * model.num_items + items)
    dtype = model.user_factors.weight.dtype
    r = engine.tensor(np.asarray(ratings, dtype=np.float64)).to(dtype)
    return _minimise(model, engine, lr, steps, lambda: matrix_factorization_loss(model, flat, r, l2))


def _minimise(model, engine, lr: float, steps: int, loss_fn) -> list[float]:
    """Adam on every parameter of ``model`` for ``steps`` steps of ``loss_fn()``; the loss per step."""
    optimizer = engine.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses


def matrix_factorization_loss(model, flat_index, ratings, l2: float):
    """The training objective of :func:`fit_matrix_factorization`, for one engine's tensors.

    ``flat_index = user * num_items + item`` picks the observed cells of ``model.scores()``.
    """
    pred = model.scores().reshape(-1)[flat_index]
    penalty = (model.user_factors.weight ** 2).sum() + (model.item_factors.weight ** 2).sum()
    return ((pred - ratings) ** 2).mean() + l2 * penalty / len(ratings)


def fit_implicit(model, interactions: np.ndarray, engine, steps: int = 200, lr: float = 0.05, l2: float = 1.0,
                 alpha: float = 10.0):
    """Fit ``model.scores()`` to the 0/1 interaction matrix over *all* cells, weight ``1 + alpha`` on the 1s.

    This is weighted matrix factorisation for implicit feedback (Hu, Koren and Volinsky 2008): an
    unobserved cell is a weak "no", an observed one a confident "yes". Returns the loss per step.
    """
    interactions = np.asarray(interactions, dtype=np.float64)
    if interactions.shape != (model.num_users, model.num_items) or not np.isin(interactions, (0.0, 1.0)).all():
        raise ValueError(f"fit_implicit expects a 0/1 matrix of shape ({model.num_users}, {model.num_items}); "
                         f"got shape {interactions.shape}")
    dtype = model.user_factors.weight.dtype
    target = engine.tensor(interactions).to(dtype)
    weight = engine.tensor(1.0 + alpha * interactions).to(dtype)
    return _minimise(model, engine, lr, steps, lambda: implicit_loss(model, target, weight, l2))


def implicit_loss(model, target, weight, l2: float):
    """``mean((1 + alpha y) (y_hat - y)^2) + l2 (||P||^2 + ||Q||^2) / cells`` over every cell (``weight = 1 + alpha y``)."""
    err = model.scores() - target
    penalty = (model.user_factors.weight ** 2).sum() + (model.item_factors.weight ** 2).sum()
    return (weight * err ** 2).mean() + l2 * penalty / err.numel()


def fold_in_user(item_factors, items, ratings, offsets, l2: float = 0.1) -> np.ndarray:
    """A new user's factor vector from a few ratings, the item factors held fixed.

    Minimises ``sum_j (r_j - offset_j - p . q_j)^2 + l2 * ||p||^2`` in closed form,
    ``p = (Q_S^T Q_S + l2 I)^{-1} Q_S^T (r - offset)``; ``offsets`` are the parts of each
    prediction that do not depend on ``p`` (global and item biases). With no ratings, p = 0.
    """
    q = np.asarray(item_factors, dtype=np.float64)[np.asarray(items, dtype=np.int64)]  # (m, rank)
    target = np.asarray(ratings, dtype=np.float64) - np.asarray(offsets, dtype=np.float64)
    if l2 <= 0 and len(q) < q.shape[1]:
        raise ValueError(f"fold_in_user: {len(q)} ratings cannot determine {q.shape[1]} factors without l2 > 0")
    return np.linalg.solve(q.T @ q + l2 * np.eye(q.shape[1]), q.T @ target)


def rmse(predicted, actual) -> float:
    """Root mean squared error, sqrt(mean((predicted - actual)^2))."""
    predicted, actual = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if predicted.shape != actual.shape or predicted.size == 0:
        raise ValueError(f"rmse needs two non-empty arrays of one shape; got {predicted.shape} and {actual.shape}")
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def _ranking_inputs(name, scores, relevance, k, exclude):
    scores = np.asarray(scores, dtype=np.float64)
    relevance = np.asarray(relevance, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != relevance.shape:
        raise ValueError(f"{name} expects scores and relevance of one shape (users, items); got {scores.shape} "
                         f"and {relevance.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= scores.shape[1]:
        raise ValueError(f"{name}: k must be an int in [1, {scores.shape[1]}]; got {k!r}")
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != scores.shape:
            raise ValueError(f"{name}: exclude must have shape {scores.shape}; got {exclude.shape}")
        # Items the user already rated in training are not recommended again: rank them last.
        scores = np.where(exclude, -np.inf, scores)
        relevance = np.where(exclude, 0.0, relevance)
    if np.isnan(scores).any():
        raise ValueError(f"{name}: scores contain NaN")
    # Stable sort on -scores: ties keep item order, so the result is deterministic.
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return scores, relevance, top


def recall_at_k(scores, relevance, k: int, exclude=None) -> float:
    """Mean over users of |top-k items that are relevant| / |relevant items|.

    ``relevance`` is (users, items), > 0 where an item is relevant (a held-out interaction);
    users with no relevant item are skipped. ``exclude`` marks items to leave out of the ranking.
    """
    scores, relevance, top = _ranking_inputs("recall_at_k", scores, relevance, k, exclude)
    relevant = relevance > 0
    n_relevant = relevant.sum(axis=1)
    hits = np.take_along_axis(relevant, top, axis=1).sum(axis=1)
    users = n_relevant > 0
    if not users.any():
        raise ValueError("recall_at_k: no user has a relevant item")
    return float(np.mean(hits[users] / n_relevant[users]))


def ndcg_at_k(scores, relevance, k: int, exclude=None) -> float:
    """Mean over users of DCG@k / ideal DCG@k, with gain ``relevance`` and discount 1 / log2(rank + 1).

    ``DCG@k = sum_{j=1..k} rel(item at rank j) / log2(j + 1)``; the ideal DCG sorts the relevances
    themselves. Users whose ideal DCG is 0 are skipped. This is ``sklearn.metrics.ndcg_score``'s
    definition (linear gains) when there are no ties in the scores.
    """
    scores, relevance, top = _ranking_inputs("ndcg_at_k", scores, relevance, k, exclude)
    if (relevance < 0).any():
        raise ValueError("ndcg_at_k: relevance must be >= 0")
    discount = 1.0 / np.log2(np.arange(2, k + 2))                        # (k,)
    dcg = (np.take_along_axis(relevance, top, axis=1) * discount).sum(axis=1)
    ideal = (-np.sort(-relevance, axis=1)[:, :k] * discount).sum(axis=1)
    users = ideal > 0
    if not users.any():
        raise ValueError("ndcg_at_k: no user has a relevant item")
    return float(np.mean(dcg[users] / ideal[users]))


def popularity_scores(train_users, train_items, num_users: int, num_items: int) -> np.ndarray:
    """The baseline every recommender must beat: each user is offered the most-rated items."""
    counts = np.bincount(np.asarray(train_items), minlength=num_items).astype(np.float64)
    return np.broadcast_to(counts, (num_users, num_items)).copy()


def truncated_svd_scores(matrix: np.ndarray, rank: int, seed: int = 0) -> np.ndarray:
    """Rank-``rank`` reconstruction of a (filled) user-item matrix by ``sklearn``'s TruncatedSVD."""
    from sklearn.decomposition import TruncatedSVD

    svd = TruncatedSVD(n_components=rank, random_state=seed, algorithm="arpack")
    z = svd.fit_transform(matrix)
    return z @ svd.components_


def effective_rank(matrix: np.ndarray, energy: float = 0.95) -> int:
    """The number of singular values needed to hold ``energy`` of the squared Frobenius norm."""
    s = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)
    cumulative = np.cumsum(s ** 2) / np.sum(s ** 2)
    return int(np.searchsorted(cumulative, energy) + 1)
