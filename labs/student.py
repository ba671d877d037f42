"""Student notebooks: reference solutions replaced by stubs, and a workspace to solve them in.

:func:`student_notebook` makes the student copy of a notebook:

- each reference solution between ``### BEGIN SOLUTION Exercise N.M[: task]``
  and ``### END SOLUTION`` is replaced by
  ``raise NotImplementedError("Exercise N.M: task")`` at the same indentation;
- every output, execution count and saved widget state is removed.

The check cells stay, so a student runs them and gets graded feedback.
``labs.editions.student_edition`` applies it to the notebook edition (plain Markdown);
``tools/editions.py`` writes that edition to ``editions/student/`` in the repository,
which is what Colab opens.

``python -m labs.student --out student`` (``make student``) copies the student edition
into ``student/``, the folder a student works in locally. A notebook that is already
there is the student's work and is kept unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\s+(?P<id>Exercise \d+[a-z]?\.\d+)(?::\s*(?P<task>.*?))?\s*$")
END = re.compile(r"^[ \t]*### END SOLUTION\s*$")


class SolutionMarkerError(ValueError):
    """The solution markers in a cell are unbalanced or malformed."""


@dataclass
class Solution:
    exercise: str  # "Exercise 3.2"
    task: str  # what the stub asks for
    body: list[str]  # the reference lines that the stub replaces


def _source_lines(cell) -> list[str]:
    src = cell["source"]
    text = "".join(src) if isinstance(src, list) else src
    return text.split("\n")


def strip_solutions(source: str, where: str = "cell") -> tuple[str, list[Solution]]:
    """Return ``source`` with every solution block replaced by its stub."""
    out: list[str] = []
    found: list[Solution] = []
    lines = source.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "### END SOLUTION" in line and not END.match(line):
            raise SolutionMarkerError(f"{where}: malformed marker line {line!r}")
        if END.match(line):
            raise SolutionMarkerError(f"{where}: '### END SOLUTION' without a BEGIN before it (line {i + 1})")
        if "### BEGIN SOLUTION" not in line:
            out.append(line)
            i += 1
            continue
        match = BEGIN.match(line)
        if not match:
            raise SolutionMarkerError(
                f"{where}: marker {line.strip()!r} should read '### BEGIN SOLUTION Exercise N.M: what to do'"
            )
        j = i + 1
        while j < len(lines) and not END.match(lines[j]):
            if "### BEGIN SOLUTION" in lines[j]:
                raise SolutionMarkerError(f"{where}: nested BEGIN SOLUTION at line {j + 1}")
            j += 1
        if j == len(lines):
            raise SolutionMarkerError(f"{where}: {match['id']} has BEGIN SOLUTION but no END SOLUTION")
        task = match["task"] or "write your solution here"
        message = f"{match['id']}: {task}"
        out.append(f"{match['indent']}raise NotImplementedError({message!r})")
        found.append(Solution(match["id"], task, lines[i + 1 : j]))
        i = j + 1
    return "\n".join(out), found


def student_notebook(nb: dict, where: str = "notebook") -> tuple[dict, list[Solution]]:
    """Return a student copy of notebook ``nb`` (a dict) and the solutions removed."""
    student = copy.deepcopy(nb)
    removed: list[Solution] = []
    for index, cell in enumerate(student["cells"]):
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            text = "\n".join(_source_lines(cell))
            new_text, found = strip_solutions(text, where=f"{where} cell {index}")
            if found:
                cell["source"] = new_text
                removed.extend(found)
        cell.get("metadata", {}).pop("widgets", None)
    student.get("metadata", {}).pop("widgets", None)
    return student, removed


EDITION = Path(__file__).resolve().parent.parent / "editions" / "student"


def copy_workspace(edition: Path, out: Path, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Copy every notebook of ``edition`` to the same place under ``out``.

    Returns (written, kept): a notebook that exists under ``out`` already holds the
    student's work, so it is kept unless ``force``.
    """
    written, kept = [], []
    paths = sorted(p for p in edition.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise FileNotFoundError(
            f"no student edition in {edition}: it comes with a clone of the course repository "
            "(or write it with `python tools/editions.py`)"
        )
    for path in paths:
        target = out / path.relative_to(edition)
        if target.exists() and not force:
            kept.append(target)
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        if "### BEGIN SOLUTION" in json.dumps(nb):
            raise SolutionMarkerError(f"{path} still holds a reference solution: it is not a student edition")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        written.append(target)
    return written, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labs.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("student"), help="your workspace (default: student)")
    parser.add_argument("--edition", type=Path, default=EDITION, help=f"the student edition to copy (default: {EDITION})")
    parser.add_argument("--force", action="store_true", help="replace notebooks that are already in the workspace")
    parser.add_argument("source", nargs="?", help=argparse.SUPPRESS)  # the old `labs.student chapters` form
    args = parser.parse_args(argv)
    if args.source is not None:
        parser.error(
            f"{args.source!r}: python -m labs.student now copies the student edition (plain Markdown, "
            "solutions stubbed) into --out; `python tools/editions.py` writes that edition from the chapters"
        )
    try:
        written, kept = copy_workspace(args.edition, args.out, args.force)
    except (FileNotFoundError, SolutionMarkerError) as exc:
        parser.error(str(exc))
    for path in written:
        print(f"wrote {path}")
    if kept:
        print(f"kept {len(kept)} notebook(s) already in {args.out} (your work); --force replaces them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
