"""Does pruning make a matrix product faster? Unstructured zeros against removed rows.

For a 1024 x 1024 float32 weight times a batch of 64 columns, on one thread, at sparsities
50 %, 90 % and 99 %: the time of the dense kernel on a matrix full of scattered zeros, of
PyTorch's CSR sparse kernel on the same matrix, and of a dense product with the pruned rows
removed (structured pruning), each as a ratio to the dense product at 0 % sparsity (best of
several rounds, timed in alternation: ``labs.prune.matmul_times``). The dense kernel does the
same work whatever the values; a sparse format pays for its indices and only wins at very
high sparsity; removing rows shrinks the work itself.

    python benchmarks/sparsity_speed.py            # prints the table, writes results_sparsity.md
    python benchmarks/sparsity_speed.py --quick    # fewer rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHAPTERS = ('11a',)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_sparsity.md"


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE.parent))
    from labs.prune import matmul_times

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, a smaller matrix")
    args = parser.parse_args(argv)
    n, rounds = (256, 5) if args.quick else (1024, 30)
    lines = [f"Speed-up over the dense {n} x {n} @ {n} x 64 product (one thread; > 1 is faster)", "",
             "| sparsity | scattered zeros, dense kernel | scattered zeros, CSR sparse kernel | rows removed (structured) |",
             "|---|---|---|---|"]
    for sparsity in (0.5, 0.9, 0.99):
        times = matmul_times(n=n, sparsity=sparsity, rounds=rounds)
        ratio = {name: times["dense"] / t for name, t in times.items()}
        lines.append(f"| {sparsity:.0%} | {ratio['scattered zeros, dense kernel']:.2f} | "
                     f"{ratio['scattered zeros, CSR sparse kernel']:.2f} | {ratio['rows removed (structured)']:.2f} |")
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        RESULTS.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
