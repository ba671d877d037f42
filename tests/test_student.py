"""The student-notebook generator on small, hand-made notebooks."""

from __future__ import annotations

import json

import nbformat
import pytest

from labs.student import (
    EDITION,
    SolutionMarkerError,
    copy_workspace,
    main,
    strip_solutions,
    student_notebook,
)

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


def test_a_chapter_part_marks_its_exercises_with_its_letter():
    text, found = strip_solutions("### BEGIN SOLUTION Exercise 10b.2: sum the shards\nx = 1\n### END SOLUTION")
    assert [s.exercise for s in found] == ["Exercise 10b.2"]
    assert "Exercise 10b.2: sum the shards" in text and "x = 1" not in text


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


def _edition(tmp_path):
    edition = tmp_path / "editions" / "student"
    (edition / "chapters").mkdir(parents=True)
    student, _ = student_notebook(json.loads(nbformat.writes(_notebook())))
    (edition / "chapters" / "09_demo.ipynb").write_text(json.dumps(student), encoding="utf-8")
    return edition


def test_the_workspace_gets_a_copy_of_the_student_edition(tmp_path, capsys):
    edition = _edition(tmp_path)
    out = tmp_path / "student"
    assert main(["--edition", str(edition), "--out", str(out)]) == 0
    copy = out / "chapters" / "09_demo.ipynb"
    assert "wrote" in capsys.readouterr().out
    assert copy.read_text() == (edition / "chapters" / "09_demo.ipynb").read_text()
    nbformat.validate(nbformat.read(copy, as_version=4))


def test_the_workspace_keeps_the_students_work_unless_forced(tmp_path, capsys):
    edition = _edition(tmp_path)
    out = tmp_path / "student"
    main(["--edition", str(edition), "--out", str(out)])
    work = out / "chapters" / "09_demo.ipynb"
    work.write_text(work.read_text().replace("NotImplementedError", "print"))  # the student's answer
    main(["--edition", str(edition), "--out", str(out)])
    assert "kept 1 notebook" in capsys.readouterr().out
    assert "NotImplementedError" not in work.read_text()
    main(["--edition", str(edition), "--out", str(out), "--force"])
    assert "NotImplementedError" in work.read_text()


def test_the_workspace_refuses_a_notebook_with_solutions(tmp_path):
    edition = tmp_path / "edition"
    edition.mkdir()
    nbformat.write(_notebook(), edition / "09_demo.ipynb")
    with pytest.raises(SolutionMarkerError, match="not a student edition"):
        copy_workspace(edition, tmp_path / "student")


def test_a_missing_edition_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--edition", str(tmp_path / "nowhere"), "--out", str(tmp_path / "student")])
    assert "no student edition in" in capsys.readouterr().err


def test_the_default_edition_is_the_committed_one():
    from tests.notebook_utils import ROOT
    from tools.editions import EDITION_DIR

    assert EDITION == ROOT / EDITION_DIR


def test_make_lab_opens_the_workspace_with_the_whole_repository_in_reach():
    from tests.notebook_utils import ROOT

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert recipe.split("\n", 1)[0].split() == ["$(STAMP)", "student"]  # the workspace exists first
    assert "--ServerApp.root_dir=." in recipe and "--LabApp.default_url=/lab/tree/student" in recipe
    student = makefile.split("\nstudent:", 1)[1].split("\n\n", 1)[0]
    assert "-m labs.student --out student" in student


def test_the_old_command_line_says_what_replaced_it(capsys):
    with pytest.raises(SystemExit):
        main(["chapters", "--out", "student"])
    assert "tools/editions.py" in capsys.readouterr().err
