"""Graders for the exercises of Chapter 2 (Concepts and how they connect)."""

from __future__ import annotations

import numpy as np

from labs.check import expect_close, fail, passed, call_student

__all__ = ["next_token_windows", "masked_pairs", "two_hop", "late_fusion"]



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


def masked_pairs(fn) -> None:
    """Grade ``fn(ids, positions, mask_id, ignore_index=-100) -> (inputs, labels)``."""
    ex = "Exercise 2.2"
    cases = [
        (np.array([7, 3, 9, 3, 1]), [1, 3], 0),
        (np.arange(10, 30), [0, 5, 19], 99),
        (np.array([4, 4, 4]), [], 1),
    ]
    for ids, positions, mask_id in cases:
        original = ids.copy()
        inputs = f"ids={ids.tolist()}, positions={positions}, mask_id={mask_id}"
        x, labels = _pair(ex, call_student(ex, fn, (ids, list(positions), mask_id), inputs), "masked_pairs")
        if not np.array_equal(ids, original):
            fail(ex, f"masked_pairs({inputs}) changed ids in place to {ids.tolist()}", "work on a copy: ids = np.array(ids, copy=True)")
        exp_x = original.copy()
        exp_x[positions] = mask_id
        exp_labels = np.full_like(original, -100)
        exp_labels[positions] = original[positions]
        expect_close(ex, x, exp_x, what="inputs", inputs=inputs, hint="copy ids and put mask_id at each masked position")
        got_labels = np.asarray(labels)
        if positions and got_labels.shape == exp_labels.shape and np.all(got_labels[positions] == mask_id) and mask_id not in original[positions]:
            fail(ex, f"for {inputs} the labels at the masked positions are the mask id",
                 "the label is what the mask hides: the original token at that position")
        expect_close(ex, labels, exp_labels, what="labels", inputs=inputs,
                     hint="labels are ignore_index (-100) where nothing is masked, so the loss skips those positions")
    x, labels = _pair(ex, call_student(ex, fn, (np.array([1, 2, 3]), [2], 0), "ids [1, 2, 3], positions [2], ignore_index=-1", ignore_index=-1), "masked_pairs")
    expect_close(ex, labels, [-1, -1, 3], what="labels", inputs="ids=[1, 2, 3], positions=[2], mask_id=0, ignore_index=-1",
                 hint="use the ignore_index argument, not a hard-coded -100")
    passed(ex, "masked inputs and their labels are built from the text alone")


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


def late_fusion(fn) -> None:
    """Grade ``fn(prob_a, prob_b, weight=0.5) -> fused probabilities (N, C)``."""
    ex = "Exercise 2.4"
    a = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.6, 0.4, 0.0]])
    b = np.array([[0.0, 0.4, 0.6], [0.1, 0.1, 0.8], [0.05, 0.9, 0.05]])
    for weight in (0.5, 0.8, 1.0, 0.0):
        expected = weight * a + (1 - weight) * b
        got = call_student(ex, fn, (a.copy(), b.copy()), f"two probability tables with weight={weight}", weight=weight)
        inputs = f"prob_a={a.tolist()}, prob_b={b.tolist()}, weight={weight}"
        got_arr = np.asarray(got, dtype=np.float64) if got is not None else None
        if got_arr is not None and got_arr.shape == expected.shape and weight not in (0.5,) and np.allclose(got_arr, weight * b + (1 - weight) * a):
            fail(ex, f"with weight={weight} the fused probabilities lean towards prob_b", "weight is the share of prob_a: weight * prob_a + (1 - weight) * prob_b")
        expect_close(ex, got, expected, what="fused probabilities", inputs=inputs,
                     hint="average the probabilities (weighted); a product of probabilities lets one view's 0 veto the other")
    _expect_value_error(ex, fn, (a, b[:, :2]), "prob_a of shape (3, 3) with prob_b of shape (3, 2)")
    _expect_value_error(ex, fn, (a, b, 1.5), "weight=1.5")
    passed(ex, "fused probabilities are a weighted average, so each row still sums to 1")
