"""The student-notebook generator on small, hand-made notebooks."""

from __future__ import annotations

import json

import nbformat
import pytest

from labs.student import SolutionMarkerError, main, strip_solutions, student_notebook

SOLVED = '''def square(x):
    """Return x squared."""
    ### BEGIN SOLUTION Exercise 9.1: multiply x by itself
    result = x * x
    return result
    ### END SOLUTION'''


def test_solution_is_replaced_by_a_stub_at_the_same_indentation():
    text, found = strip_solutions(SOLVED)
    assert 'raise NotImplementedError("Exercise 9.1: multiply x by itself")' in text.replace("'", '"')
    assert "result = x * x" not in text
    assert text.splitlines()[2].startswith("    raise")
    assert [s.exercise for s in found] == ["Exercise 9.1"]
    namespace = {}
    exec(text, namespace)
    with pytest.raises(NotImplementedError, match=r"^Exercise 9\.1: multiply x by itself$"):
        namespace["square"](3)


def test_reference_still_runs():
    namespace = {}
    exec(SOLVED, namespace)
    assert namespace["square"](3) == 9


def test_marker_without_task_gets_a_default_message():
    text, _ = strip_solutions("### BEGIN SOLUTION Exercise 2.3\nx = 1\n### END SOLUTION")
    assert "Exercise 2.3: write your solution here" in text


@pytest.mark.parametrize(
    "bad, message",
    [
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "should read"),
        ("### BEGIN SOLUTION Exercise 1.1\nx = 1\n", "no END SOLUTION"),
        ("x = 1\n### END SOLUTION", "without a BEGIN"),
        ("### BEGIN SOLUTION Exercise 1.1\n### BEGIN SOLUTION Exercise 1.2\n### END SOLUTION", "nested"),
    ],
)
def test_malformed_markers_are_reported(bad, message):
    with pytest.raises(SolutionMarkerError, match=message):
        strip_solutions(bad)


def _notebook():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell(SOLVED, execution_count=3)
    code.outputs = [nbformat.v4.new_output("stream", text="9\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), code]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_student_notebook_clears_outputs_and_widget_state():
    student, removed = student_notebook(json.loads(nbformat.writes(_notebook())))
    assert len(removed) == 1
    cell = student["cells"][1]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert "widgets" not in student["metadata"]
    assert "x * x" not in cell["source"]


def test_command_line_writes_student_copies(tmp_path, capsys):
    src = tmp_path / "chapters"
    src.mkdir()
    nbformat.write(_notebook(), src / "09_demo.ipynb")
    assert main([str(src), "--out", str(tmp_path / "student")]) == 0
    out = tmp_path / "student" / "09_demo.ipynb"
    assert "1 exercise stub" in capsys.readouterr().out
    assert "NotImplementedError" in out.read_text()
    nbformat.validate(nbformat.read(out, as_version=4))
