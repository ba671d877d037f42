"""The book's shared results store: every number a chapter glues, kept where other chapters can read it.

Chapter 14 answers the source articles' questions with the numbers that chapters 1-13
measured. It never retypes them: it reads them from ``labs/data/results.json``, which
``tools/editions.py`` (``make editions``) writes from the same executed run that the student
editions take their numbers from, and ``tests/test_editions.py`` fails when it is not current.

    from labs.results import value
    value("chapters/07_attention_transformers", "bpc_gpt")   # -> 2.68... (a float)

Each entry also records the SHA-256 of the chapter's code cells that produced it. A notebook
that reads the store is not itself recorded in it (its numbers would depend on themselves).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

__all__ = ["READS_RESULTS", "STORE", "chapters", "load", "store_digest", "value"]

STORE = Path(__file__).resolve().parent / "data" / "results.json"
# a notebook "reads the store" when its code mentions this module
READS_RESULTS = re.compile(r"\blabs\.results\b|\bfrom labs import results\b")


@lru_cache(maxsize=4)
def _read(path: str, mtime: float) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load(path: Path | str | None = None) -> dict:
    """{book path: {"code_sha256": ..., "glue": {name: text}}} for every chapter that glues numbers."""
    path = Path(path) if path else STORE
    if not path.exists():
        raise FileNotFoundError(f"no results store at {path}: run `make editions` (python tools/editions.py) to write it")
    return _read(str(path), path.stat().st_mtime)


def store_digest(path: Path | str | None = None) -> str:
    """SHA-256 of the store's bytes ("absent" when there is none): part of a reading notebook's code hash."""
    path = Path(path) if path else STORE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def chapters(path: Path | str | None = None) -> list[str]:
    return sorted(load(path))


def value(docpath: str, name: str, path: Path | str | None = None):
    """The number (or text) that notebook ``docpath`` glued under ``name`` in the book's run.

    Numbers come back as int or float, text as str (the glued value's ``repr`` is parsed)."""
    store = load(path)
    docpath = docpath.removesuffix(".ipynb")
    if docpath not in store:
        raise KeyError(f"{docpath!r} is not in the results store; it has {sorted(store)}")
    glued = store[docpath]["glue"]
    if name not in glued:
        close = [n for n in glued if name.split("_")[0] in n][:8]
        raise KeyError(f"{docpath} glues no {name!r}" + (f"; similar names: {close}" if close else f"; it glues {sorted(glued)[:20]}"))
    text = glued[name]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # e.g. a numpy scalar's repr: np.float64(0.5)
