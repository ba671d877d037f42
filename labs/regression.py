"""Linear and logistic regression three ways: closed form, NumPy gradient descent, PyTorch (Chapter 3).

Linear regression fits ``y ~ X w + b`` by least squares. With the design matrix
``A = [X, 1]`` and ``theta = (w, b)`` the minimiser solves the *normal equations*
``A^T A theta = A^T y``; ``np.linalg.lstsq`` solves the same problem through an SVD,
which also copes with a rank-deficient ``A``. Gradient descent on the mean squared error
``mean((A theta - y)^2)`` uses ``grad = 2/N A^T (A theta - y)`` and reaches the same
``theta``; so does ``torch.optim.SGD`` on ``nn.MSELoss``.

Logistic regression models ``P(y = 1 | x) = sigmoid(x . w + b)`` and minimises the
binary cross-entropy, whose gradient is ``X^T (sigmoid(z) - y) / N`` (the sigmoid's
derivative cancels against the log). The NumPy and PyTorch versions start from the
same zeros and take the same steps, so they agree to rounding.
"""

from __future__ import annotations

import numpy as np

from labs.activations import sigmoid

__all__ = [
    "soft_threshold",
    "fit_logistic_l1",
    "seed_linear_data", "fit_linear_normal_equations", "fit_linear_lstsq", "fit_linear_gd", "fit_linear_torch",
    "fit_sigmoid_regression_seed", "sigmoid_regression_gradients",
    "load_breast_cancer_split", "fit_logistic_gd", "fit_logistic_torch", "predict_logistic", "binary_metrics",
    "pca_fit", "pca_transform", "plot_decision_boundary",
]


def _check_xy(X, y, fn: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"{fn} expects X of shape (N, d); got shape {X.shape} (a single feature? use X[:, None])")
    if y.shape != (len(X),):
        raise ValueError(f"{fn} expects y of shape ({len(X)},) to match X; got shape {y.shape} (try y.ravel())")
    return X, y


def _design(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((len(X), 1))])  # the column of ones carries the bias


# ----------------------------------------------------------------------------- linear


def seed_linear_data(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The data-generating process of the source's example: ``y = 3x + 2 + u``, ``x, u ~ U[0, 1)``.

    The noise ``u`` is uniform on [0, 1), so its mean is 0.5: the best line has intercept
    about 2.5, not 2. Targets lie in [2, 6).
    """
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1))
    y = 3 * x[:, 0] + 2 + rng.random(n)
    return x, y


def fit_linear_normal_equations(X, y) -> tuple[np.ndarray, float]:
    """Solve ``A^T A theta = A^T y`` with ``A = [X, 1]``; returns ``(w, b)``."""
    X, y = _check_xy(X, y, "fit_linear_normal_equations")
    A = _design(X)
    theta = np.linalg.solve(A.T @ A, A.T @ y)
    return theta[:-1], float(theta[-1])


def fit_linear_lstsq(X, y) -> tuple[np.ndarray, float]:
    """The least-squares fit by ``np.linalg.lstsq`` (SVD based); returns ``(w, b)``."""
    X, y = _check_xy(X, y, "fit_linear_lstsq")
    theta, *_ = np.linalg.lstsq(_design(X), y, rcond=None)
    return theta[:-1], float(theta[-1])


def fit_linear_gd(X, y, lr: float = 0.5, steps: int = 2000) -> tuple[np.ndarray, float, np.ndarray]:
    """Full-batch gradient descent on ``mean((X w + b - y)^2)`` from zeros; returns ``(w, b, losses)``."""
    X, y = _check_xy(X, y, "fit_linear_gd")
    if not lr > 0:
        raise ValueError(f"lr must be positive; got {lr!r}")
    A = _design(X)
    theta = np.zeros(A.shape[1])
    losses = np.empty(steps)
    for k in range(steps):
        r = A @ theta - y
        losses[k] = np.mean(r**2)
        theta -= lr * (2.0 / len(y)) * (A.T @ r)
    return theta[:-1], float(theta[-1]), losses


def fit_linear_torch(X, y, lr: float = 0.5, steps: int = 2000) -> tuple[np.ndarray, float, np.ndarray]:
    """The same fit with ``nn.Linear``, ``nn.MSELoss`` and ``torch.optim.SGD`` (float64, zero start)."""
    import torch

    X, y = _check_xy(X, y, "fit_linear_torch")
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)[:, None]
    model = torch.nn.Linear(X.shape[1], 1, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    losses = np.empty(steps)
    for k in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(Xt), yt)
        loss.backward()
        optimizer.step()
        losses[k] = loss.item()
    return model.weight.detach().numpy()[0].copy(), model.bias.item(), losses


def fit_sigmoid_regression_seed(X, y, lr: float = 0.01, epochs: int = 1000, seed: int = 0) -> dict:
    """The source's "linear regression": a sigmoid on the output and a gradient that forgets it.

    Output ``p = sigmoid(x w + b)``, loss ``sum (p - y)^2 / 2``, and the update uses
    ``p - y`` as if it were ``dL/dz`` (the true one is ``(p - y) p (1 - p)``). Kept only
    so that Chapter 3 can show what it does.
    """
    X, y = _check_xy(X, y, "fit_sigmoid_regression_seed")
    rng = np.random.default_rng(seed)
    w, b = rng.random(X.shape[1]), float(rng.random())
    mse = np.empty(epochs)
    for k in range(epochs):
        p = sigmoid(X @ w + b)
        mse[k] = np.mean((p - y) ** 2)
        dz = p - y  # the missing factor: should be (p - y) * p * (1 - p)
        w = w - lr * (X.T @ dz)
        b = b - lr * float(dz.sum())
    return {"w": w, "b": b, "mse": mse, "pred": sigmoid(X @ w + b)}


def sigmoid_regression_gradients(X, y, w, b) -> dict:
    """For ``L = sum (sigmoid(X w + b) - y)^2 / 2``: the source's gradient and the true one."""
    X, y = _check_xy(X, y, "sigmoid_regression_gradients")
    p = sigmoid(X @ np.asarray(w, dtype=float) + b)
    seed_dz = p - y
    true_dz = (p - y) * p * (1 - p)
    return {"seed_w": X.T @ seed_dz, "seed_b": float(seed_dz.sum()), "true_w": X.T @ true_dz, "true_b": float(true_dz.sum())}


# ----------------------------------------------------------------------------- logistic


def load_breast_cancer_split(test_size: float = 0.25, seed: int = 0) -> dict:
    """scikit-learn's breast-cancer data (bundled, offline), split and standardised.

    The positive class (``y = 1``) is *malignant*, the finding a screening test must
    not miss (scikit-learn's own ``target`` codes malignant as 0). The split is
    stratified and seeded; mean and standard deviation come from the training part only,
    so nothing about the test set leaks into the model.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    y = (data.target == 0).astype(float)  # 1 = malignant
    X_train, X_test, y_train, y_test = train_test_split(data.data, y, test_size=test_size, random_state=seed, stratify=y)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return {
        "X_train": (X_train - mean) / std, "X_test": (X_test - mean) / std,
        "y_train": y_train, "y_test": y_test, "feature_names": list(data.feature_names),
    }


def fit_logistic_gd(X, y, lr: float = 0.5, steps: int = 500, weight_decay: float = 0.0) -> tuple[np.ndarray, float, np.ndarray]:
    """Gradient descent on mean binary cross-entropy ``+ weight_decay/2 ||w||^2`` from zeros."""
    from labs.losses import binary_cross_entropy_with_logits

    X, y = _check_xy(X, y, "fit_logistic_gd")
    if np.any((y != 0) & (y != 1)):
        raise ValueError("fit_logistic_gd expects labels y in {0, 1}")
    w, b = np.zeros(X.shape[1]), 0.0
    losses = np.empty(steps)
    for k in range(steps):
        z = X @ w + b
        losses[k] = binary_cross_entropy_with_logits(z, y) + 0.5 * weight_decay * (w @ w)
        err = sigmoid(z) - y  # dL/dz for each sample (times N)
        w = w - lr * (X.T @ err / len(y) + weight_decay * w)
        b = b - lr * float(err.mean())
    return w, b, losses


def fit_logistic_torch(X, y, lr: float = 0.5, steps: int = 500, weight_decay: float = 0.0) -> tuple[np.ndarray, float, np.ndarray]:
    """The same model with ``nn.Linear`` and ``nn.BCEWithLogitsLoss``; the L2 term is on the weight only."""
    import torch

    X, y = _check_xy(X, y, "fit_logistic_torch")
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    model = torch.nn.Linear(X.shape[1], 1, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = np.empty(steps)
    for k in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(Xt)[:, 0], yt) + 0.5 * weight_decay * (model.weight**2).sum()
        loss.backward()
        optimizer.step()
        losses[k] = loss.item()
    return model.weight.detach().numpy()[0].copy(), model.bias.item(), losses


def soft_threshold(w, threshold: float) -> np.ndarray:
    """``sign(w) * max(|w| - threshold, 0)``: the proximal step of the L1 penalty.

    Every weight moves ``threshold`` towards zero, and a weight closer to zero than that
    lands on exactly zero. That is where L1's sparsity comes from; an L2 step only scales
    weights down and never makes one exactly zero.
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0; got {threshold}")
    w = np.asarray(w, dtype=np.float64)
    return np.sign(w) * np.maximum(np.abs(w) - threshold, 0.0)


def fit_logistic_l1(X, y, lam: float, lr: float = 0.5, steps: int = 3000) -> tuple[np.ndarray, float, np.ndarray]:
    """Logistic regression with an L1 penalty ``lam * sum|w|`` (the bias is not penalised).

    Proximal gradient descent (ISTA): a gradient step on the mean cross-entropy, then
    :func:`soft_threshold` with ``lr * lam``. Returns ``(w, b, objective per step)``.
    """
    X, y = _check_xy(X, y, "fit_logistic_l1")
    if lam < 0:
        raise ValueError(f"lam must be >= 0; got {lam}")
    w, b = np.zeros(X.shape[1]), 0.0
    objective = np.empty(steps)
    for k in range(steps):
        z = X @ w + b
        p = 1.0 / (1.0 + np.exp(-z))
        w = soft_threshold(w - lr * X.T @ (p - y) / len(y), lr * lam)
        b = b - lr * float(np.mean(p - y))
        z = X @ w + b
        ce = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
        objective[k] = ce + lam * np.abs(w).sum()
    return w, b, objective


def predict_logistic(X, w, b, threshold: float = 0.5) -> np.ndarray:
    """Class 1 where ``sigmoid(x . w + b) >= threshold``."""
    return (sigmoid(np.asarray(X, dtype=float) @ np.asarray(w, dtype=float) + b) >= threshold).astype(float)


def binary_metrics(y_true, y_pred) -> dict:
    """Accuracy, precision and recall of a 0/1 prediction (positive class = 1).

    precision = TP / (TP + FP): of the cases flagged positive, how many are.
    recall    = TP / (TP + FN): of the positive cases, how many were flagged.
    A ratio with an empty denominator is reported as 0, as scikit-learn does.
    """
    y_true, y_pred = np.asarray(y_true).astype(int).ravel(), np.asarray(y_pred).astype(int).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length; got {y_true.shape} and {y_pred.shape}")
    tp = int(np.sum((y_pred == 1) & (y_true == 1)))
    fp = int(np.sum((y_pred == 1) & (y_true == 0)))
    fn = int(np.sum((y_pred == 0) & (y_true == 1)))
    tn = int(np.sum((y_pred == 0) & (y_true == 0)))
    return {
        "accuracy": (tp + tn) / len(y_true),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def pca_fit(X, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top ``k`` principal directions (rows) of ``X``, from its SVD."""
    X = np.asarray(X, dtype=float)
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    components = Vt[:k]
    # Fix each direction's sign (largest entry positive) so the projection is reproducible.
    signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
    return mean, components * signs[:, None]


def pca_transform(X, mean, components) -> np.ndarray:
    return (np.asarray(X, dtype=float) - mean) @ components.T


def plot_decision_boundary(w, b, X2, y, ax=None, title: str = ""):
    """Points of a 2-D projection coloured by class, the probability map and the line ``x . w + b = 0``."""
    import matplotlib.pyplot as plt

    X2, y = np.asarray(X2, dtype=float), np.asarray(y)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    pad = 1.0
    x0 = np.linspace(X2[:, 0].min() - pad, X2[:, 0].max() + pad, 200)
    x1 = np.linspace(X2[:, 1].min() - pad, X2[:, 1].max() + pad, 200)
    g0, g1 = np.meshgrid(x0, x1)
    prob = sigmoid(w[0] * g0 + w[1] * g1 + b)
    ax.contourf(g0, g1, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    ax.contour(g0, g1, prob, levels=[0.5], colors="k", linewidths=1.5)
    for label, marker, color in ((0, "o", "tab:blue"), (1, "^", "tab:red")):
        sel = y == label
        ax.scatter(X2[sel, 0], X2[sel, 1], s=12, marker=marker, c=color, edgecolors="none",
                   label="malignant (1)" if label else "benign (0)")
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return ax
