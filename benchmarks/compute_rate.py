"""The FLOP/s this CPU reaches: matrix products in NumPy and PyTorch, and a GPT training step (a CPU "MFU").

Chapter 1 turns the 6ND rule into time: it times one 512 x 512 float32 product on one core and
divides GPT-3's training compute by that rate. This script measures the rate more carefully,
on one thread, timed in alternation (``timing.interleaved``): square matrix products at a few
sizes, float32 and float64, in NumPy and in PyTorch (each as a ratio to PyTorch float32 at the
same size; 2 n^3 FLOPs each). Then one full training step (forward, cross-entropy, backward,
AdamW) of chapter 7's GPT, in PyTorch (``labs.models.gpt``) and in the NumPy twin
(``labs.scratch.models.gpt``), at chapter 7's CPU size and at a wider size: its FLOPs come from
``labs.flops.gpt_training_flops`` (6 N per token plus attention), and the achieved rate over the
best matrix-product rate is the step's model FLOP utilisation on this CPU. Last, what those
rates mean for the 6ND of the models that ``labs.facts`` tabulates.

    python benchmarks/compute_rate.py            # prints the tables, writes results_compute.md
    python benchmarks/compute_rate.py --quick    # small sizes, few rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

CHAPTERS = ("1",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_compute.md"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from gpt_speed import BATCH, CONFIG  # noqa: E402  (chapter 7's CPU size, as its own benchmark times it)
from timing import interleaved, machine_line  # noqa: E402
SECONDS_PER_YEAR = 365 * 24 * 3600


def matmul_rates(torch, sizes, rounds: int, budget_s: float) -> list[dict]:
    """GFLOP/s of an n x n product per library and dtype, and each one's ratio to torch float32."""
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        steps = {}
        for dtype in ("float32", "float64"):
            a, b = rng.normal(size=(n, n)).astype(dtype), rng.normal(size=(n, n)).astype(dtype)
            ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
            steps["PyTorch", dtype] = lambda ta=ta, tb=tb: torch.mm(ta, tb)
            steps["NumPy", dtype] = lambda a=a, b=b: a @ b
        result = interleaved(steps, rounds, budget_s, reference=("PyTorch", "float32"))
        for (library, dtype), r in result.items():
            rows.append({"n": n, "library": library, "dtype": dtype, "gflops": 2 * n**3 / r["median_s"] / 1e9,
                         "ratio": r["ratio"]})
    return rows


def gpt_steps(torch, sizes: dict, batch: int):
    """One AdamW training step of our PyTorch GPT and of the NumPy twin, on the same float32 weights."""
    import labs.scratch as st
    from labs.models import gpt as torch_gpt
    from labs.scratch.models import gpt as numpy_gpt

    config = torch_gpt.GPTConfig(**sizes)
    torch.manual_seed(0)
    ours = torch_gpt.GPT(config)
    twin = numpy_gpt.GPT(config)
    twin.load_state_dict({k: v.detach().numpy().copy() for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.integers(0, config.vocab_size, size=(batch, config.block_size))
    y = rng.integers(0, config.vocab_size, size=(batch, config.block_size))
    xt, yt, V = torch.from_numpy(x), torch.from_numpy(y), config.vocab_size
    opt = torch.optim.AdamW(ours.parameters(), lr=1e-3)
    twin_opt = st.optim.AdamW(twin.parameters(), lr=1e-3)

    def torch_step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(ours(xt).reshape(-1, V), yt.reshape(-1)).backward()
        opt.step()

    def numpy_step():
        twin_opt.zero_grad()
        st.F.cross_entropy(twin(x).reshape(-1, V), y.reshape(-1)).backward()
        twin_opt.step()

    return config, {"PyTorch": torch_step, "NumPy": numpy_step}  # labs.models.gpt, labs.scratch.models.gpt


def gpt_rates(torch, configs: dict, batch: int, rounds: int, budget_s: float) -> list[dict]:
    from labs.flops import gpt_training_flops
    from labs.models.gpt import parameter_count

    rows = []
    for label, sizes in configs.items():
        config, steps = gpt_steps(torch, sizes, batch)
        flops = gpt_training_flops(config, batch, config.block_size)
        for engine, r in interleaved(steps, rounds, budget_s).items():
            rows.append({"config": label, "params": parameter_count(config), "engine": engine, "flops": flops,
                         "seconds": r["median_s"], "gflops": flops / r["median_s"] / 1e9, "ratio": r["ratio"]})
    return rows


def format_tables(matmul_rows, gpt_rows, batch: int, configs: dict) -> list[str]:
    from labs.facts import MODEL_FACTS, training_flops

    best = max(r["gflops"] for r in matmul_rows if r["dtype"] == "float32")
    lines = ["## Matrix products on one thread", "",
             "GFLOP/s of an n x n times n x n product (2 n^3 FLOPs); ratio = time / PyTorch float32's time at the same n "
             "(median over rounds, in alternation).", "",
             "| n | library | dtype | GFLOP/s | time ratio to PyTorch float32 |", "|---:|---|---|---:|---:|"]
    for r in matmul_rows:
        lines.append(f"| {r['n']} | {r['library']} | {r['dtype']} | {r['gflops']:.1f} | {r['ratio']:.2f} |")
    lines += ["", "## A GPT training step as a share of the best matrix-product rate", "",
              f"One step = forward, cross-entropy, backward and AdamW on a batch of {batch} windows, float32; FLOPs from "
              "`labs.flops.gpt_training_flops` (the optimizer's few FLOPs per weight are not counted, as in MFU); "
              "PyTorch is `labs.models.gpt`, NumPy its twin `labs.scratch.models.gpt`. "
              f"Utilisation = achieved GFLOP/s / {best:.1f}, the best float32 matrix-product rate above.", ""]
    for label, sizes in configs.items():
        lines.append(f"- {label}: `GPTConfig({', '.join(f'{k}={v}' for k, v in sizes.items())})`")
    lines += ["", "| model | parameters | engine | FLOPs per step | ms per step | GFLOP/s | utilisation "
              "| time / PyTorch's |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in gpt_rows:
        lines.append(f"| {r['config']} | {r['params']:,} | {r['engine']} | {r['flops']:.3g} | {1e3 * r['seconds']:.1f} "
                     f"| {r['gflops']:.2f} | {r['gflops'] / best:.1%} | {r['ratio']:.2f} |")
    torch_gpt = [r for r in gpt_rows if r["engine"].startswith("PyTorch")]
    gpt_rate = max(r["gflops"] for r in torch_gpt) * 1e9
    lines += ["", "## What 6ND means at these rates", "",
              f"Training compute C = 6 N D (`labs.facts.training_flops`) of every model in `labs.facts` with a stated "
              f"token count, and the years one thread of this CPU would need at the best matrix-product rate and at "
              f"the best PyTorch GPT step rate above ({gpt_rate / 1e9:.2f} GFLOP/s).", "",
              "| model | parameters N | tokens D | 6ND (FLOPs) | years at the matmul rate | years at the GPT-step rate |",
              "|---|---:|---:|---:|---:|---:|"]
    for fact in MODEL_FACTS:
        if fact.train_tokens is None:
            continue
        c = training_flops(fact.params, fact.train_tokens)
        lines.append(f"| {fact.name} | {fact.params:.3g} | {fact.train_tokens:.3g} | {c:.2e} "
                     f"| {c / (best * 1e9) / SECONDS_PER_YEAR:,.0f} | {c / gpt_rate / SECONDS_PER_YEAR:,.0f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.quick:
        sizes, rounds, budget = (64, 256), 2, 0.01
        configs = {"chapter 7's CPU GPT": CONFIG | dict(n_layer=1)}
    else:
        sizes, rounds, budget = (128, 512, 1024), 7, 0.1
        configs = {"chapter 7's CPU GPT": CONFIG,
                   "a wider GPT": CONFIG | dict(n_layer=4, n_embd=256, block_size=64)}
    matmul_rows = matmul_rates(torch, sizes, rounds, budget)
    gpt_rows = gpt_rates(torch, configs, BATCH, rounds, budget)
    text = [f"Written by `benchmarks/compute_rate.py`; {machine_line(torch)}.", "",
            *format_tables(matmul_rows, gpt_rows, BATCH, configs), ""]
    print("\n".join(text))
    if not args.quick:  # a smoke test never overwrites the page's numbers
        RESULTS.write_text("\n".join(text), encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
