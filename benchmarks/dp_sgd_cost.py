"""What privacy costs in time: one DP-SGD step against one plain SGD step of Chapter 12b's MLP, in PyTorch, Opacus and the NumPy engine.

DP-SGD (chapter 12b) needs every example's own gradient, clipped, before the sum: the one
thing an ordinary backward pass never computes. The model is the chapter's 64-32-10 network
(``labs.models.mlp.MLP`` and its NumPy twin), float32, on the digits, at the chapter's expected
batch of 64 and at 256. Timed side by side in one process:

- PyTorch, plain SGD: forward, backward, ``torch.optim.SGD.step`` (the reference);
- ``labs.privacy.dp_sgd_step``: per-sample gradients by ``torch.func.vmap(grad(...))``, clipping
  and Gaussian noise;
- Opacus (the library a practitioner would use): ``GradSampleModule`` and ``DPOptimizer``, the same
  clip norm and noise multiplier;
- the NumPy engine, plain SGD against ``labs.scratch.privacy.dp_sgd_step``, whose per-sample
  gradients (``labs.scratch.per_sample.per_sample_grads``) come from one backward pass over the
  batch that keeps each Linear layer's inputs and output gradients (an einsum per layer), and,
  for comparison, the same step with ``method="loop"``: one backward pass per example.

Each engine's steps are timed in alternation (``timing.interleaved``); a ratio is the median
over rounds of (time / that engine's plain SGD step in the same round).

    python benchmarks/dp_sgd_cost.py            # prints the table, writes results_dp_sgd.md
    python benchmarks/dp_sgd_cost.py --quick    # fewer rounds (a smoke test; writes nothing)
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

CHAPTERS = ("12b",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_dp_sgd.md"
HIDDEN, LR, CLIP, SIGMA = 32, 0.5, 1.0, 1.0  # the chapter's digits runs: C = 1, lr = 0.5, a sigma of its curve


def torch_steps(x, y) -> dict:
    import torch
    import torch.nn.functional as F
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    import labs.privacy as P
    from labs.models.mlp import MLP

    def model():
        torch.manual_seed(0)
        return MLP(64, 10, hidden=HIDDEN)

    plain = model()
    opt = torch.optim.SGD(plain.parameters(), lr=LR)

    def sgd():
        opt.zero_grad()
        F.cross_entropy(plain(x), y).backward()
        opt.step()

    ours, rng = model(), np.random.default_rng(0)

    def dp_ours():
        P.dp_sgd_step(ours, F.cross_entropy, x, y, lr=LR, max_norm=CLIP, noise_multiplier=SIGMA,
                      expected_batch_size=float(len(x)), rng=rng)

    wrapped = GradSampleModule(model())
    dp_opt = DPOptimizer(torch.optim.SGD(wrapped.parameters(), lr=LR), noise_multiplier=SIGMA, max_grad_norm=CLIP,
                         expected_batch_size=len(x))

    def dp_opacus():
        dp_opt.zero_grad()
        F.cross_entropy(wrapped(x), y).backward()
        dp_opt.step()

    return {"plain SGD": sgd, "DP-SGD, labs.privacy (vmap)": dp_ours, "DP-SGD, Opacus": dp_opacus}


def numpy_steps(x, y) -> dict:
    import labs.scratch as S
    import labs.scratch.privacy as SP
    from labs.scratch.models.mlp import MLP as ScratchMLP

    def model():
        S.manual_seed(0)
        return ScratchMLP(64, 10, hidden=HIDDEN)

    xs, ys = S.tensor(x), S.tensor(y)
    plain = model()
    opt = S.optim.SGD(plain.parameters(), lr=LR)

    def sgd():
        opt.zero_grad()
        S.F.cross_entropy(plain(xs), ys).backward()
        opt.step()

    ours, rng = model(), np.random.default_rng(0)

    def dp_ours():
        SP.dp_sgd_step(ours, S.F.cross_entropy, xs, ys, lr=LR, max_norm=CLIP, noise_multiplier=SIGMA,
                       expected_batch_size=float(len(x)), rng=rng)

    looped, rng_loop = model(), np.random.default_rng(0)

    def dp_loop():
        SP.dp_sgd_step(looped, S.F.cross_entropy, xs, ys, lr=LR, max_norm=CLIP, noise_multiplier=SIGMA,
                       expected_batch_size=float(len(x)), rng=rng_loop, method="loop")

    return {"plain SGD": sgd, "DP-SGD, labs.scratch.privacy (one backward, per-layer einsum)": dp_ours,
            "DP-SGD, labs.scratch.privacy (method='loop': a backward per example)": dp_loop}


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import torch
    from timing import interleaved, machine_line

    from labs.data.digits import load_digits
    from labs.frameworks import installed_versions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning, module="opacus")  # its remarks on inputs without grad
    rounds, budget = (2, 0.02) if args.quick else (11, 0.15)
    x_train, y_train, _, _ = load_digits()
    x_train, y_train = x_train.astype(np.float32), y_train.astype(np.int64)

    rows = []
    for batch in (64,) if args.quick else (64, 256):
        x, y = x_train[:batch], y_train[:batch]
        for engine, steps in (("PyTorch", torch_steps(torch.from_numpy(x), torch.from_numpy(y))),
                              ("NumPy engine", numpy_steps(x, y))):
            timed = interleaved(steps, rounds=rounds, budget_s=budget, reference="plain SGD")
            for name, r in timed.items():
                rows.append((batch, engine, name, r["median_s"], r["ratio"]))
                print(f"batch {batch}, {engine}, {name}: {1e3 * r['median_s']:.2f} ms, {r['ratio']:.2f} x plain SGD",
                      flush=True)

    lines = [
        "Written by `benchmarks/dp_sgd_cost.py`.",
        "",
        machine_line(torch) + f", Opacus {installed_versions(('opacus',))['opacus']}",
        "",
        f"One training step of the 64-{HIDDEN}-10 MLP on the digits, float32, clip norm {CLIP:g}, noise multiplier "
        f"{SIGMA:g}; time / the same engine's plain SGD step in the same round, median of {rounds} rounds.",
        "",
        "| batch | engine | step | time per step (ms) | time / plain SGD's |",
        "|---:|---|---|---:|---:|",
    ]
    lines += [f"| {b} | {e} | {n} | {1e3 * t:.2f} | {r:.2f} |" for b, e, n, t, r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
