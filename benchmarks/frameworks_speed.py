"""One loss-and-gradient step of Chapter 13's MLP in the NumPy engine, PyTorch and JAX (eager and jax.jit), as ratios to PyTorch.

Chapter 13 writes the same two-layer network (64 inputs, 32 hidden units, 10 classes, float64)
three times, ``labs.frameworks.mlp_loss_and_grads(engine, ...)``, and shows that the three give
the same loss and gradients; it leaves how fast each one is to this page. Here the three are timed
side by side in one process on the chapter's digits, at the chapter's batch (256) and at the whole
training set, with one more column: the same JAX function compiled by ``jax.jit`` (of
``jax.value_and_grad(labs.frameworks.jax_loss)``). Every step takes NumPy weights and returns the
loss as a float and the gradients as NumPy arrays, so each pays the same conversions. The ratio is
the median over rounds of (time / PyTorch's time in the same round).

    python benchmarks/frameworks_speed.py            # prints the table, writes results_frameworks.md
    python benchmarks/frameworks_speed.py --quick    # fewer rounds (a smoke test; writes nothing)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

CHAPTERS = ("13",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_frameworks.md"


def steps_for(x, y, params) -> dict:
    """name -> a zero-argument step computing the loss and every gradient of the MLP on (x, y)."""
    import jax

    from labs.frameworks import jax_loss, mlp_loss_and_grads

    compiled = jax.jit(jax.value_and_grad(jax_loss))

    def jit_step():
        loss, grads = compiled(params, x, y)
        return float(loss), {k: np.asarray(g) for k, g in grads.items()}

    return {"PyTorch": lambda: mlp_loss_and_grads("torch", params, x, y),
            "NumPy engine": lambda: mlp_loss_and_grads("scratch", params, x, y),
            "JAX, eager": lambda: mlp_loss_and_grads("jax", params, x, y),
            "JAX, jax.jit": jit_step}


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import torch
    from timing import interleaved, machine_line

    from labs.data.digits import load_digits
    from labs.frameworks import init_mlp, installed_versions, mlp_loss_and_grads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rounds, budget = (3, 0.02) if args.quick else (15, 0.1)

    x_train, y_train, _, _ = load_digits(test_size=0.25, seed=0)
    params = init_mlp(n_in=64, n_hidden=32, n_out=10, seed=0)
    rows = []
    for n in (256,) if args.quick else (256, len(x_train)):
        x, y = x_train[:n].astype(np.float64), y_train[:n]
        steps = steps_for(x, y, params)
        ref_loss, ref_grads = mlp_loss_and_grads("torch", params, x, y)
        for name, step in steps.items():  # the same numbers before the same clock
            loss, grads = step()
            worst = max(abs(loss - ref_loss), *(float(np.abs(grads[k] - ref_grads[k]).max()) for k in params))
            if worst > 1e-12:
                raise AssertionError(f"{name} differs from PyTorch by {worst:.2e} at batch {n}")
        timed = interleaved(steps, rounds=rounds, budget_s=budget, reference="PyTorch")
        rows.append((n, timed))
        print(f"batch {n}: " + ", ".join(f"{k} {v['ratio']:.2f}x" for k, v in timed.items()), flush=True)

    names = list(rows[0][1])
    versions = installed_versions(("jax",))
    lines = [
        "Written by `benchmarks/frameworks_speed.py`.",
        "",
        machine_line(torch) + f", JAX {versions['jax']}",
        "",
        "One loss-and-gradient step of the 64-32-10 MLP in float64 on the digits, from NumPy weights to NumPy "
        f"gradients; time / PyTorch's time in the same round, median of {rounds} rounds (> 1 is slower), "
        "and the median time per step.",
        "",
        "| batch | " + " | ".join(names) + " | " + " | ".join(f"{n} (ms)" for n in names) + " |",
        "|---:|" + "---:|" * (2 * len(names)),
    ]
    for n, timed in rows:
        lines.append(f"| {n} | " + " | ".join(f"{timed[k]['ratio']:.2f}" for k in names) + " | "
                     + " | ".join(f"{1e3 * timed[k]['median_s']:.3f}" for k in names) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
