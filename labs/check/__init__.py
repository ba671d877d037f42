"""Graders for the exercises.

An exercise in a chapter notebook has three parts:

1. a markdown statement (an ``{exercise}`` block with a label such as ``ex-3-2``);
2. a code cell whose reference solution sits between the markers
   ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the student version replaces
   it with a stub that raises ``NotImplementedError("Exercise 3.2: ...")``);
3. a check cell that calls a grader here, for example
   ``labs.check.ch03.softmax_with_temperature(softmax_with_temperature)``.

A grader prints one short success line, or raises :class:`ExerciseFailed` with a
hint that says which input was tried, what was expected and what came back. In
IPython (Jupyter, Colab) such a failure shows as its message alone: the frames of the
grader are no use to a student (:meth:`ExerciseFailed._render_traceback_`).
"""

from __future__ import annotations

import os
import traceback

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_LABS = os.path.dirname(_HERE)


class ExerciseFailed(AssertionError):
    """A student's answer is not right yet; the message says why."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the message, first line in red."""
        lines = str(self).split("\n")
        return [f"\x1b[1;31m\u2718 {lines[0]}\x1b[0m", *lines[1:]]


class StubNotReplaced(ExerciseFailed, NotImplementedError):
    """The student's function is still the stub: it raised the exercise's ``NotImplementedError``.

    It is a ``NotImplementedError`` too, with the stub's own message, so code that
    catches the stub's error (and the tests) see what the stub raised.
    """

    def _render_traceback_(self) -> list[str]:
        exercise = str(self).split(":", 1)[0]
        return [
            f"\x1b[1;31m\u2718 {exercise} is not done yet: its function still raises NotImplementedError.\x1b[0m",
            "Replace the `raise NotImplementedError(...)` line in the cell above with your code,",
            "run that cell, then run this check again. The task:",
            f"  {self}",
        ]


def as_float_array(value):
    """``value`` as a float64 array, or None when it cannot be one (a student may return anything)."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def matches(got, candidate) -> bool:
    """True when ``got`` has ``candidate``'s shape and values: how a grader recognises a known slip."""
    arr = as_float_array(got)
    return arr is not None and arr.shape == np.shape(candidate) and np.allclose(arr, candidate, rtol=1e-6, atol=1e-9)


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
    except ExerciseFailed:
        raise
    except NotImplementedError as exc:
        raise StubNotReplaced(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a student's bug, reported with its input
        where = _student_line(exc)
        hints = [h for h in (_hint_for_error(exc), hint) if h]
        fail(
            exercise,
            f"calling it on {inputs} raised {type(exc).__name__}: {exc}" + (f"\n  in your code: {where}" if where else ""),
            "\nHint: ".join(hints) or None,
        )


def _student_line(exc: BaseException) -> str | None:
    """Where in the student's own code ``exc`` was raised: the last frame outside
    ``labs`` and the installed libraries, as "line 4 of f: `return e / s`"."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(f.filename).startswith(_LABS)
        and "site-packages" not in f.filename
        and not f.filename.startswith(os.path.dirname(os.__file__))
    ]
    if not frames:
        return None
    last = frames[-1]
    code = f": `{last.line.strip()}`" if last.line else ""
    return f"line {last.lineno} of {last.name}{code}"


def _hint_for_error(exc: BaseException) -> str | None:
    """A hint for the classic NumPy shape errors, whatever the exercise."""
    text = str(exc)
    if "could not be broadcast" in text:
        return (
            "a reduction such as z.max(axis=-1) or e.sum(axis=-1) drops the axis it reduces, so its "
            "result no longer lines up with z; pass keepdims=True to keep that axis (with length 1)"
        )
    if "mismatch in its core dimension" in text or "not aligned" in text:
        return (
            "in A @ B the last axis of A must have the length of the first axis of B; "
            "print the shapes and check which operand needs a transpose (.T)"
        )
    return None


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
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(got_arr))[0]) if got_arr.shape else ()
        fail(
            exercise,
            f"{what} for {inputs} contains NaN or inf: {_short(got_arr)}; expected {_short(exp_arr)}"
            + (f"\n  first at index {first}: expected {exp_arr[first]:.6g}, got {got_arr[first]}" if first else ""),
            hint,
        )
    if not np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(got_arr - exp_arr)), exp_arr.shape) if exp_arr.shape else ()
        fail(
            exercise,
            f"{what} for {inputs} is wrong.\n  expected: {_short(exp_arr)}\n  got:      {_short(got_arr)}"
            + (_worst_element(exp_arr, got_arr, worst) if worst else ""),
            hint,
        )


def _worst_element(expected: np.ndarray, got: np.ndarray, index: tuple) -> str:
    """The element that differs most, named by its index, with both values: the printed
    prefix of a large array may not reach it."""
    at = tuple(int(i) for i in index)
    return f"\n  largest difference at index {at}: expected {expected[at]:.6g}, got {got[at]:.6g}"
