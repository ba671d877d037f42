"""One optimizer step over a GPT's parameters: chapter 3's update functions, the NumPy engine, and torch.optim.

Chapter 3 writes each update rule (SGD, momentum, Adam, AdamW, AdaGrad) as a NumPy function
(``labs.optimization.sgd_step``, ...) and checks it against ``torch.optim``; the NumPy engine
has the same rules as optimizer classes (``labs.scratch.optim``). How much does one step cost?
On the parameter list of chapter 7's CPU GPT and of a wider GPT (the shapes of
``labs.models.gpt.GPT``, float64 because the chapter's functions compute in float64), with a
fixed gradient on every parameter, this times ``optimizer.step()`` of ``torch.optim`` (its
default on a CPU, one parameter at a time), of ``torch.optim`` with ``foreach=True`` (one
multi-tensor kernel per operation), of ``labs.scratch.optim``, and a loop of the chapter's
functions over the parameters (each returns a new array, where the optimizers update in
place). Ratios are time / ``torch.optim``'s time (median over rounds, timed in alternation).

    python benchmarks/optimizer_step.py            # prints the table, writes results_optimizer.md
    python benchmarks/optimizer_step.py --quick    # one small model, few rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

CHAPTERS = ("3",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_optimizer.md"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from gpt_speed import CONFIG  # noqa: E402  (chapter 7's CPU size)
from timing import interleaved, machine_line  # noqa: E402

# name -> (torch.optim class, labs.scratch.optim class, labs.optimization function, hyper-parameters)
RULES = {
    "SGD": ("SGD", "SGD", "sgd_step", dict(lr=1e-2)),
    "SGD + momentum 0.9": ("SGD", "SGD", "sgd_step", dict(lr=1e-2, momentum=0.9)),
    "Adam": ("Adam", "Adam", "adam_step", dict(lr=1e-3)),
    "AdamW": ("AdamW", "AdamW", "adamw_step", dict(lr=1e-3, weight_decay=1e-2)),
    "AdaGrad": ("Adagrad", "Adagrad", "adagrad_step", dict(lr=1e-2)),
}
TORCH = "torch.optim"


def parameter_arrays(torch, sizes: dict) -> list[np.ndarray]:
    """The float64 parameter arrays of ``labs.models.gpt.GPT(GPTConfig(**sizes))``."""
    from labs.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    return [p.detach().double().numpy().copy() for p in GPT(GPTConfig(**sizes)).parameters()]


def steps_for(torch, arrays, rule: str) -> dict:
    """The step callables of one update rule, each with its own copy of the parameters and the same gradients."""
    import labs.optimization as chapter
    import labs.scratch as st

    torch_name, scratch_name, function_name, hyper = RULES[rule]
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=a.shape) for a in arrays]
    steps = {}
    for label, foreach in ((TORCH, False), ("torch.optim, foreach=True", True)):
        params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g.copy())
        steps[label] = getattr(torch.optim, torch_name)(params, foreach=foreach, **hyper).step
    params = [st.nn.Parameter(a.copy()) for a in arrays]
    for p, g in zip(params, grads):
        p.grad = st.tensor(g.copy())
    steps["labs.scratch.optim"] = getattr(st.optim, scratch_name)(params, **hyper).step
    function = getattr(chapter, function_name)
    values, states = [a.copy() for a in arrays], [{} for _ in arrays]

    def chapter_step():
        for i, g in enumerate(grads):
            values[i] = function(values[i], g, states[i], **hyper)

    steps["chapter 3's functions (`labs.optimization`)"] = chapter_step
    return steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small model, few rounds (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.quick:
        models, rounds, budget = {"a one-layer GPT": CONFIG | dict(n_layer=1)}, 2, 0.005
    else:
        models, rounds, budget = {"chapter 7's CPU GPT": CONFIG,
                                  "a wider GPT": CONFIG | dict(n_layer=4, n_embd=256, block_size=64)}, 9, 0.1
    columns = [TORCH, "torch.optim, foreach=True", "labs.scratch.optim", "chapter 3's functions (`labs.optimization`)"]
    lines = [f"Written by `benchmarks/optimizer_step.py`; {machine_line(torch)}.", "",
             "float64 parameters with a fixed gradient; `torch.optim` is its CPU default (a loop over the parameters). "
             "The other columns are time / `torch.optim`'s time in the same round (median over rounds; > 1 is slower).", ""]
    for label, sizes in models.items():
        arrays = parameter_arrays(torch, sizes)
        n = sum(a.size for a in arrays)
        lines += [f"## {label}: {len(arrays)} tensors, {n:,} parameters", "",
                  f"`GPTConfig({', '.join(f'{k}={v}' for k, v in sizes.items())})`", "",
                  f"| update rule | {TORCH} ms per step | " + " | ".join(columns[1:]) + " |",
                  "|---|---:|" + "---:|" * (len(columns) - 1)]
        for rule in RULES:
            result = interleaved(steps_for(torch, arrays, rule), rounds, budget, reference=TORCH)
            cells = [f"{result[c]['ratio']:.2f}" for c in columns[1:]]
            lines.append(f"| {rule} | {1e3 * result[TORCH]['median_s']:.3f} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if not args.quick:  # a smoke test never overwrites the page's numbers
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
