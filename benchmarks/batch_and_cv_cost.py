"""Chapter 14's costs: one cell of the batch-size sweep at each batch size (examples/s), and k-fold cross-validation against one split.

Question 16 says that a larger batch "trains faster". Per epoch it does, and the first table
says by how much: ``labs.model_choice.train_classifier`` as the chapter's learning-rate x
batch-size sweep calls it for every cell of its grid (a fresh MLP, plain SGD, the sweep's
number of epochs on the digits), timed at each of the sweep's batch sizes, as examples per
second and as a ratio to the smallest batch. A small batch pays the fixed cost of a step
(Python, the optimiser, a dozen kernel calls) more often for the same examples. Per unit of *progress* it is a different question, which the
chapter's sweep answers with the test loss.

Question 4 calls cross-validation a metric; chapter 14 shows it is a procedure, and the second
table says what the procedure costs: ``labs.evaluation.cross_val_scores`` with 5 and 10 folds,
and scikit-learn's ``cross_val_score`` with 5, against one fit on one split (the first of the 5
folds), all with the chapter's logistic regression. k folds fit k models on (k-1)/k of the data.

Every row of a table is timed in alternation with the others (``timing.interleaved``); a ratio is
the median over rounds of (time / the reference's time in the same round).

    python benchmarks/batch_and_cv_cost.py            # prints the tables, writes results_batch_cv.md
    python benchmarks/batch_and_cv_cost.py --quick    # fewer rounds, less data (a smoke test; writes nothing)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHAPTERS = ("14",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_batch_cv.md"
BATCH_SIZES = (8, 32, 128, 512)  # the chapter's sweep on a CPU
SWEEP_EPOCHS = 8  # epochs per cell of the chapter's sweep on a CPU
C = 1.0  # the logistic regression's regularisation (one of the chapter's grid)


def sweep_cells(x, y, epochs: int) -> dict:
    from labs.model_choice import train_classifier

    return {f"batch {b}": (lambda b=b: train_classifier("mlp", x, y, epochs=epochs, lr=0.1, batch_size=b,
                                                        optimizer="sgd"))
            for b in BATCH_SIZES}


def cv_steps(x, y) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from labs.evaluation import cross_val_scores, kfold_indices

    def make():
        return LogisticRegression(C=C, max_iter=3000)

    train, test = kfold_indices(len(x), 5, shuffle=True, seed=0)[0]

    def one_split():
        return make().fit(x[train], y[train]).score(x[test], y[test])

    return {"one split (80 / 20)": one_split,
            "labs cross_val_scores, k = 5": lambda: cross_val_scores(make, x, y, k=5),
            "labs cross_val_scores, k = 10": lambda: cross_val_scores(make, x, y, k=10),
            "scikit-learn cross_val_score, k = 5": lambda: cross_val_score(make(), x, y, cv=5)}


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import torch
    from timing import interleaved, machine_line

    from labs.data.digits import load_digits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, less data (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x_train, y_train, _, _ = load_digits(test_size=0.3, seed=0)  # the chapter's split
    if args.quick:
        x_train, y_train = x_train[:300], y_train[:300]
    n = len(x_train)

    epochs, epoch_rounds = (1, 3) if args.quick else (SWEEP_EPOCHS, 11)
    epoch = interleaved(sweep_cells(x_train, y_train, epochs), rounds=epoch_rounds, budget_s=0.0, reference="batch 8")
    for name, r in epoch.items():
        print(f"{name}: {epochs * n / r['median_s']:,.0f} examples/s, {r['ratio']:.2f} x the time of batch 8", flush=True)
    cv_rounds = 2 if args.quick else 7
    cv = interleaved(cv_steps(x_train, y_train), rounds=cv_rounds, budget_s=0.0, reference="one split (80 / 20)")
    for name, r in cv.items():
        print(f"{name}: {1e3 * r['median_s']:.0f} ms, {r['ratio']:.2f} x one split", flush=True)

    lines = [
        "Written by `benchmarks/batch_and_cv_cost.py`.",
        "",
        machine_line(torch),
        "",
        f"One cell of chapter 14's sweep: a fresh MLP trained by plain SGD for {epochs} epochs on {n} digits "
        f"(`train_classifier(\"mlp\", ...)`); time / batch 8's in the same round, median of {epoch_rounds} rounds.",
        "",
        "| batch size | steps | examples per second | time (ms) | time / batch 8's |",
        "|---:|---:|---:|---:|---:|",
    ]
    for b in BATCH_SIZES:
        r = epoch[f"batch {b}"]
        lines.append(f"| {b} | {epochs * -(-n // b)} | {epochs * n / r['median_s']:,.0f} | {1e3 * r['median_s']:.1f} | "
                     f"{r['ratio']:.2f} |")
    lines += [
        "",
        f"Choosing by cross-validation against one split: logistic regression (C = {C:g}) on the same {n} digits; "
        f"time / one split's in the same round, median of {cv_rounds} rounds.",
        "",
        "| procedure | models fitted | time (ms) | time / one split's |",
        "|---|---:|---:|---:|",
    ]
    fits = {"one split (80 / 20)": 1, "labs cross_val_scores, k = 5": 5, "labs cross_val_scores, k = 10": 10,
            "scikit-learn cross_val_score, k = 5": 5}
    for name, r in cv.items():
        lines.append(f"| {name} | {fits[name]} | {1e3 * r['median_s']:.0f} | {r['ratio']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
