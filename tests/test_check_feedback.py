"""What a student sees when a grader says no: the message alone, the element that
differs, and a hint for the classic shape errors (labs.check's shared machinery)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from labs.check import ExerciseFailed, StubNotReplaced, call_student, expect_close, fail


def _keepdims_forgotten(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1))  # the classic mistake: no keepdims=True
    return e / e.sum(axis=-1)


def _stub(z):
    raise NotImplementedError("Exercise 9.1: subtract the row maximum")


def test_ipython_shows_the_message_alone(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("from labs.check import fail\nfail('Exercise 9.1', 'the sum is 3; expected 4', 'add one')")
    out = capsys.readouterr().out
    assert "Exercise 9.1: the sum is 3; expected 4" in out and "Hint: add one" in out
    assert "Traceback" not in out and "labs/check" not in out and "def fail" not in out


def test_a_stub_renders_as_what_to_do_and_keeps_its_message():
    with pytest.raises(StubNotReplaced) as info:
        call_student("Exercise 9.1", _stub, (np.zeros(3),), "z = [0, 0, 0]")
    error = info.value
    assert isinstance(error, NotImplementedError) and isinstance(error, ExerciseFailed)
    assert str(error) == "Exercise 9.1: subtract the row maximum"  # the stub's own message
    shown = "\n".join(error._render_traceback_())
    assert "not done yet" in shown and "Exercise 9.1: subtract the row maximum" in shown


def test_a_broadcast_error_gets_the_keepdims_hint_and_the_students_line():
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    with pytest.raises(ExerciseFailed) as info:
        call_student("Exercise 9.1", _keepdims_forgotten, (z,), "a batch of 2 rows")
    message = str(info.value)
    assert "raised ValueError: operands could not be broadcast" in message
    assert "keepdims=True" in message
    assert re.search(r"in your code: line \d+ of _keepdims_forgotten: `e = np.exp\(z - z.max\(axis=-1\)\)", message)


def test_a_graders_own_hint_follows_the_generic_one():
    with pytest.raises(ExerciseFailed) as info:
        call_student("Exercise 9.1", lambda a: a @ a, (np.ones((2, 3)),), "a (2, 3) matrix", hint="use a.T")
    hints = [line for line in str(info.value).split("\n") if line.startswith("Hint:")]
    assert len(hints) == 2 and "transpose" in hints[0] and hints[1] == "Hint: use a.T"


def test_other_crashes_get_no_invented_hint():
    with pytest.raises(ExerciseFailed) as info:
        call_student("Exercise 9.1", lambda z: 1 / 0, (0,), "z = 0")
    assert "Hint" not in str(info.value)


def test_the_worst_element_is_named_even_beyond_the_printed_prefix():
    expected = np.arange(9.0)
    got = expected.copy()
    got[7] = -5.0  # outside the six values printed
    with pytest.raises(ExerciseFailed) as info:
        expect_close("Exercise 9.2", got, expected, what="f(z)", inputs="z = 0..8")
    message = str(info.value)
    assert "starting [0, 1, 2, 3, 4, 5, ...]" in message  # the prefix does not show it
    assert "largest difference at index (7,): expected 7, got -5" in message


def test_the_first_non_finite_element_is_named():
    got = np.ones((2, 4))
    got[1, 3] = np.nan
    with pytest.raises(ExerciseFailed, match=r"first at index \(1, 3\): expected 1, got nan"):
        expect_close("Exercise 9.2", got, np.ones((2, 4)), what="f(z)", inputs="z")


def test_fail_keeps_its_message_for_str():
    with pytest.raises(ExerciseFailed) as info:
        fail("Exercise 9.3", "wrong", "hint")
    assert str(info.value) == "Exercise 9.3: wrong\nHint: hint"
    assert info.value._render_traceback_()[1:] == ["Hint: hint"]


def test_a_jupyter_kernel_sends_the_message_without_the_graders_frames():
    """End to end, as Jupyter and Colab run a check cell: ipykernel's error output."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import numpy as np\nfrom labs.check import ch03\n"
            "def softmax_t(z, tau):\n    z = np.asarray(z, dtype=float) / tau\n"
            "    e = np.exp(z - z.max(axis=-1))\n    return e / e.sum(axis=-1)\n"
            "ch03.softmax_with_temperature(softmax_t)"
        )
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    shown = "\n".join(error.traceback)
    assert "Exercise 3.1: calling it on" in shown and "keepdims=True" in shown
    assert "line 5 of softmax_t: `e = np.exp(z - z.max(axis=-1))`" in shown  # the student's own line
    assert "labs/check" not in shown and "call_student" not in shown and len(error.traceback) <= 4
