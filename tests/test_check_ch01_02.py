"""The graders of Chapters 1 and 2 pass a right answer and catch wrong ones with a useful hint."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch01, ch02

# --------------------------------------------------------------------------- Chapter 1


def flops_right(widths, tokens):
    weights = [a * b for a, b in zip(widths[:-1], widths[1:])]
    return 6 * sum(weights) * tokens - 2 * weights[0] * tokens  # the first layer computes no input gradient


def flops_6nd(widths, tokens):
    return 6 * sum(a * b for a, b in zip(widths[:-1], widths[1:])) * tokens


def flops_forward_only(widths, tokens):
    return 2 * sum(a * b for a, b in zip(widths[:-1], widths[1:])) * tokens


def test_predict_training_flops_passes_the_measured_count(capsys):
    ch01.predict_training_flops(flops_right)
    assert "Exercise 1.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [(flops_6nd, "first layer"), (flops_forward_only, "forward pass alone"), (lambda w, t: 1, "forward: 2 FLOPs")],
)
def test_predict_training_flops_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says) as info:
        ch01.predict_training_flops(wrong)
    assert "measures" in str(info.value) and "prediction" in str(info.value)


def test_predict_training_flops_reports_a_crash_and_a_wrong_return_type():
    with pytest.raises(ExerciseFailed, match="raised ZeroDivisionError"):
        ch01.predict_training_flops(lambda w, t: 1 / 0)
    with pytest.raises(ExerciseFailed, match="a number"):
        ch01.predict_training_flops(lambda w, t: "many")


def test_stub_errors_reach_the_student():
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 1.1: do it")

    with pytest.raises(NotImplementedError, match="Exercise 1.1"):
        ch01.predict_training_flops(stub)


def distill_right(nt, ns, dt, dd):
    return 6 * nt * dt + 2 * nt * dd + 6 * ns * dd


def test_distillation_flops(capsys):
    ch01.distillation_flops(distill_right)
    assert "Exercise 1.5 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (lambda nt, ns, dt, dd: 6 * ns * dd, "only the student"),
        (lambda nt, ns, dt, dd: 6 * nt * dt + 6 * ns * dd, "forward pass"),
        (lambda nt, ns, dt, dd: 6 * nt * dt, "6 N D to train the teacher"),
        (lambda nt, ns, dt, dd: 6 * nt * dt + 6 * nt * dd + 6 * ns * dd, "forward pass only"),
    ],
)
def test_distillation_flops_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says) as info:
        ch01.distillation_flops(wrong)
    assert "expected" in str(info.value) and "got" in str(info.value)


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


# --------------------------------------------------------------------------- Chapter 2, new exercises


def snippet_right(W, b, X, T):
    Z = X @ W.T + b
    Y = np.maximum(Z, 0.0)
    dZ = 2 * (Y - T) / Y.size * (Z > 0)
    return float(np.mean((Y - T) ** 2)), dZ.T @ X, dZ.sum(axis=0)


def snippet_no_relu(W, b, X, T):  # the source's mistake
    Z = X @ W.T + b
    Y = np.maximum(Z, 0.0)
    dZ = 2 * (Y - T) / Y.size
    return float(np.mean((Y - T) ** 2)), dZ.T @ X, dZ.sum(axis=0)


def snippet_transposed(W, b, X, T):
    loss, dW, db = snippet_right(W, b, X, T)
    return loss, dW.T, db


def snippet_no_mean(W, b, X, T):
    Z = X @ W.T + b
    Y = np.maximum(Z, 0.0)
    dZ = 2 * (Y - T) * (Z > 0)
    return float(np.mean((Y - T) ** 2)), dZ.T @ X, dZ.sum(axis=0)


def test_fixed_seed_snippet(capsys):
    ch02.fixed_seed_snippet(snippet_right)
    assert "Exercise 2.4 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [(snippet_no_relu, "source's mistake"), (snippet_transposed, "shape of W"), (snippet_no_mean, "times the right one")],
)
def test_fixed_seed_snippet_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says) as info:
        ch02.fixed_seed_snippet(wrong)
    assert "expected" in str(info.value)


def halve_right(sizes, errors):
    slope, _ = np.polyfit(np.log(sizes), np.log(errors), 1)
    return max(sizes) * 2 ** (-1 / slope)


def halve_wrong_sign(sizes, errors):
    slope, _ = np.polyfit(np.log(sizes), np.log(errors), 1)
    return max(sizes) * 2 ** (1 / slope)


def halve_two_points(sizes, errors):
    slope = (np.log(errors[-1]) - np.log(errors[0])) / (np.log(sizes[-1]) - np.log(sizes[0]))
    return max(sizes) * 2 ** (-1 / slope)


def test_examples_to_halve_error(capsys):
    ch02.examples_to_halve_error(halve_right)
    out = capsys.readouterr().out
    assert "Exercise 2.5 passed" in out and "measured at" in out


@pytest.mark.parametrize("wrong, says", [(halve_wrong_sign, "the sign"), (halve_two_points, "least squares")])
def test_examples_to_halve_error_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        ch02.examples_to_halve_error(wrong)


def bert_right(ids, positions, kinds, mask_id, random_ids, ignore_index=-100):
    ids = np.asarray(ids)
    inputs, labels = ids.copy(), np.full_like(ids, ignore_index)
    for p, k, r in zip(positions, kinds, random_ids):
        labels[p] = ids[p]
        inputs[p] = mask_id if k == "mask" else (r if k == "random" else ids[p])
    return inputs, labels


def bert_only_masked_labelled(ids, positions, kinds, mask_id, random_ids, ignore_index=-100):
    inputs, labels = bert_right(ids, positions, kinds, mask_id, random_ids, ignore_index)
    for p, k in zip(positions, kinds):
        if k != "mask":
            labels[p] = ignore_index
    return inputs, labels


def bert_all_masked(ids, positions, kinds, mask_id, random_ids, ignore_index=-100):
    return bert_right(ids, positions, ["mask"] * len(positions), mask_id, random_ids, ignore_index)


def bert_in_place(ids, positions, kinds, mask_id, random_ids, ignore_index=-100):
    labels = np.full_like(ids, ignore_index)
    labels[positions] = ids[positions]
    ids[positions] = mask_id
    return ids, labels


def bert_hard_coded(ids, positions, kinds, mask_id, random_ids, ignore_index=-100):
    return bert_right(ids, positions, kinds, mask_id, random_ids, -100)


def test_bert_masked_pairs(capsys):
    ch02.bert_masked_pairs(bert_right)
    assert "Exercise 2.2 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (bert_only_masked_labelled, "carry no label"),
        (bert_all_masked, "'random' puts"),
        (bert_in_place, "in place"),
        (bert_hard_coded, "hard-coded"),
    ],
)
def test_bert_masked_pairs_catches(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        ch02.bert_masked_pairs(wrong)
