"""Guards on the book's structure: what CI and readers rely on."""

from __future__ import annotations

import re

import pytest
import yaml

from labs.notebook import REPOSITORY_URL, SETUP_CELL
from labs.student import BEGIN
from tests.notebook_utils import CHAPTERS, ROOT, exercise_cells, load, source
from tools.notebooks import toc_files
from tools.timings import BUDGET_S

EXECUTED = CHAPTERS + sorted((ROOT / "book" / "mistakes").glob("*.ipynb"))
# The least number of graded exercises each chapter promises (the issues).
MIN_EXERCISES = {"01": 3, "02": 3, "03": 5, "04": 4, "05": 4, "06": 4, "07": 4, "08": 4,
                 # chapters 9-12 are split in two parts (book/authoring.md): >= 3 each, >= 6 a chapter
                 "09a": 3, "09b": 3, "10a": 3, "10b": 3, "11a": 3, "11b": 3, "12a": 3, "12b": 3}


def test_every_chapter_notebook_is_in_the_toc_and_vice_versa():
    listed = set(toc_files())
    on_disk = {p.relative_to(ROOT).with_suffix("").as_posix() for p in EXECUTED}
    assert on_disk - listed == set(), "notebooks missing from _toc.yml"
    for entry in listed:
        matches = list(ROOT.glob(entry + ".*"))
        assert matches, f"_toc.yml lists {entry}, which does not exist"


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = load(path)
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them (jupyter nbconvert --clear-output --inplace)"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name} carries saved widget state"


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: p.name)
def test_first_cell_is_the_colab_setup_cell(path):
    first = load(path)["cells"][0]
    assert first["cell_type"] == "code"
    assert source(first).strip() == SETUP_CELL.strip()


def test_setup_cell_installs_from_the_configured_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["url"] == REPOSITORY_URL
    assert f"git+{REPOSITORY_URL}" in SETUP_CELL
    assert "torch" not in SETUP_CELL.split("pip")[1].split("]")[0], "the set-up cell must never install torch"


def test_book_executes_and_fails_on_errors():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    execute = config["execute"]
    assert execute["execute_notebooks"] in ("cache", "force")
    assert execute["allow_errors"] is False
    assert execute["timeout"] > 0


def test_every_glossary_file_is_included():
    page = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    for part in sorted((ROOT / "book" / "glossary").glob("*.md")):
        assert f"{{include}} glossary/{part.name}" in page, f"book/glossary.md does not include {part.name}"


def test_glossary_terms_are_bilingual_and_unique():
    seen = {}
    for part in sorted((ROOT / "book" / "glossary").glob("*.md")):
        for line in part.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith((" ", "\t", "`", ":", "#")):
                assert re.search(r"\(.*[\u4e00-\u9fff].*\)", line), f"{part.name}: term {line!r} lacks its Chinese name"
                key = line.split("(")[0].strip().lower()
                assert key not in seen, f"glossary term {key!r} is defined in {seen[key]} and {part.name}"
                seen[key] = part.name


def test_timings_table_covers_every_notebook_within_budget():
    table = (ROOT / "book" / "timings.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([^`]+)` \| ([0-9.]+) \|$", table, re.MULTILINE))
    for path in EXECUTED:
        rel = path.relative_to(ROOT).as_posix()
        assert rel in rows, f"{rel} has no timing: run `make timings`"
        assert float(rows[rel]) <= BUDGET_S, f"{rel} took {rows[rel]} s, over the {BUDGET_S} s budget"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_its_graded_exercises(path):
    nb = load(path)
    cells = exercise_cells(nb)
    assert cells, f"{path.name} has no '## Exercises' section"
    code = [source(c) for c in cells if c["cell_type"] == "code"]
    ids = [m["id"] for src in code for m in map(BEGIN.match, src.split("\n")) if m]
    assert len(ids) == len(set(ids)), f"{path.name}: an exercise number is used twice: {ids}"
    digits, part = re.match(r"(\d+)([a-z]?)_", path.name).groups()
    assert len(ids) >= MIN_EXERCISES.get(digits + part, 3), f"{path.name} has {len(ids)} graded exercises"
    assert all(i.startswith(f"Exercise {int(digits)}{part}.") for i in ids), f"{path.name}: exercise ids {ids}"
    for cell in cells:
        if cell["cell_type"] == "code" and "### BEGIN SOLUTION" in source(cell):
            tags = cell.get("metadata", {}).get("tags", [])
            assert "hide-input" in tags, f"{path.name}: a solution cell is not tagged hide-input, so the book would show it"


_PLAIN_CHAPTER = re.compile(r"\b[Cc]hapters? (\d+)([ab]?)\b")
_DOC_LINK = re.compile(r"\{doc\}`[^`<]*<(?:\.\./)*(?:chapters/)?(\d+)([ab]?)_[a-z0-9_]+>`")


def test_chapters_1_to_6_link_the_later_chapters_they_name():
    """Chapters 1-6 were written before chapters 7-14; a reader who meets "chapter 12" there gets a
    link to it, at least once in each cell that names it, so the forward references stay clickable."""
    unlinked = []
    for path in sorted(ROOT.glob("chapters/0[1-6]_*.ipynb")) + sorted(ROOT.glob("book/mistakes/ch0[1-6].ipynb")):
        for i, cell in enumerate(load(path)["cells"]):
            if cell["cell_type"] != "markdown":
                continue
            text = source(cell)
            linked = {int(m[1]) for m in _DOC_LINK.finditer(text)}
            unlinked += [f"{path.name} cell {i}: {m[0]!r}" for m in _PLAIN_CHAPTER.finditer(_DOC_LINK.sub("", text))
                         if int(m[1]) >= 7 and int(m[1]) not in linked]
    assert not unlinked, "write {doc}`Chapter N <NN_slug>` for these forward references:\n" + "\n".join(unlinked)
