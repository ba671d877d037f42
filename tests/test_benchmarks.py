"""The benchmarks are part of the course: each one runs, says which chapters it measures, and the
page's index is current. Speed itself is never asserted here (it belongs to the scripts' output)."""

from __future__ import annotations

import hashlib
import re
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from labs.editions import chapter_number
from tools.notebooks import toc_files

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))
run_all = importlib.import_module("run_all")

CHAPTER_PARTS = {chapter_number(f) for f in toc_files() if f.startswith("chapters/")}


def test_every_script_is_run_or_says_why_not():
    scripts = {p.stem for p in BENCH.glob("*.py")}
    unlisted = scripts - set(run_all.BENCHMARKS) - set(run_all.NOT_RUN)
    assert not unlisted, f"benchmarks/{sorted(unlisted)} are neither in run_all.BENCHMARKS nor in run_all.NOT_RUN"
    assert not set(run_all.BENCHMARKS) & set(run_all.NOT_RUN)
    assert set(run_all.BENCHMARKS) | set(run_all.NOT_RUN) <= scripts, "a listed benchmark has no script"


@pytest.mark.parametrize("name", run_all.BENCHMARKS)
def test_each_benchmark_names_real_chapters_and_says_what_it_times(name):
    mod = run_all.modules()[name]
    assert mod.CHAPTERS, f"{name}.CHAPTERS is empty"
    unknown = set(mod.CHAPTERS) - CHAPTER_PARTS
    assert not unknown, f"{name}.CHAPTERS names {sorted(unknown)}, which are not chapters in _toc.yml"
    assert (mod.__doc__ or "").strip(), f"{name} has no docstring (its first line goes into the index)"
    assert callable(mod.main)


def test_index_is_current():
    expected = run_all.INDEX.read_text(encoding="utf-8")
    before = expected
    run_all.write_index()
    try:
        assert run_all.INDEX.read_text(encoding="utf-8") == before, "run: python benchmarks/run_all.py --index"
    finally:
        run_all.INDEX.write_text(before, encoding="utf-8")


def _digests() -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(BENCH.glob("results_*"))}


@pytest.mark.parametrize("name", run_all.BENCHMARKS)
def test_quick_run_works_and_writes_nothing(name):
    """``--quick`` is the smoke test of a benchmark: it must run to the end and leave the page's numbers alone."""
    before = _digests()
    done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--quick"], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, f"{name} --quick failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert _digests() == before, f"{name} --quick changed a results file; only a full run may write them"


def test_every_chapter_has_a_benchmark():
    """The benchmarks page covers the whole book: each chapter (each part of a split chapter) names at
    least one script that measures what it says about speed or cost."""
    covered = {part for mod in run_all.modules().values() for part in mod.CHAPTERS}
    assert not CHAPTER_PARTS - covered, f"chapters with no benchmark: {sorted(CHAPTER_PARTS - covered)}"


def test_the_page_shows_every_results_file():
    page = (ROOT / "book" / "benchmarks.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"\{include\} \.\./benchmarks/(results_[a-z0-9_]+\.md)", page))
    written = {p.name for p in BENCH.glob("results_*.md")}
    assert not written - shown, f"results files the benchmarks page does not include: {sorted(written - shown)}"
