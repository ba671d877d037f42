"""Training and generation speed of chapter 7's GPT, side by side in one process on the CPU.

Three implementations of the same model, at chapter 7's CPU size (the config below), with
the same float32 weights:

- our PyTorch GPT (``labs.models.gpt``);
- Hugging Face's ``transformers.GPT2LMHeadModel`` at the same config (the reference GPT-2);
- our NumPy twin (``labs.scratch.models.gpt``).

Training: tokens per second of a full step (forward, cross-entropy, backward, AdamW) on a
batch of ``BATCH`` windows of ``block_size`` tokens. Generation: tokens per second of
greedy decoding from a one-token prompt, with and without the KV cache, for
``block_size - 1`` new tokens (the window never fills) and, for our two engines, for
``4 * block_size`` tokens (past block_size our cache is rebuilt every step, so it stops
paying). Hugging Face is timed through its own ``generate``, which includes its generation
machinery (what a practitioner calls); its positions end at ``n_positions``, so it has no
"past block_size" number. One thread per library, best of several rounds, the
implementations timed in alternation (see ``engine_vs_torch.py`` for why).

The last table is nanoGPT's shakespeare_char config on a GPU (``gpt_nanogpt_gpu.py``); on a
machine without one it says "not measured", or shows the stored result of a GPU run
(``results_gpt_gpu.json``), labelled with that machine.

    python benchmarks/gpt_speed.py            # prints the tables, writes results_gpt.md
    python benchmarks/gpt_speed.py --quick    # fewer rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

CHAPTERS = ('7',)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_gpt.md"
GPU_RESULTS = HERE / "results_gpt_gpu.json"
CONFIG = dict(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=64)  # chapter 7's CPU recipe
LONG = CONFIG | dict(block_size=256)  # the same model with a longer window, where the cache has work to save
BATCH = 32


def _best_interleaved(steps: dict, rounds: int, budget_s: float) -> dict:
    """Best-of-``rounds`` seconds per call of each step; every round times every step once, in turn.

    Interleaving spreads a busy spell of the machine over all the steps instead of one of
    them; each timing repeats its step often enough to last about ``budget_s``.
    """
    number = {}
    for key, step in steps.items():
        step()  # warm up
        start = time.perf_counter()
        step()
        number[key] = max(1, int(budget_s / max(time.perf_counter() - start, 1e-6)))
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for key, step in steps.items():
            start = time.perf_counter()
            for _ in range(number[key]):
                step()
            best[key] = min(best[key], (time.perf_counter() - start) / number[key])
    return best


def build(torch, sizes: dict):
    """The three models with the same weights, and their train and generate steps."""
    import transformers

    import labs.scratch as st
    from labs.models import gpt as torch_gpt
    from labs.models.gpt2_weights import gpt2_state_dict
    from labs.scratch.models import gpt as numpy_gpt

    config = torch_gpt.GPTConfig(**sizes)
    torch.manual_seed(0)
    ours = torch_gpt.GPT(config)
    hf_config = transformers.GPT2Config(vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
                                        n_layer=config.n_layer, n_head=config.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
                                        attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(hf_config)
    _, state = gpt2_state_dict(hf.state_dict(), config.n_head)
    ours.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})  # the same weights everywhere
    twin = numpy_gpt.GPT(config)
    twin.load_state_dict(state)

    rng = np.random.default_rng(0)
    x = rng.integers(0, config.vocab_size, size=(BATCH, config.block_size))
    y = rng.integers(0, config.vocab_size, size=(BATCH, config.block_size))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    V = config.vocab_size

    def torch_step(model, logits_of):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0)

        def step():
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(logits_of(model, xt).reshape(-1, V), yt.reshape(-1)).backward()
            opt.step()

        return step

    twin_opt = st.optim.AdamW(twin.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0)

    def twin_step():
        twin_opt.zero_grad()
        st.F.cross_entropy(twin(x).reshape(-1, V), y.reshape(-1)).backward()
        twin_opt.step()

    prompt = torch.zeros((1, 1), dtype=torch.long)

    def ours_generate(n, cache):
        return lambda: torch_gpt.generate(ours, prompt, n, temperature=0.0, use_cache=cache)

    def hf_generate(n, cache):
        return lambda: hf.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=cache,
                                   pad_token_id=0, eos_token_id=None)

    def twin_generate(n, cache):
        return lambda: numpy_gpt.generate(twin, prompt.numpy(), n, temperature=0.0, use_cache=cache)

    hf.train()  # like the others while training; generate switches modes itself
    return config, [
        ("our PyTorch GPT (`labs.models.gpt`)", torch_step(ours, lambda m, t: m(t)), ours_generate, True),
        ("Hugging Face `GPT2LMHeadModel`", torch_step(hf, lambda m, t: m(input_ids=t).logits), hf_generate, False),
        ("our NumPy GPT (`labs.scratch.models.gpt`)", twin_step, twin_generate, True),
    ]


def measure(torch, rounds: int):
    config, engines = build(torch, CONFIG)
    within, past = config.block_size - 1, 4 * config.block_size
    steps = {}
    for name, train_step, generate_with, rebuilds in engines:
        steps[name, "train"] = train_step
        for cache in (True, False):
            steps[name, "within", cache] = generate_with(within, cache)
            if rebuilds:
                steps[name, "past", cache] = generate_with(past, cache)
    seconds = _best_interleaved(steps, rounds, 0.3)
    rows = []
    for name, _, _, rebuilds in engines:
        row = {"name": name, "train": BATCH * config.block_size / seconds[name, "train"]}
        for cache in (True, False):
            row[("within", cache)] = within / seconds[name, "within", cache]
            row[("past", cache)] = past / seconds[name, "past", cache] if rebuilds else None
        rows.append(row)
    return config, rows


def measure_long(torch, rounds: int):
    """Generation only, with the longer window: block_size - 1 new tokens, with and without the cache."""
    config, engines = build(torch, LONG)
    n = config.block_size - 1
    steps = {(name, cache): generate_with(n, cache) for name, _, generate_with, _ in engines for cache in (True, False)}
    seconds = _best_interleaved(steps, rounds, 0.0)
    return config, [{"name": name, True: n / seconds[name, True], False: n / seconds[name, False]} for name, *_ in engines]


def format_long(config, rows) -> list[str]:
    lines = [f"| implementation | {config.block_size - 1} new tokens/s, cache | no cache | cache speed-up |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {_rate(r[True])} | {_rate(r[False])} | {r[True] / r[False]:.1f}x |")
    return lines


def _rate(value) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def format_tables(config, rows) -> list[str]:
    lines = [
        "| implementation | training tokens/s | generation tokens/s, cache | no cache | cache speed-up "
        "| past block_size: cache | no cache |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        speedup = r[("within", True)] / r[("within", False)]
        lines.append(f"| {r['name']} | {_rate(r['train'])} | {_rate(r[('within', True)])} | {_rate(r[('within', False)])} "
                     f"| {speedup:.1f}x | {_rate(r[('past', True)])} | {_rate(r[('past', False)])} |")
    ours, hf, twin = rows
    lines += [
        "",
        f"- Our PyTorch GPT trains at {ours['train'] / hf['train']:.2f}x the speed of `GPT2LMHeadModel` on the same "
        f"weights, and generates (with the cache) at {ours[('within', True)] / hf[('within', True)]:.2f}x its speed.",
        f"- The NumPy twin trains at {twin['train'] / ours['train']:.2f}x the speed of our PyTorch GPT and generates "
        f"(with the cache) at {twin[('within', True)] / ours[('within', True)]:.2f}x its speed.",
        f"- Past block_size ({4 * config.block_size} new tokens from a window of {config.block_size}), our cache "
        "is rebuilt from the last block_size tokens at every step, which reads as many tokens as a step without "
        f"the cache; measured speed with the cache / without: {ours[('past', True)] / ours[('past', False)]:.2f}x "
        f"for PyTorch, {twin[('past', True)] / twin[('past', False)]:.2f}x for NumPy.",
    ]
    return lines


def _load_caveat() -> list[str]:
    import os

    try:
        load, cores = os.getloadavg()[0], os.cpu_count() or 1
    except OSError:
        return []
    if load <= cores:
        return []
    return [f"- The load average ({load:.1f}) was above the number of cores ({cores}) when this run ended: other "
            "processes shared the CPU, so read the ratios between rows as rough and rerun on a quiet machine."]


def gpu_section() -> list[str]:
    lines = ["| implementation | device | ms / iteration | tokens/s | MFU |", "|---|---|---:|---:|---:|"]
    if not GPU_RESULTS.exists():
        lines.append("| our PyTorch GPT | not measured (no GPU on the machine that wrote this page) | | | |")
        lines.append("| nanoGPT `train.py` | not measured | | | |")
        return lines
    stored = json.loads(GPU_RESULTS.read_text())
    for row in stored["rows"]:
        if row.get("ms_per_iter") is None:
            lines.append(f"| {row['name']} | {stored['device']} | not measured: {row.get('why', '')} | | |")
        else:
            lines.append(f"| {row['name']} | {stored['device']} | {row['ms_per_iter']:.1f} | {row['tokens_per_s']:,.0f} "
                         f"| {100 * row['mfu']:.1f} % |")
    lines.append("")
    lines.append(f"Measured by `benchmarks/gpt_nanogpt_gpu.py` on {stored['machine']}; {stored['note']}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round per measurement (a smoke test)")
    args = parser.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    sys.path.insert(0, str(HERE))
    from engine_vs_torch import CHOSEN_THREADS, _machine
    from gpt_nanogpt_gpu import BATCH as GPU_BATCH, SHAKESPEARE_CHAR

    from labs.models.gpt import GPTConfig, parameter_count

    machine = _machine(torch)
    torch.set_num_threads(CHOSEN_THREADS)
    with threadpool_limits(limits=CHOSEN_THREADS, user_api="blas"):
        config, rows = measure(torch, rounds=1 if args.quick else 3)
        long_config, long_rows = measure_long(torch, rounds=1 if args.quick else 2)
    import transformers

    text = [
        "# Chapter 7's GPT: training and generation speed",
        "",
        f"Written by `benchmarks/gpt_speed.py` (`make benchmark`); numbers from one run on: {machine}, "
        f"transformers {transformers.__version__}.",
        "",
        f"Config: chapter 7's CPU recipe, `GPTConfig({', '.join(f'{k}={v}' for k, v in CONFIG.items())})` "
        f"({parameter_count(config):,} parameters), float32, one thread per library; training batch {BATCH} x "
        f"{config.block_size} tokens with AdamW; greedy generation of {config.block_size - 1} tokens from a one-token "
        f"prompt, and of {4 * config.block_size} tokens past block_size. Best of several rounds, in alternation.",
        "",
        *format_tables(config, rows),
        *_load_caveat(),
        "",
        f"With a longer window (`block_size={long_config.block_size}`, the rest unchanged), where each step "
        "without the cache re-reads up to block_size tokens:",
        "",
        *format_long(long_config, long_rows),
        "",
        "## nanoGPT's shakespeare_char config on a GPU",
        "",
        f"`GPTConfig({', '.join(f'{k}={v}' for k, v in SHAKESPEARE_CHAR.items())})`, batch {GPU_BATCH} "
        f"({parameter_count(GPTConfig(**SHAKESPEARE_CHAR)):,} parameters): our PyTorch GPT next to nanoGPT's own "
        "`train.py` (fetched for the run, never committed), bfloat16 autocast. MFU is model FLOPs "
        "(6N + 12 L C T per token) per second over the GPU's dense bfloat16 peak.",
        "",
        *gpu_section(),
        "",
    ]
    print("\n".join(text))
    if not args.quick:  # a smoke test never overwrites the page's numbers
        RESULTS.write_text("\n".join(text))
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
