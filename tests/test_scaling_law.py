"""labs.scaling_law: the fit recovers known laws, approach 2 finds the known optimum, the sweep is deterministic."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from labs.scaling_law import (HOFFMANN_2022, SweepRun, compute_optimal, equal_flop_batches, fit_loss_surface,
                              fit_power_law, isoflop_minima, run_sweep, unigram_entropy)

TRUE = dict(E=1.5, A=60.0, alpha=0.4, B=300.0, beta=0.3)


def _law(N, D, p=TRUE):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def test_fit_recovers_a_known_law_with_honest_errors():
    rng = np.random.default_rng(0)
    N, D = np.meshgrid(np.geomspace(1e4, 1e7, 6), np.geomspace(1e5, 1e9, 7))
    loss = _law(N, D) + rng.normal(0, 0.003, N.shape)
    fit = fit_loss_surface(N, D, loss)
    for key, value in TRUE.items():
        assert abs(fit.params[key] - value) < 4 * fit.stderr[key] + 1e-9, key
    assert fit.rms < 0.005
    assert np.allclose(fit.predict(N, D), loss, atol=0.02)


def test_fit_refuses_too_few_points():
    with pytest.raises(ValueError, match="at least 6"):
        fit_loss_surface([1, 2], [1, 2], [1, 2])


def test_compute_optimal_is_the_minimum_on_the_budget():
    for C in (1e15, 1e21, 5.76e23):
        N, D = compute_optimal(C, HOFFMANN_2022)
        assert np.isclose(6 * N * D, C)
        def f(logN, C=C):
            return _law(np.exp(logN), C / (6 * np.exp(logN)), HOFFMANN_2022)

        r = minimize_scalar(f, bounds=(0, 70), method="bounded", options={"xatol": 1e-10})
        assert np.isclose(np.exp(r.x), N, rtol=1e-4)
    with pytest.raises(ValueError, match="positive"):
        compute_optimal(-1.0, HOFFMANN_2022)


def _synthetic_runs():
    runs = []
    for N in np.geomspace(1e4, 1e7, 13):
        tokens = np.geomspace(1e5, 1e10, 40)
        runs.append(SweepRun(0, 1, int(N), 6.0 * N, 1, tokens.astype(int).tolist(), _law(N, tokens).tolist()))
    return runs


def test_isoflop_minima_find_the_closed_form_optimum():
    runs = _synthetic_runs()
    budgets = [1e13, 1e14, 1e15]
    rows = isoflop_minima(runs, budgets)
    for row in rows:
        N_true, _ = compute_optimal(row["C"], TRUE)
        assert row["N_opt"] is not None and abs(np.log(row["N_opt"] / N_true)) < 0.15
        assert np.isclose(6 * row["N_opt"] * row["D_opt"], row["C"], rtol=1e-3)
    a, err, _ = fit_power_law([r["C"] for r in rows], [r["N_opt"] for r in rows])
    assert abs(a - TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])) < 0.03


def test_isoflop_does_not_extrapolate():
    runs = _synthetic_runs()[:3]  # three tiny models: the optimum of a large budget is beyond them
    row = isoflop_minima(runs, [1e15])[0]
    assert row["N_opt"] is None


def test_power_law_and_its_errors():
    x = np.geomspace(1, 1e6, 5)
    a, err, k = fit_power_law(x, 3.0 * x ** 0.5)
    assert np.isclose(a, 0.5) and np.isclose(k, 3.0) and err < 1e-8
    a, err, k = fit_power_law(x[:3], 3.0 * x[:3] ** 0.5 * np.array([1.0, 1.1, 1.0]))
    assert err > 0
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3], [1, -2, 3])


def test_equal_flop_batches_balance_the_work():
    from labs.flops import flops_per_token
    from labs.models.gpt import GPTConfig

    widths = (8, 16, 32)
    batches = equal_flop_batches(widths, 1, 16, 20, 2)
    work = [b * flops_per_token(GPTConfig(vocab_size=20, block_size=16, n_layer=1, n_head=max(1, w // 16), n_embd=w), 16)
            for b, w in zip(batches, widths)]
    assert batches[-1] == 2 and max(work) / min(work) < 1.3


def test_sweep_is_deterministic_and_learns():
    rng = np.random.default_rng(0)
    ids = np.tile(rng.integers(0, 7, 50), 200)  # a repeating sequence: learnable
    kw = dict(widths=(8, 16), n_layer=1, block_size=8, batch_size=4, steps=24, evals=3, val_windows=8, lr=1e-2)
    a = run_sweep(ids[:8000], ids[8000:], 7, **kw)
    b = run_sweep(ids[:8000], ids[8000:], 7, **kw)
    assert [r.val_loss for r in a] == [r.val_loss for r in b]
    assert all(r.val_loss[-1] < r.val_loss[0] for r in a)
    assert a[0].tokens[-1] == 24 * 4 * 8 and a[1].n_params > a[0].n_params
    with pytest.raises(ValueError, match="validation ids"):
        run_sweep(ids[:8000], ids[:10], 7, **kw)


def test_unigram_entropy():
    assert np.isclose(unigram_entropy([0, 1, 2, 3], 4), np.log(4))
    assert unigram_entropy([2, 2, 2], 4) == 0.0
