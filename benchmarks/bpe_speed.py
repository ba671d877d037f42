"""Time the byte-level BPE (``labs.data.bpe``) on the course corpus: training and encoding.

The claim in chapter 8 is that vectorised merges train on 200k characters in well under a
second on one CPU core. This prints the median of a few runs (a shared machine is noisy),
so the claim is measured here and never in a unit test.

    python benchmarks/bpe_speed.py              # 200k characters, vocab_size 512
    python benchmarks/bpe_speed.py --chars 50000 --vocab-size 1024 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from labs.data.bpe import ByteBPETokenizer
from labs.data.corpus import load_text_corpus


CHAPTERS = ("8",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20k characters, one round (a smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.chars, args.rounds = 20_000, 1
    text = load_text_corpus()[: args.chars]
    train, encode = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        tok = ByteBPETokenizer.train(text, args.vocab_size)
        train.append(time.perf_counter() - start)
        start = time.perf_counter()
        ids = tok.encode(text)
        encode.append(time.perf_counter() - start)
    assert tok.decode(ids) == text
    print(f"{len(text):,} characters, vocab_size {args.vocab_size}: train {statistics.median(train):.3f} s, "
          f"encode {statistics.median(encode):.3f} s (median of {args.rounds}); "
          f"{len(text.encode()) / len(ids):.2f} bytes per token")
    return 0


if __name__ == "__main__":
    sys.exit(main())
