"""Write the student edition of every notebook in the book, and check that it is current.

    python tools/editions.py                  # regenerate editions/student/ (what Colab opens)
    python tools/editions.py --check          # exit 1 and say why if it is not current
    python tools/editions.py --notebook-edition DIR   # also write the notebook edition (solutions kept)
    python tools/editions.py --only chapters/03_math_of_learning   # one notebook
    python tools/editions.py --executed DIR   # numbers from executed copies DIR/chapters/...ipynb

The student edition lives in the repository, under ``editions/student/``, with the
book's own paths (``editions/student/chapters/03_math_of_learning.ipynb``), because
Colab opens notebooks from GitHub: the book's launch button points there
(``repository.path_to_book`` in ``_config.yml``). The conversion is ``labs.editions``.

The numbers in an edition's prose come from an executed CPU run of the same chapter
code. Each edition stores them with a hash of the chapter's code cells, so:

- if the chapter's code did not change, the stored numbers are reused: a change to the
  prose only needs this script, which then runs nothing;
- otherwise they come from the book's own run (the jupyter-cache of ``make book``, in
  ``_build/.jupyter_cache``) when it holds this exact code, so the edition prints what the
  HTML book prints;
- otherwise this script executes the notebook itself with ``LABS_PROFILE=cpu``.

*Current* means: every file is byte for byte what this script writes from today's
chapters, and its numbers came from a run of today's chapter code (the hash). The
numbers themselves may differ in the last digit from a run on another machine; the
edition's note says that they are the book's CPU run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labs.editions import (
    Book,
    EditionError,
    code_hash,
    dumps,
    glue_values,
    glued_names,
    myst_remnants,
    notebook_edition,
    stored_values,
    student_edition,
)
from labs.results import READS_RESULTS
from labs.results import STORE as RESULTS_STORE
from tools.notebooks import ROOT, toc_files, toc_notebooks

EDITION_DIR = "editions/student"
CACHE = "_build/.jupyter_cache"
REGENERATE = "run `make editions` (python tools/editions.py) and commit editions/student/"


def docpath_of(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def load_book(root: Path = ROOT) -> tuple[Book, dict[str, dict]]:
    """The book's notebooks, ``{docpath: notebook}``, and what references need from them."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository", {})
    notebooks = {docpath_of(p, root): load(p) for p in toc_notebooks(root)}
    other = {}
    for doc in toc_files(root):
        md = root / f"{doc}.md"
        if md.exists():
            for line in md.read_text(encoding="utf-8").split("\n"):
                if line.startswith("# "):
                    other[doc] = line[2:].strip()
                    break
    bib = [root / b for b in config.get("bibtex_bibfiles", [])]
    book = Book.from_notebooks(notebooks, bib[0] if bib else None, repo["url"], repo.get("branch", "main"), other)
    for doc in other:
        book.add_page(doc, (root / f"{doc}.md").read_text(encoding="utf-8"))
    return book, notebooks


def reads_results(nb: dict) -> bool:
    """Whether a notebook takes other chapters' numbers from the results store (chapter 14)."""
    return any(READS_RESULTS.search("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code")


def results_store(root: Path = ROOT) -> str:
    """labs/data/results.json as it must be: the glued numbers of every committed edition, with
    the hash of the code that produced them (notebooks that read the store are left out)."""
    _, notebooks = load_book(root)
    store = {}
    for docpath, nb in notebooks.items():
        path = edition_path(docpath, root)
        if reads_results(nb) or not path.exists():
            continue
        edition = load(path)
        glue = {k: v["text/plain"] for k, v in stored_values(edition).items() if "text/plain" in v}
        if glue:
            store[docpath] = {"code_sha256": edition["metadata"]["edition"]["code_sha256"], "glue": glue}
    return json.dumps(store, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def store_path(root: Path = ROOT) -> Path:
    return root / RESULTS_STORE.relative_to(ROOT)


def write_results_store(root: Path = ROOT, log=print) -> None:
    text, path = results_store(root), store_path(root)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        log(f"wrote {path.relative_to(root)}")


def edition_path(docpath: str, root: Path = ROOT) -> Path:
    return root / EDITION_DIR / f"{docpath}.ipynb"


def reusable_values(nb: dict, docpath: str, root: Path = ROOT) -> dict | None:
    """The committed edition's numbers, when they came from this very code."""
    path = edition_path(docpath, root)
    if not path.exists():
        return None
    edition = load(path)
    meta = edition.get("metadata", {}).get("edition", {})
    values = stored_values(edition)
    if meta.get("code_sha256") != code_hash(nb) or not glued_names(nb) <= set(values):
        return None
    return values


def cached_run(nb: dict, root: Path = ROOT) -> dict | None:
    """The book build's executed copy of ``nb``, if its jupyter-cache holds this code."""
    if not (root / CACHE).is_dir():
        return None
    import nbformat
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(str(root / CACHE)).merge_match_into_notebook(nbformat.reads(json.dumps(nb), as_version=4))
    except KeyError:
        return None
    return merged


def execute(nb: dict, path: Path, timeout: int = 600) -> dict:
    """Run ``nb`` top to bottom with the CPU profile, as the book does; a cell error is fatal."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["LABS_PROFILE"] = "cpu"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    executed = nbformat.reads(json.dumps(nb), as_version=4)  # sources as strings, as nbclient expects
    NotebookClient(executed, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return executed


def values_for(nb: dict, docpath: str, root: Path = ROOT, rerun: bool = False, log=print,
               executed_dir: Path | None = None) -> dict:
    names = glued_names(nb)
    if not names:
        return {}
    if not rerun and (values := reusable_values(nb, docpath, root)) is not None:
        return {k: values[k] for k in names}
    given = executed_dir / f"{docpath}.ipynb" if executed_dir else None
    if given is not None and given.exists():
        executed = load(given)
        if code_hash(executed) != code_hash(nb):
            raise EditionError(f"{given} was executed from other code than {docpath}.ipynb")
        log(f"{docpath}: numbers from {given}")
        for index, cell in enumerate(executed["cells"]):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    log(f"  warning: cell {index} of {given} raised {output.get('ename')}; its numbers are used as they are")
    elif (executed := cached_run(nb, root)) is not None:
        log(f"{docpath}: numbers from the book build's run ({CACHE})")
    else:
        log(f"{docpath}: executing it (LABS_PROFILE=cpu) for its numbers ...")
        executed = execute(nb, root / f"{docpath}.ipynb")
    return glue_values(executed, names)


def write_editions(root: Path = ROOT, rerun: bool = False, notebook_dir: Path | None = None, log=print,
                   executed_dir: Path | None = None, only: list[str] | None = None) -> list[str]:
    """Write every edition (or those of ``only``, book paths such as ``chapters/03_math_of_learning``);
    return the problems of the notebooks that could not be written."""
    book, notebooks = load_book(root)
    unknown = sorted(set(only or []) - set(notebooks))
    if unknown:
        raise EditionError(f"not notebooks of the book: {unknown}; choose from {sorted(notebooks)}")
    written, failed = [], []
    # the notebooks that read the results store go last, after the store is written from the others
    order = sorted(notebooks, key=lambda d: reads_results(notebooks[d]))
    store_written = False
    for docpath in order:
        nb = notebooks[docpath]
        if reads_results(nb) and not store_written:
            write_results_store(root, log)
            store_written = True
        target = edition_path(docpath, root)
        written.append(target)  # a failed or skipped one is kept as it was, never deleted
        if only and docpath not in only:
            continue
        try:
            values = values_for(nb, docpath, root, rerun, log, executed_dir)
            outputs = [(target, student_edition(nb, docpath, book, values))]
            if notebook_dir is not None:
                outputs.append((notebook_dir / f"{docpath}.ipynb", notebook_edition(nb, docpath, book, values)))
        except Exception as exc:  # noqa: BLE001 - reported per notebook; the others are still written
            import traceback

            where = traceback.extract_tb(exc.__traceback__)[-1]
            detail = str(exc)[:2000] or f"(no message; raised at {where.filename}:{where.lineno}: {where.line})"
            failed.append(f"{docpath}: {type(exc).__name__}: {detail}")
            log(f"FAILED {failed[-1]}")
            continue
        for path, edition in outputs:
            if leftovers := myst_remnants(edition):
                raise EditionError(f"{docpath}: MyST left in the edition: {leftovers}")
            path.parent.mkdir(parents=True, exist_ok=True)
            text = dumps(edition)
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                log(f"wrote {path.relative_to(root) if path.is_relative_to(root) else path}")
    for path in sorted(set((root / EDITION_DIR).rglob("*.ipynb")) - set(written)):
        path.unlink()
        log(f"removed {path.relative_to(root)} (no longer in _toc.yml)")
    write_results_store(root, log)
    return failed


def edition_problems(docpath: str, nb: dict, book: Book, root: Path = ROOT) -> list[str]:
    """Why the committed student edition of ``docpath`` is not current (empty when it is)."""
    path = edition_path(docpath, root)
    shown = path.relative_to(root)
    if not path.exists():
        return [f"{shown} is missing"]
    committed = load(path)
    if committed.get("metadata", {}).get("edition", {}).get("code_sha256") != code_hash(nb):
        return [f"{shown}: its numbers come from older code of {docpath}.ipynb"]
    try:
        fresh = dumps(student_edition(nb, docpath, book, stored_values(committed)))
    except EditionError as exc:
        return [f"{shown}: {exc}"]
    if fresh != path.read_text(encoding="utf-8"):
        return [f"{shown} differs from what {docpath}.ipynb generates"]
    return []


def problems(root: Path = ROOT) -> list[str]:
    """Why the committed student edition is not current (empty when it is)."""
    book, notebooks = load_book(root)
    found = [p for docpath, nb in notebooks.items() for p in edition_problems(docpath, nb, book, root)]
    expected = {edition_path(docpath, root) for docpath in notebooks}
    for path in sorted(set((root / EDITION_DIR).rglob("*.ipynb")) - expected):
        found.append(f"{path.relative_to(root)} belongs to no notebook in _toc.yml")
    store = store_path(root)
    if not store.exists() or store.read_text(encoding="utf-8") != results_store(root):
        found.append(f"{store.relative_to(root)} does not hold the editions' current numbers")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/editions.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that editions/student is current")
    parser.add_argument("--rerun", action="store_true", help="take fresh numbers (book cache or a new run), not the stored ones")
    parser.add_argument("--notebook-edition", type=Path, metavar="DIR", help="also write the notebook edition under DIR")
    parser.add_argument("--executed", type=Path, metavar="DIR",
                        help="take the numbers from executed copies DIR/<book path>.ipynb (e.g. from nbclient)")
    parser.add_argument("--only", nargs="+", metavar="BOOK_PATH", help="only these notebooks, e.g. chapters/03_math_of_learning")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for line in found:
            print(line)
        if found:
            print(f"The student edition is not current: {REGENERATE}.")
            return 1
        print(f"{EDITION_DIR} is current.")
        return 0
    failed = write_editions(rerun=args.rerun, notebook_dir=args.notebook_edition, executed_dir=args.executed,
                            only=args.only)
    if failed:
        print(f"{len(failed)} edition(s) not written:\n  " + "\n  ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
