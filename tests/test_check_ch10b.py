"""Chapter 10b graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch10b


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 10b.x: not yet")


@pytest.mark.parametrize("grader", [ch10b.pipeline_bubble, ch10b.ring_bytes_per_worker, ch10b.split_linear,
                                    ch10b.energy_range])
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 10b.x"):
        grader(stub)


def _checked(p, m):
    if not all(isinstance(v, int) and v >= 1 for v in (p, m)):
        raise ValueError("stages and microbatches must be positive ints")


def bubble_right(p, m):
    _checked(p, m)
    return (p - 1) / (m + p - 1)


def test_pipeline_bubble_accepts_the_formula(capsys):
    ch10b.pipeline_bubble(bubble_right)
    assert "Exercise 10b.1 passed" in capsys.readouterr().out


def test_pipeline_bubble_names_idle_over_busy():
    def idle_over_busy(p, m):
        _checked(p, m)
        return (p - 1) / m

    with pytest.raises(ExerciseFailed, match="idle over the whole"):
        ch10b.pipeline_bubble(idle_over_busy)


def test_pipeline_bubble_wants_a_value_error():
    with pytest.raises(ExerciseFailed, match="ValueError"):
        ch10b.pipeline_bubble(lambda p, m: (p - 1) / (m + p - 1) if m + p - 1 else 0.0)


def ring_right(n, b, p):
    if p < 1:
        raise ValueError("world_size must be >= 1")
    return 2 * (p - 1) / p * n * b


def test_ring_bytes_accepts_the_formula(capsys):
    ch10b.ring_bytes_per_worker(ring_right)
    assert "Exercise 10b.2 passed" in capsys.readouterr().out


@pytest.mark.parametrize("slip, hint", [
    (lambda n, b, p: 2 * n * b, "limit for many workers"),
    (lambda n, b, p: (p - 1) / p * n * b, "reduce-scatter only"),
    (lambda n, b, p: 2 * (p - 1) * n * b, "one chunk"),
])
def test_ring_bytes_names_the_slip(slip, hint):
    def guarded(n, b, p):
        if p < 1:
            raise ValueError("p")
        return slip(n, b, p)

    with pytest.raises(ExerciseFailed, match=hint):
        ch10b.ring_bytes_per_worker(guarded)


def split_right(weight, bias, world, mode):
    weight, bias = np.asarray(weight), np.asarray(bias)
    if mode not in ("column", "row"):
        raise ValueError(f"mode must be 'column' or 'row'; got {mode!r}")
    axis = 0 if mode == "column" else 1
    if weight.shape[axis] % world:
        raise ValueError(f"{weight.shape[axis]} features do not split among {world} ranks")
    ws = np.split(weight, world, axis=axis)
    if mode == "column":
        return list(zip(ws, np.split(bias, world)))
    return [(w, bias if r == 0 else None) for r, w in enumerate(ws)]


def test_split_linear_accepts_the_reference(capsys):
    ch10b.split_linear(split_right)
    assert "Exercise 10b.3 passed" in capsys.readouterr().out


def test_split_linear_names_a_bias_on_every_rank():
    def bias_everywhere(weight, bias, world, mode):
        shards = split_right(weight, bias, world, mode)
        return [(w, bias) for w, _ in shards] if mode == "row" else shards

    with pytest.raises(ExerciseFailed, match="summed it world_size times"):
        ch10b.split_linear(bias_everywhere)


def test_split_linear_names_the_wrong_axis():
    def transposed(weight, bias, world, mode):
        return split_right(weight, bias, world, "row" if mode == "column" else "column")

    with pytest.raises(ExerciseFailed, match=r"\(out_features, in_features\)"):
        ch10b.split_linear(transposed)


def test_split_linear_wants_a_value_error_for_an_uneven_split():
    def no_check(weight, bias, world, mode):
        axis = 0 if mode == "column" else 1
        ws = np.array_split(np.asarray(weight), world, axis=axis)
        return list(zip(ws, np.array_split(np.asarray(bias), world))) if mode == "column" else \
            [(w, bias if r == 0 else None) for r, w in enumerate(ws)]

    with pytest.raises(ExerciseFailed, match="ValueError"):
        ch10b.split_linear(no_check)


def energy_right(flops, peak, utilisation, watts, pue):
    for name, (lo, hi) in (("utilisation", utilisation), ("watts", watts), ("pue", pue)):
        if not 0 < lo <= hi:
            raise ValueError(f"{name} must be a range 0 < low <= high; got {(lo, hi)}")
    low = flops / (peak * utilisation[1]) * watts[0] * pue[0] / 3.6e6
    high = flops / (peak * utilisation[0]) * watts[1] * pue[1] / 3.6e6
    return low, high


def test_energy_range_accepts_the_reference(capsys):
    ch10b.energy_range(energy_right)
    assert "Exercise 10b.4 passed" in capsys.readouterr().out


def test_energy_range_names_the_utilisation_that_divides():
    def lows_together(flops, peak, utilisation, watts, pue):
        energy_right(flops, peak, utilisation, watts, pue)          # the same checks
        return tuple(flops / (peak * u) * w * p / 3.6e6 for u, w, p in zip(utilisation, watts, pue))

    with pytest.raises(ExerciseFailed, match="utilisation divides"):
        ch10b.energy_range(lows_together)


def test_energy_range_names_joules():
    def joules(*args):
        lo, hi = energy_right(*args)
        return lo * 3.6e6, hi * 3.6e6

    with pytest.raises(ExerciseFailed, match="3.6e6 J"):
        ch10b.energy_range(joules)


def test_energy_range_wants_a_value_error_for_a_reversed_range():
    def unchecked(flops, peak, utilisation, watts, pue):
        return (flops / (peak * max(utilisation)) * min(watts) * min(pue) / 3.6e6,
                flops / (peak * max(min(utilisation), 1e-9)) * max(watts) * max(pue) / 3.6e6)

    with pytest.raises(ExerciseFailed, match="ValueError"):
        ch10b.energy_range(unchecked)
