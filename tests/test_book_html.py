"""The HTML presentation extension (book/_ext/book_html.py) and the one exercise-number scheme.

The book titles each exercise box from its label (ex-3-1 -> "Exercise 3.1"); these tests
check that, in every chapter, that number is the one the solution marker, the student stub
and the grader's messages use, so the box, the stub and the feedback agree.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys

import pytest

from labs.notebook import SETUP_CELL
from tests.notebook_utils import CHAPTERS, ROOT, exercise_cells, load, source

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import book_html

LABEL = re.compile(r"^:label:\s*(\S+)\s*$", re.MULTILINE)
EXERCISE_DIRECTIVE = re.compile(r"^`{3,}\{exercise\}", re.MULTILINE)  # three or more backticks (four when the statement holds code)
SOLUTION = re.compile(r"### BEGIN SOLUTION (Exercise \d+[a-z]?\.\d+)")
GRADER_CALL = re.compile(r"labs\.check\.(ch\d+[a-z]?)\.(\w+)\(")
GRADER_NAME = re.compile(r"\"(Exercise \d+[a-z]?\.\d+)\"")


def test_exercise_number_from_label():
    assert book_html.exercise_number("ex-5-3") == ("5", 3)
    assert book_html.exercise_number("ex-12-10") == ("12", 10)
    assert book_html.exercise_number("ex-9a-2") == ("9a", 2)
    assert book_html.exercise_number("ex-09b-2") == ("9b", 2)
    assert book_html.exercise_number("ex-9ab-2") is None
    assert book_html.exercise_number("exercise-5") is None
    assert book_html.exercise_number("ex-5-3-b") is None


def test_chapter_number_from_document_name():
    assert book_html.chapter_number("chapters/05_cnn") == "5"
    assert book_html.chapter_number("chapters/12_scale") == "12"
    assert book_html.chapter_number("chapters/09a_applications_text") == "9a"
    assert book_html.chapter_number("book/mistakes/ch05") is None
    assert book_html.chapter_number("book/intro") is None


def test_the_extension_recognises_the_set_up_cell():
    assert SETUP_CELL.startswith(book_html.SETUP_CELL_FIRST_LINE)


class _Env:
    def __init__(self, fignumbers):
        self.toc_fignumbers = fignumbers


def test_renumber_titles_exercises_from_labels_and_equations_per_chapter():
    env = _Env({
        "chapters/05_cnn": {
            "exercise": {"ex-5-1": (23,), "ex-5-2": (24,)},
            "displaymath": {"equation-b": (23,), "equation-a": (22,)},
        },
        "book/notation": {"displaymath": {"equation-n": (40,)}},
        "chapters/09a_text": {"exercise": {"ex-9a-1": (25,)}, "displaymath": {"equation-c": (41,)}},
    })
    changed = book_html.renumber(None, env)
    assert env.toc_fignumbers["chapters/05_cnn"]["exercise"] == {"ex-5-1": ("5", 1), "ex-5-2": ("5", 2)}
    assert env.toc_fignumbers["chapters/05_cnn"]["displaymath"] == {"equation-b": ("5", 2), "equation-a": ("5", 1)}
    assert env.toc_fignumbers["book/notation"]["displaymath"] == {"equation-n": (1,)}
    assert env.toc_fignumbers["chapters/09a_text"]["exercise"] == {"ex-9a-1": ("9a", 1)}
    assert env.toc_fignumbers["chapters/09a_text"]["displaymath"] == {"equation-c": ("9a", 1)}
    assert sorted(changed) == ["book/notation", "chapters/05_cnn", "chapters/09a_text"]
    assert book_html.renumber(None, env) == []  # a second pass changes nothing


def test_renumber_rejects_a_label_outside_the_scheme_or_in_the_wrong_chapter():
    with pytest.raises(ValueError, match="ex-<chapter>-<n>"):
        book_html.renumber(None, _Env({"chapters/05_cnn": {"exercise": {"stride": (1,)}}}))
    with pytest.raises(ValueError, match="relabel it ex-5-1"):
        book_html.renumber(None, _Env({"chapters/05_cnn": {"exercise": {"ex-4-1": (1,)}}}))
    with pytest.raises(ValueError, match="relabel it ex-9b-1"):
        book_html.renumber(None, _Env({"chapters/09b_vision": {"exercise": {"ex-9a-1": (1,)}}}))


def _exercises(nb):
    """(label, solution marker's exercise, grader module, grader name) per exercise, in order."""
    found = []
    for cell in exercise_cells(nb):
        text = source(cell)
        if cell["cell_type"] == "markdown" and EXERCISE_DIRECTIVE.search(text):
            label = LABEL.search(text)
            found.append({"label": label.group(1) if label else None, "solution": None, "grader": None})
        elif cell["cell_type"] == "code" and found:
            if (marker := SOLUTION.search(text)) and found[-1]["solution"] is None:
                found[-1]["solution"] = marker.group(1)
            if (call := GRADER_CALL.search(text)) and found[-1]["grader"] is None:
                found[-1]["grader"] = call.groups()
    return found


WITH_EXERCISES = [p for p in CHAPTERS if _exercises(load(p))]


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_box_stub_and_grader_use_the_same_exercise_number(path):
    chapter = book_html.chapter_number(f"chapters/{path.stem}")
    problems = []
    for position, exercise in enumerate(_exercises(load(path)), start=1):
        expected = f"Exercise {chapter}.{position}"
        number = book_html.exercise_number(exercise["label"] or "")
        if number != (chapter, position):
            problems.append(f"the {position}. exercise has label {exercise['label']!r}, want ex-{chapter}-{position}")
            continue
        if exercise["solution"] != expected:
            problems.append(f"{exercise['label']}: the solution marker says {exercise['solution']!r}, want {expected!r}")
        if exercise["grader"] is None:
            problems.append(f"{exercise['label']}: no check cell calls a grader")
            continue
        module, name = exercise["grader"]
        grader = getattr(importlib.import_module(f"labs.check.{module}"), name)
        names = set(GRADER_NAME.findall(inspect.getsource(grader)))
        if names != {expected}:
            problems.append(f"{exercise['label']}: grader labs.check.{module}.{name} reports {sorted(names)}, want {expected!r}")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


# The text column at a 1280 px window (measured in the built book: tools/browser_check.py
# reports widths against it) and the smallest tick label a reader should have to read.
COLUMN_PX = 784
SMALLEST_TEXT_PX = 8.5
FIGSIZE = re.compile(r"figsize\s*=\s*\(\s*([0-9.]+)\s*,")


def _figure_widths():
    files = [*CHAPTERS, *sorted((ROOT / "book" / "mistakes").glob("*.ipynb")), *sorted((ROOT / "labs").rglob("*.py"))]
    return {float(w): path.name for path in files for w in FIGSIZE.findall(path.read_text(encoding="utf-8"))}


def test_figure_text_is_readable_when_the_figure_is_scaled_to_the_column():
    import matplotlib
    import matplotlib.font_manager

    from labs.notebook import FIGURE_STYLE, use_figure_style

    widths = _figure_widths()
    assert widths, "no figsize found in the chapters or labs"
    with matplotlib.rc_context():
        use_figure_style()
        dpi = matplotlib.rcParams["figure.dpi"]
        tick_pt = matplotlib.font_manager.FontProperties(size=matplotlib.rcParams["xtick.labelsize"]).get_size_in_points()
        assert matplotlib.rcParams["axes.labelsize"] == FIGURE_STYLE["axes.labelsize"]
    too_small = []
    for width, where in sorted(widths.items()):
        shown = min(1.0, COLUMN_PX / (width * dpi))  # a wider image is scaled to the column
        pixels = tick_pt / 72 * dpi * shown
        if pixels < SMALLEST_TEXT_PX:
            too_small.append(f"{where}: a {width}-inch figure shows {pixels:.1f} px tick labels")
    assert not too_small, "\n".join(too_small)


def _tiny_book(tmp_path):
    """A one-chapter Sphinx project with an executed notebook, built with the extension."""
    import nbformat

    from labs.notebook import SETUP_CELL

    v4 = nbformat.v4
    setup = v4.new_code_cell(SETUP_CELL, outputs=[v4.new_output("stream", name="stdout", text="device: cpu\n")])
    widget = v4.new_code_cell("interact(draw, n=(1, 9))", outputs=[v4.new_output(
        "display_data", data={"text/plain": "interactive(...)",
                              "application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0,
                                                                           "model_id": "abc"}})])
    cells = [
        setup,
        v4.new_markdown_cell("# 5. A demo chapter\n\nFirst\n\n$$ y = x $$ (eq-first)\n\nand second\n\n"
                             "$$ y = 2x $$ (eq-second)\n\nas {eq}`eq-second` says."),
        widget,
        v4.new_markdown_cell("## Exercises\n\n```{exercise} Double it\n:label: ex-5-1\n\nWrite `double`.\n```"),
        v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION Exercise 5.1: times two\n    return 2 * x\n    ### END SOLUTION",
                         metadata={"tags": ["hide-input"]}),
        v4.new_code_cell("import numpy", metadata={"tags": ["hide-input"]}),
        v4.new_markdown_cell("See {ref}`ex-5-1`."),
    ]
    state = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0,
        "state": {"abc": {"model_name": "VBoxModel", "model_module": "@jupyter-widgets/controls",
                          "model_module_version": "2.0.0", "state": {}}}}}
    notebook = v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}, "widgets": state})
    source = tmp_path / "src"
    (source / "chapters").mkdir(parents=True)
    nbformat.write(notebook, source / "chapters" / "05_demo.ipynb")
    (source / "index.md").write_text("# Book\n\n```{toctree}\nchapters/05_demo\n```\n")
    (source / "conf.py").write_text(
        "extensions = ['myst_nb', 'sphinx_exercise', 'book_html']\n"
        "numfig = True\nmath_numfig = True\nnb_execution_mode = 'off'\n"
        "myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence']\n"
        "html_theme = 'basic'\n"
    )
    return source


def _build_tiny_book(tmp_path, extension="book_html"):
    from sphinx.application import Sphinx

    source = _tiny_book(tmp_path)
    conf = source / "conf.py"
    conf.write_text(conf.read_text().replace("'book_html'", repr(extension) if extension else ""))
    out = tmp_path / "html"
    app = Sphinx(str(source), str(source), str(out), str(tmp_path / "doctrees"), "html",
                 status=None, warningiserror=False, freshenv=True)
    app.build()
    return (out / "chapters" / "05_demo.html").read_text(encoding="utf-8")


def test_without_the_extension_the_tiny_book_shows_what_the_review_found(tmp_path):
    page = _build_tiny_book(tmp_path, extension=None)
    assert "Set-up (works in Colab" in page and "Show code cell source" in page
    assert "require.min.js" in page and "(5.1)" not in page


def test_the_extension_on_a_tiny_book(tmp_path):
    page = _build_tiny_book(tmp_path)
    assert "Set-up (works in Colab" not in page  # the set-up cell is left out
    assert page.index("A demo chapter") < page.index("cell_output")
    assert "Exercise 5.1" in page and "Exercise 1 " not in page
    assert "(5.1)" in page and "(5.2)" in page  # equations numbered per chapter
    assert page.count("Show solution") == 1 and page.count("Show code") == 1
    assert "widget-note" in page and "application/vnd.jupyter.widget-view+json" not in page
    assert "require.min.js" not in page and "html-manager" not in page and "widget-state" not in page
    assert "book.css" in page and "book.js" in page
