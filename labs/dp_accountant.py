"""How much privacy DP-SGD spends: the Rényi accountant of the sampled Gaussian mechanism.

One DP-SGD step adds Gaussian noise of standard deviation ``sigma * C`` to a sum of
per-example gradients clipped to norm ``C``, over a batch in which each example took part
with probability ``q`` (Poisson sampling). That step is the *sampled Gaussian mechanism*.
Its Rényi differential privacy (RDP) at order ``alpha`` has a closed form for integer
orders (Mironov, Talwar and Zhang 2019, section 3.3)::

    A_alpha = sum_k binom(alpha, k) (1 - q)^(alpha - k) q^k exp((k^2 - k) / (2 sigma^2))
    RDP(alpha) = log(A_alpha) / (alpha - 1)

RDP adds up over steps (composition), and the total converts to an (epsilon, delta)
guarantee, minimised over the orders tried. Nothing here needs torch: both engines'
DP-SGD report their epsilon through this module, and ``tests/test_privacy.py`` compares it
with Opacus's ``RDPAccountant``.

    >>> round(dp_epsilon(noise_multiplier=1.0, sample_rate=0.01, steps=1000, delta=1e-5), 2)
    2.11
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["DEFAULT_ORDERS", "log_a_sampled_gaussian", "rdp_sampled_gaussian", "rdp_to_epsilon",
           "rdp_to_epsilon_classic", "dp_epsilon", "membership_advantage_bound", "poisson_batch"]

# Integer orders only (the closed form above); 2..255 covers the epsilons of practice
# (0.1 to 100), and a warning is not needed: the optimum is checked to lie inside.
DEFAULT_ORDERS = tuple(range(2, 256))


def _check(noise_multiplier, sample_rate, steps=1, delta=None):
    if isinstance(noise_multiplier, bool) or not isinstance(noise_multiplier, numbers.Real) or not noise_multiplier > 0:
        raise ValueError(f"noise_multiplier must be a number > 0 (the noise's std over the clip norm); got {noise_multiplier!r}. "
                         "With no noise there is no privacy guarantee: epsilon is infinite")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real) or not 0 <= sample_rate <= 1:
        raise ValueError(f"sample_rate must be a probability in [0, 1] (expected batch size / dataset size); got {sample_rate!r}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be an int >= 0; got {steps!r}")
    if delta is not None and (isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not 0 < delta < 1):
        raise ValueError(f"delta must be in (0, 1), usually below 1 / dataset size; got {delta!r}")


def log_a_sampled_gaussian(sample_rate: float, noise_multiplier: float, order: int) -> float:
    """``log A_alpha`` of the sampled Gaussian mechanism at integer ``order`` >= 2 (see the module).

    Summed in log space (log-sum-exp), so large orders and small noise do not overflow.
    """
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 2:
        raise ValueError(f"this accountant uses integer orders >= 2 (the closed form); got {order!r}")
    q, s2 = float(sample_rate), float(noise_multiplier) ** 2
    if q == 0.0:
        return 0.0  # nobody is ever sampled: A_alpha = 1
    log_q = math.log(q)
    log_1mq = math.log1p(-q) if q < 1.0 else -math.inf
    terms = []
    for k in range(order + 1):
        rest = order - k
        if rest and log_1mq == -math.inf:
            continue  # (1 - q)^rest = 0 when q = 1
        log_binom = math.lgamma(order + 1) - math.lgamma(k + 1) - math.lgamma(rest + 1)
        terms.append(log_binom + k * log_q + (rest * log_1mq if rest else 0.0) + (k * k - k) / (2 * s2))
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def rdp_sampled_gaussian(noise_multiplier: float, sample_rate: float, steps: int = 1,
                         orders=DEFAULT_ORDERS) -> np.ndarray:
    """The RDP of ``steps`` sampled Gaussian steps, one value per order: ``steps * log(A) / (order - 1)``."""
    _check(noise_multiplier, sample_rate, steps)
    return np.array([steps * log_a_sampled_gaussian(sample_rate, noise_multiplier, a) / (a - 1) for a in orders])


def rdp_to_epsilon(orders, rdp, delta: float) -> tuple[float, int]:
    """``(epsilon, best order)``: the (epsilon, delta) guarantee implied by RDP values at ``orders``.

    The conversion of Balle et al. (2020, theorem 21), the one Opacus uses:
    ``epsilon = rdp + log((alpha - 1) / alpha) - (log(delta) + log(alpha)) / (alpha - 1)``,
    minimised over the orders. It is never larger than :func:`rdp_to_epsilon_classic`.
    """
    orders = np.asarray(orders, dtype=float)
    rdp = np.asarray(rdp, dtype=float)
    if orders.shape != rdp.shape or orders.ndim != 1 or len(orders) == 0:
        raise ValueError(f"orders and rdp must be 1-D arrays of the same length; got shapes {orders.shape} and {rdp.shape}")
    if np.any(orders <= 1):
        raise ValueError(f"RDP orders must be > 1; got {orders[orders <= 1]}")
    _check(1.0, 0.5, 1, delta)
    eps = rdp + np.log((orders - 1) / orders) - (math.log(delta) + np.log(orders)) / (orders - 1)
    best = int(np.argmin(eps))
    return max(float(eps[best]), 0.0), int(orders[best])


def rdp_to_epsilon_classic(orders, rdp, delta: float) -> tuple[float, int]:
    """Mironov's (2017) original conversion, ``epsilon = rdp + log(1 / delta) / (alpha - 1)``: looser."""
    orders = np.asarray(orders, dtype=float)
    eps = np.asarray(rdp, dtype=float) + math.log(1 / delta) / (orders - 1)
    best = int(np.argmin(eps))
    return float(eps[best]), int(orders[best])


def dp_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float,
               orders=DEFAULT_ORDERS) -> float:
    """Epsilon after ``steps`` DP-SGD steps with this noise multiplier and Poisson sampling rate."""
    _check(noise_multiplier, sample_rate, steps, delta)
    eps, best = rdp_to_epsilon(orders, rdp_sampled_gaussian(noise_multiplier, sample_rate, steps, orders), delta)
    if best == max(orders) and len(orders) > 1:
        raise ValueError(f"the best RDP order is the largest one tried ({best}), so epsilon={eps:.3g} may be loose: "
                         "pass orders that reach higher, or the privacy spent is so small it hardly matters")
    return eps


def membership_advantage_bound(epsilon: float, delta: float = 0.0) -> float:
    """The most any membership test can gain over guessing, TPR - FPR, against an (epsilon, delta)-DP model.

    (epsilon, delta)-DP says TPR <= e^eps FPR + delta and 1 - FPR <= e^eps (1 - TPR) + delta for
    every test (Kairouz, Oh and Viswanath 2015); the largest TPR - FPR under both is
    ``(e^eps - 1 + 2 delta) / (e^eps + 1)``, which is ``tanh(eps / 2)`` when delta = 0.
    """
    if not epsilon >= 0 or not 0 <= delta < 1:
        raise ValueError(f"need epsilon >= 0 and delta in [0, 1); got epsilon={epsilon!r}, delta={delta!r}")
    if math.isinf(epsilon):
        return 1.0
    return min(1.0, (math.expm1(epsilon) + 2 * delta) / (math.exp(epsilon) + 1))


def poisson_batch(n: int, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """The indices of a Poisson-sampled batch: each of ``n`` examples joins with probability ``sample_rate``.

    The accountant's guarantee assumes this sampling; a fixed-size shuffled batch is a different mechanism.
    """
    return np.flatnonzero(rng.random(n) < sample_rate)
