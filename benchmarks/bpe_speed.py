"""Byte-level BPE training and encoding: the course's NumPy tokenizer against Hugging Face ``tokenizers``.

Chapter 8 trains ``labs.data.bpe.ByteBPETokenizer`` (minbpe's "basic" algorithm: no
pre-tokenization, every step a few whole-array NumPy passes) on 200k characters of the course
corpus and prints the time; the module's docstring says 200k characters train in a fraction
of a second. This script measures that claim next to the
field's library, Hugging Face ``tokenizers`` (Rust; one thread here, like everything else), in
one process, timed in alternation (``timing.interleaved``), with vocab_size 512 (256 merges):

1. the same algorithm: ``tokenizers``' BPE trainer with a byte-level alphabet and no
   pre-tokenization (the whole text is one piece, as in ours), at a few sizes; the table counts
   the tokens both learned (ties between equally frequent pairs may be broken differently);
2. what a practitioner would run: ``tokenizers`` with GPT-2's byte-level pre-tokenization
   (merges never cross a word boundary, so a different vocabulary), at the chapter's 200k
   characters, with bytes per token for each.

Encoding times are of the training text itself; Hugging Face's word cache is cleared before
every encode, so no call reuses the previous one's work.

    python benchmarks/bpe_speed.py            # prints the tables, writes results_bpe.md
    python benchmarks/bpe_speed.py --quick    # small texts, one round (a smoke test)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


CHAPTERS = ("8",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_bpe.md"
VOCAB_SIZE = 512
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from timing import interleaved, machine_line  # noqa: E402


def hf_tokenizer(text: str, vocab_size: int, pre_tokenize: bool):
    """Hugging Face's byte-level BPE trained on ``text``; ``pre_tokenize``: GPT-2's regex split into words first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=pre_tokenize)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, special_tokens=[])
    tok.train_from_iterator([text], trainer=trainer)
    return tok


def _hf_encode(tok, text: str):
    clear = getattr(tok.model, "_clear_cache", None)
    if clear is not None:
        clear()  # else a repeated encode of the same text would read its words from the cache
    return tok.encode(text)


def learned_in_common(ours, hf, text: str) -> int:
    """How many of the tokens our merges made are also tokens of ``hf``'s vocabulary (compared as bytes)."""
    from tokenizers import pre_tokenizers

    # tokenizers writes each byte as one printable character; read the correspondence off the text itself
    shown = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False).pre_tokenize_str(text)[0][0]
    char_of = dict(zip(text.encode("utf-8"), shown))
    theirs = set(hf.get_vocab())
    return sum("".join(char_of[b] for b in ours.vocab[i]) in theirs for i in range(256, ours.vocab_size))


def compare(text: str, pre_tokenize: bool, rounds: int) -> dict:
    from labs.data.bpe import ByteBPETokenizer

    ours = ByteBPETokenizer.train(text, VOCAB_SIZE)
    hf = hf_tokenizer(text, VOCAB_SIZE, pre_tokenize)
    steps = {
        "ours, train": lambda: ByteBPETokenizer.train(text, VOCAB_SIZE),
        "tokenizers, train": lambda: hf_tokenizer(text, VOCAB_SIZE, pre_tokenize),
        "ours, encode": lambda: ours.encode(text),
        "tokenizers, encode": lambda: _hf_encode(hf, text),
    }
    timed = interleaved(steps, rounds, budget_s=0.0, reference="ours, train")
    ids, encoding = ours.encode(text), _hf_encode(hf, text)
    assert ours.decode(ids) == text and hf.decode(encoding.ids) == text, "a tokenizer failed to round-trip the text"
    n_bytes = len(text.encode("utf-8"))
    return {
        "chars": len(text), "seconds": {k: v["median_s"] for k, v in timed.items()},
        "train_ratio": timed["tokenizers, train"]["ratio"],
        "encode_ratio": timed["tokenizers, encode"]["ratio"] / timed["ours, encode"]["ratio"],
        "bytes_per_token": (n_bytes / len(ids), n_bytes / len(encoding.ids)),
        "in_common": learned_in_common(ours, hf, text), "learned": ours.vocab_size - 256,
    }


def table(rows) -> list[str]:
    # short headers, so that the table fits the book's text column ("HF" is Hugging Face's tokenizers)
    head = ("| characters | train s, ours | train s, HF | train, HF / ours "
            "| encode s, ours | encode s, HF | encode, HF / ours | bytes per token, ours "
            "| bytes per token, HF | our tokens HF also learned |")
    lines = [head, "|" + "---:|" * (head.count("|") - 1)]
    for r in rows:
        s = r["seconds"]
        line = (f"| {r['chars']:,} | {s['ours, train']:.3f} | {s['tokenizers, train']:.3f} | {r['train_ratio']:.2f} "
                f"| {s['ours, encode']:.3f} | {s['tokenizers, encode']:.3f} | {r['encode_ratio']:.2f} "
                f"| {r['bytes_per_token'][0]:.2f} | {r['bytes_per_token'][1]:.2f} | {r['in_common']} of {r['learned']} |")
        lines.append(line)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small texts, one round (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAYON_NUM_THREADS", "1")  # tokenizers' thread pool, before it starts
    import tokenizers

    from labs.data.corpus import load_text_corpus

    corpus = load_text_corpus()
    same_sizes, chapter_size, rounds = ((5_000, 10_000), 20_000, 1) if args.quick else ((20_000, 50_000), 200_000, 3)
    same = [compare(corpus[:n], pre_tokenize=False, rounds=rounds) for n in same_sizes]
    practice = [compare(corpus[:chapter_size], pre_tokenize=True, rounds=rounds + 2)]
    text = [
        f"Written by `benchmarks/bpe_speed.py`; {machine_line()}, tokenizers {tokenizers.__version__} (one thread).",
        "",
        f"vocab_size {VOCAB_SIZE} ({VOCAB_SIZE - 256} merges) on the start of the course corpus; seconds are medians "
        "over rounds, ratios the median over rounds of the per-round ratio (> 1: `tokenizers` is slower); "
        "HF = Hugging Face's `tokenizers`.",
        "",
        "## The same algorithm: no pre-tokenization",
        "",
        *table(same),
        "",
        "## Hugging Face's usual byte-level set-up: GPT-2's pre-tokenization into words",
        "",
        *table(practice),
        "",
    ]
    print("\n".join(text))
    if not args.quick:  # a smoke test never overwrites the page's numbers
        RESULTS.write_text("\n".join(text), encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
