"""Time per explanation: the course's integrated gradients against Captum's, and exact Shapley values against shap's KernelExplainer, as ratios.

Chapter 12a explains one digit with integrated gradients (``labs.explain.integrated_gradients``)
and with exact Shapley values over 16 patches (``labs.explain.exact_shapley``, all 2**16
coalitions), and checks both against the libraries practitioners use, Captum and shap. This
script times the same explanations side by side in one process, float64, one thread, on the
chapter's models (Chapter 5's narrow ``CNN2d`` for the gradients, the 64-32-10 MLP for the
patches; their weights at initialisation, since the time of an explanation does not depend on
them):

- integrated gradients with m = 16, 64 and 256 points (the midpoint rule, Captum's
  ``riemann_middle``, so the two give the same numbers; asserted before timing), against Captum's
  ``IntegratedGradients`` with the same ``n_steps``, and against one plain gradient (saliency);
- exact Shapley values against KernelSHAP's regression on every coalition (the course's
  ``local_linear_surrogate``), shap's ``KernelExplainer`` on every coalition (also exact) and on
  its default sample budget (an estimate; the table gives its error), and a LIME surrogate.

A ratio is the median over rounds of (time / the reference's time in the same round).

    python benchmarks/explain_speed.py            # prints the tables, writes results_explain.md
    python benchmarks/explain_speed.py --quick    # fewer rounds and steps (a smoke test; writes nothing)
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

CHAPTERS = ("12a",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_explain.md"
N_PATCHES = 16  # 2 x 2 patches of an 8 x 8 digit, as in the chapter


def gradient_steps(x0, target: int, m: int) -> dict:
    import torch
    from captum.attr import IntegratedGradients

    from labs import explain
    from labs.models.cnn2d import CNN2d

    torch.manual_seed(0)
    cnn = CNN2d(1, 10, 8, channels=(8, 16, 16), hidden=32).double().eval()  # the chapter's narrow CNN2d
    captum = IntegratedGradients(cnn)
    baseline = torch.zeros_like(x0)
    ours = explain.integrated_gradients(cnn, x0, target, baseline, steps=m, rule="midpoint")
    theirs = captum.attribute(x0[None], baselines=baseline[None], target=target, n_steps=m, method="riemann_middle")[0]
    worst = float((ours - theirs).abs().max())
    if worst > 1e-10:
        raise AssertionError(f"integrated gradients differ from Captum's by {worst:.2e} with {m} steps")
    return {"labs integrated_gradients": lambda: explain.integrated_gradients(cnn, x0, target, baseline, steps=m,
                                                                              rule="midpoint"),
            "Captum IntegratedGradients": lambda: captum.attribute(x0[None], baselines=baseline[None], target=target,
                                                                   n_steps=m, method="riemann_middle"),
            "one gradient (saliency)": lambda: explain.gradient_saliency(cnn, x0, target)}


def shapley_steps(x0, target: int) -> tuple[dict, dict]:
    """(name -> step, name -> the largest difference of its values from the exact Shapley values / max |phi|)."""
    import shap
    import torch
    from torch import nn

    from labs import explain
    from labs.models.mlp_classifier import MLPClassifier

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), MLPClassifier([64, 32, 10])).double().eval()  # the chapter's MLP
    value_fn = explain.masked_images(mlp, x0, target, explain.patch_masks((8, 8), 2))
    all_masks = explain.all_coalitions(N_PATCHES)
    # shap perturbs features between the input (1: patch kept) and the background (0: patch off),
    # so the rows it evaluates are exactly the masks; l1_reg=False keeps its regression unpenalised
    kernel = shap.KernelExplainer(lambda z: value_fn(z > 0.5), np.zeros((1, N_PATCHES)))
    everything, default_budget = 2 ** N_PATCHES, 2 * N_PATCHES + 2048  # shap's default nsamples

    def shap_values(nsamples):
        return np.asarray(kernel.shap_values(np.ones((1, N_PATCHES)), nsamples=nsamples, l1_reg=False,
                                             silent=True)).ravel()

    steps = {
        "labs exact_shapley (2^16 coalitions)": lambda: explain.exact_shapley(value_fn, N_PATCHES),
        "labs KernelSHAP regression, every coalition": lambda: explain.local_linear_surrogate(
            value_fn, N_PATCHES, kernel="shapley", masks=all_masks, ridge=0.0),
        "shap KernelExplainer, every coalition": lambda: shap_values(everything),
        f"shap KernelExplainer, {default_budget} samples (its default)": lambda: shap_values(default_budget),
        "labs LIME surrogate, 1000 samples": lambda: explain.local_linear_surrogate(
            value_fn, N_PATCHES, np.random.default_rng(0), n_samples=1000),
    }
    phi = explain.exact_shapley(value_fn, N_PATCHES)
    np.random.seed(0)  # shap samples its coalitions with NumPy's global generator
    errors = {name: float(np.abs(np.asarray(step()) - phi).max() / np.abs(phi).max()) for name, step in steps.items()}
    return steps, errors


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import torch
    from timing import interleaved, machine_line

    from labs.data.digits import load_digits
    from labs.frameworks import installed_versions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)  # Captum's and shap's remarks on inputs and formats
    rounds, budget = (2, 0.02) if args.quick else (9, 0.2)
    _, _, x_test, y_test = load_digits(flatten=False)
    x0, target = torch.as_tensor(x_test[0]).double(), int(y_test[0])

    ig_rows = []
    for m in (16,) if args.quick else (16, 64, 256):
        timed = interleaved(gradient_steps(x0, target, m), rounds=rounds, budget_s=budget,
                            reference="labs integrated_gradients")
        ig_rows.append((m, timed))
        print(f"IG, {m} steps: " + ", ".join(f"{k} {1e3 * v['median_s']:.2f} ms ({v['ratio']:.2f}x)"
                                            for k, v in timed.items()), flush=True)
    steps, errors = shapley_steps(x0, target)
    if args.quick:
        steps = {k: v for k, v in steps.items() if "every coalition" not in k}
    shap_timed = interleaved(steps, rounds=rounds, budget_s=budget, reference="labs exact_shapley (2^16 coalitions)")
    for k, v in shap_timed.items():
        print(f"{k}: {1e3 * v['median_s']:.1f} ms ({v['ratio']:.2f}x)", flush=True)

    versions = installed_versions(("captum", "shap"))
    ig_names = list(ig_rows[0][1])
    lines = [
        "Written by `benchmarks/explain_speed.py`.",
        "",
        machine_line(torch) + f", Captum {versions['captum']}, shap {versions['shap']}",
        "",
        "Integrated gradients of one digit through the narrow CNN2d (float64, midpoint rule, the same attributions "
        f"from both libraries); time / the course's in the same round, median of {rounds} rounds.",
        "",
        "| points on the path | " + " | ".join(f"{n} (ms)" for n in ig_names)
        + " | Captum / labs | one gradient / labs |",
        "|---:|" + "---:|" * (len(ig_names) + 2),
    ]
    for m, timed in ig_rows:
        lines.append(f"| {m} | " + " | ".join(f"{1e3 * timed[n]['median_s']:.2f}" for n in ig_names)
                     + f" | {timed['Captum IntegratedGradients']['ratio']:.2f}"
                     + f" | {timed['one gradient (saliency)']['ratio']:.2f} |")
    lines += [
        "",
        f"Attributions to the {N_PATCHES} patches of one digit through the 64-32-10 MLP (float64); difference = largest "
        "difference from the exact Shapley values / their largest magnitude; time / exact_shapley's in the same "
        f"round, median of {rounds} rounds.",
        "",
        "| method | difference from exact | time (ms) | time / exact_shapley's |",
        "|---|---:|---:|---:|",
    ]
    for name, r in shap_timed.items():
        lines.append(f"| {name} | {errors[name]:.1e} | {1e3 * r['median_s']:.1f} | {r['ratio']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
