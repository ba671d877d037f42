"""Start a real ``torch.distributed`` process group on this machine, the way ``torchrun`` does.

Chapter 10b trains with several processes that talk through ``torch.distributed``: the engine
that data-, tensor- and pipeline-parallel training use on real clusters, here with the CPU
backend ``gloo`` over the loopback interface. :func:`launch` starts ``world_size`` fresh Python
processes, gives each the environment ``torchrun`` would give it (``MASTER_ADDR``,
``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``: the ``env://`` rendezvous), calls one
importable function in each, and returns what each returned, in rank order::

    from labs.distributed import launch
    from labs.parallel_training import ddp_matches_one_big_batch
    results = launch(ddp_matches_one_big_batch, world_size=2, timeout=60)

What it guarantees, because a hung or orphaned process group is the usual way such code fails:

- **bounded in time**: past ``timeout`` seconds every process is killed and
  :class:`DistributedTimeout` says which ranks were still running; the process group's own
  timeout is set to the same value, so a collective that waits for a dead peer fails too;
- **no orphans**: each process starts in its own process group (session) and is killed with
  ``os.killpg`` on any way out: success, a failing rank (like ``torchrun``, the first failure
  stops the others), a timeout, or Ctrl-C in the notebook;
- **loopback only**: ``MASTER_ADDR`` is ``127.0.0.1`` and gloo is pinned to the loopback
  interface, so nothing listens on the network;
- **a clear error for a busy port**: by default a free port is chosen; a port you pass is tested
  first, and :class:`PortBusyError` says so before any process starts.

The worker must be a module-level function of an importable module (not one defined in a
notebook): a fresh process imports it by name, which is also why this works from Jupyter, where
``multiprocessing``'s spawn cannot find functions defined in ``__main__``.
"""

from __future__ import annotations

import datetime
import importlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

__all__ = ["DistributedRunError", "DistributedTimeout", "PortBusyError", "free_port", "launch",
           "loopback_interface", "require_free_port"]

LOOPBACK = "127.0.0.1"


class PortBusyError(OSError):
    """The rendezvous port is already taken (another run, a stuck process, a torchrun)."""


class DistributedRunError(RuntimeError):
    """A rank exited with an error; the message carries the end of its traceback."""

    def __init__(self, message: str, pids: list[int]):
        super().__init__(message)
        self.pids = pids


class DistributedTimeout(TimeoutError):
    """The run passed its time limit; every process was killed."""

    def __init__(self, message: str, pids: list[int]):
        super().__init__(message)
        self.pids = pids


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def require_free_port(port: int) -> int:
    """Return ``port`` if it can be bound on the loopback interface, else raise PortBusyError."""
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"port must be an int in 1..65535; got {port!r}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError as exc:
            raise PortBusyError(
                f"port {port} on {LOOPBACK} is already in use ({exc.strerror}): another run or a stuck "
                f"process holds it. Pass port=None to let launch pick a free port, or stop that process "
                f"(`lsof -i :{port}` shows it)") from None
    return port


def loopback_interface() -> str | None:
    """The name of the loopback network interface ("lo" on Linux, "lo0" on macOS), if found."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except (OSError, AttributeError):
        return None
    return next((n for n in ("lo", "lo0") if n in names), None)


def _worker_name(worker) -> str:
    """``"module:qualname"`` of an importable function, or a ValueError that says how to fix it."""
    module, qualname = getattr(worker, "__module__", None), getattr(worker, "__qualname__", None)
    if not callable(worker) or module is None or qualname is None:
        raise ValueError(f"launch needs a function; got {type(worker).__name__}: {worker!r}")
    if module == "__main__" or "<locals>" in qualname or "<lambda>" in qualname:
        raise ValueError(
            f"launch starts fresh processes that import the worker by name, so it must be a module-level "
            f"function of an importable module; {qualname!r} is defined in {module!r}. Put it in a .py file "
            f"(for example labs/parallel_training.py) and import it from there")
    return f"{module}:{qualname}"


def _kill(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            try:
                if hasattr(os, "killpg"):
                    os.killpg(proc.pid, signal.SIGKILL)   # the process and anything it started
                else:                                     # Windows: no process groups to kill
                    proc.kill()
            except (ProcessLookupError, PermissionError):
                pass
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait for consent
            pass


def _tail(path: str, lines: int = 25) -> str:
    with open(path, errors="replace") as f:
        text = f.read().rstrip().splitlines()
    return "\n".join(text[-lines:])


def _failure_time(folder: str, rank: int) -> float:
    """When ``rank``'s worker raised (its own stamp), or infinity if it left none."""
    try:
        with open(os.path.join(folder, f"failed{rank}")) as f:
            return float(f.read())
    except (OSError, ValueError):
        return float("inf")


def launch(worker, world_size: int = 2, args: tuple = (), *, port: int | None = None,
           timeout: float = 60.0, backend: str = "gloo", threads: int = 1) -> list:
    """Run ``worker(*args)`` in ``world_size`` processes joined in one process group.

    Returns the list of the workers' return values, rank 0 first (they must be picklable).
    ``threads`` is each process's ``torch.set_num_threads`` (one per process: two processes
    on two cores). See the module docstring for the guarantees on time, ports and clean-up.
    """
    name = _worker_name(worker)
    if not isinstance(world_size, int) or isinstance(world_size, bool) or world_size < 1:
        raise ValueError(f"world_size must be a positive int; got {world_size!r}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    port = free_port() if port is None else require_free_port(port)

    labs_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="labs-dist-") as tmp:
        spec = os.path.join(tmp, "spec.pkl")
        with open(spec, "wb") as f:
            pickle.dump({"worker": name, "args": tuple(args), "backend": backend, "timeout": float(timeout),
                         "threads": int(threads), "out": tmp}, f)
        env = dict(os.environ, MASTER_ADDR=LOOPBACK, MASTER_PORT=str(port), WORLD_SIZE=str(world_size),
                   LOCAL_WORLD_SIZE=str(world_size), OMP_NUM_THREADS=str(threads),
                   PYTHONPATH=os.pathsep.join(p for p in (labs_root, os.environ.get("PYTHONPATH")) if p))
        lo = loopback_interface()
        if lo is not None:
            env["GLOO_SOCKET_IFNAME"] = lo
        procs, logs = [], []
        deadline = time.monotonic() + timeout
        try:
            for rank in range(world_size):
                log = os.path.join(tmp, f"rank{rank}.log")
                logs.append(log)
                with open(log, "wb") as out:
                    procs.append(subprocess.Popen(
                        [sys.executable, "-m", "labs.distributed", spec],
                        env=dict(env, RANK=str(rank), LOCAL_RANK=str(rank)),
                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        start_new_session=True))
            pids = [p.pid for p in procs]
            while True:
                codes = [p.poll() for p in procs]
                failed = [r for r, c in enumerate(codes) if c not in (None, 0)]
                if failed:
                    grace = time.monotonic() + 2.0       # let a rank that is failing finish its traceback
                    while time.monotonic() < min(grace, deadline) and any(p.poll() is None for p in procs):
                        time.sleep(0.02)
                    _kill(procs)
                    codes = [p.poll() for p in procs]
                    rank = min(range(world_size), key=lambda r: (_failure_time(tmp, r), r not in failed))
                    tail = _tail(logs[rank])
                    if "address already in use" in tail.lower() or "EADDRINUSE" in tail:
                        raise PortBusyError(f"rank {rank} could not listen on port {port} of {LOOPBACK} "
                                            f"(taken after it was checked): run again with port=None")
                    raise DistributedRunError(
                        f"rank {rank} of {world_size} failed (exit code {codes[rank]}) running {name}; "
                        f"the other ranks were stopped. End of its output:\n{tail}", pids)
                if all(c == 0 for c in codes):
                    break
                if time.monotonic() > deadline:
                    running = [r for r, c in enumerate(codes) if c is None]
                    _kill(procs)
                    raise DistributedTimeout(
                        f"{name} passed its timeout of {timeout:g} s; ranks {running} were still running "
                        f"and all {world_size} processes were killed. Raise timeout= if the work is "
                        f"genuinely long, or look for a collective that one rank never reaches", pids)
                time.sleep(0.02)
            results = []
            for rank in range(world_size):
                with open(os.path.join(tmp, f"result{rank}.pkl"), "rb") as f:
                    results.append(pickle.load(f))
            return results
        finally:
            _kill(procs)


def _run_rank(spec_path: str) -> None:
    """What each process runs: join the group (env://), call the worker, save its result."""
    import warnings

    import torch
    import torch.distributed as dist

    warnings.filterwarnings("ignore", category=FutureWarning)   # deprecation notices of the collectives
    with open(spec_path, "rb") as f:
        spec = pickle.load(f)
    torch.set_num_threads(spec["threads"])
    module, qualname = spec["worker"].split(":")
    fn = importlib.import_module(module)
    for part in qualname.split("."):
        fn = getattr(fn, part)
    dist.init_process_group(spec["backend"], init_method="env://",
                            timeout=datetime.timedelta(seconds=spec["timeout"]))
    try:
        result = fn(*spec["args"])
    except BaseException:
        # when this rank fails, its peers fail soon after ("connection closed by peer"): the
        # time stamp, written before the connections close, lets the parent name the first
        with open(os.path.join(spec["out"], f"failed{os.environ['RANK']}"), "w") as f:
            f.write(repr(time.time()))
        raise
    finally:
        dist.destroy_process_group()
    with open(os.path.join(spec["out"], f"result{os.environ['RANK']}.pkl"), "wb") as f:
        pickle.dump(result, f)


if __name__ == "__main__":
    try:
        _run_rank(sys.argv[1])
    except BaseException:  # noqa: BLE001 - the parent reports it with the rank's number
        traceback.print_exc()
        sys.stdout.flush()
        os._exit(1)
