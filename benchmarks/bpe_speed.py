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
import time

from labs.data.bpe import ByteBPETokenizer
from labs.data.corpus import load_text_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
