"""Graders for the exercises of Chapter 2 (Concepts and how they connect)."""

from __future__ import annotations

import numpy as np

from labs.check import expect_close, fail, passed, call_student

__all__ = ["next_token_windows", "bert_masked_pairs", "two_hop", "fixed_seed_snippet", "examples_to_halve_error"]



def _expect_value_error(exercise, fn, args, why):
    try:
        fn(*args)
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        fail(exercise, f"{why} should raise ValueError; it raised {type(exc).__name__}: {exc}")
    fail(exercise, f"{why} should raise ValueError; it returned normally")


def _pair(exercise, got, what):
    if not (isinstance(got, tuple) and len(got) == 2):
        fail(exercise, f"{what} should return a pair of arrays; got {type(got).__name__}: {got!r}")
    return got


# --------------------------------------------------------------------------- 2.1


def next_token_windows(fn) -> None:
    """Grade ``fn(ids, context_length) -> (inputs (N, T), targets (N, T))``."""
    ex = "Exercise 2.1"
    rng = np.random.default_rng(0)
    cases = [(np.arange(6), 3), (rng.integers(0, 50, size=40), 8), (np.array([5, 1, 4, 1, 5, 9, 2, 6]), 1)]
    for ids, t in cases:
        n = len(ids) - t
        exp_x = np.stack([ids[i : i + t] for i in range(n)])
        exp_y = np.stack([ids[i + 1 : i + t + 1] for i in range(n)])
        inputs = f"ids={ids.tolist() if len(ids) <= 8 else f'{len(ids)} random ids'}, context_length={t}"
        x, y = _pair(ex, call_student(ex, fn, (ids.copy(), t), inputs), "next_token_windows")
        hint = (
            "there are len(ids) - context_length windows; window i is ids[i : i + T] and its targets "
            "are the same window shifted one step to the right, ids[i + 1 : i + T + 1]"
        )
        expect_close(ex, x, exp_x, what="inputs", inputs=inputs, hint=hint)
        if np.array_equal(np.asarray(y), exp_x):
            fail(ex, f"for {inputs} the targets equal the inputs", "each target is the token that comes next: shift by one")
        expect_close(ex, y, exp_y, what="targets", inputs=inputs, hint=hint)
        if np.asarray(x).dtype.kind not in "iu" or np.asarray(y).dtype.kind not in "iu":
            fail(ex, f"inputs and targets should be integer token ids; got dtypes {np.asarray(x).dtype} and {np.asarray(y).dtype}")
    _expect_value_error(ex, fn, (np.arange(4), 4), "a sequence of 4 ids with context_length=4 (no token left to predict)")
    passed(ex, "every window's targets are its inputs shifted by one token")


# --------------------------------------------------------------------------- 2.2


def _reference_bert(ids, positions, kinds, mask_id, random_ids, ignore_index=-100):
    ids = np.asarray(ids)
    inputs, labels = ids.copy(), np.full_like(ids, ignore_index)
    for pos, kind, rnd in zip(positions, kinds, random_ids):
        labels[pos] = ids[pos]
        if kind == "mask":
            inputs[pos] = mask_id
        elif kind == "random":
            inputs[pos] = rnd
    return inputs, labels


def bert_masked_pairs(fn) -> None:
    """Grade ``fn(ids, positions, kinds, mask_id, random_ids, ignore_index=-100) -> (inputs, labels)``."""
    ex = "Exercise 2.2"
    cases = [
        (np.array([7, 3, 9, 3, 1]), [1, 3], ["mask", "mask"], 0, [5, 5], "two masked positions"),
        (np.arange(10, 30), [0, 5, 19], ["mask", "random", "keep"], 99, [0, 42, 0], "one position of each kind"),
        (np.array([4, 8, 4, 6]), [1, 2], ["keep", "keep"], 1, [0, 0], "two kept positions"),
        (np.array([4, 4, 4]), [], [], 1, [], "nothing selected"),
    ]
    for ids, positions, kinds, mask_id, random_ids, why in cases:
        original = ids.copy()
        inputs = (f"ids={ids.tolist()}, positions={positions}, kinds={kinds}, mask_id={mask_id}, "
                  f"random_ids={random_ids} ({why})")
        x, labels = _pair(ex, call_student(ex, fn, (ids, list(positions), list(kinds), mask_id, list(random_ids)), inputs),
                          "bert_masked_pairs")
        if not np.array_equal(ids, original):
            fail(ex, f"bert_masked_pairs({inputs}) changed ids in place to {ids.tolist()}",
                 "work on a copy: ids = np.array(ids, copy=True)")
        exp_x, exp_labels = _reference_bert(original, positions, kinds, mask_id, random_ids)
        expect_close(ex, x, exp_x, what="inputs", inputs=inputs,
                     hint="'mask' puts mask_id in, 'random' puts that position's random_ids entry in, 'keep' leaves the token")
        got_labels = np.asarray(labels)
        masked = [p for p, k in zip(positions, kinds) if k == "mask"]
        kept = [p for p, k in zip(positions, kinds) if k != "mask"]
        if masked and got_labels.shape == exp_labels.shape and np.all(got_labels[masked] == mask_id) and mask_id not in original[masked]:
            fail(ex, f"for {inputs} the labels at the masked positions are the mask id",
                 "the label is what the mask hides: the original token at that position")
        if kept and got_labels.shape == exp_labels.shape and np.all(got_labels[kept] == -100):
            fail(ex, f"for {inputs} the positions chosen as 'random' or 'keep' carry no label",
                 "every selected position is predicted, whatever was put there: that is why BERT keeps some "
                 "tokens unchanged, so the model cannot tell which inputs it must predict")
        expect_close(ex, labels, exp_labels, what="labels", inputs=inputs,
                     hint="labels are the original token at every selected position and ignore_index (-100) elsewhere")
    x, labels = _pair(ex, call_student(ex, fn, (np.array([1, 2, 3]), [2], ["mask"], 0, [0]),
                                       "ids [1, 2, 3], positions [2], ignore_index=-1", ignore_index=-1), "bert_masked_pairs")
    expect_close(ex, labels, [-1, -1, 3], what="labels", inputs="ids=[1, 2, 3], positions=[2], mask_id=0, ignore_index=-1",
                 hint="use the ignore_index argument, not a hard-coded -100")
    passed(ex, "masked, replaced and kept positions are built as BERT builds them, and all of them are labelled")


# --------------------------------------------------------------------------- 2.3

_GRAPH = [
    ("GPT-3", "is_a", "Transformer"),
    ("BERT", "is_a", "Transformer"),
    ("Transformer", "uses", "attention"),
    ("Transformer", "uses", "layer normalisation"),
    ("AlexNet", "is_a", "CNN"),
    ("CNN", "uses", "convolution"),
    ("GPT-3", "trained_on", "Common Crawl"),
    ("Common Crawl", "is_a", "web corpus"),
    ("LeNet-5", "is_a", "CNN"),
]


def _reference_two_hop(triples, subject, r1, r2):
    middle = {o for s, r, o in triples if s == subject and r == r1}
    return {o for s, r, o in triples if s in middle and r == r2}


def two_hop(fn) -> None:
    """Grade ``fn(triples, subject, first_relation, second_relation) -> set``."""
    ex = "Exercise 2.3"
    cases = [
        ("GPT-3", "is_a", "uses"),
        ("AlexNet", "is_a", "uses"),
        ("GPT-3", "trained_on", "is_a"),
        ("BERT", "uses", "uses"),
        ("convolution", "is_a", "uses"),
    ]
    for subject, r1, r2 in cases:
        expected = _reference_two_hop(_GRAPH, subject, r1, r2)
        inputs = f"subject={subject!r}, first_relation={r1!r}, second_relation={r2!r}"
        got = call_student(ex, fn, (list(_GRAPH), subject, r1, r2), f"the course graph and {inputs}")
        if not isinstance(got, (set, frozenset)):
            fail(ex, f"two_hop should return a set; got {type(got).__name__}: {got!r}")
        if got != expected:
            one_hop = {o for s, r, o in _GRAPH if s == subject and r == r1}
            hint = (
                "that is only the first hop: follow second_relation from each entity you reached"
                if got == one_hop and one_hop != expected
                else "match the relation names exactly on both hops, and start from the subject"
            )
            fail(ex, f"two_hop(graph, {inputs}) is wrong.\n  expected: {sorted(expected)}\n  got:      {sorted(got)}", hint)
    passed(ex, "two-hop queries follow the right relation at each hop (and return an empty set when there is no path)")


# --------------------------------------------------------------------------- 2.4


def _torch_layer_gradients(W, b, X, T):
    import torch

    Wt = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    Y = torch.relu(torch.tensor(X, dtype=torch.float64) @ Wt.T + bt)
    loss = ((Y - torch.tensor(T, dtype=torch.float64)) ** 2).mean()
    loss.backward()
    return float(loss.detach()), Wt.grad.numpy(), bt.grad.numpy()


def _scale(got, expected) -> float:
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.sum(got * expected) / np.sum(expected**2))


def fixed_seed_snippet(fn) -> None:
    """Grade ``fn(W, b, X, T) -> (loss, dW, db)`` for ``Y = relu(X @ W.T + b)``, ``loss = mean((Y - T)**2)``."""
    ex = "Exercise 2.4"
    rng = np.random.default_rng(4)
    cases = []
    for n, d_in, d_out, why in ((10, 10, 10, "the snippet's sizes, 10 x 10"), (6, 4, 3, "a batch of 6, 4 inputs, 3 outputs"),
                                (1, 5, 2, "a single example")):
        W = rng.normal(size=(d_out, d_in))
        b = rng.normal(size=d_out)
        X = rng.normal(size=(n, d_in))
        T = rng.normal(size=(n, d_out))
        cases.append((W, b, X, T, why))
    for W, b, X, T, why in cases:
        inputs = f"W of shape {W.shape}, b {b.shape}, X {X.shape}, T {T.shape} ({why})"
        got = call_student(ex, fn, (W.copy(), b.copy(), X.copy(), T.copy()), inputs)
        if not (isinstance(got, tuple) and len(got) == 3):
            fail(ex, f"return three things, (loss, dW, db); got {type(got).__name__}")
        loss, dW, db = got
        exp_loss, exp_dW, exp_db = _torch_layer_gradients(W, b, X, T)
        expect_close(ex, loss, exp_loss, what="loss", inputs=inputs, rtol=1e-8,
                     hint="the forward pass is Y = relu(X @ W.T + b): one row per example, one column per output unit")
        Z = X @ W.T + b
        Y = np.maximum(Z, 0.0)
        seed_style = 2 * (Y - T).T @ X / Y.size  # the chain rule without ReLU's derivative
        if np.shape(dW) == exp_dW.shape and np.allclose(dW, seed_style) and not np.allclose(seed_style, exp_dW):
            hint = "this is the source's mistake: the gradient must pass through ReLU's derivative, (Z > 0), before X"
        elif np.shape(dW) == exp_dW.T.shape and (np.shape(dW) != exp_dW.shape or np.allclose(dW, exp_dW.T)):
            hint = "dW must have the shape of W, (out, in): dL/dZ transposed times X"
        elif np.shape(dW) == exp_dW.shape and np.allclose(dW, _scale(dW, exp_dW) * exp_dW) and not np.isclose(_scale(dW, exp_dW), 1.0):
            hint = (f"your dW is {_scale(dW, exp_dW):.3g} times the right one: the mean over all Y.size elements "
                    "makes dL/dY = 2 (Y - T) / Y.size")
        else:
            hint = "dL/dY = 2 (Y - T) / Y.size; dL/dZ = dL/dY * (Z > 0); dW = dL/dZ.T @ X; db = dL/dZ summed over the batch"
        expect_close(ex, dW, exp_dW, what="dW", inputs=inputs, rtol=1e-6, atol=1e-10, hint=hint)
        expect_close(ex, db, exp_db, what="db", inputs=inputs, rtol=1e-6, atol=1e-10,
                     hint="db sums dL/dZ over the examples (axis 0), through ReLU's derivative like dW")
    passed(ex, "loss, dW and db equal PyTorch's autograd: the snippet now computes the gradient of its own loss")


# --------------------------------------------------------------------------- 2.5


def _digit_learning_curve(sizes, seed: int = 0):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from labs.data import load_digits

    x_train, y_train, x_test, y_test = load_digits()
    order = np.random.default_rng(seed).permutation(len(x_train))
    errors = []
    with threadpool_limits(limits=1):
        for n in sizes:
            model = LogisticRegression(max_iter=2000).fit(x_train[order[:n]], y_train[order[:n]])
            errors.append(1.0 - model.score(x_test, y_test))
    return np.array(errors), len(x_train)


def _reference_halving(sizes, errors) -> float:
    x, y = np.log(np.asarray(sizes, dtype=np.float64)), np.log(np.asarray(errors, dtype=np.float64))
    slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    return float(np.max(sizes) * 2.0 ** (-1.0 / slope))


def examples_to_halve_error(fn) -> None:
    """Grade ``fn(sizes, errors) -> n``: a prediction from a fitted power law, then measured."""
    ex = "Exercise 2.5"
    synthetic = [
        ([100, 200, 400, 800], [0.4 * (n / 100) ** -0.5 for n in (100, 200, 400, 800)], "an exact power law, exponent 0.5"),
        ([10, 30, 90], [0.3 * (n / 10) ** -1.0 for n in (10, 30, 90)], "an exact power law, exponent 1"),
    ]
    for sizes, errors, why in synthetic:
        expected = _reference_halving(sizes, errors)
        got = call_student(ex, fn, (list(sizes), list(errors)), why)
        hint = ("fit log(error) = log(a) + slope * log(n) by least squares; halving the error at the largest n "
                "multiplies n by 2 ** (-1 / slope) (the slope is negative)")
        if got is not None and np.isscalar(got) and np.isclose(got, np.max(sizes) * 2.0 ** (1.0 / _slope(sizes, errors))):
            hint = "the sign: the slope is negative, so the factor is 2 ** (-1 / slope), larger than 1"
        expect_close(ex, got, expected, what="examples_to_halve_error", inputs=f"sizes={sizes} ({why})", rtol=1e-6, hint=hint)
    sizes = [25, 50, 100, 200]
    errors, n_available = _digit_learning_curve(sizes)
    predicted = call_student(ex, fn, (list(sizes), errors.tolist()), f"the digits learning curve at sizes {sizes}")
    expect_close(ex, predicted, _reference_halving(sizes, errors), what="examples_to_halve_error",
                 inputs=f"the digits learning curve at sizes {sizes}, errors {np.round(errors, 4).tolist()}", rtol=1e-6,
                 hint="fit the slope by least squares over all four points, not from the first and last alone")
    n = int(round(float(predicted)))
    if not 200 < n <= n_available:
        fail(ex, f"the prediction {n} is outside the range the grader can measure (201 to {n_available} training images)")
    measured, _ = _digit_learning_curve([n])
    target = errors[-1] / 2
    passed(ex, f"you predicted that {n} images halve the error of {sizes[-1]} ({errors[-1]:.1%} -> {target:.1%}); "
               f"measured at {n} images: {measured[0]:.1%}. A power law fitted on four points is a forecast, "
               "not a guarantee: compare the two numbers")


def _slope(sizes, errors) -> float:
    x, y = np.log(np.asarray(sizes, dtype=np.float64)), np.log(np.asarray(errors, dtype=np.float64))
    return float(np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2))
