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
from labs.check import as_float_array as _as_array, matches as _matches
from labs.check import call_student

__all__ = ["rnn_step_concat", "lstm_cell_step", "steps_until_vanished", "trigram_bits_per_char", "sequence_logits"]



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


def _measured_gradient_norms(rho: float, steps: int, hidden: int = 8, seed: int = 63) -> np.ndarray:
    """||dL/dh_{T-n}|| for n = 0..steps-1, measured with autograd on a linear RNN whose W_hh is rho times orthogonal."""
    import torch

    from labs.rnn import recurrent_matrix

    w_hh = torch.from_numpy(recurrent_matrix(hidden, rho, seed))
    gen = torch.Generator().manual_seed(seed)
    w_ih = torch.randn(hidden, 1, dtype=torch.float64, generator=gen)
    x = torch.randn(steps, 1, dtype=torch.float64, generator=gen)
    h = torch.zeros(hidden, dtype=torch.float64, requires_grad=True)
    states = []
    for t in range(steps):
        h = w_hh @ h + w_ih @ x[t]          # linear: no tanh, so the norm is exactly rho ** (T - t)
        h.retain_grad()
        states.append(h)
    direction = torch.zeros(hidden, dtype=torch.float64)
    direction[0] = 1.0
    (h @ direction).backward()
    return np.array([float(s.grad.norm()) for s in reversed(states)])


def steps_until_vanished(fn) -> None:
    """``fn(rho, threshold) -> int``: the fewest steps back at which the gradient norm is below ``threshold``."""
    ex = "Exercise 6.3"
    hint = ("n steps back the norm is rho ** n times the norm at h_T (here 1); find the smallest integer n with "
            "rho ** n < threshold: n > log(threshold) / log(rho), so round up (and mind that log(rho) < 0)")
    cases = [(0.9, 1e-3), (0.5, 1e-6), (0.99, 0.1), (0.7, 0.05)]
    report = []
    for rho, threshold in cases:
        inputs = f"rho={rho}, threshold={threshold:g}"
        got = call_student(ex, fn, (rho, threshold), inputs, hint)
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
            fail(ex, f"steps_until_vanished({inputs}) should return an int (a number of steps); "
                     f"got {type(got).__name__} {got!r}", hint)
        exact = math.log(threshold) / math.log(rho)
        norms = _measured_gradient_norms(rho, int(math.ceil(exact)) + 6)
        measured = int(np.argmax(norms < threshold))
        if got != measured:
            specific = hint
            if got == math.floor(exact):
                specific = f"rounded down: {got} steps back the norm is still {norms[got]:.3g}, not yet below {threshold:g}"
            elif got == measured - 1:
                specific = "one step short: count the steps until the norm is strictly below the threshold"
            elif got == math.ceil(math.log10(threshold) / math.log(rho)) or got == math.ceil(math.log(threshold) / math.log10(rho)):
                specific = "mixed logarithm bases: log(threshold) and log(rho) must use the same base"
            elif got < 0:
                specific = "negative: log(rho) < 0 for rho < 1, and dividing by it flips the sign of log(threshold)"
            fail(ex, f"you predicted {got} steps for {inputs}; autograd on a linear RNN measured the norm "
                     f"first below {threshold:g} after {measured} steps (norm {norms[measured]:.3g} there)", specific)
        report.append(f"{got}")
    passed(ex, f"your predictions ({', '.join(report)} steps) match the gradient norms measured with autograd")


# --------------------------------------------------------------------------- Exercise 6.4


def _trigram_bits(train_ids, val_ids, vocab: int, k: float, *, log=np.log2, axis: int = 2, divide_by=None) -> float:
    """Validation bits per character of an add-k trigram model (and its usual wrong variants, for hints)."""
    counts = np.zeros((vocab, vocab, vocab))
    np.add.at(counts, (train_ids[:-2], train_ids[1:-1], train_ids[2:]), 1.0)
    probs = (counts + k) / (counts.sum(axis=axis, keepdims=True) + k * vocab)
    picked = probs[val_ids[:-2], val_ids[1:-1], val_ids[2:]]
    total = -np.sum(log(picked))
    return float(total / (len(picked) if divide_by is None else divide_by))


def trigram_bits_per_char(fn) -> None:
    """``fn(train_ids, val_ids, vocab_size, k)``: validation bpc of an add-k trigram model."""
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
    hint = ("count the triples (a, b, c) of consecutive training ids, add k to every count, normalise over c for each "
            "context (a, b), then average -log2 p(c | a, b) over the len(val_ids) - 2 triples of the validation ids")
    report = []
    for what, tr, va, vocab, k in cases:
        expected = _trigram_bits(tr, va, vocab, k)
        got = call_student(ex, fn, (tr.copy(), va.copy(), vocab, k), what, hint)
        if got is None:
            fail(ex, f"trigram_bits_per_char returned None for {what}; did you forget `return`?")
        value = _as_array(got)
        if value is None or value.shape != ():
            fail(ex, f"trigram_bits_per_char should return one number for {what}; got {got!r}", hint)
        value = float(value)
        specific = hint
        if not math.isfinite(value):
            specific = "a triple never seen in training has probability 0 without smoothing: add k to every count"
        elif np.isclose(value, _trigram_bits(tr, va, vocab, k, log=np.log)):
            specific = "that is the answer in nats: use np.log2, not np.log"
        elif np.isclose(value, _trigram_bits(tr, va, vocab, k, axis=0)):
            specific = "normalise over the next character c (the last axis) for each context (a, b), not over a"
        elif np.isclose(value, _trigram_bits(tr, va, vocab, k, divide_by=len(va))):
            specific = "the first two characters have no full context: there are len(val_ids) - 2 predictions"
        elif np.isclose(value, BigramLM(vocab, k).fit(tr).bits_per_char(va)):
            specific = "that is the bigram model's score: the context is the two previous characters, not one"
        if not np.isclose(value, expected, rtol=1e-9, atol=1e-12):
            fail(ex, f"trigram_bits_per_char for {what} is wrong.\n  expected: {expected:.6f}\n  got:      {value:.6f}",
                 specific)
        report.append(f"{value:.3f} (bigram {BigramLM(vocab, k).fit(tr).bits_per_char(va):.3f})")
    passed(ex, "matches the add-k trigram model on every case, unseen characters included: " + "; ".join(report))


# --------------------------------------------------------------------------- Exercise 6.5


def sequence_logits(fn) -> None:
    """``fn(outputs, weight, bias) -> (B, K)``: the logits a stacked-LSTM classifier should hand to F.cross_entropy."""
    import torch

    ex = "Exercise 6.5"
    hint = ("Keras's last LSTM (without return_sequences) hands the Dense layer the output of the LAST time step "
            "only, outputs[:, -1] with batch_first; apply the linear head to it and return logits, no softmax")
    rng = np.random.default_rng(65)
    for batch, steps, hidden, classes in [(4, 7, 5, 3), (2, 40, 6, 10)]:
        outputs = rng.standard_normal((batch, steps, hidden))
        weight, bias = rng.standard_normal((classes, hidden)), rng.standard_normal(classes)
        expected = torch.nn.functional.linear(torch.from_numpy(outputs[:, -1]), torch.from_numpy(weight),
                                              torch.from_numpy(bias)).numpy()
        text = (f"outputs of shape {outputs.shape} (batch_first), weight {weight.shape}, bias {bias.shape}")
        got = call_student(ex, fn, (outputs.copy(), weight.copy(), bias.copy()), text, hint)
        arr = _as_array(got)
        specific = hint
        every_step = outputs @ weight.T + bias
        if arr is not None and arr.shape == every_step.shape:
            specific = ("one prediction per time step: the source's port classifies every step; the sequence's class "
                        "is read from the last step, outputs[:, -1]")
        elif _matches(got, torch.softmax(torch.from_numpy(expected), dim=-1).numpy()):
            specific = ("those are probabilities (the source's Dense(..., activation='softmax')): F.cross_entropy "
                        "applies softmax itself, so return the logits")
        elif _matches(got, outputs[:, 0] @ weight.T + bias):
            specific = "that is the first time step; with batch_first the time axis is 1 and the last step is outputs[:, -1]"
        elif _matches(got, outputs[-1] @ weight.T + bias):
            specific = "outputs[-1] is the last example of the batch; the last time step is outputs[:, -1]"
        expect_close(ex, got, expected, what="sequence_logits", inputs=text, rtol=1e-8, atol=1e-10, hint=specific)
    # The loss the fixed port trains with: logits into F.cross_entropy, which must equal the probability loss.
    targets = rng.integers(0, classes, size=batch)
    logits = torch.from_numpy(np.asarray(fn(outputs, weight, bias), dtype=np.float64))
    by_logits = torch.nn.functional.cross_entropy(logits, torch.from_numpy(targets)).item()
    by_probs = -np.mean(np.log(torch.softmax(logits, -1).numpy()[np.arange(batch), targets]))
    if not math.isclose(by_logits, by_probs, rel_tol=1e-9):
        fail(ex, "F.cross_entropy on your logits differs from -log of the softmax probabilities", hint)
    passed(ex, "your logits read the last time step, and F.cross_entropy on them is the loss Keras's softmax + "
               "sparse_categorical_crossentropy computes")
