"""How the HTML book presents the chapter notebooks (a local Sphinx extension).

Everything here changes only what the reader sees; the notebooks are not touched:

- exercise boxes are numbered from their label, ``ex-5-3`` -> "Exercise 5.3", the number
  the graders, the student stubs and the prose use (sphinx-exercise alone counts 1, 2, ...
  across the whole book);
- display equations (and any numbered figure or table) are numbered per chapter:
  (5.1), (5.2), ... in chapter 5, and (1), (2), ... on a page that is not a chapter;
- the set-up cell that opens every notebook (it installs ``labs`` in Colab) is left out
  of the HTML page, so each page starts with its title;
- a hidden reference solution is behind a toggle that says "Show solution";
- an ipywidgets view becomes a one-line note that says how to run it live: a static page
  has no kernel, so embedded sliders would not move anything, and the widget scripts
  come from a CDN that an offline reader cannot reach. Each widget has a static figure
  next to it (book/authoring.md), so the page still says what the widget shows;
- the book's own CSS and JavaScript (book/_static) are added to every page.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.transforms.post_transforms import SphinxPostTransform

STATIC = Path(__file__).resolve().parent.parent / "_static"

# The exercise label scheme of book/authoring.md: ex-<chapter>-<number>, where a chapter
# split into parts (chapters/09a_..., chapters/09b_...) has the part's letter: ex-9a-1.
EXERCISE_LABEL = re.compile(r"^ex-(\d+[a-z]?)-(\d+)$")
# A chapter's document name: chapters/05_cnn -> "5", chapters/09a_applications_text -> "9a".
CHAPTER_DOC = re.compile(r"^chapters/(\d+)([a-z]?)_")
# The first line of labs.notebook.SETUP_CELL (kept in step by tests/test_book_html.py).
SETUP_CELL_FIRST_LINE = "# Set-up (works in Colab and locally)"
SOLUTION_MARKER = "### BEGIN SOLUTION"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The note that replaces a widget: (text, is_code) pieces.
WIDGET_NOTE = (
    ("Interactive widget. Its sliders need a running notebook: open this page in Colab "
     "or Binder with the launch button at the top, or locally with ", False),
    ("make lab", True),
    (". The figure above shows what it draws.", False),
)
# Enumerable types numbered per chapter (exercises are numbered from their label).
PER_CHAPTER = ("displaymath", "figure", "table", "code-block")


def _chapter_id(digits: str, part: str = "") -> str:
    """``("05", "")`` -> ``"5"``, ``("09", "a")`` -> ``"9a"``: the chapter as the book prints it."""
    return f"{int(digits)}{part}"


def exercise_number(label: str) -> tuple[str, int] | None:
    """``"ex-5-3"`` -> ``("5", 3)``, ``"ex-9a-2"`` -> ``("9a", 2)``; None outside the scheme."""
    match = EXERCISE_LABEL.match(label)
    if not match:
        return None
    chapter = re.fullmatch(r"(\d+)([a-z]?)", match.group(1))
    return _chapter_id(*chapter.groups()), int(match.group(2))


def chapter_number(docname: str) -> str | None:
    """``"chapters/05_cnn"`` -> ``"5"``, ``"chapters/09a_x"`` -> ``"9a"``; None for a page that is not a chapter."""
    match = CHAPTER_DOC.match(docname)
    return _chapter_id(*match.groups()) if match else None


def renumber(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Replace Sphinx's book-wide counters by the course's numbers.

    Runs after Sphinx's TocTreeCollector has filled ``env.toc_fignumbers``, which the
    HTML writer reads for both the boxes' own titles and every reference to them.
    """
    changed = []
    for docname, by_type in env.toc_fignumbers.items():
        before = {kind: dict(numbers) for kind, numbers in by_type.items()}
        exercises = by_type.get("exercise", {})
        for node_id in exercises:
            number = exercise_number(node_id)
            if number is None:
                raise ValueError(
                    f"{docname}: exercise label {node_id!r} is not of the form ex-<chapter>-<n> "
                    "(book/authoring.md); give the exercise a label such as ex-3-1"
                )
            chapter = chapter_number(docname)
            if chapter is not None and number[0] != chapter:
                raise ValueError(
                    f"{docname}: exercise label {node_id!r} names chapter {number[0]}, "
                    f"but it is in chapter {chapter}; relabel it ex-{chapter}-{number[1]}"
                )
            exercises[node_id] = number
        chapter = chapter_number(docname)
        for kind in PER_CHAPTER:
            numbers = by_type.get(kind)
            if not numbers:
                continue
            in_order = sorted(numbers, key=lambda node_id: numbers[node_id])
            for position, node_id in enumerate(in_order, start=1):
                numbers[node_id] = (chapter, position) if chapter is not None else (position,)
        if by_type != before:
            changed.append(docname)
    return changed


def _cell_source(cell: nodes.Element) -> str:
    for child in cell.findall(nodes.literal_block):
        return child.astext()
    return ""


def _is_code_cell(node: nodes.Node) -> bool:
    return isinstance(node, nodes.container) and node.get("nb_element") == "cell_code"


class PresentCells(SphinxPostTransform):
    """Drop the set-up cell, name the solution toggles, replace widget views by a note.

    Runs before myst-nb's SelectMimeType (priority 4) and HideInputCells (199).
    """

    default_priority = 3
    formats = ("html",)

    def run(self, **kwargs) -> None:
        cells = [node for node in self.document.findall(_is_code_cell)]
        if cells and _cell_source(cells[0]).startswith(SETUP_CELL_FIRST_LINE):
            cells[0].parent.remove(cells[0])
            cells = cells[1:]
        for cell in cells:
            if cell.get("hide_mode"):
                if SOLUTION_MARKER in _cell_source(cell):
                    cell["prompt_show"], cell["prompt_hide"] = "Show solution", "Hide solution"
                else:
                    cell["prompt_show"], cell["prompt_hide"] = "Show code", "Hide code"
        for bundle in list(self.document.findall(_is_widget_bundle)):
            note = nodes.paragraph(classes=["widget-note"])
            for text, is_code in WIDGET_NOTE:
                note += nodes.literal(text, text) if is_code else nodes.Text(text)
            bundle.replace_self(note)


def _is_widget_bundle(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.container)
        and node.get("nb_element") == "mime_bundle"
        and any(child.get("mime_type") == WIDGET_VIEW for child in node.children)
    )


def drop_widget_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Leave out the widget state that myst-nb would inline: every view became a note.

    Runs before myst-nb's own html-page-context handler (priority 500), which adds the
    files it recorded for the page.
    """
    recorded = getattr(app.env, "nb_metadata", {}).get(pagename, {}).get("js_files", {})
    for key in [key for key in recorded if key.startswith("ipywidgets")]:
        del recorded[key]


def drop_duplicate_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Keep one copy of each inline script: sphinx-thebe adds its settings once per page
    into a list that Sphinx keeps across pages, and a second ``const THEBE_JS_URL`` is a
    SyntaxError on every page."""
    files = context.get("script_files")
    if not files:
        return
    seen, kept = set(), []
    for script in files:
        # the same inline script is registered once with filename None and once with ""
        key = (getattr(script, "filename", script) or "",
               repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    files[:] = kept


def add_static(app: Sphinx, config) -> None:
    config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", add_static)
    app.connect("env-get-updated", renumber, priority=900)
    app.add_post_transform(PresentCells)
    app.connect("html-page-context", drop_widget_scripts, priority=400)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.add_css_file("book.css")
    app.add_js_file("book.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
