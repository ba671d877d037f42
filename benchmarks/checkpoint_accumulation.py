"""Memory for compute: activation checkpointing's time against the activations it saves, and gradient accumulation against one large batch, on Chapter 10a's GPT.

Chapter 10a measures both trades once, on one batch: ``labs.memory.checkpointed_blocks`` keeps
only each block's input and recomputes the rest in the backward pass (fewer saved bytes, more
FLOPs), and gradient accumulation splits a batch into k microbatches whose gradients add up to
the large batch's (the activations of one microbatch at a time, k sequential passes). This script
times each side by side with the plain training step in one process, one thread, on the chapter's
GPT (2 layers, 4 heads, width 64, 96 characters, context 64):

- checkpointing at two batch sizes: the bytes autograd saves for the backward pass
  (``labs.memory.SavedTensorMeter``), the FLOPs of a step (``labs.flops.count_flops`` on the
  attention's math path, so the recomputed attention is counted too), and the time of a forward and
  backward pass, each as checkpointed / plain;
- accumulation of a batch of 32 sequences over k = 1, 2, 4, 8 microbatches, each step ending with
  one AdamW update: the bytes saved for one microbatch's backward, and the step time / k = 1's.

A time ratio is the median over rounds of (time / the plain step's time in the same round).

    python benchmarks/checkpoint_accumulation.py            # prints the tables, writes results_checkpoint.md
    python benchmarks/checkpoint_accumulation.py --quick    # fewer rounds, smaller batches (a smoke test; writes nothing)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

CHAPTERS = ("10a",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_checkpoint.md"
T = 64  # the chapter's context length


def gpt():
    import torch

    from labs.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=96, block_size=T, n_layer=2, n_head=4, n_embd=64))  # the chapter's config


def checkpoint_row(batch: int, rounds: int, budget: float) -> dict:
    import torch
    import torch.nn.functional as F
    from timing import interleaved

    from labs import flops, memory

    model = gpt()
    V = model.config.vocab_size
    idx = torch.randint(0, V, (batch, T), generator=torch.Generator().manual_seed(1))

    def step():
        model.zero_grad()
        F.cross_entropy(model(idx).reshape(-1, V), idx.reshape(-1)).backward()

    def checkpointed():
        with memory.checkpointed_blocks(model):
            step()

    saved = {}
    for name, ctx in (("plain", contextlib.nullcontext), ("checkpointed", lambda: memory.checkpointed_blocks(model))):
        with ctx(), memory.SavedTensorMeter(model) as meter:  # as chapter 10a measures it
            step()
        saved[name] = meter.nbytes
    counted = {"plain": flops.count_flops(step)[0]}
    with memory.checkpointed_blocks(model):
        counted["checkpointed"] = flops.count_flops(step)[0]
    timed = interleaved({"plain": step, "checkpointed": checkpointed}, rounds=rounds, budget_s=budget,
                        reference="plain")
    return {"batch": batch, "saved": saved, "flops": counted, "timed": timed}


def accumulation_rows(batch: int, ks, rounds: int, budget: float) -> dict:
    import torch
    import torch.nn.functional as F
    from timing import interleaved

    from labs import memory

    model = gpt()
    V = model.config.vocab_size
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    idx = torch.randint(0, V, (batch, T), generator=torch.Generator().manual_seed(1))

    def loss(x):
        return F.cross_entropy(model(x).reshape(-1, V), x.reshape(-1))

    def accumulate(k):
        def step():
            opt.zero_grad()
            for chunk in idx.chunk(k):
                (loss(chunk) / k).backward()  # equal microbatches: the mean of means is the batch's mean
            opt.step()
        return step

    saved = {}
    for k in ks:
        with memory.SavedTensorMeter(model) as meter:
            first = loss(idx.chunk(k)[0])
        first.backward()
        saved[k] = meter.nbytes
    timed = interleaved({k: accumulate(k) for k in ks}, rounds=rounds, budget_s=budget, reference=ks[0])
    return {"saved": saved, "timed": timed}


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import torch
    from timing import machine_line

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller batches (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rounds, budget = (2, 0.02) if args.quick else (11, 0.2)
    batches, acc_batch, ks = ((4,), 8, (1, 4)) if args.quick else ((8, 32), 32, (1, 2, 4, 8))

    ckpt = []
    for b in batches:
        row = checkpoint_row(b, rounds, budget)
        ckpt.append(row)
        print(f"checkpointing, batch {b}: saved {row['saved']['plain'] / 2**20:.2f} -> "
              f"{row['saved']['checkpointed'] / 2**20:.2f} MiB, time x{row['timed']['checkpointed']['ratio']:.2f}",
              flush=True)
    acc = accumulation_rows(acc_batch, ks, rounds, budget)
    for k in ks:
        print(f"accumulation over {k}: {acc['saved'][k] / 2**20:.2f} MiB, time x{acc['timed'][k]['ratio']:.2f}",
              flush=True)

    mib = 2 ** 20
    lines = [
        "Written by `benchmarks/checkpoint_accumulation.py`.",
        "",
        machine_line(torch),
        "",
        f"Activation checkpointing of every block of chapter 10a's GPT (context {T}), one forward and backward pass; "
        f"ratios = checkpointed / plain (saved for backward, FLOPs, time in the same round), median of {rounds} rounds.",
        "",
        "| batch | saved, plain (MiB) | saved, checkpointed (MiB) | saved ratio | "
        "FLOP ratio | plain step (ms) | checkpointed step (ms) | time ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in ckpt:
        s, f, t = row["saved"], row["flops"], row["timed"]
        lines.append(f"| {row['batch']} | {s['plain'] / mib:.2f} | {s['checkpointed'] / mib:.2f} | "
                     f"{s['checkpointed'] / s['plain']:.2f} | {f['checkpointed'] / f['plain']:.3f} | "
                     f"{1e3 * t['plain']['median_s']:.1f} | {1e3 * t['checkpointed']['median_s']:.1f} | "
                     f"{t['checkpointed']['ratio']:.2f} |")
    lines += [
        "",
        f"Gradient accumulation: one AdamW step on a batch of {acc_batch} sequences split into k equal microbatches; "
        f"time / k = {ks[0]}'s in the same round, median of {rounds} rounds.",
        "",
        "| microbatches k | sequences per microbatch | saved for one microbatch's backward (MiB) | step (ms) | "
        f"time / k = {ks[0]}'s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for k in ks:
        t = acc["timed"][k]
        lines.append(f"| {k} | {acc_batch // k} | {acc['saved'][k] / mib:.2f} | {1e3 * t['median_s']:.1f} | "
                     f"{t['ratio']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
