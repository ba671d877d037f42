"""Graders for the exercises of Chapter 10b, "Scale II: parallel training and its cost".

Each grader calls the student's function on inputs of its own, compares with a reference that
is *simulated* here (a GPipe schedule built from its dependencies, a ring all-reduce that counts
the bytes it passes, the collectives of a split layer replayed in one process) and either prints
one success line or raises :class:`labs.check.ExerciseFailed` with the input, the expected and
the received value, and a hint for the usual slip (found by computing that slip and comparing).
``NotImplementedError`` from an unfinished stub is let through.
"""

from __future__ import annotations

import numpy as np

from labs.check import as_float_array, call_student, expect_close, fail, passed
from labs.parallel_cost import gpipe_schedule, ring_allreduce

__all__ = ["energy_range", "pipeline_bubble", "ring_bytes_per_worker", "split_linear"]


def _expect_value_error(ex: str, fn, args: tuple, what: str, hint: str) -> None:
    try:
        fn(*args)
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's bug
        fail(ex, f"for {what} it raised {type(exc).__name__}: {exc}; expected a ValueError", hint)
    fail(ex, f"for {what} it returned instead of raising ValueError", hint)


# --------------------------------------------------------------------------- Exercise 10b.1


def pipeline_bubble(fn) -> None:
    """``fn(stages, microbatches)``: the idle share of a GPipe schedule, checked against the
    idle slots of a simulated schedule; ValueError for fewer than one stage or microbatch."""
    ex = "Exercise 10b.1"
    for p, m in [(1, 1), (2, 1), (2, 4), (4, 4), (4, 16), (8, 3), (16, 64)]:
        _, _, simulated = gpipe_schedule(p, m)
        got = call_student(ex, fn, (p, m), inputs=f"stages={p}, microbatches={m}")
        value = as_float_array(got)
        if value is None or value.shape != () or not np.isclose(float(value), simulated, rtol=1e-9, atol=1e-12):
            hint = None
            if value is not None and value.shape == () and np.isclose(float(value), (p - 1) / m):
                hint = ("(p - 1) / m is idle time over busy time; the bubble fraction is idle over the whole "
                        "makespan, which is (m + p - 1) slots per pass")
            elif value is not None and value.shape == () and np.isclose(float(value), p / (m + p)):
                hint = "count the fill and drain: the last stage starts p - 1 slots late, not p"
            fail(ex, f"for stages={p}, microbatches={m} a simulated GPipe schedule is idle {simulated:.6g} of "
                     f"the time; got {got!r}", hint)
    for bad in [(0, 4), (4, 0), (2.5, 4)]:
        _expect_value_error(ex, fn, bad, f"stages, microbatches = {bad}",
                            "a pipeline needs a whole number >= 1 of stages and of microbatches: raise ValueError")
    passed(ex, "its bubble matches simulated GPipe schedules from 1 to 16 stages, and it refuses bad sizes")


# --------------------------------------------------------------------------- Exercise 10b.2


def ring_bytes_per_worker(fn) -> None:
    """``fn(n_elements, bytes_per_element, world_size)``: bytes each worker sends in a ring
    all-reduce, checked against a simulated ring; ValueError for a world size below one."""
    ex = "Exercise 10b.2"
    rng = np.random.default_rng(0)
    for n, b, p in [(12, 8, 3), (8, 4, 2), (1000, 2, 4), (4096, 4, 8), (60, 4, 1)]:
        _, sent = ring_allreduce([rng.normal(size=n) for _ in range(p)])
        expected = sent[0] * b / 8                       # the simulation sends float64
        got = call_student(ex, fn, (n, b, p), inputs=f"n_elements={n}, bytes_per_element={b}, world_size={p}")
        slips = {2 * n * b: "2 * n * bytes is the limit for many workers; with p workers each sends 2 (p - 1) / p of it",
                 (p - 1) / p * n * b: "that is the reduce-scatter only: the all-gather sends as much again",
                 2 * (p - 1) * n * b: "each step sends one chunk of n / p elements, not the whole vector"}
        value = as_float_array(got)
        hint = next((h for v, h in slips.items() if value is not None and value.shape == () and v != expected
                     and np.isclose(float(value), v)), None)
        expect_close(ex, got, expected, what="the bytes sent per worker", rtol=1e-9, atol=1e-9, hint=hint,
                     inputs=f"n_elements={n}, bytes_per_element={b}, world_size={p}")
    _expect_value_error(ex, fn, (100, 4, 0), "world_size=0", "a ring needs at least one worker: raise ValueError")
    passed(ex, "its byte counts match a simulated ring all-reduce from 1 to 8 workers")


# --------------------------------------------------------------------------- Exercise 10b.3


def _replay(shards, x, mode: str, world: int):
    """What the ranks compute from ``shards`` and what the collective makes of it, in one process."""
    outs = []
    for rank, (w, b) in enumerate(shards):
        w = np.asarray(w, dtype=np.float64)
        if mode == "column":
            y = x @ w.T + (0 if b is None else np.asarray(b, dtype=np.float64))
        else:
            k = x.shape[-1] // world
            y = x[:, rank * k:(rank + 1) * k] @ w.T + (0 if b is None else np.asarray(b, dtype=np.float64))
        outs.append(y)
    return np.concatenate(outs, axis=-1) if mode == "column" else np.sum(outs, axis=0)   # all-gather / all-reduce


def split_linear(fn) -> None:
    """``fn(weight, bias, world_size, mode)``: the per-rank ``(weight, bias)`` shards of a linear
    layer for column or row tensor parallelism; the grader replays the ranks and the collective
    (all-gather for columns, all-reduce for rows) and compares with the unsplit layer."""
    ex = "Exercise 10b.3"
    rng = np.random.default_rng(0)
    for out_f, in_f, world in [(6, 4, 2), (8, 12, 4), (3, 3, 3), (5, 2, 1)]:
        w, b = rng.normal(size=(out_f, in_f)), rng.normal(size=out_f)
        x = rng.normal(size=(7, in_f))
        full = x @ w.T + b
        for mode in ("column", "row"):
            axis_len = out_f if mode == "column" else in_f
            if axis_len % world:
                continue
            what = f"weight of shape {w.shape}, world_size={world}, mode={mode!r}"
            shards = call_student(ex, fn, (w.copy(), b.copy(), world, mode), inputs=what)
            if not isinstance(shards, (list, tuple)) or len(shards) != world:
                fail(ex, f"for {what} expected a list of {world} (weight, bias) pairs, one per rank; got {shards!r}")
            for rank, pair in enumerate(shards):
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    fail(ex, f"for {what} rank {rank}'s shard should be a (weight, bias) pair; got {pair!r}")
                shape = np.shape(pair[0])
                expected = (out_f // world, in_f) if mode == "column" else (out_f, in_f // world)
                if shape != expected:
                    fail(ex, f"for {what} rank {rank}'s weight should have shape {expected}; got {shape}",
                         "nn.Linear stores weight as (out_features, in_features): columns of the output are "
                         "rows of weight (axis 0), and the input's features are its axis 1")
            try:
                replayed = _replay(shards, x, mode, world)
            except ValueError as exc:
                fail(ex, f"for {what} the shards could not be applied to x of shape {x.shape}: {exc}")
            hint = None
            if mode == "row" and world > 1 and np.allclose(replayed, full + (world - 1) * b):
                hint = ("every rank added the bias, so the all-reduce summed it world_size times: give the bias "
                        "to one rank only (None for the others)")
            expect_close(ex, replayed, full, what="the all-reduced (row) or all-gathered (column) output",
                         inputs=what, rtol=1e-9, atol=1e-9, hint=hint)
    _expect_value_error(ex, fn, (np.zeros((5, 4)), np.zeros(5), 2, "column"), "5 output features on 2 ranks",
                        "5 output features do not split into 2 equal blocks: raise ValueError naming both numbers")
    _expect_value_error(ex, fn, (np.zeros((4, 4)), np.zeros(4), 2, "diagonal"), "mode='diagonal'",
                        "only 'column' and 'row' are splits of a linear layer: raise ValueError for anything else")
    passed(ex, "its column and row shards, gathered or summed, reproduce the unsplit layer")


# --------------------------------------------------------------------------- Exercise 10b.4


def energy_range(fn) -> None:
    """``fn(flops, peak_flops, utilisation, watts, pue)`` with the last three ``(low, high)``:
    the ``(low, high)`` kWh of the run, checked against :func:`labs.parallel_cost.training_energy`;
    ValueError for a range whose low end is above its high end or not positive."""
    from labs.parallel_cost import Interval, training_energy

    ex = "Exercise 10b.4"
    cases = [(3.14e23, 125e12, (0.15, 0.5), (250, 400), (1.1, 1.6)),
             (8.4e23, 312e12, (0.3, 0.5), (400, 700), (1.1, 1.3)),
             (1e21, 1e15, (0.4, 0.4), (700, 700), (1.2, 1.2))]
    for flops, peak, u, w, pue in cases:
        _, kwh, _ = training_energy(flops, peak, Interval(*u), Interval(*w), Interval(*pue), 1.0)
        what = f"flops={flops:g}, peak_flops={peak:g}, utilisation={u}, watts={w}, pue={pue}"
        got = call_student(ex, fn, (flops, peak, u, w, pue), inputs=what)
        value = as_float_array(got)
        hint = None
        lows_together = [flops / (peak * u[0]) * w[0] * pue[0] / 3.6e6, flops / (peak * u[1]) * w[1] * pue[1] / 3.6e6]
        if value is not None and value.shape == (2,) and np.allclose(np.sort(value), np.sort(lows_together), rtol=1e-6) \
                and not np.allclose(value, [kwh.low, kwh.high], rtol=1e-6):
            hint = ("the utilisation divides: its *high* end gives the *low* energy. Pair each end of the answer "
                    "with the ends of the factors that push it that way")
        elif value is not None and value.shape == (2,) and np.allclose(value, [kwh.low * 3.6e6, kwh.high * 3.6e6], rtol=1e-6):
            hint = "that is in joules: one kWh is 3.6e6 J (1000 W for 3600 s)"
        expect_close(ex, got, [kwh.low, kwh.high], what="the (low, high) energy in kWh", inputs=what,
                     rtol=1e-6, atol=1e-9, hint=hint)
    _expect_value_error(ex, fn, (1e21, 1e15, (0.5, 0.2), (300, 400), (1.1, 1.2)), "utilisation=(0.5, 0.2)",
                        "a range (low, high) with low > high is a mistake to report, not to compute with: raise ValueError")
    _expect_value_error(ex, fn, (1e21, 1e15, (0.0, 0.2), (300, 400), (1.1, 1.2)), "utilisation=(0.0, 0.2)",
                        "a utilisation of 0 means the run never ends: raise ValueError for a factor <= 0")
    passed(ex, "its energy ranges match interval arithmetic on the chapter's formula, and it refuses bad ranges")
