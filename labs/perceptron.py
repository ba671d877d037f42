"""Rosenblatt's perceptron (1958) in NumPy, and a test for linear separability.

The perceptron is a linear threshold unit, ``predict(x) = sign(w·x + b)``, with
labels in {-1, +1}. It learns by the mistake-driven rule

    if y (w·x + b) <= 0:   w <- w + lr * y * x,   b <- b + lr * y

which never changes a point it already classifies correctly. When the data are
linearly separable the rule stops making mistakes after finitely many updates
(the perceptron convergence theorem); when they are not, as for XOR, it cycles
for ever. :func:`is_linearly_separable` decides which case holds by linear
programming, so the chapter can prove it rather than wait.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Perceptron", "is_linearly_separable", "xor_dataset", "check_signed_labels"]


def check_signed_labels(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``x`` of shape (N, D) and labels ``y`` in {-1, +1} of shape (N,)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, D); got shape {x.shape} (for one feature use x[:, None])")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x; got shape {y.shape}")
    values = set(np.unique(y).tolist())
    if not values <= {-1, 1}:
        raise ValueError(
            f"perceptron labels must be -1 or +1; got values {sorted(values)} "
            "(for 0/1 labels use y = 2 * y01 - 1)"
        )
    return x, y.astype(np.float64)


class Perceptron:
    """A single linear threshold unit trained with Rosenblatt's rule."""

    def __init__(self, n_features: int, lr: float = 1.0):
        if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) or n_features <= 0:
            raise ValueError(f"n_features must be a positive int; got {n_features!r}")
        if not lr > 0:
            raise ValueError(f"lr must be positive; got {lr!r}")
        self.w = np.zeros(int(n_features))
        self.b = 0.0
        self.lr = float(lr)

    def decision_function(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.w.shape[0]:
            raise ValueError(f"x must have shape (N, {self.w.shape[0]}); got {x.shape}")
        return x @ self.w + self.b

    def predict(self, x) -> np.ndarray:
        """+1 where w·x + b > 0, else -1."""
        return np.where(self.decision_function(x) > 0, 1, -1)

    def update(self, x_i, y_i) -> bool:
        """Apply the rule to one example; return True when it was a mistake."""
        if y_i * (self.w @ x_i + self.b) <= 0:  # on the boundary counts as a mistake
            self.w += self.lr * y_i * x_i
            self.b += self.lr * y_i
            return True
        return False

    def fit(self, x, y, epochs: int = 100) -> list[int]:
        """Sweep the data in order up to ``epochs`` times; return mistakes per epoch.

        Stops after the first epoch without a mistake: the data are then separated.
        """
        x, y = check_signed_labels(x, y)
        if x.shape[1] != self.w.shape[0]:
            raise ValueError(f"x has {x.shape[1]} features; this perceptron was built for {self.w.shape[0]}")
        mistakes = []
        for _ in range(epochs):
            count = sum(self.update(x_i, y_i) for x_i, y_i in zip(x, y))
            mistakes.append(int(count))
            if count == 0:
                break
        return mistakes


def is_linearly_separable(x, y) -> bool:
    """True when some hyperplane puts every +1 point strictly on one side and every -1 on the other.

    Solves the linear feasibility problem ``y_i (w·x_i + b) >= 1`` for all i with
    ``scipy.optimize.linprog``. Any strict separator can be rescaled to meet the
    margin 1, so the problem is feasible exactly when the data are separable.
    """
    from scipy.optimize import linprog

    x, y = check_signed_labels(x, y)
    n, d = x.shape
    a_ub = -y[:, None] * np.hstack([x, np.ones((n, 1))])  # -y_i [x_i, 1]·[w, b] <= -1
    result = linprog(c=np.zeros(d + 1), A_ub=a_ub, b_ub=-np.ones(n), bounds=[(None, None)] * (d + 1), method="highs")
    if result.status not in (0, 2):
        raise RuntimeError(f"linprog could not decide separability: {result.message}")
    return result.status == 0


def xor_dataset() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points and their labels in {-1, +1} (+1 where exactly one input is 1)."""
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([-1, 1, 1, -1])
    return x, y
