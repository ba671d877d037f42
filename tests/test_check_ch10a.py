"""Chapter 10a graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch10a
from labs.gradient_noise import noise_scale as reference_noise_scale
from labs.memory import block_activation_floats
from labs.models.gpt import GPTConfig
from labs.scaling_law import compute_optimal as reference_optimal

GRADERS = [ch10a.block_activation_bytes, ch10a.compute_optimal, ch10a.noise_scale, ch10a.accumulated_gradients]


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 10a.x: not yet")


@pytest.mark.parametrize("grader", GRADERS)
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 10a.x"):
        grader(stub)


# ----------------------------------------------------------------------------- Exercise 10a.1


def block_bytes_right(n_embd, n_head, B, T, fused):
    return 4 * B * T * (16 * n_embd + 4 + (n_head if fused else n_head * T))


def test_block_bytes_accepts_the_formula_and_the_library(capsys):
    ch10a.block_activation_bytes(block_bytes_right)
    ch10a.block_activation_bytes(lambda C, h, B, T, fused: 4 * block_activation_floats(
        GPTConfig(vocab_size=8, block_size=T, n_layer=1, n_head=h, n_embd=C), B, T, fused))
    assert capsys.readouterr().out.count("passed") == 2


@pytest.mark.parametrize("wrong, hint", [
    (lambda C, h, B, T, f: block_bytes_right(C, h, B, T, f) / 4, "4 bytes"),
    (lambda C, h, B, T, f: 4 * B * T * (16 * C + (h if f else h * T)), "mean and a 1/std"),
    (lambda C, h, B, T, f: 4 * B * T * (16 * C + 4 + h * T), "does not keep the T x T"),
    (lambda C, h, B, T, f: 4 * B * T * (18 * C + 4 + (h if f else h * T)), "views of one projection"),
])
def test_block_bytes_rejects_the_usual_slips(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch10a.block_activation_bytes(wrong)


# ----------------------------------------------------------------------------- Exercise 10a.2


def optimal_right(C, E, A, alpha, B, beta):
    N, D = reference_optimal(C, {"E": E, "A": A, "alpha": alpha, "B": B, "beta": beta})
    return float(N), float(D)


def test_compute_optimal_accepts_the_closed_form(capsys):
    ch10a.compute_optimal(optimal_right)
    assert "passed" in capsys.readouterr().out


def test_compute_optimal_accepts_a_numerical_minimum():
    from scipy.optimize import minimize_scalar

    def numerical(C, E, A, alpha, B, beta):
        def f(logN):
            return A / np.exp(logN) ** alpha + B / (C / (6 * np.exp(logN))) ** beta
        r = minimize_scalar(f, bounds=(0, 80), method="bounded", options={"xatol": 1e-12})
        return np.exp(r.x), C / (6 * np.exp(r.x))

    ch10a.compute_optimal(numerical)


def test_compute_optimal_rejects_swapped_exponents_and_a_missing_six():
    def swapped(C, E, A, alpha, B, beta):
        G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
        N = G * (C / 6) ** (alpha / (alpha + beta))
        return N, C / (6 * N)

    def no_six(C, E, A, alpha, B, beta):
        G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
        N = G * C ** (beta / (alpha + beta))
        return N, C / N

    with pytest.raises(ExerciseFailed, match="beta/\\(alpha\\+beta\\)"):
        ch10a.compute_optimal(swapped)
    with pytest.raises(ExerciseFailed, match="C = 6 N D"):
        ch10a.compute_optimal(no_six)


# ----------------------------------------------------------------------------- Exercise 10a.3


def test_noise_scale_accepts_the_unbiased_estimator(capsys):
    ch10a.noise_scale(lambda g, b: reference_noise_scale(g, b)["B_noise"])
    assert "passed" in capsys.readouterr().out


def test_noise_scale_rejects_the_biased_norm_and_a_missing_b():
    def biased(grads, b):
        return b * np.sum(grads.var(axis=0, ddof=1)) / np.sum(grads.mean(0) ** 2)

    def no_b(grads, b):
        return reference_noise_scale(grads, b)["B_noise"] / b

    with pytest.raises(ExerciseFailed, match="not \\|G\\|\\^2"):
        ch10a.noise_scale(biased)
    with pytest.raises(ExerciseFailed, match="multiply by b"):
        ch10a.noise_scale(no_b)


def test_the_graders_synthetic_gradients_have_the_noise_scale_they_claim():
    """With many microbatches the estimate converges on the |G|^2 and tr(Sigma) the generator reports."""
    grads, G2, trace = ch10a._synthetic_grads(4000, 4, 50, 3.0, 0)
    r = reference_noise_scale(grads, 4)
    assert abs(r["G2"] / G2 - 1) < 0.05 and abs(r["trace"] / trace - 1) < 0.05


# ----------------------------------------------------------------------------- Exercise 10a.4


def accumulate_right(model, loss_fn, x, y, n_micro):
    model.zero_grad()
    for xs, ys in zip(x.chunk(n_micro), y.chunk(n_micro)):
        (loss_fn(model(xs), ys) / n_micro).backward()
    return [p.grad.clone() for p in model.parameters()]


def test_accumulation_accepts_the_reference(capsys):
    ch10a.accumulated_gradients(accumulate_right)
    assert "passed" in capsys.readouterr().out


def test_accumulation_rejects_a_missing_division():
    def no_division(model, loss_fn, x, y, n_micro):
        model.zero_grad()
        for xs, ys in zip(x.chunk(n_micro), y.chunk(n_micro)):
            loss_fn(model(xs), ys).backward()
        return [p.grad.clone() for p in model.parameters()]

    with pytest.raises(ExerciseFailed, match="divide it by n_micro"):
        ch10a.accumulated_gradients(no_division)
