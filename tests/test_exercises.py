"""Every exercise: the reference passes its grader, the student stub fails it,
and no solution text survives in the student notebook."""

from __future__ import annotations

import pytest

from labs.student import student_notebook
from tests.notebook_utils import CHAPTERS, CHECK_CALL, exercise_cells, load, run_exercises, source

WITH_EXERCISES = [p for p in CHAPTERS if exercise_cells(load(p))]


@pytest.fixture(autouse=True)
def _quiet_matplotlib(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_reference_solutions_pass_their_graders(path):
    records = run_exercises(load(path))
    checks = [r for r in records if CHECK_CALL.search(r["source"])]
    assert checks, f"{path.name}: the Exercises section calls no grader"
    for record in records:
        assert record["error"] is None, f"{path.name}: cell\n{record['source']}\nraised {record['error']!r}"
    for record in checks:
        assert "passed" in record["stdout"], f"{path.name}: grader printed no success line:\n{record['stdout']}"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_student_stubs_fail_their_graders_with_the_stub_message(path):
    student, removed = student_notebook(load(path))
    assert removed, f"{path.name}: no solution markers found"
    records = run_exercises(student)
    messages = [str(r["error"]) for r in records if isinstance(r["error"], NotImplementedError)]
    for solution in removed:
        assert any(m.startswith(solution.exercise + ":") for m in messages), (
            f"{path.name}: no cell failed with the stub of {solution.exercise}"
        )
    for record in records:
        if CHECK_CALL.search(record["source"]):
            assert record["error"] is not None, f"{path.name}: a grader passed a stub:\n{record['source']}"
            assert "passed" not in record["stdout"]


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_no_solution_text_survives_in_the_student_version(path):
    reference = load(path)
    student, removed = student_notebook(reference)
    student_text = "\n".join(source(c) for c in student["cells"])
    reference_outside = "\n".join(
        line for c in reference["cells"] for line in source(c).split("\n")
    )
    for solution in removed:
        for line in solution.body:
            text = line.strip()
            if len(text) < 8 or text.startswith("#"):
                continue  # short lines such as `return y` are not a give-away
            # a line may legitimately appear elsewhere in the notebook (e.g. the statement)
            elsewhere = reference_outside.count(text) > 1
            if not elsewhere:
                assert text not in student_text, f"{path.name}: {solution.exercise} leaks {text!r}"
    for cell in student["cells"]:
        assert not cell.get("outputs"), "student notebooks carry no outputs"
