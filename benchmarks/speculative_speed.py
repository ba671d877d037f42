"""Speculative decoding against plain decoding of Chapter 7's GPT, on one CPU thread, as ratios.

The target is Chapter 7's GPT (``labs.char_gpt.CPU_RECIPE``); the drafts are Chapter 11b's
(``labs.speculative.DRAFT_RECIPE``), a smaller one-layer GPT, and the target itself (a draft
that is always right, alpha = 1, but costs as much as the target: the upper bound on tokens per
target pass and the worst case for time). All weights come from the data cache (trained on
first use). For each draft and gamma the script measures, on the same validation prompts and
seeds:

- alpha: kept over tested proposals;
- tokens per target pass (what speculative decoding saves when a draft pass is free);
- c: the draft's time per decoded token over the target's (plain decoding of each alone);
- the predicted speed-up S(alpha, gamma, c) of ``labs.speculative.expected_speedup``;
- the measured speed-up: plain target decoding time over speculative time, median over rounds of
  back-to-back pairs (a busy spell slows both sides of a pair alike).

    python benchmarks/speculative_speed.py            # prints the table, writes results_speculative.md
    python benchmarks/speculative_speed.py --quick    # fewer prompts and rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

CHAPTERS = ('11b',)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_speculative.md"
PROMPT_LEN = 4


def models():
    from labs.char_gpt import CPU_RECIPE, Recipe, train_char_gpt
    from labs.data.corpus import CharTokenizer, corpus_fingerprint, load_text_corpus, train_val_split
    from labs.speculative import DRAFT_RECIPE

    text = load_text_corpus()
    tokenizer = CharTokenizer.fit(text)
    train_text, val_text = train_val_split(text, val_fraction=0.1)
    train_ids, val_ids = tokenizer.encode(train_text), tokenizer.encode(val_text)
    args = (train_ids, val_ids, tokenizer.vocab_size, corpus_fingerprint(text))
    target = train_char_gpt(*args, CPU_RECIPE, device="cpu").model
    tiny = Recipe(n_layer=1, n_head=1, n_embd=16, steps=400, eval_every=400, val_chars=10_000)
    drafts = {
        "1 layer, 48 wide (the chapter's)": train_char_gpt(*args, DRAFT_RECIPE, device="cpu").model,
        "1 layer, 16 wide": train_char_gpt(*args, tiny, device="cpu").model,
        "the target itself": target,
    }
    return target, drafts, val_ids, CPU_RECIPE.block_size


def measure(quick: bool):
    import torch

    from labs.models.gpt import generate
    from labs.speculative import expected_speedup, speculative_generate

    torch.set_num_threads(1)
    target, drafts, val_ids, block = models()
    n_new = block - PROMPT_LEN
    prompts = [val_ids[s:s + PROMPT_LEN] for s in range(0, (6 if quick else 20) * 997, 997)]
    rounds = 2 if quick else 3

    def plain(model):
        start = time.perf_counter()
        for i, p in enumerate(prompts):
            generate(model, torch.from_numpy(p)[None], n_new, seed=i)
        return time.perf_counter() - start

    def speculative(draft, gamma, out):
        start = time.perf_counter()
        for i, p in enumerate(prompts):
            out.append(speculative_generate(target, draft, p, n_new, gamma=gamma, seed=i))
        return time.perf_counter() - start

    rows = []
    for name, draft in drafts.items():
        c = float(np.median([plain(draft) / plain(target) for _ in range(rounds)]))
        for gamma in (1, 2, 4, 6):
            ratios, results = [], []
            for _ in range(rounds):
                results.clear()
                t_plain = plain(target)
                ratios.append(t_plain / speculative(draft, gamma, results))
            alpha = sum(r.accepted for r in results) / sum(r.accepted + r.rejected for r in results)
            per_pass = sum(r.ids.size - PROMPT_LEN for r in results) / sum(r.target_calls for r in results)
            rows.append((name, gamma, alpha, per_pass, c, expected_speedup(alpha, gamma, c), float(np.median(ratios))))
            print(f"{name:34s} gamma {gamma}: alpha {alpha:.2f}, {per_pass:.2f} tokens/target pass, c {c:.2f}, "
                  f"predicted {rows[-1][5]:.2f}x, measured {rows[-1][6]:.2f}x", flush=True)
    return rows, len(prompts), n_new


def table(rows, n_prompts, n_new) -> str:
    lines = [
        "## Speculative decoding on one CPU thread",
        "",
        f"Chapter 7's GPT as the target; {n_prompts} validation prompts of {PROMPT_LEN} characters, {n_new} new tokens each, "
        "temperature 1. Speed-up = plain target decoding time / speculative time (median over rounds); "
        "predicted = S(alpha, gamma, c) with the measured alpha and c.",
        "",
        "| draft | gamma | alpha | tokens per target pass | c | predicted speed-up | measured speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, gamma, alpha, per_pass, c, predicted, measured in rows:
        lines.append(f"| {name} | {gamma} | {alpha:.2f} | {per_pass:.2f} | {c:.2f} | {predicted:.2f} | {measured:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer prompts and rounds (a smoke test)")
    args = parser.parse_args(argv)
    rows, n_prompts, n_new = measure(args.quick)
    text = table(rows, n_prompts, n_new)
    print(text)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
