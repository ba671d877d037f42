"""Notebook editions: the book's notebooks with their MyST markup rewritten as plain Markdown.

The chapters are written for Jupyter Book: numbers are ``{glue:text}`` roles filled in
from the executed notebook, references are ``{eq}``, ``{cite}``, ``{term}``, ``{ref}``
and ``{doc}`` roles, and exercises and warnings are ``{exercise}`` and ``{admonition}``
directives. Jupyter and Colab render none of that, so a reader who opens a chapter there
sees the markup. An *edition* is what such a reader should open instead:

- the **notebook edition** (:func:`notebook_edition`) keeps every cell and rewrites the
  Markdown: a glued number becomes its value from an executed run, formatted as the book
  formats it; ``{eq}`eq-x``` becomes "(3.2)" and the equation itself carries
  ``\\tag{3.2}``; a citation reads "(Rosenblatt, 1958)" and a list of the works cited
  ends the notebook; a glossary term is set in bold; an exercise starts with
  "**Exercise 3.1: Stable softmax**"; an admonition becomes a block quote;
- the **student edition** (:func:`student_edition`) is the notebook edition with every
  reference solution replaced by its stub (:mod:`labs.student`), which matters in Colab,
  where the book's ``hide-input`` tag hides nothing.

Anything the converter does not know raises :class:`EditionError` rather than leaking
into an edition; :func:`myst_remnants` is the independent scan the tests run on the
result. The glued values and a hash of the code that produced them are kept in the
notebook's metadata (``metadata["edition"]``), so an edition can be regenerated from a
changed chapter without running it again, and a test can tell whether it is current.
``tools/editions.py`` writes the editions; this module only converts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from labs.student import student_notebook

ROLE = re.compile(r"\{(?P<name>[A-Za-z][\w:.-]*)\}`(?P<content>[^`]*)`")
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\s*\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*?)\s*$")
CODE_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$")
EQ_CLOSE = re.compile(r"^(?P<body>.*?)\$\$\s*\((?P<label>[^()\s]+)\)\s*$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
EXERCISE_LABEL = re.compile(r"^ex-(?P<chapter>\d+)(?P<part>[a-z]?)-(?P<number>\d+)$")
MD_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
TITLE_TEXT = re.compile(r"`([^`]*)`|\*\*?([^*]+)\*\*?")

# Admonition directives the book may use, with the bold word an edition shows for them.
ADMONITIONS = {
    "admonition": None,
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
}
GLUE_MIMES = ("text/plain", "text/latex")


class EditionError(ValueError):
    """The chapter uses markup an edition cannot render, or a value is missing."""


# ----------------------------------------------------------------------------- the book


def source(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def code_hash(nb: dict) -> str:
    """SHA-256 of the notebook's code cells: what determines its glued values. A notebook that
    reads other chapters' numbers from the results store (labs.results) also depends on them."""
    from labs.results import READS_RESULTS, store_digest

    code = [source(c) for c in nb["cells"] if c["cell_type"] == "code"]
    if any(READS_RESULTS.search(c) for c in code):
        code.append(f"labs/data/results.json {store_digest()}")
    return hashlib.sha256(json.dumps(code, ensure_ascii=False).encode("utf-8")).hexdigest()


def chapter_number(docpath: str) -> str:
    """The number the book gives a notebook: ``chapters/03_x`` is "3", ``chapters/09a_x`` (a chapter
    split into parts) is "9a", ``book/mistakes/ch03`` is "M3" and ``book/mistakes/ch09a`` is "M9a"."""
    name = Path(docpath).name
    if m := re.match(r"^(\d+)([a-z]?)_", name):
        return f"{int(m[1])}{m[2]}"
    if m := re.match(r"^ch(\d+)([a-z]?)$", name):
        return f"M{int(m[1])}{m[2]}"
    raise EditionError(f"{docpath}: cannot tell its chapter number (expected NN_slug or chNN)")


@dataclass
class Reference:
    """Where a label points: the document, the text a reference shows, and an anchor."""

    docpath: str
    text: str
    anchor: str | None = None


@dataclass
class Book:
    """What a reference in one notebook may need from the rest of the book."""

    repository_url: str
    branch: str = "main"
    docs: dict[str, str] = field(default_factory=dict)  # docpath -> title
    notebooks: set[str] = field(default_factory=set)  # docpaths that have an edition
    labels: dict[str, Reference] = field(default_factory=dict)
    bibliography: dict[str, dict] = field(default_factory=dict)  # key -> {"short", "full"}

    @classmethod
    def from_notebooks(cls, notebooks: dict[str, dict], bib_path: Path | None, repository_url: str,
                       branch: str = "main", other_docs: dict[str, str] | None = None) -> Book:
        """Collect titles, labels and references from ``{docpath: notebook}``."""
        book = cls(repository_url.rstrip("/"), branch, docs=dict(other_docs or {}))
        for docpath, nb in notebooks.items():
            book.notebooks.add(docpath)
            book._collect(docpath, nb)
        if bib_path is not None:
            book.bibliography = read_bibliography(bib_path)
        return book

    def add_page(self, docpath: str, text: str) -> None:
        """Collect the labels of a Markdown page of the book (it has no edition of its own)."""
        self._collect(docpath, {"cells": [{"cell_type": "markdown", "source": text}]})

    def _collect(self, docpath: str, nb: dict) -> None:
        equations = 0
        pending: list[str] = []  # targets waiting for the heading below them
        directive = None  # the directive whose options the next lines may be
        for cell in nb["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            lines = source(cell).split("\n")
            code_until = -1  # inside a plain code block (an example of markup), nothing is a label
            open_directives: list[str] = []  # the fences of the directives we are inside
            for index, line in enumerate(lines):
                if index <= code_until:
                    continue
                closing = line.strip()
                if open_directives and closing and set(closing) == {open_directives[-1][0]} \
                        and len(closing) >= len(open_directives[-1]):
                    open_directives.pop()  # the end of a directive, not the start of a code block
                    directive = None
                    continue
                if not FENCE_OPEN.match(line) and (fence := CODE_FENCE.match(line)):
                    end = _closing_fence(lines, index, fence["fence"])
                    code_until = len(lines) if end is None else end
                    continue
                if m := FENCE_OPEN.match(line):
                    directive = m["name"]
                    open_directives.append(m["fence"])
                elif not OPTION.match(line.strip()):
                    directive = None
                if m := TARGET.match(line):
                    pending.append(m["label"])
                    continue
                if m := HEADING.match(line):
                    title = m["title"]
                    if m["hashes"] == "#" and docpath not in self.docs:
                        self.docs[docpath] = plain_title(title)
                    for label in pending:
                        self._add(label, Reference(docpath, plain_title(title), anchor_of(title)))
                    pending = []
                elif line.strip():
                    pending = []  # a target applies only to the heading right below it
                option = OPTION.match(line.strip())
                if (m := EQ_CLOSE.match(line)) or (option and option["key"] == "label" and directive == "math"):
                    equations += 1
                    label = m["label"] if m else option["value"]
                    self._add(label, Reference(docpath, f"{chapter_number(docpath)}.{equations}"))
                if (m := OPTION.match(line)) and m["key"] == "label" and (ex := EXERCISE_LABEL.match(m["value"])):
                    self._add(m["value"], Reference(docpath, f"Exercise {int(ex['chapter'])}{ex['part']}.{int(ex['number'])}"))

    def _add(self, label: str, ref: Reference) -> None:
        if label in self.labels:
            raise EditionError(f"label {label!r} is defined twice ({self.labels[label].docpath} and {ref.docpath})")
        self.labels[label] = ref

    def blob_url(self, path: str) -> str:
        return f"{self.repository_url}/blob/{self.branch}/{path}"


def plain_title(title: str) -> str:
    """A heading as plain text: no backticks or emphasis."""
    return TITLE_TEXT.sub(lambda m: m[1] if m[1] is not None else m[2], title).strip()


def anchor_of(title: str) -> str:
    """The anchor Jupyter gives a heading (its text with spaces as hyphens), percent-encoded
    so that a title with brackets or quotes still makes a valid Markdown link."""
    from urllib.parse import quote

    return quote(plain_title(title).replace(" ", "-"), safe="-._~")


def read_bibliography(path: Path) -> dict[str, dict]:
    """``{key: {"short": "Rosenblatt, 1958", "full": "Rosenblatt, F. (1958). ..."}}``."""
    import codecs

    import latexcodec  # noqa: F401 - registers the "ulatex" codec (pybtex's own LaTeX decoder)
    from pybtex.database import parse_file

    def plain(latex: str) -> str:
        return codecs.decode(latex, "ulatex").replace("{", "").replace("}", "")

    entries = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor")
        if not people:
            raise EditionError(f"{path}: entry {key!r} has no author")
        last = [plain(" ".join(p.prelast_names + p.last_names)) for p in people]
        if len(last) == 1:
            who = last[0]
        elif len(last) == 2:
            who = f"{last[0]} and {last[1]}"
        else:
            who = f"{last[0]} et al."
        year = entry.fields.get("year", "n.d.")
        names = []
        for p, surname in zip(people, last):
            initials = " ".join(plain(n)[0] + "." for n in p.first_names + p.middle_names if plain(n))
            names.append(f"{surname}, {initials}" if initials else surname)
        authors = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        f = entry.fields
        venue = f.get("journal") or f.get("booktitle") or f.get("institution") or f.get("publisher") or f.get("howpublished", "")
        details = f"*{plain(venue)}*" if venue else ""
        if f.get("volume"):
            details += f", {f['volume']}" + (f"({f['number']})" if f.get("number") else "")
        if f.get("pages"):
            details += f", {plain(f['pages'])}"
        full = f"{authors} ({year}). {plain(f['title'])}." + (f" {details}." if details else "")
        entries[key] = {"short": f"{who}, {year}", "full": full}
    return entries


# ----------------------------------------------------------------------------- values


def glue_values(executed: dict, names: set[str] | None = None) -> dict[str, dict[str, str]]:
    """The values an executed notebook glued, as ``{name: {mime: text}}``.

    ``myst_nb.glue`` displays a value with ``metadata["scrapbook"]["name"]`` and, when it
    is not shown, its MIME types behind a prefix; this reads them back the way myst-nb
    does (``tests/test_editions.py`` compares the two). Only the text forms the prose
    uses are kept (``text/plain`` for ``{glue:text}``, ``text/latex`` for ``{glue:math}``),
    and only for ``names`` when it is given.
    """
    values: dict[str, dict[str, str]] = {}
    for cell in executed["cells"]:
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            record = output.get("metadata", {}).get("scrapbook")
            if not record or (names is not None and record["name"] not in names):
                continue
            prefix = len(record.get("mime_prefix", ""))
            data = {mime[prefix:]: value for mime, value in output.get("data", {}).items()}
            values[record["name"]] = {
                mime: "".join(data[mime]) if isinstance(data[mime], list) else data[mime]
                for mime in GLUE_MIMES
                if mime in data
            }
    return values


def glued_names(nb: dict) -> set[str]:
    """Every name the notebook's Markdown pastes with ``{glue:...}``."""
    names = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = source(cell)
        for m in ROLE.finditer(text):
            if m["name"].startswith("glue"):
                names.add(_glue_key(m["content"])[0])
        for m in re.finditer(r"^[ \t]*(?:`{3,}|:{3,})\s*\{glue(?::\w+)?\}\s*(\S+)", text, re.MULTILINE):
            names.add(m[1])
    return names


def _glue_key(content: str) -> tuple[str, str]:
    key, _, spec = content.partition(":")
    return key.strip(), spec


def format_glue(values: dict, content: str, where: str) -> str:
    """``{glue:text}`name:.2f``` as the book prints it."""
    key, spec = _glue_key(content)
    if key not in values or "text/plain" not in values[key]:
        raise EditionError(f"{where}: no glued value {key!r}; the executed run did not glue it")
    try:
        return format_plain_text(values[key]["text/plain"], spec)
    except (TypeError, ValueError) as exc:
        raise EditionError(f"{where}: cannot format {key!r} with {spec!r}: {exc}") from exc


def format_plain_text(text: str, spec: str) -> str:
    """myst-nb's formatting of a glued ``text/plain`` (``myst_nb.core.variables``, which
    needs all of Sphinx to import): the text is read back as a Python literal, then
    formatted with ``spec``, the type letter saying int, float or str."""
    from ast import literal_eval

    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if spec == "":
        return str(value)
    kind = spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, spec)


def _latex(values: dict, key: str, where: str) -> str:
    if key not in values or "text/latex" not in values[key]:
        raise EditionError(f"{where}: no glued LaTeX value {key!r} for {{glue:math}}")
    text = values[key]["text/latex"].strip()
    while text.startswith("$") and text.endswith("$") and len(text) > 1:
        text = text[1:-1].strip()
    return text


# ----------------------------------------------------------------------------- Markdown


@dataclass
class _Context:
    docpath: str
    book: Book
    values: dict
    cited: list[str] = field(default_factory=list)
    where: str = ""


def convert_markdown(text: str, ctx: _Context) -> str:
    """One Markdown cell of the book as plain Markdown."""
    out = _convert_blocks(text.split("\n"), ctx)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def _convert_blocks(lines: list[str], ctx: _Context) -> list[str]:
    out: list[str] = []
    prose: list[str] = []  # plain lines, converted together: a role may span a line break

    def flush():
        if prose:
            out.extend(_inline("\n".join(prose), ctx).split("\n"))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if m := FENCE_OPEN.match(line):
            flush()
            end = _closing_fence(lines, i, m["fence"])
            if end is None:
                raise EditionError(f"{ctx.where}: directive {{{m['name']}}} is never closed")
            out.extend(_directive(m["name"], m["arg"], lines[i + 1 : end], m["indent"], ctx))
            i = end + 1
            continue
        if m := CODE_FENCE.match(line):  # a plain code block: copied as it is
            flush()
            end = _closing_fence(lines, i, m["fence"])
            end = len(lines) - 1 if end is None else end
            out.extend(lines[i : end + 1])
            i = end + 1
            continue
        if TARGET.match(line):
            i += 1  # a label for cross-references; Markdown has no use for it
            continue
        if m := EQ_CLOSE.match(line):
            label = m["label"]
            ref = ctx.book.labels.get(label)
            if ref is None:
                raise EditionError(f"{ctx.where}: equation label {label!r} was not collected")
            prose.append(f"{m['body']}\\tag{{{ref.text}}}")
            prose.append("$$")
            i += 1
            continue
        prose.append(line)
        i += 1
    flush()
    return out


def _closing_fence(lines: list[str], start: int, fence: str) -> int | None:
    char, size = fence[0], len(fence)
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= size:
            return j
    return None


def _directive(name: str, arg: str, body: list[str], indent: str, ctx: _Context) -> list[str]:
    options: dict[str, str] = {}
    while body and (m := OPTION.match(body[0].strip())):
        options[m["key"]] = m["value"]
        body = body[1:]
    content = _convert_blocks(body, ctx)
    while content and not content[0].strip():
        content = content[1:]
    while content and not content[-1].strip():
        content = content[:-1]
    if name == "exercise":
        label = options.get("label", "")
        ref = ctx.book.labels.get(label)
        if not EXERCISE_LABEL.match(label) or ref is None:
            raise EditionError(f"{ctx.where}: an exercise needs a label ex-N-M; got {label!r}")
        title = f"**{ref.text}: {_inline(arg, ctx)}**" if arg else f"**{ref.text}**"
        return [indent + title, ""] + content
    if name in ADMONITIONS:
        title = _inline(arg, ctx) if name == "admonition" else ADMONITIONS[name] + (f": {_inline(arg, ctx)}" if arg else "")
        if not title:
            raise EditionError(f"{ctx.where}: an admonition needs a title")
        quoted = [f"> **{title}**", ">"] + [f"> {line}".rstrip() for line in content]
        return [indent + line for line in quoted]
    if name == "math":
        tag = ""
        if options.get("label"):
            tag = f"\\tag{{{ctx.book.labels[options['label']].text}}}"
        return [indent + "$$", *([arg] if arg else []), *body, *([tag] if tag else []), "$$"]
    if name == "glue:math":
        latex = _latex(ctx.values, arg, ctx.where)
        tag = ""
        if options.get("label"):
            ref = ctx.book.labels.get(options["label"])
            if ref is None:
                raise EditionError(f"{ctx.where}: a labelled {{glue:math}} ({options['label']!r}) is not numbered by labs.editions")
            tag = f" \\tag{{{ref.text}}}"
        return [indent + "$$", latex + tag, "$$"]
    raise EditionError(f"{ctx.where}: directive {{{name}}} has no plain-Markdown form in labs.editions")


def _inline(line: str, ctx: _Context) -> str:
    line = ROLE.sub(lambda m: _role(m["name"], m["content"], ctx), line)
    return MD_LINK.sub(lambda m: _link(m["text"], m["target"], ctx), line)


def _split_title(content: str) -> tuple[str | None, str]:
    """``text <target>`` gives (text, target); a bare ``target`` gives (None, target)."""
    if m := re.match(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", content.strip(), re.DOTALL):
        return m["text"], m["target"]
    return None, content.strip()


def _role(name: str, content: str, ctx: _Context) -> str:
    if name in ("glue", "glue:", "glue:text"):
        return format_glue(ctx.values, content, ctx.where)
    if name == "glue:math":
        return f"${_latex(ctx.values, _glue_key(content)[0], ctx.where)}$"
    if name in ("eq", "numref", "ref"):
        text, label = _split_title(content)
        ref = ctx.book.labels.get(label)
        if ref is None:
            raise EditionError(f"{ctx.where}: {{{name}}}`{content}` points to no label the book defines")
        if name == "eq":
            return f"({ref.text})"
        shown = text or ref.text
        if ref.docpath not in ctx.book.notebooks:  # a Markdown page of the book: its source
            return f"[{shown}]({ctx.book.blob_url(ref.docpath + '.md')})"
        target = "" if ref.docpath == ctx.docpath else _relative(ref.docpath, ctx.docpath) + ".ipynb"
        if ref.anchor:
            target += "#" + ref.anchor
        return f"[{shown}]({target})" if target else shown
    if name in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts"):
        keys = [k.strip() for k in content.split(",") if k.strip()]
        missing = [k for k in keys if k not in ctx.book.bibliography]
        if missing:
            raise EditionError(f"{ctx.where}: citation key(s) {missing} are not in references.bib")
        for key in keys:
            if key not in ctx.cited:
                ctx.cited.append(key)
        shorts = [ctx.book.bibliography[k]["short"] for k in keys]
        if name.startswith("cite:t"):
            return "; ".join(s.replace(", ", " (", 1) + ")" for s in shorts)
        return "(" + "; ".join(shorts) + ")"
    if name == "term":
        text, target = _split_title(content)
        return f"**{text or target}**"
    if name == "doc":
        text, target = _split_title(content)
        docpath = str(Path(ctx.docpath).parent.joinpath(target)) if not target.startswith("/") else target.lstrip("/")
        docpath = _normalise(docpath)
        shown = text or ctx.book.docs.get(docpath)
        if shown is None:
            raise EditionError(f"{ctx.where}: {{doc}}`{content}`: no page {docpath!r} in the book")
        if docpath in ctx.book.notebooks:
            return f"[{shown}]({_relative(docpath, ctx.docpath)}.ipynb)"
        return f"[{shown}]({ctx.book.blob_url(docpath + '.md')})"
    if name == "math":
        return f"${content}$"
    if name == "abbr":
        return content.strip()
    if name in ("code", "samp", "file", "kbd"):
        return f"`{content}`"
    raise EditionError(f"{ctx.where}: role {{{name}}} has no plain-Markdown form in labs.editions")


def _normalise(path: str) -> str:
    parts: list[str] = []
    for part in Path(path).parts:
        if part == "..":
            if not parts:
                raise EditionError(f"path {path!r} leaves the book")
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _relative(docpath: str, from_docpath: str) -> str:
    """``docpath`` relative to the folder of ``from_docpath`` (both without extension)."""
    target, base = Path(docpath).parts, Path(from_docpath).parent.parts
    common = 0
    while common < min(len(target), len(base)) and target[common] == base[common]:
        common += 1
    return "/".join([".."] * (len(base) - common) + list(target[common:]))


def _link(text: str, target: str, ctx: _Context) -> str:
    """A relative link to a notebook stays (the edition mirrors the book); any other
    relative file link points to the repository, where it exists outside the edition."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
        return f"[{text}]({target})"
    path, _, anchor = target.partition("#")
    resolved = _normalise(str(Path(ctx.docpath).parent / path))
    stem = resolved[: -len(".ipynb")] if resolved.endswith(".ipynb") else None
    if stem in ctx.book.notebooks:
        return f"[{text}]({target})"
    url = ctx.book.blob_url(resolved) + (f"#{anchor}" if anchor else "")
    return f"[{text}]({url})"


# ----------------------------------------------------------------------------- notebooks

EDITION_NOTE = {
    "notebook": (
        "*This is the notebook edition of {what}, generated from `{source}` by `tools/editions.py`. "
        "The numbers in the text are those of the book's CPU run (`LABS_PROFILE=cpu`); "
        "a run on a GPU or another machine may print different ones below each cell.*"
    ),
    "student": (
        "*This is the student edition of {what}, generated from `{source}` by `tools/editions.py`. "
        "The numbers in the text are those of the book's CPU run (`LABS_PROFILE=cpu`); "
        "a run on a GPU or another machine may print different ones below each cell.{exercises}*"
    ),
}
EXERCISE_NOTE = (
    " Each exercise's code cell raises `NotImplementedError` until you replace that line "
    "with your solution; the check cell under it grades your answer."
)


def notebook_edition(nb: dict, docpath: str, book: Book, values: dict, *, kind: str = "notebook") -> dict:
    """The notebook edition of ``nb`` (the book's notebook at ``docpath``, without extension).

    ``values`` are the glued values of an executed run (:func:`glue_values`).
    """
    if kind not in EDITION_NOTE:
        raise ValueError(f"kind must be one of {sorted(EDITION_NOTE)}; got {kind!r}")
    edition = copy.deepcopy(nb)
    used = glued_names(nb)
    missing = sorted(used - set(values))
    if missing:
        raise EditionError(f"{docpath}: the executed run glued no value for {missing}")
    ctx = _Context(docpath, book, values)
    title_index = None
    for index, cell in enumerate(edition["cells"]):
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("widgets", None)
        if cell["cell_type"] != "markdown":
            continue
        ctx.where = f"{docpath} cell {index}"
        text = source(cell)
        if title_index is None and re.match(r"^#\s", text):
            title_index = index
        cell["source"] = convert_markdown(text, ctx)
    if title_index is None:
        raise EditionError(f"{docpath}: no '# Title' cell")
    chapter = chapter_number(docpath)
    what = f"Chapter {chapter}" if not chapter.startswith("M") else f"the common mistakes of Chapter {chapter[1:]}"
    has_exercises = any(c["cell_type"] == "code" and "### BEGIN SOLUTION" in source(c) for c in nb["cells"])
    note = EDITION_NOTE[kind].format(
        what=what, source=f"{docpath}.ipynb", exercises=EXERCISE_NOTE if has_exercises else ""
    )
    edition["cells"].insert(title_index + 1, _markdown_cell(note, f"edition-note-{kind}"))
    if ctx.cited:
        works = "\n".join(f"- {book.bibliography[k]['full']}" for k in ctx.cited)
        edition["cells"].append(_markdown_cell("**Works cited**\n\n" + works, "edition-works-cited"))
    metadata = edition.setdefault("metadata", {})
    metadata.pop("widgets", None)
    metadata["edition"] = {
        "kind": kind,
        "source": f"{docpath}.ipynb",
        "code_sha256": code_hash(nb),
        "glue": {name: values[name] for name in sorted(used)},
    }
    return edition


def student_edition(nb: dict, docpath: str, book: Book, values: dict) -> dict:
    """The notebook edition with every reference solution replaced by its stub."""
    edition, _ = student_notebook(notebook_edition(nb, docpath, book, values, kind="student"), where=docpath)
    return edition


def _markdown_cell(text: str, cell_id: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}


def stored_values(edition: dict) -> dict:
    """The glued values an edition was generated with."""
    return edition.get("metadata", {}).get("edition", {}).get("glue", {})


def dumps(nb: dict) -> str:
    """A notebook as the editions are written (stable, so a diff shows real changes)."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


# ----------------------------------------------------------------------------- the scan

REMNANTS = {
    "role": re.compile(r"\{[A-Za-z][\w:.-]*\}`"),
    "directive": re.compile(r"^[ \t>]*(?:`{3,}|:{3,})\s*\{[\w:.-]+\}", re.MULTILINE),
    "directive option": re.compile(r"^[ \t>]*:(?:label|class|name|nonumber|hidden|width|align):", re.MULTILINE),
    "target": re.compile(r"^[ \t]*\([^()\s]+\)=[ \t]*$", re.MULTILINE),
    "equation label": re.compile(r"\$\$[ \t]*\([\w:-]+\)[ \t]*$", re.MULTILINE),
}


def myst_remnants(nb: dict) -> list[str]:
    """Every piece of MyST left in the notebook's Markdown, as "cell N: kind: text"."""
    found = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = source(cell)
        for kind, pattern in REMNANTS.items():
            for m in pattern.finditer(text):
                line = text[text.rfind("\n", 0, m.start()) + 1 : text.find("\n", m.end()) % (len(text) + 1)]
                found.append(f"cell {index}: {kind}: {line.strip()[:80]}")
    return found
