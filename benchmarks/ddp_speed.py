"""Data parallelism for real: one process against two (torch.distributed, gloo, loopback) on the same global batch, and all-reduce time against message size next to the ring's bytes.

Chapter 10b says that data parallelism divides the wall time of the arithmetic, never its FLOPs,
and adds an all-reduce of every gradient. Here two processes are started by
``labs.distributed.launch`` (``torchrun``'s environment on one machine, gloo on the loopback
interface, bounded in time, every process killed on the way out; the script checks afterwards that
none is left) and, in the same rounds, each rank times:

- one process alone: rank 0 takes a full SGD step of chapter 10b's MLP (``labs.parallel_training.make_mlp``,
  float32) on the whole global batch while rank 1 waits;
- data parallelism: both ranks take a ``DistributedDataParallel`` step on half the batch each;
- the same half-batch step under ``no_sync`` (the arithmetic without the all-reduce), and one
  ``all_reduce`` of as many numbers as the model has parameters.

From these, the measured speed-up (one process's step / the DDP step, median over rounds of the
ratio within a round) sits next to the speed-up the chapter's wall-time model predicts from the
same round's measurements (one process's step / (the half-batch step + the all-reduce)). The second
table times ``dist.all_reduce`` of float32 tensors from 1 KiB to 16 MiB against the bytes a ring
all-reduce sends per worker, ``labs.parallel_cost.ring_allreduce_bytes``: the time per byte falls
until the fixed latency of each message stops mattering.

The ranks must run the same collectives in the same order, so the rounds here are fixed counts of
calls lined up by barriers, not ``timing.interleaved``'s calibrated ones; the ratios are still
within-round ratios, medians over rounds.

    python benchmarks/ddp_speed.py            # prints the tables, writes results_ddp.md
    python benchmarks/ddp_speed.py --quick    # fewer rounds and sizes (a smoke test; writes nothing)
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

CHAPTERS = ("10b",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_ddp.md"
SIZES = (256, 512, 512, 256)  # the MLP of chapter 10b's communication experiment
WORLD = 2


def _time(fn, reps: int) -> float:
    """Seconds per call of ``fn`` over ``reps`` calls, after a barrier lines the ranks up."""
    import torch.distributed as dist

    dist.barrier()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def rank_worker(batches, message_sizes, rounds: int, reps: int) -> dict:
    """What each rank runs inside the process group; returns this rank's times per round."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    from labs.parallel_training import make_batch, make_mlp

    rank, world = dist.get_rank(), dist.get_world_size()
    out = {"pid": os.getpid(), "rank": rank, "steps": {}, "allreduce": {}}
    single = make_mlp(SIZES, seed=0, dtype=torch.float32)
    ddp = DDP(make_mlp(SIZES, seed=0, dtype=torch.float32))
    opt_single = torch.optim.SGD(single.parameters(), lr=1e-3)
    opt_ddp = torch.optim.SGD(ddp.parameters(), lr=1e-3)
    n_params = sum(p.numel() for p in single.parameters())
    grads_sized = torch.ones(n_params)
    out["n_params"] = n_params

    for batch in batches:
        x, y = make_batch(batch, SIZES[0], SIZES[-1], dtype=torch.float32)
        xs, ys = x.chunk(world)[rank], y.chunk(world)[rank]

        def one_process(x=x, y=y):
            opt_single.zero_grad()
            F.mse_loss(single(x), y).backward()
            opt_single.step()

        def ddp_step(xs=xs, ys=ys):
            opt_ddp.zero_grad()
            F.mse_loss(ddp(xs), ys).backward()  # DDP all-reduces the gradients during backward
            opt_ddp.step()

        def half_no_sync(ddp_step=ddp_step):
            with ddp.no_sync():
                ddp_step()

        def grad_allreduce():
            dist.all_reduce(grads_sized)

        for fn in (one_process, ddp_step, half_no_sync, grad_allreduce):  # warm-up: buffers, connections
            fn()
        times = {"one process": [], "DDP, two processes": [], "half batch, no all-reduce": [], "gradient all-reduce": []}
        for _ in range(rounds):
            dist.barrier()
            if rank == 0:
                times["one process"].append(_time_local(one_process, reps))
            dist.barrier()  # rank 1 waits here while rank 0 works alone
            times["DDP, two processes"].append(_time(ddp_step, reps))
            times["half batch, no all-reduce"].append(_time(half_no_sync, reps))
            times["gradient all-reduce"].append(_time(grad_allreduce, reps))
        out["steps"][batch] = times

    for n in message_sizes:
        t = torch.ones(n, dtype=torch.float32)
        dist.all_reduce(t)
        calls = max(2, min(50, (2 ** 22) // n))  # more calls for small messages, a few for large
        out["allreduce"][n] = [_time(lambda t=t: dist.all_reduce(t), calls) for _ in range(rounds)]
    return out


def _time_local(fn, reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def _no_survivors(pids) -> None:
    """Raise if any rank's process still exists after launch returned (it kills them all)."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
        except PermissionError:  # a recycled pid owned by someone else: not ours
            pass
    if alive:
        raise RuntimeError(f"rank processes {alive} outlived launch: an orphaned process group")


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import torch
    from timing import machine_line

    from labs.distributed import launch
    from labs.parallel_cost import ring_allreduce_bytes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        batches, messages, rounds, reps, limit = (64,), (2 ** 8, 2 ** 16), 2, 2, 120
    else:
        batches, messages, rounds, reps, limit = (64, 512), tuple(2 ** k for k in range(8, 23, 2)), 9, 5, 240
    # the ranks import the worker by its module name, so this folder goes on their path
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    worker = importlib.import_module(Path(__file__).stem).rank_worker
    start = time.perf_counter()
    results = launch(worker, world_size=WORLD, args=(batches, messages, rounds, reps), timeout=limit, threads=1)
    wall = time.perf_counter() - start
    _no_survivors([r["pid"] for r in results])
    rank0 = results[0]
    print(f"{WORLD} processes started, measured and stopped in {wall:.1f} s; none left running", flush=True)

    n_params = rank0["n_params"]
    lines = [
        "Written by `benchmarks/ddp_speed.py`.",
        "",
        machine_line(torch) + f"; {WORLD} processes, gloo over the loopback interface, one thread each",
        "",
        f"One SGD step of chapter 10b's {'-'.join(map(str, SIZES))} MLP ({n_params:,} parameters, float32) on the same "
        f"global batch; times of rank 0, {reps} calls per timing, medians of {rounds} rounds; speed-ups are medians of "
        "within-round ratios; predicted = one process / (half-batch step + gradient all-reduce).",
        "",
        "| global batch | one process (ms) | DDP, two processes (ms) | half batch, no all-reduce (ms) | "
        "gradient all-reduce (ms) | measured speed-up | predicted speed-up | all-reduce share of the DDP step |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch in batches:
        t = rank0["steps"][batch]
        rounds_ = range(len(t["one process"]))
        measured = statistics.median(t["one process"][i] / t["DDP, two processes"][i] for i in rounds_)
        predicted = statistics.median(
            t["one process"][i] / (t["half batch, no all-reduce"][i] + t["gradient all-reduce"][i]) for i in rounds_)
        share = statistics.median(
            max(t["DDP, two processes"][i] - t["half batch, no all-reduce"][i], 0.0) / t["DDP, two processes"][i]
            for i in rounds_)
        med = {k: 1e3 * statistics.median(v) for k, v in t.items()}
        lines.append(f"| {batch} | {med['one process']:.2f} | {med['DDP, two processes']:.2f} | "
                     f"{med['half batch, no all-reduce']:.2f} | {med['gradient all-reduce']:.2f} | {measured:.2f} | "
                     f"{predicted:.2f} | {share:.0%} |")
        print(lines[-1], flush=True)
    lines += [
        "",
        f"`dist.all_reduce` of float32 tensors between the {WORLD} processes; ring bytes = what a ring all-reduce "
        f"sends per worker, 2 (p - 1) / p x the tensor; rank 0's medians of {rounds} rounds.",
        "",
        "| tensor (KiB) | all-reduce (ms) | ring bytes per worker (KiB) | ring bytes / time (MB/s) | "
        "time per byte / the largest tensor's |",
        "|---:|---:|---:|---:|---:|",
    ]
    per_byte = {n: statistics.median(v) / ring_allreduce_bytes(n, 4, WORLD) for n, v in rank0["allreduce"].items()}
    largest = max(per_byte)
    for n, v in rank0["allreduce"].items():
        seconds, ring = statistics.median(v), ring_allreduce_bytes(n, 4, WORLD)
        lines.append(f"| {4 * n / 1024:,.0f} | {1e3 * seconds:.3f} | {ring / 1024:,.0f} | {ring / seconds / 1e6:,.1f} | "
                     f"{per_byte[n] / per_byte[largest]:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
