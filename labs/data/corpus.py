"""An offline English text corpus and a character tokenizer.

The corpus is the documentation that ships with every Python installation: the
docstrings of a fixed, sorted list of standard-library modules, read from their
source files with :mod:`ast` (nothing is imported, so no module runs any code).
It needs no network and no download, and it is about a megabyte of English.

The exact text depends on the Python version, because the standard library's
docstrings change between releases (and a module that a future Python removes
is skipped). Within one Python version it is byte-for-byte the same on every
machine: print :func:`corpus_fingerprint` next to any result that depends on it.

Used by Chapter 2 (labels made from the data itself) and by the character-level
language models of later chapters.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import os
import re
import sys
import sysconfig
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

# Standard-library modules present from Python 3.10 to 3.14 (none of the modules
# removed by PEP 594 is listed). A package contributes every .py file under it,
# in sorted order, except its test folders.
CORPUS_MODULES: tuple[str, ...] = tuple(sorted("""
    abc argparse ast asyncio base64 bdb bisect bz2 calendar cmd code codecs
    collections colorsys compileall concurrent configparser contextlib copy csv
    dataclasses datetime decimal difflib doctest email enum filecmp fileinput
    fnmatch fractions ftplib functools getopt gettext glob graphlib gzip hashlib
    heapq hmac html http imaplib importlib inspect ipaddress json locale logging
    lzma mailbox mimetypes multiprocessing netrc numbers operator optparse os
    pathlib pdb pickle pickletools pkgutil platform plistlib poplib pprint profile
    pstats py_compile pyclbr pydoc queue quopri random re reprlib rlcompleter
    sched secrets selectors shelve shlex shutil signal smtplib socket
    socketserver sqlite3 ssl stat statistics string struct subprocess symtable
    tabnanny tarfile tempfile textwrap threading timeit token tokenize trace
    traceback tracemalloc turtle types typing unittest urllib uuid warnings wave
    weakref webbrowser wsgiref xml zipapp zipfile zipimport
""".split()))

_SKIP_DIRS = {"test", "tests", "idle_test", "__pycache__"}
MIN_CORPUS_CHARS = 200_000  # below this the stdlib sources are missing (see the error)


def _stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _module_files(root: Path, name: str) -> list[Path]:
    single = root / f"{name}.py"
    if single.is_file():
        return [single]
    package = root / name
    if package.is_dir():
        return sorted(
            p for p in package.rglob("*.py") if not _SKIP_DIRS.intersection(p.relative_to(package).parts[:-1])
        )
    return []  # removed in this Python version: skipped, as the module docstring says


def _docstrings(tree: ast.AST) -> Iterable[str]:
    """Docstrings of a module, its classes and functions, in source order."""
    doc = ast.get_docstring(tree, clean=True)
    if doc:
        yield doc
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _docstrings(node)


_CONTROL = re.compile(r"[^\n\x20-\x7e]")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    """ASCII-only, tab-free text with no trailing spaces and at most one blank line in a row.

    Accented letters lose their accents (``é`` becomes ``e``) rather than vanish,
    so the character vocabulary stays small (under a hundred symbols).
    """
    if not isinstance(text, str):
        raise TypeError(f"normalise_text expects a str; got {type(text).__name__}")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    text = _CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def _parse_documents(path: Path) -> tuple[str, ...]:
    """The normalised, non-empty docstrings of one source file, in source order."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):  # a file this Python cannot parse: not part of the corpus
        return ()
    return tuple(d for d in (normalise_text(doc) for doc in _docstrings(tree)) if d)


class _ParsedFiles:
    """What :func:`_parse_documents` gave for each file, kept in the data cache between runs.

    Parsing some 330 source files is most of the corpus's cost (seconds), and every chapter
    that reads the corpus would pay it again. The store is one JSON file named by a digest of
    the Python version and of the code that extracts the text (change either and the name
    changes, so a stale store is never read); each entry also keeps its file's size and
    modification time, and a file that changed is parsed again. A store that cannot be read
    or written is ignored: the corpus is then parsed, as without it.
    """

    FORMAT = 1

    def __init__(self):
        self.path, self.files, self.dirty = None, None, False

    def _location(self) -> Path:
        from labs.data.cache import cache_dir

        key = hashlib.sha256(json.dumps([self.FORMAT, sys.version, _EXTRACTOR_CODE]).encode("utf-8")).hexdigest()[:16]
        return cache_dir() / "corpus" / f"docstrings-{key}.json"

    def _load(self) -> dict:
        if self.files is None:
            self.path = self._location()
            try:
                files = json.loads(self.path.read_text(encoding="utf-8"))["files"]
                self.files = files if isinstance(files, dict) else {}
            except (OSError, ValueError, KeyError, TypeError):
                self.files = {}
        return self.files

    def documents(self, path: Path) -> tuple[str, ...]:
        stat = path.stat()
        entry = self._load().get(str(path))
        if (isinstance(entry, list) and len(entry) == 3 and entry[:2] == [stat.st_size, stat.st_mtime_ns]
                and isinstance(entry[2], list) and all(isinstance(d, str) for d in entry[2])):
            return tuple(entry[2])
        docs = _parse_documents(path)
        self.files[str(path)] = [stat.st_size, stat.st_mtime_ns, list(docs)]
        self.dirty = True
        return docs

    def save(self) -> None:
        """Write the store if anything was parsed since it was read (atomically: a reader never sees half a file)."""
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"format": self.FORMAT, "files": self.files}), encoding="utf-8")
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError:  # a read-only cache: parse again next time
            pass

    def reset(self) -> None:
        """Forget what was read (after the cache directory changed)."""
        self.__init__()


_PARSED = _ParsedFiles()
# the code that turns a file into text, read once at import: the store's name depends on it
_EXTRACTOR_CODE = "".join(inspect.getsource(f) for f in (_parse_documents, _docstrings, normalise_text))


@functools.lru_cache(maxsize=None)
def _file_documents(path: Path) -> tuple[str, ...]:
    """One file's docstrings, cached in memory and on disk (:class:`_ParsedFiles`); the docstring
    task (:mod:`labs.data.docstrings`) reads the same files again."""
    return _PARSED.documents(path)


def _module_documents(root: Path, name: str) -> tuple[str, ...]:
    """The docstrings of one module or package (``"xml"``, or a part of one: ``"xml/dom"``) under ``root``."""
    return tuple(d for path in _module_files(root, name) for d in _file_documents(path))


@functools.lru_cache(maxsize=4)
def _load(modules: tuple[str, ...]) -> str:
    root = _stdlib_dir()
    text = "\n\n".join(d for name in modules for d in _module_documents(root, name)) + "\n"
    _PARSED.save()
    return text


def load_text_corpus(modules: Sequence[str] | None = None) -> str:
    """Return the course's offline English corpus (about 1 MB of ASCII text).

    ``modules`` overrides the list of standard-library modules (default
    :data:`CORPUS_MODULES`); it is sorted first, so the order given does not matter.
    The result is cached, so a second call is free.
    """
    if modules is None:
        modules = CORPUS_MODULES
    if isinstance(modules, str) or not all(isinstance(m, str) for m in modules):
        raise TypeError(f"modules must be a list of module names such as ['json', 'argparse']; got {modules!r}")
    text = _load(tuple(sorted(set(modules))))
    if modules is CORPUS_MODULES and len(text) < MIN_CORPUS_CHARS:
        raise RuntimeError(
            f"the standard-library sources under {_stdlib_dir()} gave only {len(text):,} characters "
            f"(expected over {MIN_CORPUS_CHARS:,}); this Python ships without its .py files. "
            "Install the full standard library (e.g. the python3.X-dev or python3-full package)."
        )
    return text


def corpus_fingerprint(text: str) -> str:
    """A short SHA-256 of ``text`` with the Python version: print it next to results."""
    if not isinstance(text, str):
        raise TypeError(f"corpus_fingerprint expects a str; got {type(text).__name__}")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return f"python{sys.version_info.major}.{sys.version_info.minor}:{digest}"


def train_val_split(text, val_fraction: float = 0.1):
    """Split a sequence into a training part and the last ``val_fraction`` of it.

    The split is contiguous, not shuffled: for a language model, shuffled
    characters would put the same sentences on both sides and make the validation
    loss look better than it is. Works for a ``str``, a list or a 1-D array.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float, np.floating)):
        raise TypeError(f"val_fraction must be a number between 0 and 1; got {val_fraction!r}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be strictly between 0 and 1 (e.g. 0.1); got {val_fraction}")
    if not isinstance(text, (str, list, tuple, np.ndarray)):
        raise TypeError(f"train_val_split expects a str, list or 1-D array; got {type(text).__name__}")
    if isinstance(text, np.ndarray) and text.ndim != 1:
        raise ValueError(f"train_val_split expects a 1-D array; got shape {text.shape}")
    n = len(text)
    cut = int(round(n * (1.0 - float(val_fraction))))
    if cut <= 0 or cut >= n:
        raise ValueError(
            f"a sequence of length {n} split with val_fraction={val_fraction} leaves one side empty; "
            "use a longer sequence or a val_fraction closer to 0.5"
        )
    return text[:cut], text[cut:]


class CharTokenizer:
    """Map characters to integer ids and back.

    ``CharTokenizer.fit(text)`` takes the sorted set of characters in ``text`` as
    the vocabulary. A character outside it is an error, unless the tokenizer was
    built with ``unknown="?"`` (any single character): then every unseen character
    encodes to the id of ``unknown``, and :attr:`unk_id` says which id that is.

    >>> tok = CharTokenizer.fit("hello")
    >>> tok.encode("hole").tolist()
    [1, 3, 2, 0]
    >>> tok.decode([1, 0, 2, 2, 3])
    'hello'
    """

    def __init__(self, chars: Iterable[str], unknown: str | None = None):
        if isinstance(chars, str):
            chars = list(chars)
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"the vocabulary must be single characters; got {c!r}")
        if unknown is not None:
            if not isinstance(unknown, str) or len(unknown) != 1:
                raise ValueError(f"unknown must be a single character such as '?'; got {unknown!r}")
            chars.append(unknown)
        vocab = sorted(set(chars))
        if not vocab:
            raise ValueError("the vocabulary is empty: fit the tokenizer on a non-empty text")
        self._itos = tuple(vocab)
        # Code points, not a NumPy string array: NumPy strips trailing NUL characters.
        self._codes = np.array([ord(c) for c in vocab], dtype=np.uint32)
        self._stoi = {c: i for i, c in enumerate(vocab)}
        self.unknown = unknown
        self.unk_id = self._stoi[unknown] if unknown is not None else None
        # A lookup table indexed by code point turns encoding into one NumPy gather.
        self._table = np.full(int(self._codes.max()) + 1, -1, dtype=np.int64)
        self._table[self._codes.astype(np.int64)] = np.arange(len(vocab), dtype=np.int64)

    @classmethod
    def fit(cls, text: str, unknown: str | None = None) -> "CharTokenizer":
        """Build the vocabulary from the distinct characters of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.fit expects a str; got {type(text).__name__}")
        if not text:
            raise ValueError("CharTokenizer.fit got an empty text; give it the corpus, e.g. load_text_corpus()")
        return cls(set(text), unknown=unknown)

    @property
    def vocab_size(self) -> int:
        return len(self._itos)

    @property
    def chars(self) -> tuple[str, ...]:
        return self._itos

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        unk = f", unknown={self.unknown!r}" if self.unknown is not None else ""
        return f"CharTokenizer(vocab_size={self.vocab_size}{unk})"

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and self.chars == other.chars and self.unknown == other.unknown

    def encode(self, text: str) -> np.ndarray:
        """Return the ids of the characters of ``text`` as an int64 array of shape (len(text),)."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str; got {type(text).__name__} (use decode to turn ids into text)")
        if not text:
            return np.zeros(0, dtype=np.int64)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        inside = codes < len(self._table)
        ids = np.full(codes.shape, -1, dtype=np.int64)
        ids[inside] = self._table[codes[inside]]
        missing = ids < 0
        if missing.any():
            if self.unk_id is None:
                unseen = sorted({chr(c) for c in codes[missing].tolist()})
                shown = ", ".join(repr(c) for c in unseen[:10]) + (" ..." if len(unseen) > 10 else "")
                raise ValueError(
                    f"encode got {len(unseen)} character(s) outside the vocabulary: {shown}. "
                    "Fit the tokenizer on a text that contains them, or build it with "
                    "CharTokenizer.fit(text, unknown='?') to map unseen characters to one id."
                )
            ids[missing] = self.unk_id
        return ids

    def decode(self, ids) -> str:
        """Turn a 1-D sequence of ids (list, NumPy array or tensor) back into text."""
        if hasattr(ids, "detach"):  # a torch tensor, possibly on the GPU
            ids = ids.detach().cpu().numpy()
        arr = np.asarray(ids)
        if arr.size == 0:
            return ""
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"decode expects integer ids; got dtype {arr.dtype} (values such as {arr.ravel()[:3]})")
        if arr.ndim != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids; got shape {arr.shape}: decode each row separately")
        bad = (arr < 0) | (arr >= self.vocab_size)
        if bad.any():
            raise ValueError(
                f"decode got id(s) {sorted(set(arr[bad].tolist()))[:10]} outside [0, {self.vocab_size}); "
                "were these ids made by a tokenizer with a different vocabulary?"
            )
        return self._codes[arr].tobytes().decode("utf-32-le")
