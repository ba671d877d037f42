"""Graders for the exercises of Chapter 10a, "Scale I: compute, memory and scaling laws".

Each grader calls the student's function on inputs of its own and compares with a
measurement (autograd's saved tensors, a real large-batch gradient) or a reference
computed here, and recognises the usual slips by computing them. It prints one success
line or raises :class:`labs.check.ExerciseFailed`; a stub's ``NotImplementedError`` passes through.
"""

from __future__ import annotations

import math

import numpy as np

from labs.check import call_student, expect_close, fail, passed

__all__ = ["block_activation_bytes", "compute_optimal", "noise_scale", "accumulated_gradients"]


# --------------------------------------------------------------------------- Exercise 10a.1


def _measured_block_bytes(n_embd, n_head, B, T, fused):
    import contextlib

    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from labs.memory import SavedTensorMeter
    from labs.models.gpt import Block, GPTConfig

    torch.manual_seed(0)
    block = Block(GPTConfig(vocab_size=8, block_size=max(T, 1), n_layer=1, n_head=n_head, n_embd=n_embd))
    x = torch.randn(B, T, n_embd, requires_grad=True)
    backend = contextlib.nullcontext() if fused else sdpa_kernel(SDPBackend.MATH)
    with backend, SavedTensorMeter(block) as meter:
        block(x)
    return meter.nbytes


def block_activation_bytes(fn) -> None:
    """``fn(n_embd, n_head, batch_size, seq_len, fused_attention)``: bytes (float32) one block saves for backward."""
    ex = "Exercise 10a.1"
    cases = [(32, 2, 3, 16, True), (48, 4, 2, 20, True), (48, 4, 2, 20, False), (64, 8, 2, 24, False), (16, 1, 5, 7, True)]
    for C, h, B, T, fused in cases:
        measured = _measured_block_bytes(C, h, B, T, fused)
        inputs = f"n_embd={C}, n_head={h}, batch_size={B}, seq_len={T}, fused_attention={fused}"
        got = call_student(ex, fn, (C, h, B, T, fused), inputs=inputs)
        try:
            value = float(got)
        except (TypeError, ValueError):
            fail(ex, f"on {inputs} it returned {got!r}; expected a number of bytes")
        if value == measured:
            continue
        per_token = value / (4 * B * T)
        hint = None
        if value * 4 == measured:
            hint = "that is the number of floats: each float32 takes 4 bytes"
        elif abs(per_token - 16 * C) < 1e-9 or abs(per_token - (16 * C + (h if fused else h * T))) < 1e-9:
            hint = "each LayerNorm also keeps a mean and a 1/std per token: 4 more floats per token for the two"
        elif fused and abs(per_token - (16 * C + 4 + h * T)) < 1e-9:
            hint = "the fused kernel does not keep the T x T attention weights; it keeps one log-sum-exp per head and token"
        elif not fused and abs(per_token - (16 * C + 4 + h)) < 1e-9:
            hint = "on the math path the attention weights (n_head x seq_len per token) are saved for backward"
        elif abs(per_token - (18 * C + 4 + (h if fused else h * T))) < 1e-9:
            hint = "q, k and v are views of one projection of 3 C numbers: count them once"
        fail(ex, f"on {inputs} autograd saved {measured} bytes (measured with SavedTensorMeter); you predicted {got!r}", hint)
    passed(ex, "your formula predicts what autograd saves, with the fused kernel and on the math path")


# --------------------------------------------------------------------------- Exercise 10a.2


def _reference_optimal(C, p):
    a, b = p["alpha"], p["beta"]
    G = (a * p["A"] / (b * p["B"])) ** (1.0 / (a + b))
    N = G * (C / 6.0) ** (b / (a + b))
    return N, C / (6.0 * N)


def compute_optimal(fn) -> None:
    """``fn(C, E, A, alpha, B, beta)``: (N_opt, D_opt) minimising E + A/N^alpha + B/D^beta with 6 N D = C."""
    ex = "Exercise 10a.2"
    fits = [dict(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28), dict(E=1.0, A=50.0, alpha=0.5, B=200.0, beta=0.25),
            dict(E=2.0, A=10.0, alpha=0.2, B=10.0, beta=0.4)]
    for p in fits:
        for C in (1e18, 5.76e23):
            N, D = _reference_optimal(C, p)
            inputs = f"C={C:.3g}, {p}"
            got = call_student(ex, fn, (C, p["E"], p["A"], p["alpha"], p["B"], p["beta"]), inputs=inputs)
            try:
                gN, gD = (float(v) for v in got)
            except (TypeError, ValueError):
                fail(ex, f"on {inputs} it returned {got!r}; expected a pair (N_opt, D_opt)")
            if not (math.isfinite(gN) and math.isfinite(gD) and gN > 0 and gD > 0):
                fail(ex, f"on {inputs} it returned ({gN}, {gD}); expected positive finite numbers")
            if abs(gN / N - 1) < 1e-6 and abs(gD / D - 1) < 1e-6:
                continue
            hint = None
            a, b = p["alpha"], p["beta"]
            swapped = (a * p["A"] / (b * p["B"])) ** (1 / (a + b)) * (C / 6) ** (a / (a + b))
            if abs(gN / swapped - 1) < 1e-6:
                hint = "N_opt grows as C^(beta/(alpha+beta)): the data exponent on top (the paper's a)"
            elif abs(gN * gD / C - 1) < 1e-6:
                hint = "the budget is C = 6 N D (6 FLOPs per parameter per token), so N D = C / 6"
            elif abs(6 * gN * gD / C - 1) > 1e-6:
                hint = "check the constraint: your N and D do not satisfy 6 N D = C"
            fail(ex, f"on {inputs} expected N_opt={N:.4g}, D_opt={D:.4g}; got ({gN:.4g}, {gD:.4g})", hint)
    passed(ex, "your compute-optimal N and D match the closed form (Hoffmann et al., eq. 4)")


# --------------------------------------------------------------------------- Exercise 10a.3


def _synthetic_grads(k, b, P, noise, seed):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=P)
    sigma = noise * rng.uniform(0.5, 1.5, size=P)  # per-example standard deviation of each coordinate
    per_example = G + sigma * rng.normal(size=(k, b, P))
    return per_example.mean(axis=1), float(G @ G), float(np.sum(sigma ** 2))


def noise_scale(fn) -> None:
    """``fn(grads, b)``: B_noise = tr(Sigma) / |G|^2 from k microbatch gradients of b examples (unbiased)."""
    ex = "Exercise 10a.3"
    from labs.gradient_noise import noise_scale as reference

    for k, b, P, noise, seed in ((8, 4, 200, 3.0, 0), (32, 2, 50, 10.0, 1), (4, 16, 500, 6.0, 2)):
        grads, G2, trace = _synthetic_grads(k, b, P, noise, seed)
        expected = reference(grads, b)["B_noise"]
        inputs = f"{k} microbatch gradients of b={b} examples, P={P} (true B_noise={trace / G2:.3g})"
        got = call_student(ex, fn, (grads.copy(), b), inputs=inputs)
        try:
            value = float(got)
        except (TypeError, ValueError):
            fail(ex, f"on {inputs} it returned {got!r}; expected one number, B_noise")
        _small, big = float(np.mean(np.sum(grads ** 2, 1))), float(np.sum(grads.mean(0) ** 2))
        hint = None
        naive = b * float(np.sum(grads.var(axis=0, ddof=1))) / big
        if abs(value / naive - 1) < 1e-6:
            hint = ("|mean of the gradients|^2 is not |G|^2: it still holds tr(Sigma) / (k b) of noise; "
                    "use |G|^2 = (k |g_kb|^2 - mean |g_b|^2) / (k - 1)")
        elif abs(value * b / expected - 1) < 1e-6:
            hint = "tr(Sigma) is the noise of one example: a mean of b examples has b times less, so multiply by b"
        expect_close(ex, value, expected, what="B_noise", inputs=inputs, rtol=1e-6, hint=hint)
    passed(ex, "your estimator matches the unbiased one of McCandlish et al. (Appendix A)")


# --------------------------------------------------------------------------- Exercise 10a.4


def accumulated_gradients(fn) -> None:
    """``fn(model, loss_fn, x, y, n_micro)``: the gradients (list, one per parameter) of the mean loss over
    the whole batch, accumulated over ``n_micro`` equal microbatches; must equal one large batch in float64."""
    ex = "Exercise 10a.4"
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).double()
    x, y = torch.randn(12, 5, dtype=torch.float64), torch.randint(0, 3, (12,))
    loss_fn = torch.nn.functional.cross_entropy
    model.zero_grad()
    loss_fn(model(x), y).backward()
    expected = [p.grad.clone() for p in model.parameters()]
    for n_micro in (1, 3, 4):
        model.zero_grad()
        got = call_student(ex, fn, (model, loss_fn, x, y, n_micro), inputs=f"a batch of 12 split into {n_micro}")
        got = list(got) if got is not None else []
        if len(got) != len(expected):
            fail(ex, f"expected {len(expected)} gradients (one per parameter); got {len(got)}")
        for g, e in zip(got, expected):
            g = torch.as_tensor(g, dtype=torch.float64)
            if g.shape != e.shape:
                fail(ex, f"a gradient of shape {tuple(g.shape)}; expected {tuple(e.shape)}")
            if not torch.allclose(g, e, rtol=1e-10, atol=1e-12):
                hint = None
                if torch.allclose(g, n_micro * e, rtol=1e-10, atol=1e-12):
                    hint = "each microbatch loss is a mean over its own examples: divide it by n_micro before backward"
                fail(ex, f"with {n_micro} microbatches the gradients differ from one batch of 12 by "
                     f"{float((g - e).abs().max()):.3g}", hint)
    passed(ex, "accumulating microbatch gradients gives the large batch's gradient to float64 precision")
