"""nanoGPT's shakespeare_char config on a GPU: training tokens/s and MFU, ours next to nanoGPT's.

    python benchmarks/gpt_nanogpt_gpu.py                          # our GPT only
    python benchmarks/gpt_nanogpt_gpu.py --nanogpt /path/nanoGPT  # also nanoGPT's own train.py
                                       # (git clone https://github.com/karpathy/nanoGPT /path/nanoGPT)

The config is nanoGPT's ``config/train_shakespeare_char.py``: 6 layers, 6 heads, 384 wide,
block 256, batch 64, dropout 0.2, no biases, vocabulary 65. Our GPT trains on random tokens
with AdamW under bfloat16 autocast, timed after a warm-up with the GPU synchronised.
nanoGPT's ``train.py`` comes from a checkout fetched for the run (never committed); it is
given a ``shakespeare_char`` data folder of random tokens written here (so no download is
needed), and its own per-iteration log ("time ...ms, mfu ...%") is parsed. nanoGPT computes
MFU against an A100's 312 TFLOPS; it is rescaled here to the GPU that ran.

MFU (model FLOPs utilisation) = achieved model FLOPs per second / the GPU's dense bfloat16
peak, with 6N + 12 L C T FLOPs per token for training (N parameters without the position
table, L layers, C width, T context; Chowdhery et al. 2022, appendix B).

Results go to ``results_gpt_gpu.json``, which ``gpt_speed.py`` turns into the benchmarks
page. On a machine without CUDA nothing is measured and the script says so.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHAPTERS = ('7',)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "results_gpt_gpu.json"
SHAKESPEARE_CHAR = dict(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2, bias=False)
BATCH = 64
NANOGPT_PEAK_TFLOPS = 312.0  # what nanoGPT's estimate_mfu divides by (an A100's bfloat16 peak)
# dense bfloat16 tensor-core peaks (TFLOPS), from the vendors' data sheets, by a name fragment of the GPU
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "T4": 65.0}


def peak_tflops(device_name: str) -> float | None:
    for fragment, peak in PEAK_TFLOPS.items():
        if fragment in device_name:
            return peak
    return None


def flops_per_token(config, n_params_without_positions: int) -> float:
    """Training FLOPs per token: 6N for the weights (forward 2N, backward 4N) + 12 L C T for attention."""
    return 6.0 * n_params_without_positions + 12.0 * config.n_layer * config.n_embd * config.block_size


def measure_ours(torch, device, iters: int, warmup: int, batch: int = BATCH) -> dict:
    """Our GPT's training step at the shakespeare_char config (any device; the book's row is CUDA's)."""
    from labs.models.gpt import GPT, GPTConfig

    config = GPTConfig(**SHAKESPEARE_CHAR)
    torch.manual_seed(0)
    model = GPT(config).to(device)
    cuda = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1, fused=cuda)
    x = torch.randint(0, config.vocab_size, (batch, config.block_size), device=device)
    y = torch.randint(0, config.vocab_size, (batch, config.block_size), device=device)
    synchronize = torch.cuda.synchronize if cuda else (lambda: None)

    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, config.vocab_size), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    synchronize()
    seconds = (time.perf_counter() - start) / iters
    n = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    achieved = flops_per_token(config, n) * batch * config.block_size / seconds
    peak = peak_tflops(torch.cuda.get_device_name()) if cuda else None
    return {"name": "our PyTorch GPT", "ms_per_iter": 1e3 * seconds, "tokens_per_s": batch * config.block_size / seconds,
            "mfu": achieved / (peak * 1e12) if peak else float("nan")}


def _write_random_dataset(folder: Path, vocab_size: int) -> None:
    """train.bin / val.bin of random uint16 tokens and the meta file nanoGPT reads its vocab size from."""
    import pickle  # nanoGPT's own format for meta.pkl; we write it, nothing downloaded is unpickled

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train.bin", 1_000_000), ("val.bin", 100_000)):
        rng.integers(0, vocab_size, size=n, dtype=np.uint16).tofile(folder / name)
    with open(folder / "meta.pkl", "wb") as handle:
        pickle.dump({"vocab_size": vocab_size}, handle)


def measure_nanogpt(nanogpt: Path, device_name: str, iters: int, warmup: int, extra=()) -> dict:
    """nanoGPT's train.py on random shakespeare_char-sized data.

    ``extra`` overrides its settings for a smoke run (e.g. ``--device=cpu --batch_size=2``); tokens/s
    assumes the shakespeare_char batch, so it is meaningless for such a run.
    """
    row = {"name": "nanoGPT `train.py`"}
    if not (nanogpt / "train.py").exists():
        return row | {"ms_per_iter": None, "why": f"no train.py in {nanogpt}"}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        subprocess.run(["cp", "-r", str(nanogpt), str(work / "nanoGPT")], check=True)
        _write_random_dataset(work / "nanoGPT" / "data" / "shakespeare_char", SHAKESPEARE_CHAR["vocab_size"])
        args = [sys.executable, "train.py", "config/train_shakespeare_char.py", f"--max_iters={warmup + iters}",
                "--eval_interval=100000", "--eval_iters=1", "--log_interval=1", "--compile=False",
                "--always_save_checkpoint=False", "--dtype=bfloat16", f"--out_dir={work / 'out'}", *extra]
        done = subprocess.run(args, cwd=work / "nanoGPT", capture_output=True, text=True, timeout=600)
    times, mfus = [], []
    for match in re.finditer(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms, mfu (-?[\d.]+)%", done.stdout):
        if int(match.group(1)) >= warmup:
            times.append(float(match.group(2)))
            mfus.append(float(match.group(3)))
    if not times:
        return row | {"ms_per_iter": None, "why": f"no iteration lines in its output (exit {done.returncode}): {done.stderr[-300:]}"}
    ms = float(np.median(times))
    peak = peak_tflops(device_name)
    # nanoGPT's last reported MFU is a running average against 312 TFLOPS: rescale to this GPU's peak
    mfu = mfus[-1] / 100 * NANOGPT_PEAK_TFLOPS / peak if peak else float("nan")
    return row | {"ms_per_iter": ms, "tokens_per_s": BATCH * SHAKESPEARE_CHAR["block_size"] / (ms / 1e3), "mfu": mfu}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", type=Path, help="a nanoGPT checkout to run beside ours")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="10 iterations after 3 of warm-up (a smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.iters, args.warmup = 10, 3
    import torch

    from labs.device import get_device

    device = get_device()
    if device.type != "cuda":
        print("gpt_nanogpt_gpu: no CUDA GPU on this machine: not measured (results_gpt_gpu.json left as it is)")
        return 0
    name = torch.cuda.get_device_name()
    rows = [measure_ours(torch, device, args.iters, args.warmup)]
    rows.append(measure_nanogpt(args.nanogpt, name, args.iters, args.warmup) if args.nanogpt else
                {"name": "nanoGPT `train.py`", "ms_per_iter": None, "why": "no checkout given (--nanogpt)"})
    peak = peak_tflops(name)
    result = {
        "device": name,
        "machine": f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}, Python {platform.python_version()}",
        "note": (f"MFU against {peak:g} TFLOPS (dense bfloat16); " if peak else "MFU unknown (no peak for this GPU); ")
        + f"ours: mean of {args.iters} iterations after {args.warmup} of warm-up; nanoGPT: the median of its own "
        "logged iteration times after the same warm-up; neither with torch.compile.",
        "rows": rows,
    }
    print(json.dumps(result, indent=2))
    if not args.quick:  # a smoke test never overwrites the page's numbers
        OUTPUT.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
