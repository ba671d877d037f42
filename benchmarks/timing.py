"""What every benchmark of the course shares: timing steps in alternation, and the machine line.

A benchmark compares two or more ways of doing one thing (the course's code against PyTorch,
a library, or a peer) *side by side in one process*: every round times every step once, in
turn, so a busy spell of a shared machine slows all of them alike. The ratio of two steps
within one round is therefore far steadier than either time, and the median over rounds
ignores the disturbed rounds. ``engine_vs_torch.time_pair`` is the two-step case of
``interleaved``.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np


def _time_once(step, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        step()
    return (time.perf_counter() - start) / number


def interleaved(steps: dict, rounds: int, budget_s: float = 0.05, reference: str | None = None) -> dict:
    """Time each step of ``steps`` (name -> zero-argument callable) in alternation.

    Returns ``{name: {"median_s": ..., "ratio": ...}}``: the median seconds per call over
    ``rounds`` rounds, and the median over rounds of (this step's time / the reference step's
    time in the same round); ``reference`` defaults to the first step. Each timing repeats its
    step often enough to last about ``budget_s``, after one warm-up call.
    """
    if not steps:
        raise ValueError("interleaved() needs at least one step to time; got an empty dict")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    reference = next(iter(steps)) if reference is None else reference
    if reference not in steps:
        raise ValueError(f"reference {reference!r} is not one of the steps {list(steps)}")
    number = {}
    for name, step in steps.items():
        step()  # warm up: allocations, lazy initialisation, JIT compilation
        number[name] = max(1, int(budget_s / max(_time_once(step, 1), 1e-6)))
    times: dict[str, list[float]] = {name: [] for name in steps}
    ratios: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        this_round = {name: _time_once(step, number[name]) for name, step in steps.items()}
        for name, seconds in this_round.items():
            times[name].append(seconds)
            ratios[name].append(seconds / this_round[reference])
    return {name: {"median_s": float(np.median(times[name])), "ratio": float(np.median(ratios[name]))}
            for name in steps}


def machine_line(torch=None) -> str:
    """One line saying where the numbers come from: CPU, cores, load, and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        load = "load average unknown"
    line = f"{cpu}, {os.cpu_count()} cores, {load}; Python {platform.python_version()}, NumPy {np.__version__}"
    if torch is not None:
        line += f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
    return line
