"""Time the NumPy engine (``labs.scratch``) against PyTorch on the CPU, side by side.

Both run in one process, on the same shapes and the same float32 data, at the sizes the
course uses. Each workload is a full training-style step (forward and backward; the MLP
also takes an optimizer step). The two libraries are timed in alternation, several rounds;
each round gives a ratio (NumPy time / torch time), and the table reports the median ratio,
which is what stays put on a busy, shared machine (both sides of a round see the same load).

It also measures what thread settings do on this machine: NumPy's BLAS threads (through
``threadpoolctl``) and ``torch.set_num_threads``, at 1 thread and at every core. The main
table uses one thread for both libraries (``CHOSEN_THREADS``): at the course's sizes the
matrices are too small for a second thread to pay off, and on a machine whose cores are
busy with other work (a CI runner, ``pytest -n 2``, a shared notebook server) threads that
spin while waiting for each other make every step many times slower. The sweep printed
after the table is the evidence; rerun it to see what your machine does.

    python benchmarks/engine_vs_torch.py            # prints the tables, writes results_cpu.md
    python benchmarks/engine_vs_torch.py --quick    # fewer rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

CHAPTERS = ('4', '5', '6')  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_cpu.md"
CHOSEN_THREADS = 1  # BLAS threads and torch threads for the main table (see the module docstring)


# --------------------------------------------------------------------------------------
# Workloads: each returns (short name, description, numpy_step, torch_step).
# --------------------------------------------------------------------------------------


def _mlp(S, torch, rng):
    x = rng.standard_normal((128, 64)).astype(np.float32)
    y = rng.integers(0, 10, size=128)
    ours = S.nn.Sequential(S.nn.Linear(64, 128), S.nn.ReLU(), S.nn.Linear(128, 10))
    theirs = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    ours.load_state_dict(theirs.state_dict())
    opt_ours = S.optim.SGD(ours.parameters(), lr=0.01)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.01)
    xs, ys, xt, yt = S.tensor(x), S.tensor(y), torch.from_numpy(x), torch.from_numpy(y)

    def step_numpy():
        opt_ours.zero_grad()
        S.functional.cross_entropy(ours(xs), ys).backward()
        opt_ours.step()

    def step_torch():
        opt_theirs.zero_grad()
        torch.nn.functional.cross_entropy(theirs(xt), yt).backward()
        opt_theirs.step()

    return "MLP step", "MLP 64-128-10 train step (SGD), batch 128", step_numpy, step_torch


def _conv(S, torch, rng, size):
    x = rng.standard_normal((64, 1, size, size)).astype(np.float32)
    w = (0.3 * rng.standard_normal((16, 1, 3, 3))).astype(np.float32)
    b = np.zeros(16, dtype=np.float32)
    xs, ws, bs = S.tensor(x, requires_grad=True), S.tensor(w, requires_grad=True), S.tensor(b, requires_grad=True)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))

    def step_numpy():
        xs.grad = ws.grad = bs.grad = None
        S.functional.conv2d(xs, ws, bs, padding=1).sum().backward()

    def step_torch():
        xt.grad = wt.grad = bt.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, padding=1).sum().backward()

    return f"conv {size}x{size}", f"conv2d fwd+bwd, (64, 1, {size}, {size}) -> 16 ch, k=3, pad 1", step_numpy, step_torch


def _lstm(S, torch, rng):
    x = rng.standard_normal((32, 40, 32)).astype(np.float32)
    theirs = torch.nn.LSTM(32, 64, batch_first=True)
    ours = S.nn.LSTM(32, 64, batch_first=True)
    ours.load_state_dict(theirs.state_dict())
    xs, xt = S.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def step_numpy():
        ours.zero_grad()
        xs.grad = None
        out, (h, c) = ours(xs)
        out.sum().backward()

    def step_torch():
        theirs.zero_grad()
        xt.grad = None
        out, (h, c) = theirs(xt)
        out.sum().backward()

    return "LSTM", "LSTM fwd+bwd, batch 32, T 40, 32 -> 64", step_numpy, step_torch


def _attention(S, torch, rng):
    shape = (8, 4, 64, 16)
    arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    ours = [S.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]

    def step_numpy():
        for t in ours:
            t.grad = None
        S.functional.scaled_dot_product_attention(*ours, is_causal=True).sum().backward()

    def step_torch():
        for t in theirs:
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=True).sum().backward()

    return "attention", "causal attention fwd+bwd, (8, 4, 64, 16)", step_numpy, step_torch


def _conv_channels(S, torch, rng, c_in, c_out, size, batch=32):
    """A convolution inside a CNN: many channels in and out (the im2col matrix product dominates)."""
    x = rng.standard_normal((batch, c_in, size, size)).astype(np.float32)
    w = (rng.standard_normal((c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(np.float32)
    b = np.zeros(c_out, dtype=np.float32)
    xs, ws, bs = S.tensor(x, requires_grad=True), S.tensor(w, requires_grad=True), S.tensor(b, requires_grad=True)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))

    def step_numpy():
        xs.grad = ws.grad = bs.grad = None
        S.functional.conv2d(xs, ws, bs, padding=1).sum().backward()

    def step_torch():
        xt.grad = wt.grad = bt.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, padding=1).sum().backward()

    return (f"conv {c_in}->{c_out} {size}x{size}",
            f"conv2d fwd+bwd, ({batch}, {c_in}, {size}, {size}) -> {c_out} ch, k=3, pad 1", step_numpy, step_torch)


def gpt_block(F, x, p, n_head: int):
    """One pre-norm Transformer block written with functional ops only, so the same lines run
    on ``labs.scratch.functional`` and ``torch.nn.functional`` (the ch7 model is not imported)."""
    B, T, C = x.shape
    h = F.layer_norm(x, (C,), p["ln1_w"], p["ln1_b"])
    q, k, v = F.linear(h, p["qkv_w"], p["qkv_b"]).split(C, dim=-1)
    q, k, v = (t.reshape(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
    x = x + F.linear(a, p["proj_w"], p["proj_b"])
    h = F.layer_norm(x, (C,), p["ln2_w"], p["ln2_b"])
    return x + F.linear(F.gelu(F.linear(h, p["fc_w"], p["fc_b"])), p["out_w"], p["out_b"])


def _gpt_block(S, torch, rng, B=32, T=64, C=128, n_head=4):
    def init(*shape, scale=0.02):
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    arrays = {"ln1_w": np.ones(C, np.float32), "ln1_b": np.zeros(C, np.float32), "qkv_w": init(3 * C, C),
              "qkv_b": np.zeros(3 * C, np.float32), "proj_w": init(C, C), "proj_b": np.zeros(C, np.float32),
              "ln2_w": np.ones(C, np.float32), "ln2_b": np.zeros(C, np.float32), "fc_w": init(4 * C, C),
              "fc_b": np.zeros(4 * C, np.float32), "out_w": init(C, 4 * C), "out_b": np.zeros(C, np.float32)}
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    ours = {k: S.tensor(v, requires_grad=True) for k, v in arrays.items()}
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    xs, xt = S.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def step_numpy():
        for t in (*ours.values(), xs):
            t.grad = None
        gpt_block(S.functional, xs, ours, n_head).sum().backward()

    def step_torch():
        for t in (*theirs.values(), xt):
            t.grad = None
        gpt_block(torch.nn.functional, xt, theirs, n_head).sum().backward()

    return "GPT block", f"GPT block fwd+bwd (pre-norm, {n_head} heads, GELU MLP), B {B}, T {T}, C {C}", step_numpy, step_torch


ONLY = None  # --only: substrings of the workloads to time


def _matmul(S, torch, rng, m=2048, k=128, n=512):
    """The reference: one plain matrix product (BLAS against BLAS), the GPT block's largest shape."""
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    xs, ws, xt, wt = S.tensor(a), S.tensor(b), torch.from_numpy(a), torch.from_numpy(b)

    def step_numpy():
        return xs @ ws

    def step_torch():
        return xt @ wt

    return "matmul", f"matmul ({m}, {k}) @ ({k}, {n}) forward only (BLAS vs BLAS, the reference)", step_numpy, step_torch


def workloads(S, torch):
    rng = np.random.default_rng(0)
    every = [_matmul(S, torch, rng), _mlp(S, torch, rng), _conv(S, torch, rng, 8), _conv(S, torch, rng, 28),
            _conv_channels(S, torch, rng, 16, 16, 28), _conv_channels(S, torch, rng, 16, 32, 14),
            _conv_channels(S, torch, rng, 32, 64, 14), _conv_channels(S, torch, rng, 64, 64, 7),
            _lstm(S, torch, rng), _attention(S, torch, rng), _gpt_block(S, torch, rng)]
    return [w for w in every if ONLY is None or any(o in w[0] for o in ONLY)]


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------


def _time_once(step, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        step()
    return (time.perf_counter() - start) / number


def time_pair(step_numpy, step_torch, rounds: int, budget_s: float = 0.05) -> tuple[float, float, float]:
    """Median seconds per call of each step and the median of the per-round ratios.

    The two steps run in alternation, round after round, in this one process: whatever else
    the machine is doing slows both sides of a round alike, so the ratio of one round is
    far steadier than either time, and the median over rounds ignores the disturbed ones.
    """
    step_numpy(), step_torch()  # warm up (allocations, lazy initialisation)
    number = {}
    for name, step in (("numpy", step_numpy), ("torch", step_torch)):
        single = _time_once(step, 1)
        number[name] = max(1, int(budget_s / max(single, 1e-6)))
    times = {"numpy": [], "torch": []}
    ratios = []
    for _ in range(rounds):
        t_np = _time_once(step_numpy, number["numpy"])
        t_torch = _time_once(step_torch, number["torch"])
        times["numpy"].append(t_np)
        times["torch"].append(t_torch)
        ratios.append(t_np / t_torch)
    return float(np.median(times["numpy"])), float(np.median(times["torch"])), float(np.median(ratios))


def run_table(S, torch, rounds: int) -> list[tuple[str, str, float, float, float]]:
    """(short name, description, NumPy seconds, torch seconds, median ratio) per workload."""
    return [(short, desc, *time_pair(np_step, t_step, rounds)) for short, desc, np_step, t_step in workloads(S, torch)]


def run_table_with_threads(S, torch, rounds: int, blas: int, torch_threads: int):
    from threadpoolctl import threadpool_limits

    original = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        with threadpool_limits(limits=blas, user_api="blas"):
            return run_table(S, torch, rounds)
    finally:
        torch.set_num_threads(original)


def thread_sweep(S, torch, rounds: int) -> list[tuple[str, int, int, list[tuple[str, float, float]]]]:
    """The table again under each combination of BLAS threads and torch threads."""
    cores = os.cpu_count() or 1
    counts = sorted({1, cores})
    results = []
    for blas in counts:
        for torch_threads in counts:
            rows = run_table_with_threads(S, torch, rounds, blas, torch_threads)
            results.append((f"NumPy BLAS {blas} / torch {torch_threads}", blas, torch_threads, rows))
    return results


PASSIVE_PROBE = "--_passive-probe"


def passive_probe(rounds: int):
    """torch at every core again, in a child process started with OMP_WAIT_POLICY=PASSIVE.

    OpenMP reads the variable once, when torch loads, so it needs a fresh process. PASSIVE
    makes idle OpenMP threads sleep instead of spinning, which matters when the cores are busy.
    """
    import json
    import subprocess

    cores = os.cpu_count() or 1
    if cores < 2:
        return None
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    done = subprocess.run([sys.executable, __file__, PASSIVE_PROBE, str(rounds)], env=env,
                          capture_output=True, text=True, check=True)
    rows = [tuple(r) for r in json.loads(done.stdout.strip().splitlines()[-1])]
    return (f"NumPy BLAS 1 / torch {cores}, OMP_WAIT_POLICY=PASSIVE", 1, cores, rows)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _machine(torch) -> str:
    """``timing.machine_line`` with the BLAS library and its thread count, which this table is about."""
    from threadpoolctl import threadpool_info
    from timing import machine_line

    blas = ", ".join(f"{i['internal_api']} {i.get('version') or ''} ({i['num_threads']} threads)".replace("  ", " ")
                     for i in threadpool_info() if i["user_api"] == "blas")
    return f"{machine_line(torch)}; BLAS: {blas or 'unknown'}"


def format_table(rows) -> list[str]:
    lines = ["| workload (float32) | NumPy engine ms | PyTorch CPU ms | ratio |", "|---|---:|---:|---:|"]
    for _, desc, t_np, t_torch, ratio in rows:
        lines.append(f"| {desc} | {1e3 * t_np:.2f} | {1e3 * t_torch:.2f} | {ratio:.2f}x |")
    return lines


def format_sweep(sweep) -> list[str]:
    # One row per workload and one column per setting: a dozen workloads side by side were
    # wider than the book's text column.
    names = [row[0] for row in sweep[0][3]]
    header = "| workload | " + " | ".join(label for label, _, _, _ in sweep) + " |"
    lines = [header, "|---|" + "---:|" * len(sweep)]
    for i, name in enumerate(names):
        cells = [f"{1e3 * rows[i][2]:.2f} / {1e3 * rows[i][3]:.2f}" for _, _, _, rows in sweep]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def thread_finding(sweep, passive=None) -> list[str]:
    """Speed-up from more threads, per library and workload, measured rather than assumed."""
    by_setting = {(blas, tt): rows for _, blas, tt, rows in sweep}
    counts = sorted({blas for _, blas, _, _ in sweep})
    if len(counts) < 2:
        return ["- Only one core: no thread setting to compare."]
    one, many = counts[0], counts[-1]
    lines, verdicts = [], []
    for side, index, other in (("NumPy engine (BLAS threads)", 2, (many, one)), ("PyTorch (torch threads)", 3, (one, many))):
        speedups = [(base[0], base[index] / more[index]) for base, more in zip(by_setting[(one, one)], by_setting[other])]
        mean = float(np.exp(np.mean([np.log(v) for _, v in speedups])))
        verdict = "helped" if mean > 1.1 else ("hurt" if mean < 0.9 else "made no clear difference")
        verdicts.append(verdict)
        lines.append(
            f"- {side}: {many} threads instead of 1 {verdict} (geometric-mean speed-up {mean:.3g}x; "
            + ", ".join(f"{name} {v:.3g}x" for name, v in speedups) + ")."
        )
    if passive is not None:
        active = by_setting[(one, many)]
        gains = [(a[0], a[3] / p[3]) for a, p in zip(active, passive[3])]
        mean = float(np.exp(np.mean([np.log(v) for _, v in gains])))
        lines.append(
            f"- PyTorch at {many} threads with `OMP_WAIT_POLICY=PASSIVE` (idle threads sleep instead of spinning): "
            f"{mean:.3g}x the speed of the default policy (geometric mean; "
            + ", ".join(f"{name} {v:.3g}x" for name, v in gains) + ")."
        )
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    observed = (
        f"which is what this run measured (load average {load:.1f} on {many} cores)"
        if "helped" not in verdicts else
        f"although on this run (load average {load:.1f} on {many} cores) more threads helped somewhere: "
        "rerun on your machine before changing the default"
    )
    lines.append(
        f"- Chosen default: {CHOSEN_THREADS} thread per library for the course's CPU runs. The matrices are small "
        "(at most a few hundred rows), so a second thread has little work to take over, and when the "
        "cores are shared (CI runners, `pytest -n 2`, other notebooks) BLAS/OpenMP threads that spin "
        f"while waiting for each other make a step many times slower, {observed}."
    )
    return lines


GOAL = 2.0  # the engine should be within this factor of PyTorch CPU


def where_time_goes(S, torch, short: str, calls: int = 5, top: int = 4) -> str:
    """The engine's step profiled (cProfile, own time per function): where it spends its time."""
    import cProfile
    import pstats

    global ONLY
    saved, ONLY = ONLY, [short]
    try:
        (_, _, step_numpy, _), = [w for w in workloads(S, torch) if w[0] == short]
    finally:
        ONLY = saved
    step_numpy()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        step_numpy()
    profile.disable()
    stats = pstats.Stats(profile).stats
    total = sum(v[2] for v in stats.values())
    by_function = sorted(((v[2], f"{Path(k[0]).name}:{k[2]}") for k, v in stats.items()), reverse=True)[:top]
    return ", ".join(f"`{name}` {100 * t / total:.0f}%" for t, name in by_function)


def slow_rows(S, torch, rows) -> list[str]:
    """One line per workload above the goal, with the measured profile of the engine's step."""
    lines = []
    for short, desc, _t_np, _t_torch, ratio in rows:
        if ratio > GOAL:
            lines.append(f"- {desc}: {ratio:.2f}x. Own time of the engine's step: {where_time_goes(S, torch, short)}.")
    return lines or [f"- None: every workload is within {GOAL:g}x of PyTorch on this run."]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [PASSIVE_PROBE]:  # the child process of passive_probe
        import json

        import torch

        import labs.scratch as S

        rows = run_table_with_threads(S, torch, int(argv[1]), 1, os.cpu_count() or 1)
        print(json.dumps(rows))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no thread sweep (a smoke test)")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds per workload (default 9, quick 3)")
    parser.add_argument("--only", default=None, help="comma-separated substrings: time only matching workloads")
    parser.add_argument("--no-sweep", action="store_true", help="skip the thread sweep (the main table only)")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 9)
    global ONLY
    ONLY = [o.strip() for o in args.only.split(",")] if args.only else None

    import torch

    import labs.scratch as S

    S.manual_seed(0)
    torch.manual_seed(0)
    machine = _machine(torch)
    print(machine)
    print(f"\n{CHOSEN_THREADS} BLAS thread and {CHOSEN_THREADS} torch thread (medians of {rounds} rounds):")
    rows = run_table_with_threads(S, torch, rounds, CHOSEN_THREADS, CHOSEN_THREADS)
    table = format_table(rows)
    print("\n".join(table))
    slow = slow_rows(S, torch, rows)
    print("\n".join(slow))
    sweep_lines, finding = [], []
    if not args.quick and not args.no_sweep:
        print("\nThread settings (NumPy ms / torch ms):")
        sweep = thread_sweep(S, torch, max(3, rounds // 2))
        passive = passive_probe(max(3, rounds // 2))
        sweep_lines = format_sweep(sweep + ([passive] if passive else []))
        finding = thread_finding(sweep, passive)
        print("\n".join(sweep_lines))
        print("\n".join(finding))
    if not args.no_write and not args.quick and ONLY is None:
        text = [
            "# NumPy engine vs PyTorch CPU",
            "",
            "Written by `benchmarks/engine_vs_torch.py` (`make benchmark`); numbers from one run on:",
            f"{machine}.",
            "",
            f"Medians of {rounds} rounds, the two libraries timed in alternation in one process, same",
            "float32 data and shapes, one BLAS thread and one torch thread (why: see the thread",
            "settings below). Ratio = median over rounds of NumPy time / PyTorch time in that round",
            "(lower is better for the engine; the goal is at most 2x). Where the engine cannot get",
            "there, `book/benchmarks.md` says why, with the measurement.",
            "",
            *table,
            "",
            f"## Where the engine is more than {GOAL:g}x slower",
            "",
            "Measured on the same run: each such workload's NumPy step, profiled with `cProfile` (own",
            "time per function, the largest first). `book/benchmarks.md` explains what these functions do",
            "and why PyTorch's kernels are faster there.",
            "",
            *slow,
            "",
            "## Thread settings",
            "",
            "Each cell: NumPy engine ms / PyTorch ms, with NumPy's BLAS threads limited through",
            "`threadpoolctl` and PyTorch's through `torch.set_num_threads`.",
            "",
            *sweep_lines,
            "",
            *finding,
            "",
        ]
        RESULTS.write_text("\n".join(text))
        print(f"\nwrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
