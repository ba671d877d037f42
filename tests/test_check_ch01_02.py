"""The graders of Chapters 1 and 2 pass a right answer and catch wrong ones with a useful hint."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch01, ch02

# --------------------------------------------------------------------------- Chapter 1


def step_right(w, b, x, y, lr=1.0):
    if y * (np.dot(w, x) + b) <= 0:
        return w + lr * y * x, b + lr * y
    return w, b


def step_strict(w, b, x, y, lr=1.0):  # a score of exactly 0 is not treated as a mistake
    if y * (np.dot(w, x) + b) < 0:
        return w + lr * y * x, b + lr * y
    return w, b


def step_always(w, b, x, y, lr=1.0):  # updates even on correct points
    return w + lr * y * x, b + lr * y


def step_no_bias(w, b, x, y, lr=1.0):
    if y * (np.dot(w, x) + b) <= 0:
        return w + lr * y * x, b
    return w, b


def test_perceptron_step_passes_the_rule(capsys):
    ch01.perceptron_step(step_right)
    assert "Exercise 1.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [(step_strict, "exactly 0 counts as a mistake"), (step_always, "unchanged"), (step_no_bias, "new_b")],
)
def test_perceptron_step_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says) as info:
        ch01.perceptron_step(wrong)
    assert "expected" in str(info.value) and "got" in str(info.value)


def test_perceptron_step_reports_a_crash_and_a_wrong_return_type():
    with pytest.raises(ExerciseFailed, match="raised ZeroDivisionError"):
        ch01.perceptron_step(lambda w, b, x, y, lr=1.0: 1 / 0)
    with pytest.raises(ExerciseFailed, match="pair"):
        ch01.perceptron_step(lambda w, b, x, y, lr=1.0: w)


def test_stub_errors_reach_the_student():
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 1.1: do it")

    with pytest.raises(NotImplementedError, match="Exercise 1.1"):
        ch01.perceptron_step(stub)


def xor_right():
    W1 = np.array([[1.0, 1.0], [1.0, 1.0]])  # column 0: OR, column 1: AND
    b1 = np.array([-0.5, -1.5])
    w2 = np.array([1.0, -1.0])
    return W1, b1, w2, -0.5


def xor_or():  # computes OR
    W1, b1, _, _ = xor_right()
    return W1, b1, np.array([1.0, 0.0]), -0.5


def xor_tie():  # right on the four points only because step(0) = 0
    W1 = np.array([[1.0, 1.0], [1.0, 1.0]])
    return W1, np.array([0.0, -1.0]), np.array([1.0, -1.0]), 0.0


def test_xor_weights(capsys):
    ch01.xor_weights(xor_right)
    assert "Exercise 1.2 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (xor_or, r"x=\[1.0, 1.0\] -> 1 \(want 0\)"),
        (xor_tie, "exactly 0"),
        (lambda: (np.ones((3, 2)), np.zeros(2), np.ones(2), 0.0), r"W1 should have shape \(2, 2\)"),
        (lambda: (np.ones((2, 2)), np.zeros(2), np.ones(2)), "four things"),
    ],
)
def test_xor_weights_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        ch01.xor_weights(wrong)


def conv_right(in_channels, out_channels, kernel_size, groups=1, bias=True):
    if in_channels % groups or out_channels % groups:
        raise ValueError("channels must divide into groups")
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return out_channels * (in_channels // groups) * kh * kw + (out_channels if bias else 0)


def conv_no_groups(in_channels, out_channels, kernel_size, groups=1, bias=True):
    return conv_right(in_channels, out_channels, kernel_size, 1, bias)


def conv_no_bias(in_channels, out_channels, kernel_size, groups=1, bias=True):
    return conv_right(in_channels, out_channels, kernel_size, groups, False)


def conv_no_check(in_channels, out_channels, kernel_size, groups=1, bias=True):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return out_channels * (in_channels // groups) * kh * kw + (out_channels if bias else 0)


def test_conv2d_param_count(capsys):
    ch01.conv2d_param_count(conv_right)
    assert "Exercise 1.3 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (conv_no_groups, "in_channels / groups"),
        (conv_no_bias, "forgot the biases"),
        (conv_no_check, "should raise ValueError"),
        (lambda **k: float(conv_right(**k)), "should return an int"),
    ],
)
def test_conv2d_param_count_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        ch01.conv2d_param_count(wrong)


def doubling_right(years, sizes):
    x = np.asarray(years, dtype=float)
    s = np.asarray(sizes, dtype=float)
    if np.any(s <= 0) or len(set(x.tolist())) < 2:
        raise ValueError("need positive sizes and two distinct years")
    slope = np.polyfit(x, np.log2(s), 1)[0]
    return 12.0 / slope


def doubling_log10(years, sizes):
    x = np.asarray(years, dtype=float)
    s = np.asarray(sizes, dtype=float)
    if np.any(s <= 0) or len(set(x.tolist())) < 2:
        raise ValueError("bad")
    return 12.0 / np.polyfit(x, np.log10(s), 1)[0]


def doubling_endpoints(years, sizes):
    if min(sizes) <= 0 or len(set(years)) < 2:
        raise ValueError("bad")
    return 12.0 * (years[-1] - years[0]) / math.log2(sizes[-1] / sizes[0])


def doubling_no_check(years, sizes):
    with np.errstate(all="ignore"):
        return 12.0 / np.polyfit(np.asarray(years, float), np.log2(np.asarray(sizes, float)), 1)[0]


def test_doubling_time(capsys):
    ch01.doubling_time_months(doubling_right)
    assert "Exercise 1.4 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [(doubling_log10, "log2"), (doubling_endpoints, "not just the first and last"), (doubling_no_check, "ValueError")],
)
def test_doubling_time_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        ch01.doubling_time_months(wrong)


# --------------------------------------------------------------------------- Chapter 2


def windows_right(ids, context_length):
    ids = np.asarray(ids)
    n = len(ids) - context_length
    if n <= 0:
        raise ValueError("too short")
    idx = np.arange(n)[:, None] + np.arange(context_length)[None, :]
    return ids[idx], ids[idx + 1]


def windows_unshifted(ids, context_length):
    x, _ = windows_right(ids, context_length)
    return x, x.copy()


def windows_one_too_few(ids, context_length):
    x, y = windows_right(ids, context_length)
    return x[:-1], y[:-1]


def windows_float(ids, context_length):
    x, y = windows_right(ids, context_length)
    return x.astype(float), y.astype(float)


def test_next_token_windows(capsys):
    ch02.next_token_windows(windows_right)
    assert "Exercise 2.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (windows_unshifted, "targets equal the inputs"),
        (windows_one_too_few, "should have shape"),
        (windows_float, "integer token ids"),
    ],
)
def test_next_token_windows_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        ch02.next_token_windows(wrong)


def masked_right(ids, positions, mask_id, ignore_index=-100):
    ids = np.asarray(ids)
    inputs = ids.copy()
    labels = np.full_like(ids, ignore_index)
    inputs[positions] = mask_id
    labels[positions] = ids[positions]
    return inputs, labels


def masked_label_is_mask(ids, positions, mask_id, ignore_index=-100):
    inputs, labels = masked_right(ids, positions, mask_id, ignore_index)
    labels[positions] = mask_id
    return inputs, labels


def masked_in_place(ids, positions, mask_id, ignore_index=-100):
    labels = np.full_like(ids, ignore_index)
    labels[positions] = ids[positions]
    ids[positions] = mask_id
    return ids, labels


def masked_no_ignore(ids, positions, mask_id, ignore_index=-100):
    inputs, _ = masked_right(ids, positions, mask_id, ignore_index)
    return inputs, np.asarray(ids).copy()


def masked_hard_coded(ids, positions, mask_id, ignore_index=-100):
    return masked_right(ids, positions, mask_id, -100)


def test_masked_pairs(capsys):
    ch02.masked_pairs(masked_right)
    assert "Exercise 2.2 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (masked_label_is_mask, "labels at the masked positions are the mask id"),
        (masked_in_place, "in place"),
        (masked_no_ignore, "ignore_index"),
        (masked_hard_coded, "hard-coded"),
    ],
)
def test_masked_pairs_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        ch02.masked_pairs(wrong)


def two_hop_right(triples, subject, first_relation, second_relation):
    middle = {o for s, r, o in triples if s == subject and r == first_relation}
    return {o for s, r, o in triples if s in middle and r == second_relation}


def two_hop_first_only(triples, subject, first_relation, second_relation):
    return {o for s, r, o in triples if s == subject and r == first_relation}


def two_hop_any_relation(triples, subject, first_relation, second_relation):
    middle = {o for s, r, o in triples if s == subject}
    return {o for s, r, o in triples if s in middle}


def test_two_hop(capsys):
    ch02.two_hop(two_hop_right)
    assert "Exercise 2.3 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (two_hop_first_only, "only the first hop"),
        (two_hop_any_relation, "relation names"),
        (lambda *a: sorted(two_hop_right(*a)), "return a set"),
    ],
)
def test_two_hop_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        ch02.two_hop(wrong)


def fusion_right(prob_a, prob_b, weight=0.5):
    a, b = np.asarray(prob_a, float), np.asarray(prob_b, float)
    if a.shape != b.shape or not 0 <= weight <= 1:
        raise ValueError("bad")
    return weight * a + (1 - weight) * b


def fusion_swapped(prob_a, prob_b, weight=0.5):
    return fusion_right(prob_b, prob_a, weight)


def fusion_product(prob_a, prob_b, weight=0.5):
    a, b = np.asarray(prob_a, float), np.asarray(prob_b, float)
    if a.shape != b.shape or not 0 <= weight <= 1:
        raise ValueError("bad")
    p = a**weight * b ** (1 - weight)
    return p / p.sum(axis=1, keepdims=True)


def fusion_no_check(prob_a, prob_b, weight=0.5):
    return weight * np.asarray(prob_a) + (1 - weight) * np.asarray(prob_b)[:, : np.asarray(prob_a).shape[1]]


def test_late_fusion(capsys):
    ch02.late_fusion(fusion_right)
    assert "Exercise 2.4 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [(fusion_swapped, "share of prob_a"), (fusion_product, "veto"), (fusion_no_check, "ValueError")],
)
def test_late_fusion_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        ch02.late_fusion(wrong)
