"""LoRA against full fine-tuning of chapter 7's GPT: trainable parameters and time per training step, in both engines.

Chapter 8 fine-tunes its GPT four ways; LoRA (``labs.models.lora.apply_lora``) freezes every
weight and trains low-rank updates of the attention and MLP projections, so it trains a small
share of the parameters. Does a step also get cheaper? The forward pass is the same (plus the
small low-rank products) and the backward pass still carries the activations' gradients
through every layer; only the frozen weights' own gradients (2 of the 6 FLOPs per weight per
token) and the optimizer's work on them are saved. This script times one training step
(forward, cross-entropy on the next character, backward, Adam on the trainable parameters) of
full fine-tuning and of LoRA at two ranks, on the same float32 weights (adapters included), in PyTorch
(``labs.models.gpt`` + ``labs.models.lora``) and in the NumPy twin (``labs.scratch.models.gpt``
+ ``labs.scratch.models.lora``), timed in alternation (``timing.interleaved``), at chapter 7's
CPU size and at a wider size. The FLOP ratio it predicts counts each weight's 6 FLOPs per token
of ``labs.flops.gpt_training_flops``, less the 2 of a frozen weight's gradient, plus 6 per
LoRA parameter.

    python benchmarks/lora_speed.py            # prints the table, writes results_lora.md
    python benchmarks/lora_speed.py --quick    # one small model, few rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

CHAPTERS = ("8",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_lora.md"
RANKS = (4, 16)
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from gpt_speed import CONFIG  # noqa: E402  (chapter 7's CPU size)
from timing import interleaved, machine_line  # noqa: E402


def _modes():
    return ["full fine-tuning"] + [f"LoRA, rank {r}" for r in RANKS]


def build(torch, sizes: dict, batch: int):
    """Step callables and trainable-parameter counts, per (engine, mode), all from the same weights."""
    import labs.scratch as st
    from labs.models import gpt as torch_gpt, lora as torch_lora
    from labs.scratch.models import gpt as numpy_gpt, lora as numpy_lora

    config = torch_gpt.GPTConfig(**sizes)
    torch.manual_seed(0)
    pretrained = torch_gpt.GPT(config)
    rng = np.random.default_rng(0)
    x = rng.integers(0, config.vocab_size, size=(batch, config.block_size))
    y = rng.integers(0, config.vocab_size, size=(batch, config.block_size))
    xt, yt, V = torch.from_numpy(x), torch.from_numpy(y), config.vocab_size
    steps, trainable = {}, {}
    for mode, rank in zip(_modes(), (None, *RANKS)):
        model = copy.deepcopy(pretrained)
        if rank is not None:
            torch.manual_seed(1)
            torch_lora.apply_lora(model, rank=rank)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=1e-3)

        def torch_step(model=model, opt=opt):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xt).reshape(-1, V), yt.reshape(-1)).backward()
            opt.step()

        twin = numpy_gpt.GPT(config)
        if rank is not None:
            numpy_lora.apply_lora(twin, rank=rank)
        twin.load_state_dict({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})  # adapters too
        twin_params = [p for p in twin.parameters() if p.requires_grad]
        twin_opt = st.optim.Adam(twin_params, lr=1e-3)

        def numpy_step(twin=twin, twin_opt=twin_opt):
            twin_opt.zero_grad()
            st.F.cross_entropy(twin(x).reshape(-1, V), y.reshape(-1)).backward()
            twin_opt.step()

        steps["PyTorch", mode], steps["NumPy", mode] = torch_step, numpy_step
        trainable[mode] = torch_lora.count_parameters(model, trainable_only=True)
        assert trainable[mode] == numpy_lora.count_parameters(twin, trainable_only=True), "the twins differ in size"
    return config, steps, trainable


def predicted_flops(config, batch: int, trainable: int, full: int) -> float:
    """Training FLOPs of a step that trains ``trainable`` parameters: full fine-tuning's, less the frozen weights' gradients."""
    from labs.flops import gpt_training_flops, matmul_params

    tokens = batch * config.block_size
    if trainable == full:
        return float(gpt_training_flops(config, batch, config.block_size))
    # every weight still costs 2 (forward) + 2 (its input's gradient) per token; LoRA's own parameters 6
    return gpt_training_flops(config, batch, config.block_size) - 2.0 * matmul_params(config) * tokens + 6.0 * trainable * tokens


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small model, few rounds (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    import torch

    from labs.models.gpt import parameter_count

    torch.set_num_threads(1)
    if args.quick:
        models, rounds, budget = {"a one-layer GPT": (CONFIG | dict(n_layer=1), 8)}, 2, 0.01
    else:
        models = {"chapter 7's CPU GPT": (CONFIG, 32),
                  "a wider GPT": (CONFIG | dict(n_layer=4, n_embd=256, block_size=64), 16)}
        rounds, budget = 5, 0.1
    lines = [f"Written by `benchmarks/lora_speed.py`; {machine_line(torch)}.", "",
             "One training step = forward, cross-entropy on the next character, backward, Adam on the trainable "
             "parameters; float32. Time ratios are to full fine-tuning in the same engine, and NumPy / PyTorch for the "
             "same mode (medians over rounds of per-round ratios, in alternation; < 1 is faster).", ""]
    for label, (sizes, batch) in models.items():
        config, steps, trainable = build(torch, sizes, batch)
        timed = interleaved(steps, rounds, budget, reference=("PyTorch", "full fine-tuning"))
        full = trainable["full fine-tuning"]
        lines += [f"## {label}, batch {batch} x {config.block_size} tokens", "",
                  f"`GPTConfig({', '.join(f'{k}={v}' for k, v in sizes.items())})`, {parameter_count(config):,} parameters.",
                  "",
                  "| mode | trainable parameters | share | predicted FLOP ratio | PyTorch ms | time ratio, PyTorch "
                  "| NumPy ms | time ratio, NumPy | NumPy / PyTorch |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        full_flops = predicted_flops(config, batch, full, full)
        for mode in _modes():
            t, n = timed["PyTorch", mode], timed["NumPy", mode]
            numpy_ratio = n["ratio"] / timed["NumPy", "full fine-tuning"]["ratio"]
            lines.append(f"| {mode} | {trainable[mode]:,} | {trainable[mode] / full:.1%} "
                         f"| {predicted_flops(config, batch, trainable[mode], full) / full_flops:.2f} "
                         f"| {1e3 * t['median_s']:.1f} | {t['ratio']:.2f} | {1e3 * n['median_s']:.1f} | {numpy_ratio:.2f} "
                         f"| {n['ratio'] / t['ratio']:.2f} |")
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
