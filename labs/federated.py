"""Federated averaging (McMahan et al. 2017) over simulated clients, and secure aggregation's masks.

Each round every client starts from the global weights, takes ``local_steps`` SGD steps on
its own data, and sends back its weights; the server averages them, each weighted by the
client's share of the data::

    theta <- sum_k (n_k / n) theta_k

With one full-batch local step, that average is exactly one step of centralised gradient
descent on all the data (the gradient of a mean loss is the weighted mean of the clients'
gradients); ``tests/test_federated.py`` asserts it in float64. With many local steps on
clients whose labels differ (non-IID), the clients drift apart and the average is not what
centralised training would do: :func:`fedavg` records that drift.

Secure aggregation (Bonawitz et al. 2017): each pair of clients shares a random mask that one
adds and the other subtracts, so the server sees only masked updates, yet their sum is the
true sum. Done here in integers modulo 2**32 (fixed point), where the masks cancel exactly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

__all__ = ["split_iid", "split_by_label", "local_sgd", "fedavg", "centralised_gd",
           "MODULUS", "quantise", "dequantise", "pairwise_masks", "secure_sum"]


# --------------------------------------------------------------------------- partitions


def split_iid(n: int, n_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n_clients`` disjoint index sets of (nearly) equal size, drawn uniformly: IID clients."""
    if not 1 <= n_clients <= n:
        raise ValueError(f"need 1 <= n_clients <= number of examples; got n_clients={n_clients}, n={n}")
    return [np.sort(part) for part in np.array_split(rng.permutation(n), n_clients)]


def split_by_label(y, n_clients: int, labels_per_client: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Label skew: each client holds only ``labels_per_client`` classes (McMahan et al.'s "pathological non-IID").

    The data are sorted by label and cut into ``n_clients * labels_per_client`` shards; each client
    gets ``labels_per_client`` shards at random, so most clients see that many classes and no others.
    """
    y = np.asarray(y)
    shards = n_clients * labels_per_client
    if shards > len(y):
        raise ValueError(f"n_clients * labels_per_client = {shards} shards is more than the {len(y)} examples")
    by_label = np.argsort(y, kind="stable")
    pieces = np.array_split(by_label, shards)
    owner = rng.permutation(shards).reshape(n_clients, labels_per_client)
    return [np.sort(np.concatenate([pieces[s] for s in row])) for row in owner]


# --------------------------------------------------------------------------- training


def _params(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def local_sgd(model, params: dict, x, y, *, steps: int, lr: float, batch_size: int | None,
              rng: np.random.Generator) -> dict:
    """``steps`` SGD steps from ``params`` on ``(x, y)`` (full batch when ``batch_size`` is None); new params.

    ``model`` only supplies the architecture (``torch.func.functional_call``); its own weights are untouched.
    """
    params = {n: p.clone().requires_grad_(True) for n, p in params.items()}
    for _ in range(steps):
        if batch_size is None or batch_size >= len(x):
            xb, yb = x, y
        else:
            idx = torch.from_numpy(rng.choice(len(x), size=batch_size, replace=False))
            xb, yb = x[idx], y[idx]
        loss = F.cross_entropy(functional_call(model, params, (xb,)), yb)
        grads = torch.autograd.grad(loss, list(params.values()))
        params = {n: (p - lr * g).detach().requires_grad_(True) for (n, p), g in zip(params.items(), grads)}
    return {n: p.detach() for n, p in params.items()}


def fedavg(model, clients: list, *, rounds: int, local_steps: int, lr: float, batch_size: int | None = None,
           participation: float = 1.0, seed: int = 0, evaluate=None) -> tuple[dict, list[dict]]:
    """Federated averaging from ``model``'s weights over ``clients = [(x_k, y_k), ...]``.

    Returns ``(params, history)``: the final global parameters and, per round, the clients'
    ``drift`` (mean distance of their weights from the average they produced) and, when
    ``evaluate(params)`` is given, its value. ``participation`` is the share of clients
    sampled each round (at least one).
    """
    if not clients:
        raise ValueError("fedavg needs at least one client")
    if not 0 < participation <= 1:
        raise ValueError(f"participation must be in (0, 1]; got {participation!r}")
    rng = np.random.default_rng(seed)
    params = _params(model)
    history = []
    for _ in range(rounds):
        k = max(1, round(participation * len(clients)))
        chosen = np.sort(rng.choice(len(clients), size=k, replace=False)) if k < len(clients) else np.arange(len(clients))
        sizes = np.array([len(clients[c][0]) for c in chosen], dtype=float)
        weights = sizes / sizes.sum()
        local = [local_sgd(model, params, *clients[c], steps=local_steps, lr=lr, batch_size=batch_size, rng=rng)
                 for c in chosen]
        params = {n: sum(w * theta[n] for w, theta in zip(weights, local)) for n in params}
        drift = float(np.mean([torch.sqrt(sum(((theta[n] - params[n]) ** 2).sum() for n in params)).item()
                               for theta in local]))
        record = {"drift": drift}
        if evaluate is not None:
            record["metric"] = evaluate(params)
        history.append(record)
    return params, history


def centralised_gd(model, x, y, *, steps: int, lr: float) -> dict:
    """Full-batch gradient descent on all the data, from ``model``'s weights: what FedAvg should equal."""
    return local_sgd(model, _params(model), x, y, steps=steps, lr=lr, batch_size=None, rng=np.random.default_rng(0))


# --------------------------------------------------------------------------- secure aggregation

MODULUS = 2 ** 32  # the masks and sums live in the integers modulo 2^32, where wrap-around is exact


def quantise(update, scale: float) -> np.ndarray:
    """A float array as fixed-point integers modulo 2^32: ``round(update / scale)``, negatives wrapped."""
    q = np.rint(np.asarray(update, dtype=np.float64) / scale)
    if np.any(np.abs(q) >= MODULUS // 2):
        raise ValueError(f"update / scale exceeds +-2^31: use a larger scale than {scale!r}")
    return np.mod(q.astype(np.int64), MODULUS).astype(np.uint64)


def dequantise(q, scale: float) -> np.ndarray:
    """Back to floats: residues >= 2^31 stand for negative numbers (two's complement)."""
    q = np.asarray(q, dtype=np.int64)
    return np.where(q >= MODULUS // 2, q - MODULUS, q).astype(np.float64) * scale


def pairwise_masks(n_clients: int, shape, rng: np.random.Generator) -> list[np.ndarray]:
    """One mask per client: ``sum_{j > i} m_ij - sum_{j < i} m_ji`` modulo 2^32, with m_ij uniform.

    In the real protocol each pair derives m_ij from a shared key (Diffie-Hellman), so the server
    never sees it. Summed over all clients, every m_ij is added once and subtracted once: zero.
    """
    masks = [np.zeros(shape, dtype=np.uint64) for _ in range(n_clients)]
    for i in range(n_clients):
        for j in range(i + 1, n_clients):
            m = rng.integers(0, MODULUS, size=shape, dtype=np.uint64)
            masks[i] = (masks[i] + m) % MODULUS
            masks[j] = (masks[j] + MODULUS - m) % MODULUS
    return masks


def secure_sum(updates: list, scale: float, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(sum, masked)``: what the server computes from the masked updates, and those masked updates.

    The server only ever holds ``masked``; each one alone is uniformly random modulo 2^32.
    """
    if not updates:
        raise ValueError("secure_sum needs at least one client's update")
    shape = np.shape(updates[0])
    masks = pairwise_masks(len(updates), shape, rng)
    masked = [(quantise(u, scale) + m) % MODULUS for u, m in zip(updates, masks)]
    total = np.zeros(shape, dtype=np.uint64)
    for v in masked:
        total = (total + v) % MODULUS
    return dequantise(total, scale), masked
