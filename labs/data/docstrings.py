"""A downstream task, offline: which standard-library package does a docstring come from?

    texts, labels, names = load_docstrings("train")     # lists of str, int64 labels, class names
    test_texts, test_labels, _ = load_docstrings("test")

Chapter 7 pretrains on the first 90% of the course corpus (:mod:`labs.data.corpus`, the
docstrings of a sorted list of standard-library modules). A fair downstream test must use
texts that pretraining never trained on, so every class here is made of modules **held
out** of that training part: packages that are not in the corpus at all (``tkinter``,
``idlelib``, ``xmlrpc``) or whose whole text lies in the corpus's last 10%, the validation
part that no model trained on (``xml``, ``wsgiref``, ``webbrowser``). The loader checks this
every time (:func:`pretraining_modules` computes which modules have text in the training
part) and also drops any docstring that appears word for word among the pretraining
docstrings (short ones such as "Return self." recur across modules).

Docstrings are read and normalised exactly as the corpus reads them (with :mod:`ast`,
nothing imported), kept if they have at least ``min_chars`` characters, deduplicated, then
balanced (each class cut to the size of the smallest), shuffled with a fixed seed and split
into train and test per class. The result depends on the Python version, like the corpus.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from labs.data.corpus import _PARSED, CORPUS_MODULES, _module_documents, _stdlib_dir

__all__ = ["DOCSTRING_CLASSES", "DOMAIN_SPLIT", "load_docstrings", "labelled_subset", "pretraining_modules", "module_docstrings"]

# class name -> the held-out standard-library packages it reads
DOCSTRING_CLASSES: dict[str, tuple[str, ...]] = {
    "tkinter": ("tkinter",),  # the Tk GUI toolkit
    "idlelib": ("idlelib",),  # the IDLE editor, built on tkinter: the hard pair
    "xml": ("xml",),  # DOM, SAX, ElementTree
    "web": ("wsgiref", "webbrowser", "xmlrpc"),  # WSGI servers, browsers, XML-RPC over HTTP
}


# Two disjoint families of modules for every class: a domain-shift test trains on "A" and tests on "B".
# Same four labels, different parts of each package (idlelib cut alphabetically at "h"); a module
# missing from some Python version is skipped, as everywhere in this loader.
_IDLELIB_A = ("idlelib.autocomplete", "idlelib.autocomplete_w", "idlelib.autoexpand", "idlelib.browser", "idlelib.calltip", "idlelib.calltip_w", "idlelib.codecontext", "idlelib.colorizer", "idlelib.config", "idlelib.config_key", "idlelib.configdialog", "idlelib.debugger", "idlelib.debugger_r", "idlelib.debugobj", "idlelib.debugobj_r", "idlelib.delegator", "idlelib.dynoption", "idlelib.editor", "idlelib.filelist", "idlelib.format", "idlelib.grep",)
_IDLELIB_B = ("idlelib.help", "idlelib.help_about", "idlelib.history", "idlelib.hyperparser", "idlelib.idle", "idlelib.iomenu", "idlelib.macosx", "idlelib.mainmenu", "idlelib.multicall", "idlelib.outwin", "idlelib.parenmatch", "idlelib.pathbrowser", "idlelib.percolator", "idlelib.pyparse", "idlelib.pyshell", "idlelib.query", "idlelib.redirector", "idlelib.replace", "idlelib.rpc", "idlelib.run", "idlelib.runscript", "idlelib.scrolledlist", "idlelib.search", "idlelib.searchbase", "idlelib.searchengine", "idlelib.sidebar", "idlelib.squeezer", "idlelib.stackviewer", "idlelib.statusbar", "idlelib.textview", "idlelib.tooltip", "idlelib.tree", "idlelib.undo", "idlelib.util", "idlelib.window", "idlelib.zoomheight", "idlelib.zzdummy",)
DOMAIN_SPLIT: dict[str, dict[str, tuple[str, ...]]] = {
    "A": {"tkinter": ("tkinter.__init__",), "idlelib": _IDLELIB_A, "xml": ("xml.dom", "xml.etree"), "web": ("wsgiref",)},
    "B": {"tkinter": ("tkinter.ttk", "tkinter.tix", "tkinter.filedialog", "tkinter.simpledialog", "tkinter.font",
                      "tkinter.messagebox", "tkinter.colorchooser", "tkinter.dnd", "tkinter.scrolledtext"),
          "idlelib": _IDLELIB_B, "xml": ("xml.sax", "xml.parsers"), "web": ("xmlrpc", "webbrowser")},
}


def module_docstrings(name: str) -> tuple[str, ...]:
    """The normalised, non-empty docstrings of one standard-library module or package, as the corpus reads them.

    A dotted name reads one part of a package: ``"xml.dom"``, ``"tkinter.ttk"``,
    ``"tkinter.__init__"`` (the package's own file). The corpus's per-file cache is
    shared, so the files :func:`~labs.data.corpus.load_text_corpus` already read are not parsed twice.
    """
    return _module_documents(_stdlib_dir(), name.replace(".", "/"))


@functools.lru_cache(maxsize=8)
def pretraining_modules(val_fraction: float = 0.1) -> tuple[str, ...]:
    """The corpus modules with any text in the training part of ``train_val_split(corpus, val_fraction)``.

    The corpus joins each module's docstrings with blank lines, in sorted module order, so
    a module's text starts where the previous ones end; a module is pretraining data if it
    starts before the cut.
    """
    documents = {name: module_docstrings(name) for name in sorted(set(CORPUS_MODULES))}
    total = sum(len(d) + 2 for docs in documents.values() for d in docs) - 2 + 1  # "\n\n" between, "\n" at the end
    cut = int(round(total * (1.0 - float(val_fraction))))  # as train_val_split cuts
    start, inside = 0, []
    for name, docs in documents.items():
        if docs and start < cut:
            inside.append(name)
        start += sum(len(d) + 2 for d in docs)
    _PARSED.save()  # the parsed files, for the next run
    return tuple(inside)


@functools.lru_cache(maxsize=8)
def _pretraining_docstrings(val_fraction: float) -> frozenset:
    return frozenset(d for name in pretraining_modules(val_fraction) for d in module_docstrings(name))


def _check_classes(classes) -> dict[str, tuple[str, ...]]:
    if not isinstance(classes, Mapping) or len(classes) < 2:
        raise ValueError(f"classes must map at least two class names to tuples of module names; got {classes!r}")
    out = {}
    for label, modules in classes.items():
        if isinstance(modules, str):
            modules = (modules,)
        if not modules or not all(isinstance(m, str) for m in modules):
            raise ValueError(f"class {label!r}: expected a tuple of standard-library module names; got {modules!r}")
        out[str(label)] = tuple(modules)
    seen = [m for modules in out.values() for m in modules]
    if len(seen) != len(set(seen)):
        raise ValueError(f"a module may belong to one class only; got {out}")
    return out


@functools.lru_cache(maxsize=8)
def _documents(classes: tuple, min_chars: int, val_fraction: float) -> tuple[tuple[str, ...], ...]:
    pretrained = set(pretraining_modules(val_fraction))  # a part of a package is held out only if the whole package is
    held_in = {m for _, modules in classes for m in modules if m in pretrained or m.split(".")[0] in pretrained}
    if held_in:
        raise ValueError(f"modules {sorted(held_in)} have text in the pretraining part of the corpus, so a "
                         "downstream test on them would test memory, not transfer: choose held-out modules")
    seen_in_pretraining = _pretraining_docstrings(val_fraction)
    labels_of: dict[str, set] = {}
    per_class = []
    for label, modules in classes:
        docs = [d for m in modules for d in module_docstrings(m) if len(d) >= min_chars and d not in seen_in_pretraining]
        docs = list(dict.fromkeys(docs))  # each text once per class
        for d in docs:
            labels_of.setdefault(d, set()).add(label)
        per_class.append(docs)
    ambiguous = {d for d, owners in labels_of.items() if len(owners) > 1}  # one text, two labels: drop it
    per_class = [tuple(d for d in docs if d not in ambiguous) for docs in per_class]
    for (label, modules), docs in zip(classes, per_class):
        if len(docs) < 8:
            raise RuntimeError(f"class {label!r} ({', '.join(modules)}) has only {len(docs)} docstrings of >= {min_chars} "
                               f"characters under {_stdlib_dir()}: this Python lacks those modules' sources "
                               "(Debian ships tkinter in python3-tk and idlelib in idle-python3.X); install them")
    _PARSED.save()
    return tuple(per_class)


def load_docstrings(split: str = "train", classes: Mapping | None = None, test_fraction: float = 0.25,
                    balance: bool = True, min_chars: int = 40, seed: int = 0, val_fraction: float = 0.1):
    """``(texts, labels, class_names)`` for ``split`` in ``"train"``, ``"test"`` or ``"all"``.

    ``texts`` is a list of str, ``labels`` an int64 array (index into ``class_names``). With
    ``balance`` every class is cut to the size of the smallest. The same arguments give the
    same texts in the same order on every call; train and test never share a text.
    ``val_fraction`` must be the one pretraining split the corpus with (chapter 7: 0.1).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all'; got {split!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1; got {test_fraction!r}")
    checked = _check_classes(DOCSTRING_CLASSES if classes is None else classes)
    per_class = _documents(tuple(checked.items()), int(min_chars), float(val_fraction))
    keep = min(len(docs) for docs in per_class) if balance else None
    texts, labels = [], []
    for label, docs in enumerate(per_class):
        order = np.random.default_rng([seed, label]).permutation(len(docs))[:keep]
        n_test = max(1, int(round(len(order) * float(test_fraction))))
        chosen = {"test": order[:n_test], "train": order[n_test:], "all": order}[split]
        texts.extend(docs[i] for i in chosen)
        labels.extend([label] * len(chosen))
    shuffle = np.random.default_rng([seed, len(per_class)]).permutation(len(texts))  # classes interleaved
    return [texts[i] for i in shuffle], np.asarray(labels, dtype=np.int64)[shuffle], tuple(checked)


def labelled_subset(labels, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` examples, as equal a share per class as ``n`` allows (the few-label setting)."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not len(classes) <= n <= len(labels):
        raise ValueError(f"labelled_subset: n must be an int from {len(classes)} (one per class) to {len(labels)}; got {n!r}")
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    shares = [n // len(classes) + (i < n % len(classes)) for i in range(len(classes))]
    if any(share > len(pool) for share, pool in zip(shares, pools)):
        raise ValueError(f"labelled_subset: {n} examples need {max(shares)} of each class; the smallest has "
                         f"{min(len(p) for p in pools)}")
    return np.sort(np.concatenate([pool[:share] for pool, share in zip(pools, shares)]))
