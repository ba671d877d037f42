"""Run every benchmark of the course (``make benchmark``).

Each benchmark module in this folder has a ``main(argv)``; they print their tables and
write their markdown results next to themselves (``results_cpu.md``, ``results_gpt.md``, ...),
which the book's benchmarks page includes. Extra arguments (e.g. ``--quick``) are passed on to each of them.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["engine_vs_torch", "mnist1d_select", "mnist1d_table", "gpt_nanogpt_gpu", "gpt_speed", "sparsity_speed",
              "speculative_speed"]  # the GPU row before the page that shows it


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(HERE))
    status = 0
    for name in BENCHMARKS:
        print(f"=== {name} ===")
        status |= importlib.import_module(name).main(argv)
    return status


if __name__ == "__main__":
    sys.exit(main())
