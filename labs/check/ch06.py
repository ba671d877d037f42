"""Graders for the exercises of Chapter 6, "Recurrent networks".

Each grader calls the student's function on a few inputs, compares with PyTorch (or with
:mod:`labs.lm_baselines`) and either prints one success line or raises
:class:`labs.check.ExerciseFailed` saying what went in, what was expected and what came
back, with a hint aimed at the usual mistake (found by computing that mistake and
comparing). ``NotImplementedError`` from an unfinished stub is let through unchanged,
so the student sees the stub's own message.
"""

from __future__ import annotations

import math

import numpy as np

from labs.check import expect_close, fail, passed
from labs.check import call_student

__all__ = ["rnn_step_concat", "lstm_cell_step", "hidden_state_gradients", "bigram_bits_per_char", "clip_grad_norm"]



def _as_array(value):
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _matches(got, candidate) -> bool:
    arr = _as_array(got)
    return arr is not None and arr.shape == np.shape(candidate) and np.allclose(arr, candidate, rtol=1e-6, atol=1e-9)


def _sigmoid(z):
    return 0.5 * np.tanh(0.5 * z) + 0.5


# --------------------------------------------------------------------------- Exercise 6.1


def rnn_step_concat(fn) -> None:
    """``fn(x_t, h_prev, W, b)``: ``tanh(W [h_prev, x_t] + b)`` with ``W`` of shape (H, H + I)."""
    import torch

    ex = "Exercise 6.1"
    rng = np.random.default_rng(61)
    for batch, inputs, hidden in [(1, 2, 3), (4, 5, 3), (2, 3, 6)]:
        x = rng.standard_normal((batch, inputs))
        h = rng.standard_normal((batch, hidden))
        W = rng.standard_normal((hidden, hidden + inputs)) * 0.7
        b = rng.standard_normal(hidden) * 0.3
        text = f"x_t of shape {x.shape}, h_prev {h.shape}, W {W.shape}, b {b.shape}"
        cell = torch.nn.RNNCell(inputs, hidden).double()
        with torch.no_grad():  # the concatenated weight is [W_hh | W_ih]: h_{t-1} comes first
            cell.weight_hh.copy_(torch.from_numpy(W[:, :hidden]))
            cell.weight_ih.copy_(torch.from_numpy(W[:, hidden:]))
            cell.bias_ih.copy_(torch.from_numpy(b))
            cell.bias_hh.zero_()
            expected = cell(torch.from_numpy(x), torch.from_numpy(h)).numpy()
        got = call_student(ex, fn, (x.copy(), h.copy(), W.copy(), b.copy()), text)
        hint = "concatenate along the feature axis, np.concatenate([h_prev, x_t], axis=1), multiply by W.T, add b, apply tanh"
        pre = np.concatenate([h, x], axis=1) @ W.T + b
        if _matches(got, pre):
            hint = "you returned the pre-activation: apply np.tanh to it"
        elif _matches(got, np.tanh(np.concatenate([x, h], axis=1) @ W.T + b)):
            hint = "the order of the concatenation matters: the formula reads [h_{t-1}, x_t], so put h_prev first"
        elif _matches(got, np.tanh(pre + h)):
            hint = "the new state is tanh(W [h_prev, x_t] + b) alone; do not add h_prev to it again"
        expect_close(ex, got, expected, what="rnn_step_concat(x_t, h_prev, W, b)", inputs=text, rtol=1e-8, atol=1e-10, hint=hint)
    passed(ex, "matches torch.nn.RNNCell with W split into [W_hh | W_ih]: the concatenated form is the same RNN")


# --------------------------------------------------------------------------- Exercise 6.2

_GATES = "ifgo"


def _lstm_with_order(x, h, c, w_ih, w_hh, b_ih, b_hh, order: str, h_uses_tanh: bool = True):
    """An LSTM step whose stacked rows are read as the gates named by ``order``."""
    z = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    chunks = dict(zip(order, np.split(z, 4, axis=1)))
    i, f, g, o = _sigmoid(chunks["i"]), _sigmoid(chunks["f"]), np.tanh(chunks["g"]), _sigmoid(chunks["o"])
    c_new = f * c + i * g
    return (o * np.tanh(c_new) if h_uses_tanh else o * c_new), c_new


def lstm_cell_step(fn) -> None:
    """``fn(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh) -> (h_new, c_new)`` in PyTorch's gate order."""
    import itertools

    import torch

    ex = "Exercise 6.2"
    rng = np.random.default_rng(62)
    for batch, inputs, hidden in [(1, 3, 2), (3, 4, 5)]:
        cell = torch.nn.LSTMCell(inputs, hidden).double()
        with torch.no_grad():
            for p in cell.parameters():
                p.copy_(torch.from_numpy(rng.standard_normal(p.shape)))
        w_ih, w_hh, b_ih, b_hh = (p.detach().numpy().copy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh))
        x = rng.standard_normal((batch, inputs))
        h = rng.standard_normal((batch, hidden))
        c = rng.standard_normal((batch, hidden))
        with torch.no_grad():
            h_exp, c_exp = (t.numpy() for t in cell(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c))))
        text = f"x {x.shape}, h {h.shape}, c {c.shape}, weight_ih {w_ih.shape}, weight_hh {w_hh.shape}"
        got = call_student(ex, fn, (x.copy(), h.copy(), c.copy(), w_ih.copy(), w_hh.copy(), b_ih.copy(), b_hh.copy()), text)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            fail(ex, f"lstm_cell_step should return the pair (h_new, c_new) for {text}; got {type(got).__name__}",
                 "end with `return h_new, c_new`")
        h_got, c_got = got
        hint = ("split the 4H pre-activations into i, f, g, o (np.split(z, 4, axis=1)); i, f, o go through the "
                "sigmoid and g through tanh; c_new = f * c + i * g; h_new = o * tanh(c_new)")
        for order in ("".join(p) for p in itertools.permutations(_GATES)):
            if order != _GATES and _matches(c_got, _lstm_with_order(x, h, c, w_ih, w_hh, b_ih, b_hh, order)[1]):
                hint = (f"your gates are read in the order {', '.join(order)}; torch.nn.LSTM stacks the rows of "
                        "weight_ih as input, forget, cell (g), output: i, f, g, o")
                break
        else:
            if _matches(c_got, c_exp) and _matches(h_got, _lstm_with_order(x, h, c, w_ih, w_hh, b_ih, b_hh, _GATES, False)[0]):
                hint = "the cell state is right; the hidden state squashes it first: h_new = o * np.tanh(c_new)"
        expect_close(ex, c_got, c_exp, what="c_new", inputs=text, rtol=1e-8, atol=1e-10, hint=hint)
        expect_close(ex, h_got, h_exp, what="h_new", inputs=text, rtol=1e-8, atol=1e-10, hint=hint)
    passed(ex, "(h_new, c_new) match torch.nn.LSTMCell, gate order i, f, g, o")


# --------------------------------------------------------------------------- Exercise 6.3


def _hidden_grads(hs, w_hh, grad_last, *, derivative_at: str = "next", transpose: bool = False, tanh_prime: bool = True):
    """dL/dh_t for a tanh RNN, and the usual wrong variants of it (for hints)."""
    batch, steps, hidden = hs.shape
    out = np.zeros_like(hs)
    out[:, -1] = grad_last
    w = w_hh.T if transpose else w_hh
    for t in range(steps - 2, -1, -1):
        h_for_derivative = hs[:, t + 1] if derivative_at == "next" else hs[:, t]
        local = (1.0 - h_for_derivative**2) if tanh_prime else 1.0
        out[:, t] = (out[:, t + 1] * local) @ w
    return out


def hidden_state_gradients(fn) -> None:
    """``fn(hs, weight_hh, grad_last)``: ``dL/dh_t`` for every ``t`` when the loss reads only ``h_T``."""
    import torch

    ex = "Exercise 6.3"
    rng = np.random.default_rng(63)
    for batch, steps, inputs, hidden in [(1, 4, 2, 3), (3, 7, 2, 4)]:
        cell = torch.nn.RNNCell(inputs, hidden).double()
        with torch.no_grad():
            for p in cell.parameters():
                p.copy_(torch.from_numpy(rng.standard_normal(p.shape) * 0.8))
        x = torch.from_numpy(rng.standard_normal((batch, steps, inputs)))
        grad_last = rng.standard_normal((batch, hidden))
        h = torch.zeros(batch, hidden, dtype=torch.float64)
        states = []
        for t in range(steps):
            h = cell(x[:, t], h)
            h.retain_grad()
            states.append(h)
        (h * torch.from_numpy(grad_last)).sum().backward()
        expected = np.stack([s.grad.numpy() for s in states], axis=1)
        hs = np.stack([s.detach().numpy() for s in states], axis=1)
        w_hh = cell.weight_hh.detach().numpy().copy()
        text = f"hs of shape {hs.shape}, weight_hh {w_hh.shape}, grad_last {grad_last.shape}"
        got = call_student(ex, fn, (hs.copy(), w_hh.copy(), grad_last.copy()), text)
        hint = ("start from dL/dh_T = grad_last and walk back: dL/dh_t = (dL/dh_{t+1} * (1 - h_{t+1}**2)) @ weight_hh, "
                "because h_{t+1} = tanh(... + h_t @ weight_hh.T)")
        variants = [
            (dict(tanh_prime=False), "multiply by the tanh derivative 1 - h_{t+1}**2 before going through weight_hh"),
            (dict(transpose=True), "h_{t+1} uses h_t @ weight_hh.T, so the gradient goes back through @ weight_hh, not weight_hh.T"),
            (dict(derivative_at="this"), "the tanh derivative belongs to the step you go back through: use h_{t+1}, not h_t"),
        ]
        for kwargs, text_hint in variants:
            if _matches(got, _hidden_grads(hs, w_hh, grad_last, **kwargs)):
                hint = text_hint
                break
        expect_close(ex, got, expected, what="the gradients dL/dh_t", inputs=text, rtol=1e-8, atol=1e-10, hint=hint)
    passed(ex, "dL/dh_t at every step matches PyTorch autograd (h.retain_grad())")


# --------------------------------------------------------------------------- Exercise 6.4


def bigram_bits_per_char(fn) -> None:
    """``fn(train_ids, val_ids, vocab_size, k)``: validation bpc of an add-k bigram model."""
    from labs.lm_baselines import BigramLM

    ex = "Exercise 6.4"
    rng = np.random.default_rng(64)
    text = "the cat sat on the mat. the dog sat on the log. "
    chars = sorted(set(text + "xz"))  # 'x' and 'z' never occur in training: smoothing must cover them
    stoi = {ch: i for i, ch in enumerate(chars)}
    train_ids = np.array([stoi[ch] for ch in text * 3])
    val_ids = np.array([stoi[ch] for ch in "the cat sat on the log. zx the mat"])
    cases = [
        ("a small English text (V = %d), k = 1" % len(chars), train_ids, val_ids, len(chars), 1.0),
        ("the same text, k = 0.1", train_ids, val_ids, len(chars), 0.1),
        ("random ids over V = 7, k = 0.5", rng.integers(0, 7, 300), rng.integers(0, 7, 50), 7, 0.5),
    ]
    for what, tr, va, vocab, k in cases:
        expected = BigramLM(vocab, k).fit(tr).bits_per_char(va)
        got = call_student(ex, fn, (tr.copy(), va.copy(), vocab, k), what)
        if got is None:
            fail(ex, f"bigram_bits_per_char returned None for {what}; did you forget `return`?")
        value = _as_array(got)
        if value is None or value.shape != ():
            fail(ex, f"bigram_bits_per_char should return one number for {what}; got {got!r}")
        value = float(value)
        hint = ("count pairs (a, b) in the training ids, add k to every count, divide each row by its sum, then "
                "average -log2 p(b | a) over the adjacent pairs of the validation ids")
        counts = np.zeros((vocab, vocab))
        np.add.at(counts, (tr[:-1], tr[1:]), 1)
        by_column = (counts + k) / (counts.sum(axis=0, keepdims=True) + k * vocab)
        if not math.isfinite(value):
            hint = "a pair never seen in training has probability 0 without smoothing: add k to every count"
        elif np.isclose(value, expected * math.log(2)):
            hint = "that is the answer in nats: use np.log2, not np.log"
        elif np.isclose(value, -np.mean(np.log2(by_column[va[:-1], va[1:]]))):
            hint = "normalise each row (the distribution of the next character after a), not each column"
        elif np.isclose(value, -np.sum(np.log2((counts[va[:-1], va[1:]] + k) / (counts.sum(1)[va[:-1]] + k * vocab))) / len(va)):
            hint = "there are len(val_ids) - 1 predictions (the first character has no predecessor): average over those"
        if not np.isclose(value, expected, rtol=1e-9, atol=1e-12):
            fail(ex, f"bigram_bits_per_char for {what} is wrong.\n  expected: {expected:.6f}\n  got:      {value:.6f}", hint)
    passed(ex, "matches labs.lm_baselines.BigramLM, including characters never seen in training")


# --------------------------------------------------------------------------- Exercise 6.5


def clip_grad_norm(fn) -> None:
    """``fn(grads, max_norm) -> (clipped, total_norm)``: torch.nn.utils.clip_grad_norm_'s rule."""
    import torch

    ex = "Exercise 6.5"
    rng = np.random.default_rng(65)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    for scale, max_norm in [(100.0, 1.0), (0.01, 1.0), (5.0, 2.5)]:
        grads = [rng.standard_normal(s) * scale for s in shapes]
        params = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g.copy())
        total = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        expected = [p.grad.numpy() for p in params]
        text = f"3 gradients of shapes {shapes} with global norm {total:.4g}, max_norm={max_norm}"
        got = call_student(ex, fn, ([g.copy() for g in grads], max_norm), text)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            fail(ex, f"clip_grad_norm should return (clipped_list, total_norm) for {text}; got {type(got).__name__}",
                 "end with `return clipped, total_norm`")
        clipped, got_total = got
        if not isinstance(clipped, (list, tuple)) or len(clipped) != len(grads):
            fail(ex, f"the first item returned should be a list of {len(grads)} arrays for {text}; got {type(clipped).__name__}")
        hint = ("the norm is over all gradients together: sqrt(sum of every squared entry); if it exceeds max_norm, "
                "multiply every gradient by max_norm / (total_norm + 1e-6); otherwise leave them unchanged")
        per_tensor = [g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6)) for g in grads]
        always = [g * max_norm / (total + 1e-6) for g in grads]
        if all(_matches(a, b) for a, b in zip(clipped, per_tensor)) and not all(_matches(a, b) for a, b in zip(clipped, expected)):
            hint = "you clipped each gradient on its own; clip_grad_norm_ uses one global norm over all of them, so the direction is kept"
        elif total < max_norm and all(_matches(a, b) for a, b in zip(clipped, always)):
            hint = "when the total norm is already below max_norm, leave the gradients unchanged (the scale is min(1, ...))"
        expect_close(ex, got_total, total, what="the returned total norm (before clipping)", inputs=text, rtol=1e-9, hint=hint)
        for index, (a, b) in enumerate(zip(clipped, expected)):
            expect_close(ex, a, b, what=f"clipped gradient {index}", inputs=text, rtol=1e-9, atol=1e-12, hint=hint)
    passed(ex, "same clipped gradients and total norm as torch.nn.utils.clip_grad_norm_")
