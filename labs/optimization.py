"""Optimisers written out as update rules, and the 2-D loss surfaces Chapter 3 runs them on.

Each step function takes a parameter vector, its gradient and a small ``state`` dict
(the optimiser's memory: momentum buffer, Adam's moments and step count) and returns
the new parameters. The updates follow the pseudo-code in the ``torch.optim``
documentation term for term, so that ``tests/test_optimization.py`` can run
``torch.optim.SGD``, ``Adam`` and ``AdamW`` (and ``labs.scratch.optim``) on the same surface
and demand the same trajectory:

* gradient descent:  ``p <- p - lr * g``
* momentum (heavy ball, PyTorch form): ``b <- mu * b + (1 - dampening) * g``, ``p <- p - lr * b``
* Adam: ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
  ``p <- p - lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``
* AdamW: first ``p <- p * (1 - lr * wd)`` (decoupled weight decay), then the Adam step
  without any decay in the gradient.

Surfaces (:class:`Surface`) carry a loss that works on NumPy arrays *and* torch tensors
(it uses only ``+ - * **``), a closed-form gradient, the known minimum and a start point.
The least-squares surface is backed by data, so mini-batch SGD has something to sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = [
    "Surface",
    "least_squares_surface",
    "rosenbrock_surface",
    "sgd_step",
    "adam_step",
    "adamw_step",
    "adagrad_step",
    "METHODS",
    "optimize",
    "optimize_autograd",
    "minibatch_gradient_noise",
    "fit_power_law",
    "plot_trajectories",
]


# --------------------------------------------------------------------------- surfaces


@dataclass
class Surface:
    """A 2-D loss surface: ``loss(p)`` for ``p`` of shape ``(2,)`` (NumPy or torch)."""

    name: str
    loss: Callable
    grad: Callable[[np.ndarray], np.ndarray]
    minimum: np.ndarray
    start: np.ndarray
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    log_levels: bool = False  # Rosenbrock's valley needs log-spaced contour levels
    X: np.ndarray | None = None  # data of a least-squares surface, (N, 2)
    y: np.ndarray | None = None  # targets, (N,)
    hessian: np.ndarray | None = None
    notes: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return 0 if self.X is None else len(self.X)

    def batch_grad(self, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Gradient of the loss on the samples ``idx`` only (what one SGD step sees)."""
        if self.X is None:
            raise ValueError(
                f"surface {self.name!r} has no data, so it has no mini-batch gradient; "
                "use least_squares_surface() for SGD with mini-batches"
            )
        Xb, yb = self.X[idx], self.y[idx]
        return Xb.T @ (Xb @ p - yb) / len(idx)

    def per_sample_grads(self, p: np.ndarray) -> np.ndarray:
        """Gradient of each sample's loss, shape ``(N, 2)``; their mean is ``grad(p)``."""
        if self.X is None:
            raise ValueError(f"surface {self.name!r} has no data")
        return self.X * (self.X @ p - self.y)[:, None]

    def grid(self, n: int = 200):
        """Loss on an ``n x n`` grid over ``xlim x ylim`` (for contour plots)."""
        xs = np.linspace(*self.xlim, n)
        ys = np.linspace(*self.ylim, n)
        gx, gy = np.meshgrid(xs, ys)
        return gx, gy, self.loss(np.stack([gx, gy]))


def least_squares_surface(condition: float = 25.0, angle_deg: float = 30.0, n: int = 512, noise: float = 0.5, seed: int = 0) -> Surface:
    """An ill-conditioned quadratic that is also a real least-squares problem.

    The loss is ``L(w) = 1/(2N) * sum_i (x_i . w - y_i)^2`` for ``N`` samples in 2-D. The
    features are built so that the Hessian ``X^T X / N`` has eigenvalues exactly ``1``
    and ``condition``, with its long axis turned by ``angle_deg``; so
    ``L(w) = 1/2 (w - w*)^T H (w - w*) + L(w*)`` with ``w*`` the least-squares solution.
    """
    if not condition >= 1:
        raise ValueError(f"condition must be >= 1 (ratio of largest to smallest curvature); got {condition!r}")
    if n < 4:
        raise ValueError(f"n must be at least 4 samples; got {n}")
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 2))
    # Whiten Z so that Z^T Z / n is exactly the identity; then X = Z S has X^T X / n = S^2 = H.
    L = np.linalg.cholesky(Z.T @ Z / n)
    Z = Z @ np.linalg.inv(L).T
    theta = np.deg2rad(angle_deg)
    R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    S = R @ np.diag([1.0, np.sqrt(condition)]) @ R.T
    X = Z @ S
    w_true = np.array([1.0, 0.5])
    y = X @ w_true + noise * rng.standard_normal(n)
    H = X.T @ X / n
    w_star = np.linalg.solve(H, X.T @ y / n)
    floor = 0.5 * float(np.mean((X @ w_star - y) ** 2))
    h00, h01, h11 = float(H[0, 0]), float(H[0, 1]), float(H[1, 1])
    m0, m1 = float(w_star[0]), float(w_star[1])

    def loss(p):
        # Written with + - * ** only, so p may be a NumPy array (any leading shape) or a torch tensor.
        dx, dy = p[0] - m0, p[1] - m1
        return 0.5 * (h00 * dx**2 + 2 * h01 * dx * dy + h11 * dy**2) + floor

    def grad(p):
        return H @ (np.asarray(p, dtype=float) - w_star)

    return Surface(
        name=f"ill-conditioned quadratic (condition {condition:g})",
        loss=loss,
        grad=grad,
        minimum=w_star,
        start=w_star + R @ np.array([-2.5, 0.6]),  # far along the flat axis, a little up the steep wall
        xlim=(m0 - 3.0, m0 + 1.5),
        ylim=(m1 - 2.0, m1 + 1.2),
        X=X,
        y=y,
        hessian=H,
        notes={"condition": condition, "eigenvalues": np.linalg.eigvalsh(H), "loss_floor": floor},
    )


def rosenbrock_surface(a: float = 1.0, b: float = 100.0) -> Surface:
    """Rosenbrock's curved valley ``(a - x)^2 + b (y - x^2)^2``, minimum at ``(a, a^2)``."""

    def loss(p):
        x, y = p[0], p[1]
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def grad(p):
        x, y = np.float64(p[0]), np.float64(p[1])
        return np.array([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)])

    return Surface(
        name="Rosenbrock",
        loss=loss,
        grad=grad,
        minimum=np.array([a, a**2]),
        start=np.array([-1.2, 1.0]),  # the customary start, on the far side of the valley
        xlim=(-2.0, 2.0),
        ylim=(-1.0, 3.0),
        log_levels=True,
    )


# --------------------------------------------------------------------------- step rules


def _check_step_inputs(name: str, param, grad, lr) -> tuple[np.ndarray, np.ndarray]:
    param = np.asarray(param, dtype=float)
    grad = np.asarray(grad, dtype=float)
    if param.shape != grad.shape:
        raise ValueError(f"{name}: param and grad must have the same shape; got {param.shape} and {grad.shape}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: lr must be a number; got {type(lr).__name__} {lr!r}")
    if not lr > 0:
        raise ValueError(f"{name}: lr must be positive; got {lr!r} (try 1e-3 to 1e-1)")
    return param, grad


def sgd_step(param, grad, state: dict, *, lr: float, momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> np.ndarray:
    """One step of ``torch.optim.SGD`` (plain gradient descent when ``momentum=0``).

    ``state`` keeps the momentum buffer between calls; pass the same dict every step.
    """
    param, g = _check_step_inputs("sgd_step", param, grad, lr)
    if not 0 <= momentum < 1:
        raise ValueError(f"sgd_step: momentum must be in [0, 1); got {momentum!r}")
    if weight_decay:
        g = g + weight_decay * param  # L2 penalty added to the gradient (coupled)
    if momentum:
        buf = state.get("momentum_buffer")
        # PyTorch starts the buffer at the first gradient, not at zero.
        buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
        state["momentum_buffer"] = buf
        g = g + momentum * buf if nesterov else buf
    return param - lr * g


def _adam_moments(g: np.ndarray, state: dict, betas: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, int]:
    beta1, beta2 = betas
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        raise ValueError(f"betas must both lie in [0, 1); got {betas!r}")
    t = state.get("step", 0) + 1
    m, v = state.get("exp_avg", np.zeros_like(g)), state.get("exp_avg_sq", np.zeros_like(g))
    # m <- b1 m + (1 - b1) g, written as PyTorch evaluates it (lerp), so long runs round alike.
    m = m + (1 - beta1) * (g - m)
    v = beta2 * v + (1 - beta2) * (g * g)
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    return m, v, t


def _adam_update(param: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, lr: float, betas, eps: float) -> np.ndarray:
    """``param - lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``.

    The bias corrections undo the pull towards zero of moments that start at zero. The
    arithmetic is grouped as in ``torch.optim`` (``sqrt(v) / sqrt(1 - b2^t)``, then ``lr / (1 - b1^t)``),
    which is the same number up to rounding; grouping it the same way keeps long runs equal bit for bit.
    """
    beta1, beta2 = betas
    denom = np.sqrt(v) / np.sqrt(1 - beta2**t) + eps
    return param - (lr / (1 - beta1**t)) * (m / denom)


def adam_step(param, grad, state: dict, *, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> np.ndarray:
    """One step of ``torch.optim.Adam``; ``weight_decay`` is an L2 term added to the gradient."""
    param, g = _check_step_inputs("adam_step", param, grad, lr)
    if weight_decay:
        g = g + weight_decay * param  # coupled: the decay is then rescaled by 1/sqrt(v_hat)
    m, v, t = _adam_moments(g, state, betas)
    return _adam_update(param, m, v, t, lr, betas, eps)


def adamw_step(param, grad, state: dict, *, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2) -> np.ndarray:
    """One step of ``torch.optim.AdamW``: decay the weights directly, then an Adam step."""
    param, g = _check_step_inputs("adamw_step", param, grad, lr)
    param = param * (1 - lr * weight_decay)  # decoupled: not rescaled by the adaptive denominator
    m, v, t = _adam_moments(g, state, betas)
    return _adam_update(param, m, v, t, lr, betas, eps)


def adagrad_step(param, grad, state: dict, *, lr: float = 1e-2, eps: float = 1e-10, initial_accumulator_value: float = 0.0) -> np.ndarray:
    """One step of ``torch.optim.Adagrad`` (no lr decay, no weight decay).

    ``state["sum"]`` accumulates every squared gradient, coordinate by coordinate, and the
    step divides by its square root: a coordinate that has seen large gradients takes
    small steps from then on. Nothing is ever forgotten, so every coordinate's step
    shrinks over time, each at its own pace.
    """
    param, g = _check_step_inputs("adagrad_step", param, grad, lr)
    total = state.get("sum", np.full_like(g, float(initial_accumulator_value))) + g * g
    state["sum"] = total
    state["step"] = state.get("step", 0) + 1
    return param - lr * g / (np.sqrt(total) + eps)


# name -> (step function, default hyper-parameters, torch.optim class name)
METHODS: dict[str, tuple[Callable, dict, str]] = {
    "gd": (sgd_step, {}, "SGD"),
    "sgd": (sgd_step, {}, "SGD"),  # the same rule on mini-batch gradients
    "momentum": (sgd_step, {"momentum": 0.9}, "SGD"),
    "adam": (adam_step, {}, "Adam"),
    "adamw": (adamw_step, {"weight_decay": 1e-2}, "AdamW"),
}


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")


def _batch_indices(surface: Surface, method: str, batch_size: int | None, steps: int, seed: int):
    """The mini-batch of each step (None for full-batch methods), drawn once so NumPy and torch share them."""
    if method != "sgd":
        if batch_size is not None:
            raise ValueError(f"batch_size applies to method 'sgd' only; got method {method!r} with batch_size={batch_size}")
        return [None] * steps
    if surface.X is None:
        raise ValueError(f"method 'sgd' needs a surface with data; {surface.name!r} has none (use least_squares_surface())")
    if batch_size is None or not 1 <= batch_size <= surface.n_samples:
        raise ValueError(f"method 'sgd' needs 1 <= batch_size <= {surface.n_samples}; got {batch_size!r}")
    rng = np.random.default_rng(seed)
    return [rng.choice(surface.n_samples, size=batch_size, replace=False) for _ in range(steps)]


def optimize(surface: Surface, method: str, lr: float, steps: int, *, start=None, batch_size: int | None = None, seed: int = 0, **hyper) -> np.ndarray:
    """Run ``method`` on ``surface`` with the NumPy step rules; return the path, shape ``(steps + 1, 2)``.

    ``method`` is one of ``METHODS``; ``'sgd'`` draws a mini-batch of ``batch_size`` samples
    (without replacement) at every step. Extra keyword arguments override the method's
    hyper-parameters (``momentum=0.5``, ``betas=(0.8, 0.99)``, ``weight_decay=0.1``...).
    A path that overflows stops early and is padded with ``nan``.
    """
    _check_method(method)
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative int; got {steps!r}")
    step_fn, defaults, _ = METHODS[method]
    options = {**defaults, **hyper}
    batches = _batch_indices(surface, method, batch_size, steps, seed)
    p = np.array(surface.start if start is None else start, dtype=float)
    path = np.full((steps + 1, 2), np.nan)
    path[0] = p
    state: dict = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for k, idx in enumerate(batches, start=1):
            g = surface.grad(p) if idx is None else surface.batch_grad(p, idx)
            p = step_fn(p, g, state, lr=lr, **options)
            if not np.all(np.isfinite(p)):
                break  # diverged: leave the rest of the path as nan
            path[k] = p
    return path


def _autograd_library(library: str):
    if library == "torch":
        import torch

        return torch
    if library in ("labs.scratch", "scratch"):
        import labs.scratch

        return labs.scratch
    raise ValueError(f"library must be 'torch' or 'labs.scratch'; got {library!r}")


def optimize_autograd(surface: Surface, method: str, lr: float, steps: int, *, library: str = "torch", start=None, batch_size: int | None = None, seed: int = 0, **hyper) -> np.ndarray:
    """The same run as :func:`optimize`, but with a library's optimiser and autograd (float64).

    ``library="torch"`` uses ``torch.optim``; ``library="labs.scratch"`` the NumPy engine,
    whose names mirror PyTorch's, so the code below is the same for both.
    """
    lib = _autograd_library(library)
    _check_method(method)
    _, defaults, optim_name = METHODS[method]
    options = {**defaults, **hyper}
    batches = _batch_indices(surface, method, batch_size, steps, seed)
    p = lib.tensor(np.array(surface.start if start is None else start, dtype=float), dtype=lib.float64, requires_grad=True)
    optimizer = getattr(lib.optim, optim_name)([p], lr=lr, **options)
    X = None if surface.X is None else lib.tensor(surface.X, dtype=lib.float64)
    y = None if surface.y is None else lib.tensor(surface.y, dtype=lib.float64)
    path = [p.detach().numpy().copy()]
    for idx in batches:
        optimizer.zero_grad()
        if idx is None:
            loss = surface.loss(p)
        else:
            Xb, yb = X[idx], y[idx]
            loss = 0.5 * ((Xb @ p - yb) ** 2).mean()
        loss.backward()
        optimizer.step()
        path.append(p.detach().numpy().copy())
    return np.array(path)


# --------------------------------------------------------------------------- gradient noise


def minibatch_gradient_noise(surface: Surface, p, batch_sizes, *, draws: int = 2000, seed: int = 0) -> dict:
    """How noisy is the mini-batch gradient at ``p``, for each batch size?

    For each ``B`` it draws ``draws`` mini-batches of ``B`` distinct samples and measures
    ``E ||g_B - g||^2`` (the total variance of the mini-batch gradient around the
    full-batch gradient ``g``). Sampling ``B`` of ``N`` without replacement has the exact
    expectation ``tr(Sigma) / B * (N - B) / (N - 1)``, with ``Sigma`` the covariance of the
    per-sample gradients: for ``B << N`` that is the ``1/B`` law.
    Returns the batch sizes, the measured and the predicted variances.
    """
    p = np.asarray(p, dtype=float)
    per_sample = surface.per_sample_grads(p)  # (N, 2)
    n = len(per_sample)
    full = per_sample.mean(axis=0)
    trace_sigma = float(((per_sample - full) ** 2).sum(axis=1).mean())  # population covariance trace
    rng = np.random.default_rng(seed)
    sizes = np.asarray(batch_sizes, dtype=int)
    if sizes.ndim != 1 or np.any(sizes < 1) or np.any(sizes > n):
        raise ValueError(f"batch_sizes must be integers in [1, {n}]; got {batch_sizes!r}")
    measured = []
    for b in sizes:
        # argsort of uniform noise gives `draws` independent permutations at once; keep the first b of each.
        idx = np.argsort(rng.random((draws, n)), axis=1)[:, :b]
        g_b = per_sample[idx].mean(axis=1)  # (draws, 2)
        measured.append(float(((g_b - full) ** 2).sum(axis=1).mean()))
    predicted = trace_sigma / sizes * (n - sizes) / (n - 1)
    return {"batch_sizes": sizes, "measured": np.array(measured), "predicted": predicted, "trace_sigma": trace_sigma, "n": n}


def fit_power_law(x, y) -> tuple[float, float]:
    """Least-squares fit of ``y = c * x**slope`` on log-log axes; returns ``(slope, c)``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and y must be 1-D of the same length >= 2; got shapes {x.shape} and {y.shape}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("a power law is fitted on log-log axes, so x and y must be positive")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(np.exp(intercept))


# --------------------------------------------------------------------------- plotting


def plot_trajectories(surface: Surface, paths: dict, ax=None, levels: int = 25, title: str | None = None):
    """Contours of ``surface`` with each ``label -> path`` drawn on top; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    gx, gy, gz = surface.grid()
    # Geometric contour levels of (loss - minimum): a valley gets as many lines as its walls.
    excess = gz - float(surface.loss(surface.minimum))
    top = float(excess.max())
    lv = np.geomspace(top * (1e-5 if surface.log_levels else 1e-4), top, levels)
    ax.contour(gx, gy, excess, levels=lv, colors="grey", linewidths=0.5, alpha=0.7)
    for label, path in paths.items():
        path = np.asarray(path)
        (line,) = ax.plot(path[:, 0], path[:, 1], ".-", ms=2.5, lw=1.1, label=label, alpha=0.9)
        finite = path[np.all(np.isfinite(path), axis=1)]
        ax.plot(*finite[-1], "X", ms=8, color=line.get_color(), mec="k", mew=0.5)  # where the run ended
    ax.plot(*surface.start, "ko", ms=5)
    ax.plot(*surface.minimum, "r*", ms=12, label="minimum")
    ax.set_xlim(surface.xlim)
    ax.set_ylim(surface.ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(title or surface.name)
    ax.legend(loc="best", fontsize=8)
    return ax
