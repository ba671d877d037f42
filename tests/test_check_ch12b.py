"""Chapter 12b graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch12b


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 12b.x: not yet")


@pytest.mark.parametrize("grader", [ch12b.clip_per_sample, ch12b.rdp_sampled_gaussian, ch12b.membership_advantage,
                                    ch12b.fedavg_average])
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 12b.x"):
        grader(stub)


# ----------------------------------------------------------------------------- Exercise 12b.1


def clip_right(grads, max_norm):
    flat = np.concatenate([g.reshape(len(g), -1) for g in grads.values()], axis=1)
    factor = max_norm / np.maximum(np.linalg.norm(flat, axis=1), max_norm)
    return {k: g * factor.reshape(-1, *[1] * (g.ndim - 1)) for k, g in grads.items()}


def test_clip_accepts_the_reference(capsys):
    ch12b.clip_per_sample(clip_right)
    assert "passed" in capsys.readouterr().out


def test_clip_rejects_per_parameter_clipping():
    def per_parameter(grads, max_norm):
        return {k: clip_right({k: g}, max_norm)[k] for k, g in grads.items()}

    with pytest.raises(ExerciseFailed, match="whole gradient"):
        ch12b.clip_per_sample(per_parameter)


def test_clip_rejects_division_by_zero():
    def naive(grads, max_norm):
        flat = np.concatenate([g.reshape(len(g), -1) for g in grads.values()], axis=1)
        norm = np.linalg.norm(flat, axis=1)  # unit direction times the clipped length: 0 / 0 at a zero gradient
        scale = (np.minimum(norm, max_norm) / norm)
        return {k: g * scale.reshape(-1, *[1] * (g.ndim - 1)) for k, g in grads.items()}

    with pytest.raises(ExerciseFailed, match="never divides by zero"):
        ch12b.clip_per_sample(naive)


def test_clip_rejects_scaling_every_example_to_the_bound():
    def always_scale(grads, max_norm):
        flat = np.concatenate([g.reshape(len(g), -1) for g in grads.values()], axis=1)
        factor = max_norm / np.maximum(np.linalg.norm(flat, axis=1), 1e-12)
        return {k: g * factor.reshape(-1, *[1] * (g.ndim - 1)) for k, g in grads.items()}

    with pytest.raises(ExerciseFailed, match="already <= max_norm"):
        ch12b.clip_per_sample(always_scale)


def test_clip_rejects_in_place_changes():
    def in_place(grads, max_norm):
        out = clip_right(grads, max_norm)
        for k in grads:
            grads[k] *= 0.5
        return out

    with pytest.raises(ExerciseFailed, match="changed the arrays"):
        ch12b.clip_per_sample(in_place)


# ----------------------------------------------------------------------------- Exercise 12b.2


def rdp_right(q, sigma, alpha):
    terms = [math.lgamma(alpha + 1) - math.lgamma(k + 1) - math.lgamma(alpha - k + 1)
             + (k * math.log(q) if k else 0.0) + ((alpha - k) * math.log1p(-q) if alpha - k else 0.0)
             + (k * k - k) / (2 * sigma ** 2) for k in range(alpha + 1)]
    top = max(terms)
    return (top + math.log(sum(math.exp(t - top) for t in terms))) / (alpha - 1)


def test_rdp_accepts_the_reference(capsys):
    ch12b.rdp_sampled_gaussian(rdp_right)
    assert "passed" in capsys.readouterr().out


def test_rdp_rejects_log_a_without_the_division():
    with pytest.raises(ExerciseFailed, match="alpha - 1"):
        ch12b.rdp_sampled_gaussian(lambda q, s, a: rdp_right(q, s, a) * (a - 1))


def test_rdp_rejects_the_naive_sum_that_overflows():
    def naive(q, sigma, alpha):
        a = sum(math.comb(alpha, k) * (1 - q) ** (alpha - k) * q ** k * math.exp((k * k - k) / (2 * sigma ** 2))
                for k in range(alpha + 1))
        return math.log(a) / (alpha - 1)

    with pytest.raises(ExerciseFailed, match="log space"):
        ch12b.rdp_sampled_gaussian(naive)


# ----------------------------------------------------------------------------- Exercise 12b.3


def advantage_right(member, nonmember):
    t = np.unique(np.concatenate([member, nonmember]))
    return float(max(0.0, np.max((member[None] <= t[:, None]).mean(1) - (nonmember[None] <= t[:, None]).mean(1))))


def test_advantage_accepts_the_reference(capsys):
    ch12b.membership_advantage(advantage_right)
    assert "passed" in capsys.readouterr().out


def test_advantage_rejects_the_wrong_direction():
    with pytest.raises(ExerciseFailed, match="low"):
        ch12b.membership_advantage(lambda m, n: advantage_right(-m, -n))


def test_advantage_rejects_a_fixed_threshold():
    def mean_threshold(m, n):  # Yeom's threshold at the mean training loss, not the best one
        t = m.mean()
        return float(np.mean(m <= t) - np.mean(n <= t))

    with pytest.raises(ExerciseFailed, match="advantage"):
        ch12b.membership_advantage(mean_threshold)


# ----------------------------------------------------------------------------- Exercise 12b.4


def test_fedavg_accepts_the_weighted_average(capsys):
    def right(clients, sizes):
        w = np.array(sizes, float) / sum(sizes)
        return {k: sum(wi * c[k] for wi, c in zip(w, clients)) for k in clients[0]}

    ch12b.fedavg_average(right)
    assert "passed" in capsys.readouterr().out


def test_fedavg_rejects_the_plain_mean():
    def plain(clients, sizes):
        return {k: sum(c[k] for c in clients) / len(clients) for k in clients[0]}

    with pytest.raises(ExerciseFailed, match="n_k / n"):
        ch12b.fedavg_average(plain)
