"""What parallel training costs, in closed form, checked by small simulations (Chapter 10b).

- :func:`ring_allreduce_bytes` and :func:`ring_allreduce`: a ring all-reduce sends
  ``2 (p - 1) / p`` times the vector's bytes from each of the ``p`` workers; the simulation
  passes the chunks around the ring in NumPy, counts the bytes and returns the sums.
- :func:`gpipe_bubble_fraction` and :func:`gpipe_schedule`: the idle share of a GPipe pipeline
  with ``p`` stages and ``m`` microbatches is ``(p - 1) / (m + p - 1)``; the schedule is built
  from the dependencies alone and its idle slots are counted.
- :func:`training_energy` and :class:`Interval`: kWh and CO2 of a training run from its FLOPs,
  with every uncertain factor given as a range, so the answer is a range too.

The multi-process experiments are in :mod:`labs.parallel_training`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "gpipe_bubble_fraction", "gpipe_schedule", "ring_allreduce", "ring_allreduce_bytes",
           "training_energy"]


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- all-reduce


def ring_allreduce_bytes(n_elements: int, bytes_per_element: int, world_size: int) -> float:
    """Bytes each worker sends in a ring all-reduce of ``n_elements`` numbers.

    The vector is cut into ``p`` chunks. A reduce-scatter passes ``p - 1`` chunks around the
    ring (each worker ends with the full sum of one chunk), an all-gather passes ``p - 1`` more
    (each worker ends with every summed chunk): ``2 (p - 1) / p * n * bytes``, which tends to
    twice the vector, whatever the number of workers. That is why the ring is used.
    """
    n, b, p = (_positive_int(k, v) for k, v in (("n_elements", n_elements), ("bytes_per_element", bytes_per_element),
                                                 ("world_size", world_size)))
    return 2 * (p - 1) / p * n * b


def ring_allreduce(arrays: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """Simulate a ring all-reduce among ``len(arrays)`` workers; return (results, bytes sent per worker).

    Worker ``r`` sends only to worker ``r + 1`` (mod p). Step ``s`` of the reduce-scatter: worker
    ``r`` sends chunk ``(r - s) mod p`` and the receiver adds it to its own copy. After
    ``p - 1`` steps worker ``r`` holds the total of chunk ``(r + 1) mod p``; the all-gather then
    circulates the totals the same way, each received chunk replacing the old one.
    """
    p = len(arrays)
    if p < 1:
        raise ValueError("ring_allreduce needs at least one worker's array")
    shapes = {np.shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"every worker must hold an array of the same shape; got shapes {sorted(shapes)}")
    shape = shapes.pop()
    chunks = [np.array_split(np.asarray(a, dtype=np.float64).ravel().copy(), p) for a in arrays]
    sent = [0] * p
    for phase in ("reduce-scatter", "all-gather"):
        for s in range(p - 1):
            offset = s if phase == "reduce-scatter" else s - 1
            outgoing = [(r, (r - offset) % p, chunks[r][(r - offset) % p].copy()) for r in range(p)]
            for r, c, data in outgoing:                     # all sends of a step happen at once
                dest = (r + 1) % p
                sent[r] += data.nbytes
                if phase == "reduce-scatter":
                    chunks[dest][c] = chunks[dest][c] + data
                else:
                    chunks[dest][c] = data
    return [np.concatenate(c).reshape(shape) for c in chunks], sent


# ----------------------------------------------------------------------------- pipeline


def gpipe_bubble_fraction(stages: int, microbatches: int) -> float:
    """The idle share of a GPipe schedule: ``(p - 1) / (m + p - 1)``.

    Each stage is busy for ``m`` forward and ``m`` backward slots; the whole batch takes
    ``m + p - 1`` slots of each kind, because the last stage starts ``p - 1`` slots late (the
    fill) and the first one finishes ``p - 1`` slots after the last (the drain).
    """
    p, m = _positive_int("stages", stages), _positive_int("microbatches", microbatches)
    return (p - 1) / (m + p - 1)


def gpipe_schedule(stages: int, microbatches: int, forward_time: float = 1.0, backward_time: float = 2.0):
    """Start times of every forward ``("F", stage, i)`` and backward ``("B", stage, i)`` in GPipe.

    Each stage runs its forwards in order, then its backwards in reverse order (the last
    microbatch first, as its activations are the freshest). An operation starts when its stage
    is free and its input is ready: the forward of microbatch ``i`` on stage ``s`` needs it on
    stage ``s - 1``; its backward needs the backward on stage ``s + 1`` (on the last stage, its
    own forward). Returns ``(starts, makespan, bubble)`` with ``bubble`` the idle share of the
    ``stages * makespan`` stage-time: found from the schedule, not from the formula.
    """
    p, m = _positive_int("stages", stages), _positive_int("microbatches", microbatches)
    if not (forward_time > 0 and backward_time > 0):
        raise ValueError(f"forward_time and backward_time must be positive; got {forward_time}, {backward_time}")
    finish, starts = {}, {}
    free = [0.0] * p
    for s in range(p):                                           # forwards, stage by stage
        for i in range(m):
            ready = finish[("F", s - 1, i)] if s > 0 else 0.0
            starts[("F", s, i)] = t = max(free[s], ready)
            finish[("F", s, i)] = free[s] = t + forward_time
    for s in reversed(range(p)):                                 # backwards, last stage first
        for i in reversed(range(m)):
            ready = finish[("B", s + 1, i)] if s < p - 1 else finish[("F", s, i)]
            starts[("B", s, i)] = t = max(free[s], ready)
            finish[("B", s, i)] = free[s] = t + backward_time
    makespan = max(finish.values())
    busy = p * m * (forward_time + backward_time)
    return starts, makespan, 1 - busy / (p * makespan)


# ----------------------------------------------------------------------------- energy


@dataclass(frozen=True)
class Interval:
    """A quantity known only to lie in ``[low, high]``; products and quotients of positive
    intervals stay intervals (the extremes combine the extremes)."""

    low: float
    high: float

    def __post_init__(self):
        if not (0 < self.low <= self.high and math.isfinite(self.high)):
            raise ValueError(f"an Interval needs 0 < low <= high < inf; got ({self.low}, {self.high})")

    @classmethod
    def of(cls, value) -> Interval:
        return value if isinstance(value, Interval) else cls(float(value), float(value))

    def __mul__(self, other):
        o = Interval.of(other)
        return Interval(self.low * o.low, self.high * o.high)

    __rmul__ = __mul__

    def __truediv__(self, other):
        o = Interval.of(other)
        return Interval(self.low / o.high, self.high / o.low)

    def __contains__(self, value) -> bool:
        return self.low <= value <= self.high

    @property
    def ratio(self) -> float:
        """high / low: how many times the estimate could be off."""
        return self.high / self.low


def training_energy(flops, peak_flops_per_chip, utilisation, watts_per_chip, pue, kg_co2_per_kwh):
    """``(chip_hours, kWh, tonnes CO2e)`` of a training run, each an :class:`Interval`.

    chip-seconds = FLOPs / (peak FLOP/s x utilisation); energy = chip-seconds x watts x PUE
    (the data centre's overhead: cooling, power conversion); CO2e = kWh x the grid's carbon
    intensity. Pass any factor as a number or as an Interval of what is plausible.
    """
    chip_seconds = Interval.of(flops) / (Interval.of(peak_flops_per_chip) * utilisation)
    kwh = chip_seconds * watts_per_chip * pue / 3.6e6
    return chip_seconds / 3600, kwh, kwh * kg_co2_per_kwh / 1000
