"""The notebook and student editions: MyST becomes plain Markdown, nothing of it is
left, and the committed student edition (what Colab opens) is current."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
import yaml

from labs.editions import (
    Book,
    EditionError,
    code_hash,
    glue_values,
    myst_remnants,
    notebook_edition,
    source,
    stored_values,
    student_edition,
)
from labs.student import student_notebook
from tests.notebook_utils import ROOT
from tools import editions as tool

BIB = """@article{smith2020,
  author = {Smith, Jane and Jones, Bob and Lee, Ann},
  title = {A Title},
  journal = {Journal},
  year = {2020}
}
@book{doe1999,
  author = {Doe, John and Roe, Rich},
  title = {A Book},
  publisher = {Press},
  year = {1999}
}
"""

CHAPTER_MD = """# 9. Demo chapter

(sec-demo)=
## 9.1 A section

The loss is {glue:text}`loss:.2f` after {glue:text}`steps` steps, as
{cite}`smith2020,doe1999` found; a {term}`neuron <Neuron (神经元)>` sums, see
{eq}`eq-demo` and {ref}`sec-demo`, or the {doc}`mistakes page <../book/mistakes/ch09>`.

$$
y = w x + b
$$ (eq-demo)

```{admonition} Common mistake
:class: warning

It is {glue:text}`loss:.1f`, not 1.
```

```{glue:math} tex
```"""

EXERCISE_MD = """## Exercises

```{exercise} Square it
:label: ex-9-1
Write `square(x)`; see {eq}`eq-demo`.
```"""

SOLUTION = """def square(x):
    ### BEGIN SOLUTION Exercise 9.1: multiply x by itself
    return x * x
    ### END SOLUTION"""

VALUES = {"loss": {"text/plain": "0.123456"}, "steps": {"text/plain": "80"}, "tex": {"text/latex": "$\\displaystyle a = 1$"}}


def _nb(*cells) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print('set-up')")] + [
        nbformat.v4.new_markdown_cell(c) if not c.startswith("def ") else nbformat.v4.new_code_cell(c) for c in cells
    ]
    return json.loads(nbformat.writes(nb))


def _book(tmp_path, nb) -> Book:
    bib = tmp_path / "refs.bib"
    bib.write_text(BIB, encoding="utf-8")
    mistakes = _nb("# Mistakes of chapter 9")
    return Book.from_notebooks({"chapters/09_demo": nb, "book/mistakes/ch09": mistakes}, bib, "https://github.com/o/r")


@pytest.fixture
def demo(tmp_path):
    nb = _nb(CHAPTER_MD, EXERCISE_MD, SOLUTION, "labs.check.ch09.square(square)")
    return nb, _book(tmp_path, nb)


def _markdown(nb) -> str:
    return "\n\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown")


def test_roles_become_plain_markdown(demo):
    nb, book = demo
    text = _markdown(notebook_edition(nb, "chapters/09_demo", book, VALUES))
    assert "The loss is 0.12 after 80 steps" in text  # myst-nb's own formatting of the glued value
    assert "(Smith et al., 2020; Doe and Roe, 1999) found" in text
    assert "a **neuron** sums" in text
    assert "see\n(9.1) and [9.1 A section](#9.1-A-section)" in text
    assert "[mistakes page](../book/mistakes/ch09.ipynb)" in text
    assert "y = w x + b\n\\tag{9.1}\n$$" in text
    assert "$$\n\\displaystyle a = 1\n$$" in text  # {glue:math}
    assert "(sec-demo)=" not in text


def test_a_math_directive_is_numbered_like_a_labelled_equation(tmp_path):
    nb = _nb("# 9. T\n\n$$\na\n$$ (eq-a)\n\n```{math}\n:label: eq-b\nb = 1\n```\n\nSee {eq}`eq-b` and {abbr}`CNN (a net)`.")
    text = _markdown(notebook_edition(nb, "chapters/09_demo", _book(tmp_path, nb), {}))
    assert "$$\nb = 1\n\\tag{9.2}\n$$" in text and "See (9.2) and CNN (a net)." in text


def test_a_chapter_part_numbers_its_equations_and_exercises_with_its_letter(tmp_path):
    """Chapters 9-12 are split in two notebooks (chapters/09a_..., 09b_...): part 9a's
    equations are (9a.1), ... and its exercises Exercise 9a.1, ..."""
    exercise = EXERCISE_MD.replace("ex-9-1", "ex-9a-1").replace("eq-demo", "eq-a")
    nb = _nb("# 9a. Part\n\n$$\na\n$$ (eq-a)\n\nSee {eq}`eq-a`.", exercise)
    bib = tmp_path / "refs.bib"
    bib.write_text(BIB, encoding="utf-8")
    book = Book.from_notebooks({"chapters/09a_part": nb}, bib, "https://github.com/o/r")
    text = _markdown(notebook_edition(nb, "chapters/09a_part", book, {}))
    assert "a\n\\tag{9a.1}\n$$" in text and "See (9a.1)." in text
    assert "**Exercise 9a.1: Square it**" in text


def test_directives_become_titles_and_quotes(demo):
    nb, book = demo
    text = _markdown(notebook_edition(nb, "chapters/09_demo", book, VALUES))
    assert "**Exercise 9.1: Square it**\n\nWrite `square(x)`; see (9.1)." in text
    assert "> **Common mistake**\n>\n> It is 0.1, not 1." in text
    assert ":label:" not in text and ":class:" not in text


def test_the_edition_says_where_its_numbers_come_from_and_lists_the_works_cited(demo):
    nb, book = demo
    edition = notebook_edition(nb, "chapters/09_demo", book, VALUES)
    note = source(edition["cells"][2])  # right after the title
    assert "book's CPU run" in note and "chapters/09_demo.ipynb" in note
    works = source(edition["cells"][-1])
    assert works.startswith("**Works cited**")
    assert "- Smith, J., Jones, B. and Lee, A. (2020). A Title. *Journal*." in works
    meta = edition["metadata"]["edition"]
    assert meta["code_sha256"] == code_hash(nb) and set(meta["glue"]) == {"loss", "steps", "tex"}


def test_the_student_edition_also_stubs_the_solutions(demo):
    nb, book = demo
    edition = student_edition(nb, "chapters/09_demo", book, VALUES)
    code = "\n".join(source(c) for c in edition["cells"] if c["cell_type"] == "code")
    assert "raise NotImplementedError('Exercise 9.1: multiply x by itself')" in code
    assert "x * x" not in code
    assert "student edition" in source(edition["cells"][2]) and "NotImplementedError" in source(edition["cells"][2])
    without = _nb("# 9. No exercises")
    assert "NotImplementedError" not in source(student_edition(without, "chapters/09_demo", book, {})["cells"][2])
    assert source(notebook_edition(nb, "chapters/09_demo", book, VALUES)["cells"][4]) == SOLUTION


@pytest.mark.parametrize(
    "markdown, message",
    [
        ("# T\n\n{glue:text}`nowhere`", "no value"),
        ("# T\n\n{cite}`unknown2000`", "not in references.bib"),
        ("# T\n\n{eq}`eq-missing`", "points to no label"),
        ("# T\n\n{sub-ref}`today`", "role {sub-ref}"),
        ("# T\n\n```{figure} a.png\n```", "directive {figure}"),
        ("# T\n\n```{exercise} No label\nbody\n```", "needs a label"),
    ],
)
def test_markup_it_cannot_render_is_an_error_not_a_leak(tmp_path, markdown, message):
    nb = _nb(markdown)
    with pytest.raises(EditionError, match=re.escape(message)):
        notebook_edition(nb, "chapters/09_demo", _book(tmp_path, nb), {})


@pytest.mark.parametrize(
    "leftover",
    ["a {term}`word`", "```{note}\nx\n```", ":label: ex-1-1", "(sec-x)=", "$$\nx\n$$ (eq-x)", "> :class: warning"],
)
def test_the_scan_finds_every_kind_of_leftover(leftover):
    assert myst_remnants(_nb(leftover)), leftover


def test_glue_values_are_read_from_an_executed_notebook():
    code = nbformat.v4.new_code_cell("glue('x', 1.5)")
    code.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"application/papermill.record/text/plain": "1.5"},
            metadata={"scrapbook": {"name": "x", "mime_prefix": "application/papermill.record/"}},
        ),
        nbformat.v4.new_output("stream", text="hello\n"),
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [code]
    ours = glue_values(json.loads(nbformat.writes(nb)))
    assert ours == {"x": {"text/plain": "1.5"}}
    from myst_nb.ext.glue import (
        extract_glue_data_cell,  # what the book reads (it edits the cell)
    )

    assert {k: {"text/plain": v["data"]["text/plain"]} for k, v in extract_glue_data_cell(code)} == ours


@pytest.mark.parametrize("text, spec", [("0.123456", ".2f"), ("80", ""), ("80", "d"), ("1234567.0", ".1e"),
                                        ("'a string'", ""), ("3", ".0%"), ("np.float64(2.5)", "")])
def test_numbers_are_formatted_as_the_book_formats_them(text, spec):
    from myst_nb.core.variables import format_plain_text as book_format

    from labs.editions import format_plain_text

    assert format_plain_text(text, spec) == book_format(text, spec)


# ------------------------------------------------------------------ the committed edition

BOOK, NOTEBOOKS = tool.load_book(ROOT)


@pytest.mark.parametrize("docpath", list(NOTEBOOKS))
def test_the_committed_student_edition_is_current(docpath):
    problems = tool.edition_problems(docpath, NOTEBOOKS[docpath], BOOK, ROOT)
    assert not problems, "\n".join(problems) + f"\n{tool.REGENERATE}"


def test_the_edition_folder_holds_only_notebooks_of_the_book():
    extra = [p for p in tool.problems(ROOT) if "belongs to no notebook" in p]
    assert not extra, extra


def _committed(docpath):
    path = tool.edition_path(docpath, ROOT)
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: {tool.REGENERATE}")
    return tool.load(path)


@pytest.mark.parametrize("docpath", list(NOTEBOOKS))
def test_no_myst_is_left_in_either_edition(docpath):
    committed = _committed(docpath)
    assert not myst_remnants(committed), myst_remnants(committed)
    regenerated = notebook_edition(NOTEBOOKS[docpath], docpath, BOOK, stored_values(committed))
    assert not myst_remnants(regenerated), myst_remnants(regenerated)


@pytest.mark.parametrize("docpath", list(NOTEBOOKS))
def test_the_student_editions_code_is_the_stubbed_chapter(docpath):
    committed = _committed(docpath)
    stubbed, _ = student_notebook(NOTEBOOKS[docpath])
    code = [source(c) for c in committed["cells"] if c["cell_type"] == "code"]
    assert code == [source(c) for c in stubbed["cells"] if c["cell_type"] == "code"]
    assert "### BEGIN SOLUTION" not in json.dumps(committed)
    assert all(not c.get("outputs") for c in committed["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("docpath", list(NOTEBOOKS))
def test_links_in_the_edition_resolve(docpath):
    committed = _committed(docpath)
    for target in re.findall(r"\]\(([^)\s]+)\)", _markdown(committed)):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (tool.edition_path(docpath, ROOT).parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{docpath}: link {target} points to nothing in the edition"


def test_colab_opens_the_student_edition():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["path_to_book"] == tool.EDITION_DIR
    assert config["launch_buttons"]["colab_url"]
    for docpath in NOTEBOOKS:  # the launch button of page P opens path_to_book/P.ipynb
        assert (ROOT / config["repository"]["path_to_book"] / f"{docpath}.ipynb").exists(), docpath


def test_the_check_command_reports_a_stale_edition(tmp_path, capsys, monkeypatch):
    # a copy of the book in which one chapter's prose changed after its edition was written
    for name in ("_toc.yml", "_config.yml", "references.bib"):
        (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    for docpath in NOTEBOOKS:
        for sub in (f"{docpath}.ipynb", f"{tool.EDITION_DIR}/{docpath}.ipynb"):
            src = ROOT / sub
            if src.exists():
                (tmp_path / sub).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / sub).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    for doc in tool.toc_files(ROOT):
        if (ROOT / f"{doc}.md").exists():
            (tmp_path / f"{doc}.md").parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / f"{doc}.md").write_text((ROOT / f"{doc}.md").read_text(encoding="utf-8"), encoding="utf-8")
    first = next(iter(NOTEBOOKS))
    nb = tool.load(tmp_path / f"{first}.ipynb")
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    cell["source"] = source(cell) + "\n\nA new sentence."
    (tmp_path / f"{first}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    found = tool.problems(tmp_path)
    assert any(first in p and "differs" in p for p in found), found
    # ... and regenerating it from the stored numbers needs no run
    monkeypatch.setattr(tool, "execute", lambda *a, **k: pytest.fail("executed a notebook"))
    assert tool.write_editions(tmp_path, log=lambda *a: None, only=[first]) == []
    assert not [p for p in tool.problems(tmp_path) if first in p]
    assert "A new sentence." in json.dumps(tool.load(tmp_path / tool.EDITION_DIR / f"{first}.ipynb"))


def test_numbers_come_from_the_book_builds_cache_when_it_holds_this_code(tmp_path):
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    code = nbformat.v4.new_code_cell("glue('x', 2.5)")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [code]
    executed = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    executed.cells[0].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"application/papermill.record/text/plain": "2.5"},
            metadata={"scrapbook": {"name": "x", "mime_prefix": "application/papermill.record/"}},
        )
    ]
    get_cache(str(tmp_path / tool.CACHE)).cache_notebook_bundle(CacheBundleIn(executed, "chapters/09_demo.ipynb"), check_validity=False)
    unexecuted = json.loads(nbformat.writes(nb))
    unexecuted["cells"][0]["source"] = ["glue('x', ", "2.5)"]  # as in a committed chapter: a list of lines
    assert glue_values(tool.cached_run(unexecuted, tmp_path)) == {"x": {"text/plain": "2.5"}}
    unexecuted["cells"][0]["source"] = "glue('x', 3.5)"  # other code: the cache must not answer
    assert tool.cached_run(unexecuted, tmp_path) is None


def test_without_stored_or_cached_numbers_the_notebook_is_run_with_the_cpu_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_PROFILE", "gpu")  # execute() must override it: the edition shows the CPU run
    nb = _nb("# 9. T\n\nThe profile is {glue:text}`profile`.")
    # as in a committed chapter, the source is a list of lines
    nb["cells"][0]["source"] = ["import os\n", "from labs.notebook import glue\n", "glue('profile', os.environ['LABS_PROFILE'])"]
    (tmp_path / "chapters").mkdir()
    assert tool.values_for(nb, "chapters/09_demo", tmp_path, log=lambda *a: None) == {"profile": {"text/plain": "'cpu'"}}


def test_a_reference_to_a_markdown_page_links_to_its_source(tmp_path):
    nb = _nb("# 9. T\n\nSee the {ref}`source articles <source-articles>` and {ref}`notes`.")
    book = _book(tmp_path, nb)
    book.add_page("book/common_mistakes", "# Common mistakes\n\n(source-articles)=\n## The source articles\n\n(notes)=\n## Notes")
    text = _markdown(notebook_edition(nb, "chapters/09_demo", book, {}))
    assert "[source articles](https://github.com/o/r/blob/main/book/common_mistakes.md)" in text
    assert "[Notes](https://github.com/o/r/blob/main/book/common_mistakes.md)" in text


def test_a_directive_s_closing_fence_does_not_hide_the_labels_after_it(tmp_path):
    """Two include directives in a row: the first one's closing fence is not a code block's opening,
    so the targets after it (and after the second) are still collected."""
    nb = _nb("# 9. T\n\nSee {ref}`a <bench-a>` and {ref}`b <bench-b>`.")
    book = _book(tmp_path, nb)
    book.add_page("book/benchmarks", "# Benchmarks\n\n```{include} x.md\n```\n\n(bench-a)=\n## A\n\n"
                  "```{include} y.md\n:heading-offset: 1\n```\n\n(bench-b)=\n## B\n\n```python\n(not-a-label)=\n```")
    assert {"bench-a", "bench-b"} <= set(book.labels) and "not-a-label" not in book.labels
    text = _markdown(notebook_edition(nb, "chapters/09_demo", book, {}))
    assert "[a](https://github.com/o/r/blob/main/book/benchmarks.md)" in text


def test_the_results_store_holds_the_editions_numbers():
    store = tool.store_path(ROOT)
    assert store.exists(), f"{store} is missing: {tool.REGENERATE}"
    assert store.read_text(encoding="utf-8") == tool.results_store(ROOT), (
        f"labs/data/results.json does not hold the editions' current numbers: {tool.REGENERATE}")
