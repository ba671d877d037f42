"""Run every benchmark of the course (``make benchmark``), and write the page's index by chapter.

Each benchmark module in this folder has a ``main(argv)``, a ``CHAPTERS`` tuple naming the
chapters (or chapter parts, e.g. "11a") whose claims it measures, and a docstring whose first
line says what it times. They print their tables and write their markdown results next to
themselves (``results_cpu.md``, ``results_gpt.md``, ...), which the book's benchmarks page
includes. Extra arguments (e.g. ``--quick``) are passed on to each of them.

    python benchmarks/run_all.py            # every benchmark, then the index
    python benchmarks/run_all.py --quick    # every benchmark as a smoke test (writes nothing)
    python benchmarks/run_all.py --index    # only rewrite results_index.md (no timing)
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INDEX = HERE / "results_index.md"
# In chapter order; the GPU row (gpt_nanogpt_gpu) comes before the page that shows it (gpt_speed).
BENCHMARKS = [
    "compute_rate",  # 1
    "concepts_cost",  # 2
    "optimizer_step",  # 3
    "engine_vs_torch",  # 4-6
    "mnist1d_select", "mnist1d_table",  # 5
    "gpt_nanogpt_gpu", "gpt_speed",  # 7
    "bpe_speed", "lora_speed",  # 8
    "text_twins_speed",  # 9a
    "vision_twins_speed",  # 9b
    "checkpoint_accumulation",  # 10a
    "ddp_speed",  # 10b
    "sparsity_speed",  # 11a
    "speculative_speed",  # 11b
    "explain_speed",  # 12a
    "dp_sgd_cost",  # 12b
    "frameworks_speed",  # 13
    "batch_and_cv_cost",  # 14
]
# Modules that are not run by ``make benchmark``: shared code, and scripts that need a GPU to mean anything.
NOT_RUN = {"run_all": "this runner", "timing": "shared timing code",
           "mixed_precision": "needs a GPU (on a CPU bf16 autocast only adds casts); run by hand with --device cuda"}


def modules() -> dict:
    """Benchmark name -> imported module, in run order."""
    sys.path.insert(0, str(HERE))
    return {name: importlib.import_module(name) for name in BENCHMARKS}


def _chapter_key(part: str) -> tuple[int, str]:
    digits = "".join(c for c in part if c.isdigit())
    return int(digits), part[len(digits):]


def index_table(mods: dict | None = None) -> str:
    """The markdown table: chapter -> the benchmarks that measure its claims."""
    mods = modules() if mods is None else mods
    by_chapter: dict[str, list[str]] = {}
    for name, mod in mods.items():
        for part in mod.CHAPTERS:
            by_chapter.setdefault(part, []).append(name)
    lines = ["| chapter | benchmark | what it times |", "|---|---|---|"]
    for part in sorted(by_chapter, key=_chapter_key):
        for name in by_chapter[part]:
            summary = (mods[name].__doc__ or "").strip().splitlines()[0].rstrip(".")
            lines.append(f"| {part} | `benchmarks/{name}.py` | {summary} |")
    return "\n".join(lines) + "\n"


def write_index(mods: dict | None = None) -> None:
    text = ("Written by `benchmarks/run_all.py --index` from each benchmark's `CHAPTERS` and the first line of its\n"
            "docstring (`tests/test_benchmarks.py` checks that it is current).\n\n" + index_table(mods))
    INDEX.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    mods = modules()
    if argv == ["--index"]:
        write_index(mods)
        print(INDEX.read_text(encoding="utf-8"))
        return 0
    status = 0
    for name, mod in mods.items():
        print(f"=== {name} ===")
        status |= mod.main(argv) or 0
    if "--quick" not in argv:
        write_index(mods)
    return status


if __name__ == "__main__":
    sys.exit(main())
