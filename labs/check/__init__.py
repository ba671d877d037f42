"""Graders for the exercises.

An exercise in a chapter notebook has three parts:

1. a markdown statement (an ``{exercise}`` block with a label such as ``ex-3-2``);
2. a code cell whose reference solution sits between the markers
   ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the student version replaces
   it with a stub that raises ``NotImplementedError("Exercise 3.2: ...")``);
3. a check cell that calls a grader here, for example
   ``labs.check.ch03.stable_softmax(stable_softmax)``.

A grader prints one short success line, or raises :class:`ExerciseFailed` with a
hint that says which input was tried, what was expected and what came back.
"""

from __future__ import annotations

import numpy as np


class ExerciseFailed(AssertionError):
    """A student's answer is not right yet; the message says why."""


def passed(exercise: str, detail: str) -> None:
    """Print the success line for ``exercise`` (for example ``"Exercise 3.2"``)."""
    print(f"\u2714 {exercise} passed: {detail}")


def fail(exercise: str, message: str, hint: str | None = None):
    text = f"{exercise}: {message}"
    if hint:
        text += f"\nHint: {hint}"
    raise ExerciseFailed(text)


def call_student(exercise: str, fn, args: tuple = (), inputs: str = "its inputs", hint: str | None = None, **kwargs):
    """Call a student's function the way every grader does.

    A crash in the student's code becomes a graded failure that names the input it
    was given; a stub's ``NotImplementedError`` (and a nested grader's failure) passes
    through unchanged, so the student sees the exercise's own message. NumPy warnings
    are silenced: the graders check finiteness themselves and say so more clearly.
    """
    if not callable(fn):
        fail(exercise, f"expected a function; got {type(fn).__name__}: {fn!r}")
    try:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    except (NotImplementedError, ExerciseFailed):
        raise
    except Exception as exc:  # noqa: BLE001 - a student's bug, reported with its input
        fail(exercise, f"calling it on {inputs} raised {type(exc).__name__}: {exc}", hint)


def _short(value, limit: int = 6) -> str:
    arr = np.asarray(value)
    if arr.size <= limit:
        return np.array2string(arr, precision=4, separator=", ")
    flat = arr.ravel()
    head = ", ".join(f"{v:.4g}" for v in flat[:limit])
    return f"array of shape {arr.shape} starting [{head}, ...]"


def expect_close(exercise: str, got, expected, *, what: str, inputs: str, rtol: float = 1e-5, atol: float = 1e-7, hint: str | None = None) -> None:
    """Fail with a readable message unless ``got`` matches ``expected``.

    Checks type (array-like), shape, finiteness and values, in that order, so that
    the first problem a student sees is the most basic one.
    """
    if got is None:
        fail(exercise, f"{what} returned None for {inputs}; did you forget `return`?", hint)
    try:
        got_arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        fail(exercise, f"{what} should return numbers for {inputs}; got {type(got).__name__}: {got!r}", hint)
    exp_arr = np.asarray(expected, dtype=np.float64)
    if got_arr.shape != exp_arr.shape:
        fail(exercise, f"{what} for {inputs} should have shape {exp_arr.shape}; got shape {got_arr.shape}", hint)
    if not np.all(np.isfinite(got_arr)) and np.all(np.isfinite(exp_arr)):
        fail(exercise, f"{what} for {inputs} contains NaN or inf: {_short(got_arr)}; expected {_short(exp_arr)}", hint)
    if not np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(got_arr - exp_arr)), exp_arr.shape) if exp_arr.shape else ()
        fail(
            exercise,
            f"{what} for {inputs} is wrong.\n  expected: {_short(exp_arr)}\n  got:      {_short(got_arr)}"
            + (f"\n  largest difference at index {tuple(int(i) for i in worst)}" if worst else ""),
            hint,
        )
