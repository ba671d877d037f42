"""Write the student version of chapter notebooks.

``python -m labs.student chapters --out student`` reads every ``*.ipynb`` under
``chapters`` and writes a copy in which

- each reference solution between ``### BEGIN SOLUTION Exercise N.M[: task]``
  and ``### END SOLUTION`` is replaced by
  ``raise NotImplementedError("Exercise N.M: task")`` at the same indentation;
- every output, execution count and saved widget state is removed.

The check cells stay, so a student runs them and gets graded feedback.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\s+(?P<id>Exercise \d+\.\d+)(?::\s*(?P<task>.*?))?\s*$")
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


def write_student_notebooks(src: Path, out: Path) -> list[Path]:
    written = []
    paths = [src] if src.is_file() else sorted(src.rglob("*.ipynb"))
    for path in paths:
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        student, removed = student_notebook(nb, where=str(path))
        target = out / (path.relative_to(src) if src.is_dir() else path.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{target}: {len(removed)} exercise stub(s)")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labs.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a notebook or a folder of notebooks (e.g. chapters)")
    parser.add_argument("--out", type=Path, default=Path("student"), help="output folder (default: student)")
    args = parser.parse_args(argv)
    if not args.source.exists():
        parser.error(f"{args.source} does not exist")
    write_student_notebooks(args.source, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
