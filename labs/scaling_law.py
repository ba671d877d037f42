"""A small scaling-law sweep of our GPT, the Chinchilla loss fit, and isoFLOP minima.

The sweep (:func:`run_sweep`) trains one GPT per width on the course corpus and records
the validation loss at several token counts along each run, so one run gives a whole row
of the (parameters N, tokens D) grid. That is Kaplan et al.'s way (one learning-rate
schedule, read at checkpoints); Hoffmann et al. train each (N, D) pair with its own cosine
schedule, which makes the short-D points of a single run pessimistic. The chapter says so.

Then:

- :func:`fit_loss_surface`: ``L(N, D) = E + A / N^alpha + B / D^beta`` (Hoffmann et al.,
  eq. 2) by :func:`scipy.optimize.curve_fit`, with standard errors from its covariance;
- :func:`compute_optimal`: the N and D that minimise that L at C = 6 N D (their eq. 4);
- :func:`isoflop_minima`: their approach 2. For each budget C, each run's loss at
  D = C / (FLOPs per token) is read off by interpolation in log D, a parabola in log N is
  fitted through those losses, and its vertex is the compute-optimal N for C;
- :func:`fit_power_law`: ``y = k x^a`` through those optima (log-log least squares).

scipy is imported inside the functions that need it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SweepRun", "run_sweep", "equal_flop_batches", "unigram_entropy", "chinchilla_loss", "LossFit", "fit_loss_surface", "compute_optimal",
           "isoflop_minima", "fit_power_law", "KAPLAN_2020", "HOFFMANN_2022"]

# Published exponents, for the chapter's comparison. Kaplan et al. 2020: L(N) ~ N^-0.076,
# L(D) ~ D^-0.095 (their eq. 1.1-1.2), and N_opt ~ C^0.73 (eq. 1.7 / Sec. 6).
# Hoffmann et al. 2022: the fitted L(N, D) of their approach 3 (E=1.69, A=406.4, B=410.7,
# alpha=0.34, beta=0.28; Sec. 3.3), and N_opt ~ C^a with a = 0.49 by approach 2 (Table 2).
KAPLAN_2020 = {"alpha_N": 0.076, "alpha_D": 0.095, "a": 0.73}
HOFFMANN_2022 = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28, "a_approach2": 0.49}


@dataclass
class SweepRun:
    """One trained width: its sizes, and the validation loss (nats per token) at each token count."""

    n_embd: int
    n_layer: int
    n_params: int  # every parameter, as parameter_count counts them
    flops_per_token: float  # training FLOPs per token (labs.flops: 6 N_matmul + attention)
    batch_size: int = 0
    tokens: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # on fixed training windows, same count as validation
    model: object = field(default=None, repr=False)  # the trained GPT, with keep_models=True


def _val_loss(model, val_x, val_y):
    import torch
    from torch.nn import functional as F

    model.eval()
    with torch.no_grad():
        logits = model(val_x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), val_y.reshape(-1))
    model.train()
    return float(loss)


def run_sweep(train_ids, val_ids, vocab_size: int, widths=(16, 32, 64), n_layer: int = 2, block_size: int = 32,
              batch_size: int = 16, steps: int = 300, evals: int = 8, lr: float = 3e-3, val_windows: int = 128, first: int = 8,
              seed: int = 0, batch_sizes=None, keep_models: bool = False, tie_weights: bool = True,
              device="cpu") -> list[SweepRun]:
    """Train one GPT per width for ``steps`` AdamW steps; read the validation loss ``evals`` times.

    Each step reads ``batch_size`` random windows of ``block_size`` characters (the same
    windows, in the same order, for every width: the generator is seeded the same way).
    The learning rate warms up over the first 10% of steps, then stays constant; n_head is
    n_embd // 16 (at least 1), so heads keep 16 features. The checkpoints are spaced
    evenly in log(tokens), from 1/``first`` of the run to its end. ``batch_sizes`` (one
    per width, e.g. from :func:`equal_flop_batches`) overrides ``batch_size``. Deterministic
    on one device for a fixed seed.
    """
    import torch
    from torch.nn import functional as F

    from labs.flops import flops_per_token
    from labs.models.gpt import GPT, GPTConfig, parameter_count

    train = torch.as_tensor(np.asarray(train_ids, dtype=np.int64))
    val = torch.as_tensor(np.asarray(val_ids, dtype=np.int64))
    if len(train) < val_windows * (block_size + 1) or len(val) < val_windows * (block_size + 1):
        raise ValueError(f"run_sweep needs at least "
                         f"{val_windows * (block_size + 1)} training ids and as many validation ids; got {len(train)} and {len(val)}")
    if steps < 8 or evals < 2:
        raise ValueError(f"run_sweep needs steps >= 8 and evals >= 2; got steps={steps}, evals={evals}")
    # fixed windows spread evenly over each text (its modules differ: the first windows alone would be one module)
    val_starts = torch.linspace(0, len(val) - block_size - 1, val_windows).long()
    train_starts = torch.linspace(0, len(train) - block_size - 1, val_windows).long()
    val_x = torch.stack([val[s:s + block_size] for s in val_starts]).to(device)
    val_y = torch.stack([val[s + 1:s + block_size + 1] for s in val_starts]).to(device)
    tr_x = torch.stack([train[s:s + block_size] for s in train_starts]).to(device)
    tr_y = torch.stack([train[s + 1:s + block_size + 1] for s in train_starts]).to(device)
    checkpoints = sorted(set(np.unique(np.geomspace(max(1, steps // first), steps, evals).round().astype(int)).tolist()))
    warmup = max(1, steps // 10)
    offsets = torch.arange(block_size + 1)
    batch_sizes = [batch_size] * len(widths) if batch_sizes is None else list(batch_sizes)
    if len(batch_sizes) != len(widths):
        raise ValueError(f"give one batch size per width; got {len(batch_sizes)} for {len(widths)} widths")
    runs = []
    for width, batch_size in zip(widths, batch_sizes):
        config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                           n_head=max(1, width // 16), n_embd=width, tie_weights=tie_weights)
        torch.manual_seed(seed)
        model = GPT(config).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
        gen = torch.Generator().manual_seed(seed + 1)
        run = SweepRun(width, n_layer, parameter_count(config), flops_per_token(config, block_size), batch_size)
        for step in range(1, steps + 1):
            ix = torch.randint(0, len(train) - block_size - 1, (batch_size,), generator=gen)
            rows = ix[:, None] + offsets  # (B, T + 1) positions: the window and its next character
            x, y = train[rows[:, :-1]].to(device), train[rows[:, 1:]].to(device)
            loss = F.cross_entropy(model(x).reshape(-1, vocab_size), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if step in checkpoints:
                run.tokens.append(step * batch_size * block_size)
                run.val_loss.append(_val_loss(model, val_x, val_y))
                run.train_loss.append(_val_loss(model, tr_x, tr_y))
        if keep_models:
            run.model = model.eval()
        runs.append(run)
    return runs


def equal_flop_batches(widths, n_layer: int, block_size: int, vocab_size: int, smallest_batch: int) -> list[int]:
    """Batch sizes that give every width about the same training FLOPs per step.

    The widest model gets ``smallest_batch`` windows; a model with k times fewer FLOPs per
    token gets k times more. Then every run passes the same compute budgets at the same
    steps, so an isoFLOP slice reads every run at one of its own checkpoints (and on a
    CPU, where a tiny model's step costs the same overhead as a wider one's, the sweep's
    time is spent evenly).
    """
    from labs.flops import flops_per_token
    from labs.models.gpt import GPTConfig

    fpt = [flops_per_token(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                                     n_head=max(1, w // 16), n_embd=w), block_size) for w in widths]
    return [max(1, round(smallest_batch * max(fpt) / f)) for f in fpt]


def unigram_entropy(ids, vocab_size: int) -> float:
    """Entropy (nats) of the ids' character frequencies: the loss of a model that ignores the context."""
    counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab_size).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def chinchilla_loss(ND, E, A, alpha, B, beta):
    """Hoffmann et al.'s parametric loss, ``E + A / N^alpha + B / D^beta``; ``ND`` is (N, D)."""
    N, D = ND
    return E + A / np.power(N, alpha) + B / np.power(D, beta)


@dataclass
class LossFit:
    """The fitted L(N, D): parameters, their standard errors, and the fit's RMS residual."""

    params: dict[str, float]
    stderr: dict[str, float]
    rms: float

    def predict(self, N, D):
        p = self.params
        return chinchilla_loss((np.asarray(N, float), np.asarray(D, float)), p["E"], p["A"], p["alpha"], p["B"], p["beta"])


_NAMES = ("E", "A", "alpha", "B", "beta")


def fit_loss_surface(N, D, loss, p0=None) -> LossFit:
    """Least-squares fit of :func:`chinchilla_loss` to points (N, D, loss), with standard errors.

    Needs at least 6 points (5 parameters). E, A, B >= 0 and 0 < alpha, beta < 2.
    """
    from scipy.optimize import curve_fit

    N, D, loss = (np.asarray(v, dtype=float).ravel() for v in (N, D, loss))
    if not (len(N) == len(D) == len(loss)):
        raise ValueError(f"N, D and loss must have the same length; got {len(N)}, {len(D)}, {len(loss)}")
    if len(N) < 6:
        raise ValueError(f"fitting 5 parameters needs at least 6 points; got {len(N)}")
    if not (np.all(N > 0) and np.all(D > 0) and np.all(np.isfinite(loss))):
        raise ValueError("N and D must be positive and every loss finite")
    if p0 is None:
        p0 = (0.8 * loss.min(), 1.0 * N.min() ** 0.3, 0.3, 1.0 * D.min() ** 0.3, 0.3)
    params, cov = curve_fit(chinchilla_loss, (N, D), loss, p0=p0, bounds=([0, 0, 1e-3, 0, 1e-3], [np.inf, np.inf, 2, np.inf, 2]),
                            maxfev=20000)
    err = np.sqrt(np.clip(np.diag(cov), 0, np.inf))
    rms = float(np.sqrt(np.mean((chinchilla_loss((N, D), *params) - loss) ** 2)))
    return LossFit(dict(zip(_NAMES, map(float, params))), dict(zip(_NAMES, map(float, err))), rms)


def compute_optimal(C, fit: LossFit | dict, flops_per_param_token: float = 6.0):
    """The (N_opt, D_opt) minimising the fitted L(N, D) under C = k N D (k = 6 by default).

    Hoffmann et al. eq. 4: N_opt = G (C/k)^(beta/(alpha+beta)), D_opt = (C/k) / N_opt, with
    G = (alpha A / (beta B))^(1/(alpha+beta)).
    """
    p = fit.params if isinstance(fit, LossFit) else fit
    C = np.asarray(C, dtype=float)
    if np.any(C <= 0):
        raise ValueError(f"compute budgets must be positive; got {C}")
    a, b = p["alpha"], p["beta"]
    G = (a * p["A"] / (b * p["B"])) ** (1.0 / (a + b))
    N = G * (C / flops_per_param_token) ** (b / (a + b))
    return N, C / flops_per_param_token / N


def _loss_at(run: SweepRun, tokens: float) -> float:
    """The run's loss at ``tokens``, interpolated linearly in log(tokens); NaN outside the run."""
    t = np.log(np.asarray(run.tokens, float))
    x = math.log(tokens)
    if x < t[0] - 1e-12 or x > t[-1] + 1e-12:
        return float("nan")
    return float(np.interp(x, t, run.val_loss))


def isoflop_minima(runs: list[SweepRun], budgets, window: int = 5) -> list[dict]:
    """Chinchilla's approach 2 on a sweep: for each budget, the loss of each run at that many FLOPs.

    Returns one dict per budget: ``C``, the ``N`` and ``loss`` of the runs that reached C
    within their checkpoints (in order of N), and, when the lowest loss is not at either
    end and the parabola in log N through it and its neighbours (``window`` runs) opens upwards, ``N_opt`` (its vertex), ``D_opt`` = C / (FLOPs per token at N_opt,
    interpolated in log-log between the runs) and ``loss_opt``;
    otherwise ``N_opt`` is None (the minimum is not bracketed: say so, do not extrapolate).
    """
    out = []
    for C in budgets:
        N, L = [], []
        for run in runs:
            value = _loss_at(run, C / run.flops_per_token)
            if math.isfinite(value):
                N.append(run.n_params)
                L.append(value)
        row = {"C": float(C), "N": N, "loss": L, "N_opt": None, "D_opt": None, "loss_opt": None, "coef": None}
        best = int(np.argmin(L)) if L else 0
        if len(N) >= 3 and 0 < best < len(N) - 1:  # the lowest loss has a neighbour on each side: bracketed
            lo, hi = max(0, best - window // 2), min(len(N), best + window // 2 + 1)
            x = np.log(np.asarray(N[lo:hi], float))
            coef = np.polyfit(x, L[lo:hi], 2)  # a parabola near the minimum only: far away, L is not one
            vertex = -coef[1] / (2 * coef[0]) if coef[0] > 0 else None
            if vertex is not None and x.min() <= vertex <= x.max():
                fpt = math.exp(np.interp(vertex, np.log([r.n_params for r in runs]),
                                         np.log([r.flops_per_token for r in runs])))  # FLOPs per token at N_opt
                row.update(N_opt=float(math.exp(vertex)), D_opt=float(C / fpt),
                           loss_opt=float(np.polyval(coef, vertex)), coef=coef.tolist())
        out.append(row)
    return out


def fit_power_law(x, y):
    """``y = k x^a`` by least squares in log-log; returns (a, stderr of a, k). Needs >= 3 points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f"fit_power_law needs at least 3 (x, y) pairs of equal length; got {len(x)} and {len(y)}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("fit_power_law needs positive x and y (it fits in log space)")
    coef, cov = np.polyfit(np.log(x), np.log(y), 1, cov=True) if len(x) > 3 else (np.polyfit(np.log(x), np.log(y), 1), None)
    if cov is None:  # three points: the residual variance has one degree of freedom
        X = np.vstack([np.log(x), np.ones_like(x)]).T
        resid = np.log(y) - X @ coef
        cov = np.linalg.inv(X.T @ X) * (resid @ resid) / (len(x) - 2)
    return float(coef[0]), float(math.sqrt(max(cov[0, 0], 0.0))), float(math.exp(coef[1]))
