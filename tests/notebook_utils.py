"""Reading chapter notebooks and running their Exercises section (shared by tests)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
EXERCISE_HEADING = re.compile(r"^##\s+Exercises\s*$", re.MULTILINE)
CHECK_CALL = re.compile(r"labs\.check\.ch\d+[a-z]?\.\w+\(")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def exercise_cells(nb: dict) -> list[dict]:
    """The cells from the '## Exercises' heading to the end (empty if there is none)."""
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown" and EXERCISE_HEADING.search(source(cell)):
            return nb["cells"][index:]
    return []


def run_exercises(nb: dict) -> list[dict]:
    """Execute the Exercises section in a fresh namespace, cell by cell.

    Returns one record per code cell: its source, what it printed, and the exception
    it raised (or None). Later cells still run after a failing one, as a student's
    would when they skip an exercise.
    """
    namespace: dict = {"__name__": "__exercises__"}
    records = []
    for cell in exercise_cells(nb):
        if cell["cell_type"] != "code":
            continue
        code = source(cell)
        out = io.StringIO()
        error = None
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, "<exercise cell>", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - we record whatever a student would see
            error = exc
        records.append({"source": code, "stdout": out.getvalue(), "error": error})
    return records
