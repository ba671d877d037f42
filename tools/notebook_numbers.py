"""Every number two runs of the notebooks printed or glued, compared: is the course deterministic?

    python tools/notebook_numbers.py RUN_A RUN_B        # exit status 1 if a number differs

A run is a folder of executed notebooks (``*.ipynb``, e.g. ``_build/jupyter_execute``) or a
jupyter-cache folder (``_build/.jupyter_cache``, which ``make notebooks`` and the book build
fill). For each notebook of the book (``_toc.yml``) it collects every glued value
(``{glue:text}`` in the prose) and every number in the cells' printed text, Markdown and
LaTeX, then reports each one that differs. Wall-clock measurements (a number followed by
"s", "ms", "seconds" or "GFLOP/s", a line or a table column in ms, a speed-up, and the glue
names of such measurements, see ``TIMING_GLUE``) are listed apart and do not count as
differences unless ``--strict`` is given.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.notebooks import ROOT, toc_notebooks

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# a number that measures time or speed, or is computed from one (chapter 1 turns its measured
# GFLOP/s into years of GPT-3 training; chapter 4 prints speed-ups and ratios of times): it
# depends on the machine's load, not on the code
TIMING = re.compile(r"^\s*(?:s|ms|µs|seconds?|GFLOP/s|it/s)\b|^s\)|^ years here")
TIMING_LINE = re.compile(r"\bms\b|GB/s|times faster|times one pass")  # every number on such a line
TIMING_GLUE = re.compile(r"(?:_s|_seconds|seconds|_time|gflops|_years)$|speedup|fusion_ratio|scale_ratio|cost_ratio|^kv_speed")
TEXT_MIMES = ("text/plain", "text/markdown", "text/latex")


def numbers(text: str) -> list[tuple[str, bool]]:
    """(number, is_timing) for every number in ``text``, in order.

    Timings: a number followed by a unit of time, every number on a line that speaks of
    milliseconds or speed-ups, and the rows of a table whose header has a column in ms.
    """
    found, timed_table = [], False
    for line in text.splitlines():
        if not line.strip():
            timed_table = False
        elif TIMING_LINE.search(line) and not NUMBER.search(line):
            timed_table = True  # a header such as "forward ms  backward ms"
        whole_line = timed_table or bool(TIMING_LINE.search(line))
        found += [(m.group(), whole_line or bool(TIMING.match(line[m.end():]))) for m in NUMBER.finditer(line)]
    return found


def values(nb) -> dict[str, tuple[str, bool]]:
    """Every glued value and printed number of an executed notebook: {where: (value, is_timing)}."""
    found: dict[str, tuple[str, bool]] = {}
    code = [c for c in nb.cells if c.cell_type == "code"]
    for index, cell in enumerate(code, 1):
        timed_values = set()  # what the cell glued as a measurement: shown again as its value, it still is one
        for k, out in enumerate(cell.get("outputs", [])):
            data = out.get("data", {})
            glue = (out.get("metadata", {}).get("scrapbook") or {}).get("name")
            if glue:
                text = " | ".join(v for key, v in sorted(data.items()) if isinstance(v, str) and key.endswith(TEXT_MIMES))
                found[f"glue {glue}"] = (text, bool(TIMING_GLUE.search(glue)))
                if TIMING_GLUE.search(glue):
                    timed_values.add(text)
                continue
            texts = [out.get("text", "")] + [data[m] for m in TEXT_MIMES if isinstance(data.get(m), str)]
            for t, text in enumerate(texts):
                for j, (number, timing) in enumerate(numbers(text)):
                    found[f"code cell {index}, output {k + 1}.{t}, number {j + 1}"] = (number, timing or text in timed_values)
    return found


def load_run(folder: Path) -> dict[str, nbformat.NotebookNode]:
    """The executed notebooks of a run, by their path in the repository."""
    runs: dict[str, nbformat.NotebookNode] = {}
    if (folder / "global.db").exists():  # a jupyter-cache
        from jupyter_cache import get_cache

        cache = get_cache(str(folder))
        for path in toc_notebooks():
            try:
                _, runs[str(path.relative_to(ROOT))] = cache.merge_match_into_notebook(nbformat.read(path, as_version=4))
            except KeyError:
                pass
        return runs
    for path in toc_notebooks():
        rel = path.relative_to(ROOT)
        candidates = [folder / rel, folder / rel.name]
        hit = next((c for c in candidates if c.exists()), None)
        if hit is not None:
            runs[str(rel)] = nbformat.read(hit, as_version=4)
    return runs


def compare(run_a: dict, run_b: dict, strict: bool = False) -> tuple[list[str], list[str], int]:
    """(differences, timing differences, values compared) between two runs."""
    differ, timing, count = [], [], 0
    for name in sorted(set(run_a) | set(run_b)):
        if name not in run_a or name not in run_b:
            differ.append(f"{name}: only in run {'A' if name in run_a else 'B'}")
            continue
        a, b = values(run_a[name]), values(run_b[name])
        for where in sorted(set(a) | set(b), key=lambda w: [int(n) if n.isdigit() else n for n in re.split(r"(\d+)", w)]):
            count += 1
            (va, ta), (vb, tb) = a.get(where, ("<absent>", False)), b.get(where, ("<absent>", False))
            if va != vb:
                line = f"{name}, {where}: {va} != {vb}"
                (timing if (ta or tb) and not strict else differ).append(line)
    return differ, timing, count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--strict", action="store_true", help="count wall-clock measurements as differences too")
    args = parser.parse_args(argv)
    run_a, run_b = load_run(args.run_a), load_run(args.run_b)
    if not run_a or not run_b:
        print(f"no executed notebooks of the book found in {args.run_a if not run_a else args.run_b}")
        return 2
    differ, timing, count = compare(run_a, run_b, args.strict)
    print(f"{len(set(run_a) & set(run_b))} notebooks, {count} glued values and printed numbers compared")
    if timing:
        print(f"\n{len(timing)} wall-clock measurements differ, as they may:")
        print("\n".join("  " + line for line in timing))
    if differ:
        print(f"\n{len(differ)} numbers differ:")
        print("\n".join("  " + line for line in differ))
        return 1
    print("\nevery other number is identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
