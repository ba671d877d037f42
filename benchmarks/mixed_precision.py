"""Mixed precision's speed, measured honestly: float32 against bf16 (and fp16) autocast.

One full training step (forward, cross-entropy, backward, AdamW) of our GPT
(``labs.models.gpt``), timed best-of-rounds with the precisions in alternation, so a busy
spell of the machine is spread over all of them. It prints the time per step, the ratio
to float32 and the achieved FLOP rate from ``labs.flops.gpt_training_flops``; on a GPU
also the model FLOPs utilisation (MFU = achieved / peak, with the peak given by
``--peak-tflops``: 989 is an H100/H200 SXM's dense bf16 figure).

On a CPU bf16 is often *slower*: most CPUs have no bf16 matrix units, so autocast adds
casts around float32-speed products. On a GPU with tensor cores it is faster, and that is
the number chapter 10a asks for.

    python benchmarks/mixed_precision.py                     # CPU, chapter 10a's size
    python benchmarks/mixed_precision.py --quick             # a smoke test
    python benchmarks/mixed_precision.py --device cuda --n-layer 12 --n-embd 768 --batch 16 --block 1024
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from labs.flops import gpt_training_flops
from labs.models.gpt import GPT, GPTConfig


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5, help="steps per timing")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="the accelerator's dense 16-bit peak")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="one round of two steps (a smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 1, 2
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = GPTConfig(vocab_size=args.vocab, block_size=args.block, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd)
    torch.manual_seed(0)
    model = GPT(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, args.vocab, (args.batch, args.block), device=device)
    y = torch.randint(0, args.vocab, (args.batch, args.block), device=device)
    precisions = {"float32": None, "bfloat16": torch.bfloat16}
    if device.type == "cuda":
        precisions["float16"] = torch.float16
    scalers = {name: torch.amp.GradScaler(device.type, enabled=(dtype == torch.float16)) for name, dtype in precisions.items()}

    def step(name):
        dtype = precisions[name]
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = F.cross_entropy(model(x).reshape(-1, args.vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        scalers[name].scale(loss).backward()
        scalers[name].step(opt)
        scalers[name].update()

    best = dict.fromkeys(precisions, float("inf"))
    for name in precisions:
        step(name)  # warm up (kernels, autocast caches)
    for _ in range(args.rounds):
        for name in precisions:
            _sync(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                step(name)
            _sync(device)
            best[name] = min(best[name], (time.perf_counter() - start) / args.steps)
    flops = gpt_training_flops(config, args.batch, args.block)
    print(f"device {device}, config {config}, batch {args.batch}, threads {args.threads}")
    print(f"{'precision':<10} {'ms/step':>9} {'vs fp32':>8} {'TFLOP/s':>9}" + (" MFU" if device.type == "cuda" else ""))
    for name, seconds in best.items():
        rate = flops / seconds / 1e12
        mfu = f" {100 * rate / args.peak_tflops:5.1f}%" if device.type == "cuda" else ""
        print(f"{name:<10} {1e3 * seconds:9.2f} {best['float32'] / seconds:7.2f}x {rate:9.4f}{mfu}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
