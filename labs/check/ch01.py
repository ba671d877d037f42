"""Graders for the exercises of Chapter 1 (Large models: where they came from)."""

from __future__ import annotations

import math

import numpy as np

from labs.check import expect_close, fail, passed, call_student

__all__ = ["predict_training_flops", "xor_weights", "conv2d_param_count", "doubling_time_months", "distillation_flops"]


# --------------------------------------------------------------------------- 1.1


def _measured_training_flops(widths, tokens) -> int:
    """FLOPs of one forward and backward pass, counted by PyTorch's FLOP counter."""
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    layers = []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(d_in, d_out, bias=False), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    x = torch.randn(tokens, widths[0])  # a data batch: it does not require a gradient
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return int(counter.get_total_flops())


def predict_training_flops(fn) -> None:
    """Grade ``fn(widths, tokens) -> int``: a prediction, compared with a FLOP counter's measurement."""
    ex = "Exercise 1.1"
    cases = [
        ([64, 256, 64], 32, "the chapter's kind of stack, 64 -> 256 -> 64, on 32 tokens"),
        ([3, 5], 7, "a single layer 3 -> 5 on 7 tokens"),
        ([10, 20, 30, 5], 4, "three layers 10 -> 20 -> 30 -> 5 on 4 tokens"),
        ([1, 100, 1], 50, "a narrow input and output, 1 -> 100 -> 1, on 50 tokens"),
    ]
    for widths, tokens, why in cases:
        measured = _measured_training_flops(widths, tokens)
        got = call_student(ex, fn, (list(widths), tokens), f"widths={widths}, tokens={tokens} ({why})")
        if isinstance(got, bool) or not isinstance(got, (int, float, np.integer, np.floating)):
            fail(ex, f"predict_training_flops({widths}, {tokens}) should return a number; got {type(got).__name__}: {got!r}")
        n = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
        if got != measured:
            if got == 6 * n * tokens:
                hint = ("6ND assumes every layer also computes the gradient with respect to its input; the data x "
                        "does not require a gradient, so the first layer skips that product")
            elif got == 2 * n * tokens:
                hint = "that is the forward pass alone; the backward pass costs about twice as much again"
            elif got == 4 * n * tokens:
                hint = "add the forward pass (2 FLOPs per weight per token) to the backward pass"
            else:
                hint = ("forward: 2 FLOPs per weight per token; backward: 2 for the weight gradient of every layer, "
                        "and 2 for the input gradient of every layer whose input needs one")
            fail(ex, f"for widths={widths}, tokens={tokens} ({why}) your prediction is {got:,}, "
                     f"but FlopCounterMode measures {measured:,} (the 6ND rule says {6 * n * tokens:,})", hint)
    passed(ex, "your predictions equal the FLOP counter's measurement on all "
               f"{len(cases)} networks, where 6ND is off by the first layer's input gradient")


# --------------------------------------------------------------------------- 1.2


def _step(z):
    return (np.asarray(z) > 0).astype(np.float64)


def xor_weights(fn) -> None:
    """Grade ``fn() -> (W1 (2, 2), b1 (2,), w2 (2,), b2)`` of a step-unit network computing XOR."""
    ex = "Exercise 1.2"
    got = call_student(ex, fn, (), "no arguments")
    if not (isinstance(got, tuple) and len(got) == 4):
        fail(ex, f"xor_weights() should return four things (W1, b1, w2, b2); got {type(got).__name__}: {got!r}")
    try:
        W1, b1, w2, b2 = (np.asarray(a, dtype=np.float64) for a in got)
    except (TypeError, ValueError):
        fail(ex, f"W1, b1, w2, b2 must be numbers or arrays of numbers; got {got!r}")
    for name, arr, shape in (("W1", W1, (2, 2)), ("b1", b1, (2,)), ("w2", w2, (2,))):
        if arr.shape != shape:
            fail(ex, f"{name} should have shape {shape}; got {arr.shape}")
    if b2.shape not in ((), (1,)):
        fail(ex, f"b2 should be a single number; got shape {b2.shape}")
    b2 = b2.reshape(())
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    z1 = x @ W1 + b1
    h = _step(z1)
    z2 = h @ w2 + b2
    out = _step(z2)
    if np.any(np.abs(z1) < 1e-9) or np.any(np.abs(z2) < 1e-9):
        fail(ex, "a unit's input is exactly 0 on one of the four points, so the step decides by a tie",
             "move the biases so every unit is clearly on one side (e.g. thresholds at 0.5 and 1.5)")
    expected = np.array([0.0, 1.0, 1.0, 0.0])
    if not np.array_equal(out, expected):
        rows = "; ".join(f"x={x[i].tolist()} -> {out[i]:.0f} (want {expected[i]:.0f})" for i in range(4))
        fail(ex, f"the network does not compute XOR: {rows}. Hidden units gave {h.tolist()}",
             "let one hidden unit compute OR and the other AND; the output fires for OR and not AND")
    passed(ex, f"hidden units {h.T.tolist()} turn XOR into a linearly separable problem")


# --------------------------------------------------------------------------- 1.3


def conv2d_param_count(fn) -> None:
    """Grade ``fn(in_channels, out_channels, kernel_size, groups=1, bias=True) -> int``."""
    import torch

    ex = "Exercise 1.3"
    cases = [
        dict(in_channels=1, out_channels=6, kernel_size=5),
        dict(in_channels=3, out_channels=96, kernel_size=11),
        dict(in_channels=96, out_channels=256, kernel_size=5, groups=2),
        dict(in_channels=64, out_channels=64, kernel_size=(3, 1), bias=False),
        dict(in_channels=32, out_channels=32, kernel_size=3, groups=32),
        dict(in_channels=8, out_channels=12, kernel_size=(2, 5), groups=4, bias=False),
    ]
    for kwargs in cases:
        layer = torch.nn.Conv2d(**kwargs)
        expected = sum(p.numel() for p in layer.parameters())
        got = call_student(ex, fn, (), f"{kwargs}", **kwargs)
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            fail(ex, f"conv2d_param_count({kwargs}) should return an int; got {type(got).__name__}: {got!r}")
        if int(got) != expected:
            bias = kwargs.get("bias", True)
            out = kwargs["out_channels"]
            if kwargs.get("groups", 1) > 1:
                hint = "each output channel sees only in_channels / groups input channels"
            elif bias and int(got) == expected - out:
                hint = "you forgot the biases: one per output channel"
            elif not bias and int(got) == expected + out:
                hint = "bias=False means the layer has no bias parameters"
            else:
                hint = "weights: out_channels * (in_channels / groups) * kh * kw, plus out_channels biases when bias=True"
            fail(ex, f"conv2d_param_count({kwargs}) is wrong.\n  expected: {expected} (torch.nn.Conv2d)\n  got:      {got}", hint)
    try:
        fn(in_channels=3, out_channels=4, kernel_size=3, groups=2)
    except ValueError:
        pass
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        fail(ex, f"in_channels=3 with groups=2 should raise ValueError; it raised {type(exc).__name__}: {exc}")
    else:
        fail(ex, "in_channels=3 with groups=2 should raise ValueError (3 channels cannot be split into 2 groups); it returned a count")
    passed(ex, f"all {len(cases)} layers match torch.nn.Conv2d, grouped ones included")


# --------------------------------------------------------------------------- 1.4


def _reference_doubling(years, sizes) -> float:
    x = np.asarray(years, dtype=np.float64)
    y = np.log2(np.asarray(sizes, dtype=np.float64))
    slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    return 12.0 / slope


def doubling_time_months(fn) -> None:
    """Grade ``fn(years, sizes) -> float``: months per doubling from a least-squares fit."""
    from labs.facts import MODEL_FACTS

    ex = "Exercise 1.4"
    rng = np.random.default_rng(1)
    noisy_years = np.arange(2000, 2021, dtype=float)
    noisy = 1e6 * 2 ** ((noisy_years - 2000) / 1.5 + rng.normal(0, 1.0, noisy_years.size))
    noisy[0], noisy[-1] = noisy[0] * 64, noisy[-1] / 64  # the end points mislead a two-point estimate
    cases = [
        ([2000, 2002, 2004, 2006], [1.0, 2.0, 4.0, 8.0], "sizes doubling every two years"),
        ([1990, 2000, 2010], [1e3, 1e6, 1e9], "sizes growing 1000x per decade"),
        (noisy_years.tolist(), noisy.tolist(), "21 noisy points whose end points are off the trend"),
        ([r.year for r in MODEL_FACTS], [r.params for r in MODEL_FACTS], "the chapter's MODEL_FACTS"),
    ]
    for years, sizes, why in cases:
        expected = _reference_doubling(years, sizes)
        got = call_student(ex, fn, (list(years), list(sizes)), why)
        hint = (
            "fit log2(size) against year by least squares over all points (not just the first and last), "
            "then 12 / slope; with log10 or ln the slope is in decades or e-folds per year, not doublings"
        )
        expect_close(ex, got, expected, what="doubling_time_months", inputs=why, rtol=1e-6, hint=hint)
    for bad_years, bad_sizes, why in (([2000, 2001], [1.0, 0.0], "a size of 0"), ([2000, 2000], [1.0, 2.0], "a single year")):
        try:
            fn(bad_years, bad_sizes)
        except ValueError:
            continue
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001
            fail(ex, f"{why} should raise ValueError; got {type(exc).__name__}: {exc}")
        fail(ex, f"doubling_time_months({bad_years}, {bad_sizes}) should raise ValueError ({why} has no doubling time)")
    months = _reference_doubling([r.year for r in MODEL_FACTS], [r.params for r in MODEL_FACTS])
    passed(ex, f"the table's sizes double about every {months:.1f} months" if math.isfinite(months) else "all cases")


# --------------------------------------------------------------------------- 1.5


def _reference_distillation(teacher_params, student_params, teacher_tokens, distill_tokens) -> float:
    return 6.0 * teacher_params * teacher_tokens + 2.0 * teacher_params * distill_tokens + 6.0 * student_params * distill_tokens


def distillation_flops(fn) -> None:
    """Grade ``fn(teacher_params, student_params, teacher_tokens, distill_tokens) -> float``."""
    ex = "Exercise 1.5"
    cases = [
        (1e9, 1e8, 1e11, 1e10, "a 1B teacher, a 100M student"),
        (7e9, 1e9, 2e12, 2e11, "a 7B teacher, a 1B student"),
        (1e6, 1e4, 1e8, 1e8, "a small teacher whose student sees as many tokens"),
    ]
    for nt, ns, dt, dd, why in cases:
        expected = _reference_distillation(nt, ns, dt, dd)
        inputs = f"teacher_params={nt:g}, student_params={ns:g}, teacher_tokens={dt:g}, distill_tokens={dd:g} ({why})"
        got = call_student(ex, fn, (nt, ns, dt, dd), inputs)
        claim = 6.0 * ns * dd
        if got is not None and np.isscalar(got) and np.isclose(got, claim):
            hint = "that is the source's view: it counts only the student's training; the teacher must be trained first"
        elif got is not None and np.isscalar(got) and np.isclose(got, expected - 2.0 * nt * dd):
            hint = "the teacher also runs a forward pass (2 FLOPs per parameter) on every distillation token"
        elif got is not None and np.isscalar(got) and np.isclose(got, expected + 4.0 * nt * dd):
            hint = ("making the soft targets is a forward pass only, 2 FLOPs per teacher parameter per token, "
                    "not 6: the teacher is not trained on the distillation data")
        else:
            hint = "6 N D to train the teacher, 2 N_teacher per distillation token for its soft targets, 6 N_student per token to train the student"
        expect_close(ex, got, expected, what="distillation_flops", inputs=inputs, rtol=1e-9, hint=hint)
    nt, ns, dt, dd, _ = cases[1]
    ratio = _reference_distillation(nt, ns, dt, dd) / (6.0 * nt * dt)
    passed(ex, f"distilling a 7B teacher into a 1B student costs {ratio:.2f} x the teacher's training: "
               "distillation adds training compute, it never shortens training")
