"""What chapter 2's comparisons cost: a frozen trunk against fine-tuning and training from scratch, and early against late fusion.

Chapter 2 compares ways of using a model and measures what each gets right; this script
measures what each costs, with the chapter's own library calls, timed in alternation in one
process (``timing.interleaved``):

1. Transfer (PyTorch, ``labs.concepts.transfer.train_target``): the chapter's full-batch Adam
   steps on the few target examples and the test evaluation, with the pre-trained trunk
   frozen, fine-tuned, or a fresh trunk trained from scratch, at the chapter's numbers of
   labels per class (the defaults of ``transfer_vs_scratch``). A frozen trunk needs no gradients, so the backward pass stops at the head.
2. Fusion (scikit-learn, ``labs.concepts.fusion``): fitting early fusion (one logistic
   regression on both halves of the 8x8 digits), late fusion (one per half), and early fusion
   with a hidden layer (``fit_hidden_fusion``).

    python benchmarks/concepts_cost.py            # prints the tables, writes results_concepts.md
    python benchmarks/concepts_cost.py --quick    # fewer steps and rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import numpy as np

CHAPTERS = ("2",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_concepts.md"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from timing import interleaved, machine_line  # noqa: E402

MODES = ("finetune", "frozen", "scratch")


def transfer_rows(per_class_counts, steps: int, pretrain_epochs: int, rounds: int) -> list[tuple]:
    from labs.concepts.transfer import TARGET_CLASSES, few_per_class, pretrain_trunk, split_classes, train_target
    from labs.data import load_mnist1d

    x, y, x_test, y_test = load_mnist1d()
    trunk = pretrain_trunk(x, y, epochs=pretrain_epochs)[0]
    xt, yt = split_classes(x, y, TARGET_CLASSES)
    xt_te, yt_te = split_classes(x_test, y_test, TARGET_CLASSES)
    rows = []
    for k in per_class_counts:
        idx = few_per_class(yt, k, seed=0)
        xs, ys = xt[idx], yt[idx]
        calls = {mode: (lambda mode=mode, xs=xs, ys=ys: train_target(xs, ys, xt_te, yt_te, mode, trunk, steps=steps, seed=0))
                 for mode in MODES}
        timed = interleaved(calls, rounds, budget_s=0.0, reference="finetune")
        for mode in MODES:
            rows.append((k, len(idx), mode, timed[mode]["median_s"], timed[mode]["ratio"]))
    return rows


def fusion_rows(rounds: int, hidden_iter: int) -> list[tuple]:
    from labs.concepts.fusion import fit_hidden_fusion, fit_view_model, split_views
    from labs.data import load_digits

    x_train, y_train, _, _ = load_digits()
    a, b = (v.astype(np.float64) for v in split_views(x_train))
    calls = {
        "early fusion: one logistic regression on [a; b]": lambda: fit_view_model(np.hstack([a, b]), y_train),
        "late fusion: one logistic regression per view": lambda: (fit_view_model(a, y_train), fit_view_model(b, y_train)),
        "early fusion with a hidden layer (MLPClassifier)": lambda: fit_hidden_fusion((a, b), y_train, max_iter=hidden_iter),
    }
    timed = interleaved(calls, rounds, budget_s=0.0)
    return [(name, r["median_s"], r["ratio"]) for name, r in timed.items()], len(y_train)


def _default(function, name: str):
    return inspect.signature(function).parameters[name].default


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    import warnings

    import torch
    from sklearn.exceptions import ConvergenceWarning

    from labs.concepts.transfer import train_target, transfer_vs_scratch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # --quick stops the MLP early on purpose
    if args.quick:
        transfer = transfer_rows((5,), steps=5, pretrain_epochs=1, rounds=1)
        fusion, n_digits = fusion_rows(rounds=1, hidden_iter=20)
        steps = 5
    else:
        # the chapter's settings: the defaults of the calls chapter 2 makes
        steps = _default(train_target, "steps")
        transfer = transfer_rows(_default(transfer_vs_scratch, "per_class"), steps=steps,
                                 pretrain_epochs=_default(transfer_vs_scratch, "pretrain_epochs"), rounds=7)
        fusion, n_digits = fusion_rows(rounds=5, hidden_iter=400)
    lines = [f"Written by `benchmarks/concepts_cost.py`; {machine_line(torch)}.", "",
             "## Transfer: a frozen trunk, fine-tuning, or training from scratch", "",
             f"One call of `labs.concepts.transfer.train_target`: {steps} full-batch Adam steps on the MNIST-1D classes "
             "5-9, then the test evaluation; ratio = time / fine-tuning's time (median over rounds of the per-round "
             "ratio, in alternation).", "",
             "| labels per class | training examples | mode | seconds per call | time ratio to fine-tuning |",
             "|---:|---:|---|---:|---:|"]
    for k, n, mode, seconds, ratio in transfer:
        lines.append(f"| {k} | {n} | {mode} | {seconds:.3f} | {ratio:.2f} |")
    lines += ["", "## Fusion: fitting early and late fusion", "",
              f"Fitting on the {n_digits:,} training digits of `labs.data.load_digits` (scikit-learn, one BLAS thread); "
              "ratio = time / early fusion's time.", "",
              "| model | seconds per fit | time ratio to early fusion |", "|---|---:|---:|"]
    for name, seconds, ratio in fusion:
        lines.append(f"| {name} | {seconds:.3f} | {ratio:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:  # a smoke test never overwrites the page's numbers
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
