"""Graders for the exercises of Chapter 8, "Pretraining, transfer and fine-tuning".

Each grader calls the student's function on inputs of its own, compares with a reference
computed here (or with a measurement: a real training step, a real shape error) and either
prints one success line or raises :class:`labs.check.ExerciseFailed` saying what went in,
what was expected and what came back, with a hint for the usual mistake (found by computing
that mistake and comparing). ``NotImplementedError`` from an unfinished stub is let through.
"""

from __future__ import annotations

import math

import numpy as np

from labs.check import call_student, expect_close, fail, passed

__all__ = ["bert_corrupt", "bits_per_byte", "transfer_model", "winner"]


# --------------------------------------------------------------------------- Exercise 8.1


def _reference_winner(results: dict) -> str:
    stats = {m: (float(np.mean(a)), float(np.std(a, ddof=1)) / math.sqrt(len(a))) for m, a in results.items()}
    best = max(stats, key=lambda m: stats[m][0])
    mean_b, se_b = stats[best]
    for mode, (mean, se) in stats.items():
        if mode != best and mean_b - mean <= 2 * math.sqrt(se_b ** 2 + se ** 2):
            return "tie"
    return best


def winner(fn) -> None:
    """``fn(results)``: the mode whose mean accuracy beats every other by more than twice the
    standard error of the difference, else ``"tie"``; ValueError for fewer than two seeds."""
    ex = "Exercise 8.1"
    cases = [
        ({"scratch": [0.30, 0.32, 0.31], "frozen": [0.60, 0.62, 0.61], "finetune": [0.50, 0.52, 0.49],
          "lora": [0.55, 0.57, 0.56]}, "a clear winner"),
        ({"scratch": [0.30, 0.34, 0.26], "frozen": [0.58, 0.70, 0.46], "finetune": [0.55, 0.65, 0.45],
          "lora": [0.40, 0.44, 0.36]}, "two modes whose error bars overlap"),
        ({"frozen": [0.61, 0.60, 0.62, 0.61], "lora": [0.575, 0.585, 0.58, 0.57]}, "two modes, four seeds, close means"),
        ({"a": [0.50, 0.52], "b": [0.47, 0.49], "c": [0.10, 0.12]}, "two seeds, three modes"),
    ]
    for results, what in cases:
        expected = _reference_winner(results)
        got = call_student(ex, fn, ({k: list(v) for k, v in results.items()},), inputs=f"{results} ({what})")
        if got != expected:
            means = {m: round(float(np.mean(a)), 4) for m, a in results.items()}
            hint = None
            if expected == "tie" and got == max(means, key=means.get):
                hint = ("the highest mean is not a win when the error bars overlap: compare the gap with "
                        "2 * sqrt(se_a**2 + se_b**2), se = std(ddof=1) / sqrt(number of seeds)")
            elif expected != "tie" and got == "tie":
                hint = ("the standard error of a mean is std(ddof=1) / sqrt(n), not the standard deviation itself; "
                        "and the test is against every other mode, one at a time")
            fail(ex, f"for {what} {results} (means {means}) expected {expected!r}; got {got!r}", hint)
    try:
        fn({"frozen": [0.6], "lora": [0.5]})
    except ValueError:
        pass
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's bug
        fail(ex, f"with one seed per mode it raised {type(exc).__name__}: {exc}; expected a ValueError",
             "one seed has no spread, so no error bar: raise ValueError saying at least two seeds are needed")
    else:
        fail(ex, "with one seed per mode ({'frozen': [0.6], 'lora': [0.5]}) it returned instead of raising ValueError",
             "one seed has no spread (std with ddof=1 is NaN): raise ValueError saying at least two seeds are needed")
    passed(ex, "it names a winner only when the gap exceeds the error bars, and refuses a single seed")


# --------------------------------------------------------------------------- Exercise 8.2


def _tiny_base():
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


def transfer_model(fn) -> None:
    """``fn(base, out_channels, num_classes)`` -> a module: frozen base, global pooling, new head."""
    import torch

    ex = "Exercise 8.2"
    torch.manual_seed(0)
    base = _tiny_base()
    before = {k: v.detach().clone() for k, v in base.state_dict().items()}
    model = call_student(ex, fn, (base, 16, 3), inputs="a conv base with 16 output channels, num_classes=3")
    if not isinstance(model, torch.nn.Module):
        fail(ex, f"expected a torch.nn.Module; got {type(model).__name__}")
    in_model = {id(p) for p in model.parameters()}
    if not all(id(p) in in_model for p in base.parameters()):
        fail(ex, "the model does not contain the base it was given", "build the model around `base` itself, not a copy")
    if any(p.requires_grad for p in base.parameters()):
        fail(ex, "the base's parameters still have requires_grad=True, so training would change them",
             "freeze the base: `for p in base.parameters(): p.requires_grad_(False)` (Keras: base.trainable = False)")
    for shape in ((4, 3, 32, 32), (2, 3, 48, 40)):
        x = torch.randn(*shape)
        try:
            out = model(x)
        except RuntimeError as exc:
            fail(ex, f"an input of shape {shape} raised RuntimeError: {exc}",
                 "Flatten makes the head's input size depend on the image size (the seed's include_top=False base "
                 "has undefined spatial dimensions): pool over them first, nn.AdaptiveAvgPool2d(1), then flatten")
        if tuple(out.shape) != (shape[0], 3):
            fail(ex, f"for an input of shape {shape} expected an output of shape {(shape[0], 3)}; got {tuple(out.shape)}")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if trainable != 16 * 3 + 3:
        fail(ex, f"the model has {trainable} trainable parameters; a linear head on 16 pooled channels for 3 classes "
                 f"has {16 * 3 + 3}", "the only new layer is nn.Linear(out_channels, num_classes) after the pooling")
    # one training step: the head moves, the base (weights and BatchNorm statistics) does not
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(8, 3, 32, 32)), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    loss.backward()
    opt.step()
    changed = [k for k, v in base.state_dict().items() if not torch.equal(v, before[k])]
    if changed:
        fail(ex, f"a training step in train mode changed the frozen base: {changed}",
             "requires_grad=False stops the gradient but BatchNorm still updates its running statistics in train "
             "mode: put the base in eval mode when you build the model, and override train() so it stays there")
    passed(ex, "frozen base (weights and BatchNorm statistics), global pooling for any image size, a trainable head")


# --------------------------------------------------------------------------- Exercise 8.3


def bert_corrupt(fn) -> None:
    """``fn(ids, mask_id, vocab_size, rng)`` -> ``(inputs, labels)`` with BERT's 15 % and 80/10/10."""
    ex = "Exercise 8.3"
    V, n = 40, 40_000
    ids = np.random.default_rng(5).integers(0, V, size=n)
    text = f"ids of length {n} in [0, {V}), mask_id={V}, rng=np.random.default_rng(0)"
    out = call_student(ex, fn, (ids.copy(), V, V, np.random.default_rng(0)), inputs=text)
    if not (isinstance(out, tuple) and len(out) == 2):
        fail(ex, f"expected a tuple (inputs, labels); got {type(out).__name__}")
    inputs, labels = (np.asarray(a) for a in out)
    if inputs.shape != ids.shape or labels.shape != ids.shape:
        fail(ex, f"inputs and labels should both have shape {ids.shape}; got {inputs.shape} and {labels.shape}")
    scored = labels != -100
    k = int(scored.sum())
    if k == n:
        fail(ex, "every position has a label, so the loss would score all of them",
             "only the chosen 15 % carry a label; every other position gets -100, which cross_entropy ignores")
    if abs(k - 0.15 * n) > 0.01 * n:
        fail(ex, f"{k} of {n} positions are scored ({k / n:.1%}); BERT chooses 15 %")
    if not np.array_equal(labels[scored], ids[scored]):
        fail(ex, "the labels at the chosen positions are not the original tokens",
             "labels[chosen] = ids[chosen]: the model must predict what was there before corruption")
    if not np.array_equal(inputs[~scored], ids[~scored]):
        fail(ex, "positions that are not chosen were changed in the input", "only the chosen positions are corrupted")
    chosen_in, chosen_orig = inputs[scored], ids[scored]
    shares = {"mask": float(np.mean(chosen_in == V)), "unchanged": float(np.mean(chosen_in == chosen_orig)),
              "random": float(np.mean((chosen_in != V) & (chosen_in != chosen_orig)))}
    expected = {"mask": 0.8, "unchanged": 0.1 + 0.1 / V, "random": 0.1 - 0.1 / V}
    bad = {m: round(s, 3) for m, s in shares.items() if abs(s - expected[m]) > 0.02}
    if bad:
        fail(ex, f"of the chosen positions, the shares are {({m: round(s, 3) for m, s in shares.items()})}; "
                 f"expected about 80 % mask, 10 % a random token, 10 % unchanged (wrong: {bad})",
             "draw one uniform number per chosen position: < 0.8 -> mask_id, < 0.9 -> a random id from "
             "[0, vocab_size), else keep the token")
    if inputs.min() < 0 or inputs.max() > V:
        fail(ex, f"inputs hold ids outside [0, {V}] (the vocabulary plus the mask id)")
    again = call_student(ex, fn, (ids.copy(), V, V, np.random.default_rng(0)), inputs=text)
    if not np.array_equal(np.asarray(again[0]), inputs):
        fail(ex, "two calls with the same seed gave different inputs", "draw every random number from `rng`")
    passed(ex, f"{k} of {n} positions scored; {shares['mask']:.1%} masked, {shares['random']:.1%} random, "
               f"{shares['unchanged']:.1%} unchanged")


# --------------------------------------------------------------------------- Exercise 8.4


def bits_per_byte(fn) -> None:
    """``fn(mean_loss, n_tokens, text)`` -> total bits over the text's UTF-8 bytes."""
    ex = "Exercise 8.4"
    cases = [(1.2, 1000, "a" * 1000), (2.5, 120, "héllo wörld, 你好 " * 20), (0.9, 37, "naïve café " * 9)]
    for mean_loss, n_tokens, text in cases:
        expected = mean_loss * n_tokens / math.log(2) / len(text.encode("utf-8"))
        inputs = f"mean_loss={mean_loss} nats, n_tokens={n_tokens}, a text of {len(text)} characters"
        got = call_student(ex, fn, (mean_loss, n_tokens, text), inputs=inputs)
        hint = None
        try:
            g = float(got)
            if math.isclose(g, mean_loss * n_tokens / math.log(2) / len(text), rel_tol=1e-6) and len(text) != len(text.encode("utf-8")):
                hint = "divide by the number of UTF-8 bytes, len(text.encode('utf-8')), not the number of characters"
            elif math.isclose(g, expected * math.log(2), rel_tol=1e-6):
                hint = "the loss is in nats (natural log): divide by ln 2 to get bits"
            elif math.isclose(g, mean_loss / math.log(2), rel_tol=1e-6):
                hint = "that is bits per token; multiply by the number of tokens to get the total, then divide by bytes"
        except (TypeError, ValueError):
            pass
        expect_close(ex, got, expected, what="bits_per_byte", inputs=inputs, rtol=1e-9, hint=hint)
    passed(ex, "total nats -> bits, over UTF-8 bytes: a unit that does not depend on the tokenizer")
