"""The course's GPU checks in one command on a lent GPU machine, inside a time budget.

Run it through ``tools/device_check.sh`` (which installs the carried wheels first); the steps
and the ``run`` call are in book/authoring.md, "GPU checks". In order of value:

1. the machine: ``nvidia-smi`` and what torch sees;
2. the GPU benchmarks: ``benchmarks/gpt_nanogpt_gpu.py`` (our GPT next to nanoGPT's
   shakespeare_char ``train.py``, tokens/s and MFU; it writes ``results_gpt_gpu.json``) and
   ``benchmarks/mixed_precision.py`` at GPT-2 small's width (bf16/fp16 speed-up and MFU);
3. every notebook of the book under ``LABS_PROFILE=gpu`` with nbval, several at once, each in
   its own pytest process with a timeout, the chapters whose GPU profile is larger first.

Everything goes into ``$OUT`` as it finishes (a handful of small files, ``OUT_FILES``), so a
command stopped at its limit still returns what was done. Without CUDA the benchmarks say so,
and smoke-run on the CPU instead, which is how the script is rehearsed on a CPU machine
(tools/device_simulate.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What comes back from $OUT: at most 8 files, two folders deep, names of [A-Za-z0-9._-].
OUT_FILES = {
    "setup": "setup.log",  # written by device_check.sh: the wheels' install
    "report_md": "report.md",
    "report_json": "report.json",
    "gpt_log": "bench_gpt_nanogpt.log",
    "gpt_json": "results_gpt_gpu.json",
    "mixed_log": "bench_mixed_precision.log",
    "notebooks_log": "notebooks.log",
}
LOG_TAIL = 6000  # characters of a benchmark's output kept in its log
NOTEBOOK_TAIL = 2500  # characters of a failed notebook's pytest output kept in notebooks.log

# The notebooks whose GPU profile does GPU-sized work, most valuable first (read off their
# labs.pick(cpu=..., gpu=...) calls): chapter 7 trains the character GPT at nanoGPT's size,
# which 8, 9a and the chapter-8 mistakes page then read from the weight cache.
PRIORITY = (
    "chapters/07_attention_transformers.ipynb",
    "chapters/08_pretraining_finetuning.ipynb",
    "chapters/09a_applications_text.ipynb",
    "chapters/05_cnn.ipynb",
    "chapters/10a_scale_compute.ipynb",
    "chapters/12b_trust_privacy_security.ipynb",
    "chapters/12a_trust_explain_robust.ipynb",
    "chapters/11a_efficiency_compression.ipynb",
    "chapters/09b_applications_vision.ipynb",
    "chapters/06_rnn.ipynb",
    "chapters/11b_efficiency_deployment.ipynb",
    "chapters/14_questions.ipynb",
    "book/mistakes/ch08.ipynb",
    "chapters/04_engine_from_scratch.ipynb",
    "chapters/02_concepts.ipynb",
    "chapters/13_tools_resources.ipynb",
)
# A notebook waits for these when they are in the same run: they train and cache what it reads,
# and two notebooks training the same model at once would only share the GPU for nothing.
AFTER = {
    "chapters/08_pretraining_finetuning.ipynb": ("chapters/07_attention_transformers.ipynb",),
    "chapters/09a_applications_text.ipynb": ("chapters/07_attention_transformers.ipynb",),
    "book/mistakes/ch08.ipynb": ("chapters/07_attention_transformers.ipynb",),
}


def all_notebooks(root: Path = ROOT) -> list[str]:
    """Every notebook of the book (what `make notebooks` runs), as paths relative to root."""
    found = list(root.glob("chapters/*.ipynb")) + list(root.glob("book/**/*.ipynb"))
    return sorted(p.relative_to(root).as_posix() for p in found if ".ipynb_checkpoints" not in p.parts)


def order_notebooks(notebooks, priority=PRIORITY) -> list[str]:
    """The priority list first (those of it present), then the rest in path order."""
    present = set(notebooks)
    first = [nb for nb in priority if nb in present]
    return first + sorted(present - set(first))


def next_ready(pending, finished, running=(), after=AFTER):
    """The first pending notebook whose prerequisites in this run have all finished (any outcome)."""
    in_run = set(pending) | set(finished) | set(running)
    for nb in pending:
        if all(dep in finished or dep not in in_run for dep in after.get(nb, ())):
            return nb
    return None


class Budget:
    """Seconds left of a wall-clock budget that started ``spent`` seconds ago."""

    def __init__(self, seconds: float, spent: float = 0.0, margin: float = 5.0, clock=time.monotonic):
        self.clock, self.margin = clock, margin  # margin: kept at the end for killing and the report
        self.deadline = clock() + seconds - spent

    def left(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def timeout(self, cap: float) -> float:
        """A step's timeout: its cap, or what is left less the margin if that is less."""
        return max(0.0, min(cap, self.left() - self.margin))


@dataclass
class Step:
    """One benchmark or notebook: what ran, how it ended, how long it took."""

    name: str
    status: str = "not run"  # pass, fail, timeout, skipped, error, not run
    seconds: float | None = None
    detail: str = ""
    numbers: dict = field(default_factory=dict)


def classify(returncode: int | None, timed_out: bool) -> str:
    """pytest's exit code as a status (0 passed, 1 some cell failed, else pytest itself failed)."""
    if timed_out:
        return "timeout"
    return {0: "pass", 1: "fail"}.get(returncode, "error")


def pytest_counts(output: str) -> str:
    """pytest's closing summary ("3 passed, 1 failed in 12.3s") without the time."""
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    if not lines:
        return ""
    return re.sub(r"\s+in [\d.]+s.*$", "", lines[-1].strip("= "))


def _kill_tree(process: subprocess.Popen) -> None:
    """End a process and everything it started (nbval's kernel, nanoGPT's train.py)."""
    try:
        import psutil
    except ImportError:  # then the process group alone (the kernel watches its parent and exits)
        psutil = None
    if psutil is not None:
        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.Error:  # already gone
            children = []
        for proc in children:
            try:
                proc.kill()
            except psutil.Error:
                pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # started with start_new_session: its own group
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


@dataclass
class Running:
    step: Step
    process: subprocess.Popen
    log: Path
    started: float
    timeout: float


def start(step: Step, argv, log: Path, timeout: float, env=None, cwd=ROOT) -> Running:
    handle = open(log, "w")
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    handle.close()
    return Running(step, process, log, time.monotonic(), timeout)


def finish_if_done(job: Running) -> bool:
    """True once the job has ended, by itself or killed at its timeout; fills in its step."""
    elapsed = time.monotonic() - job.started
    returncode = job.process.poll()
    timed_out = returncode is None and elapsed > job.timeout
    if returncode is None and not timed_out:
        return False
    if timed_out:
        _kill_tree(job.process)
    job.step.seconds = round(time.monotonic() - job.started, 1)
    job.step.status = classify(returncode, timed_out)
    if timed_out:
        job.step.detail = f"killed after {job.timeout:.0f} s"
    return True


def run_one(step: Step, argv, log: Path, timeout: float, env=None, poll: float = 0.2) -> str:
    """Run a command to its end or its timeout; return its output."""
    if timeout <= 0:
        step.status, step.detail = "not run", "no time left in the budget"
        return ""
    job = start(step, argv, log, timeout, env=env)
    while not finish_if_done(job):
        time.sleep(poll)
    return log.read_text(errors="replace")


def run_pool(notebooks, command, budget: Budget, workers: int, timeout: float, logdir: Path,
             env=None, on_change=lambda steps: None, min_start: float = 20.0, poll: float = 0.5, after=AFTER):
    """Run the notebooks, ``workers`` at a time in ``next_ready`` order, inside the budget.

    Each gets ``timeout`` seconds, or less when the budget has less left; none starts with
    under ``min_start`` seconds left (it stays "not run"). ``on_change(steps)`` is called after
    every start and end, so the report on disk is always current.
    """
    steps = {nb: Step(nb) for nb in notebooks}
    pending, finished, running = list(notebooks), set(), []
    while pending or running:
        while pending and len(running) < workers:
            nb = next_ready(pending, finished, [job.step.name for job in running], after)
            if nb is None:
                break
            limit = budget.timeout(timeout)
            if limit < min_start:
                for late in pending:
                    steps[late].detail = f"not started: {budget.left():.0f} s left in the budget"
                pending = []
                break
            pending.remove(nb)
            steps[nb].status = "running"
            log = logdir / (re.sub(r"[^A-Za-z0-9._-]", "_", nb) + ".log")
            running.append(start(steps[nb], command(nb, limit), log, limit, env=env))
            on_change(steps)
        time.sleep(poll)
        for job in [j for j in running if finish_if_done(j)]:
            running.remove(job)
            finished.add(job.step.name)
            output = job.log.read_text(errors="replace")
            job.step.numbers["cells"] = pytest_counts(output)
            if job.step.status != "pass":
                job.step.numbers["tail"] = plain(output)[-NOTEBOOK_TAIL:]
            on_change(steps)
    return list(steps.values())


def plain(text: str) -> str:
    """Text without the terminal's colour codes (IPython colours its tracebacks)."""
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def nbval_command(python: str):
    """pytest + nbval on one notebook, with this Python's environment as the kernel's.

    ``--nbval-current-env`` starts the kernel as ``python -m ipykernel_launcher`` with this
    environment (PYTHONPATH included), so no kernel spec needs installing on the machine.
    """
    def command(nb: str, limit: float):
        return [python, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                "-p", "no:xdist", "-q", "--nbval-kernel-startup-timeout", "120",
                "--nbval-cell-timeout", str(int(limit) + 1), nb]
    return command


class Report:
    """report.md and report.json in $OUT, rewritten whole after every change."""

    def __init__(self, out: Path, budget_s: float):
        self.out, self.budget_s = out, budget_s
        self.machine: dict = {}
        self.benchmarks: list[Step] = []
        self.data: list[Step] = []
        self.notebooks: list[Step] = []
        self.started = time.monotonic()

    def write(self) -> None:
        data = {"budget_s": self.budget_s, "elapsed_s": round(time.monotonic() - self.started, 1),
                "machine": self.machine, "benchmarks": [asdict(s) for s in self.benchmarks],
                "data": [asdict(s) for s in self.data],
                "notebooks": [asdict(s) for s in self.notebooks]}
        for part in data["notebooks"]:
            part["numbers"].pop("tail", None)  # the tails go to notebooks.log
        self._atomic(OUT_FILES["report_json"], json.dumps(data, indent=1) + "\n")
        self._atomic(OUT_FILES["report_md"], self.markdown())
        tails = [f"### {s.name}: {s.status} ({s.seconds} s)\n{s.numbers['tail']}\n"
                 for s in self.notebooks if s.numbers.get("tail")]
        self._atomic(OUT_FILES["notebooks_log"], "\n".join(tails) or "no notebook failed\n")

    def _atomic(self, name: str, text: str) -> None:
        (self.out / "tmp").mkdir(exist_ok=True)  # a folder, not one more file, if a kill lands mid-write
        tmp = self.out / "tmp" / name
        tmp.write_text(text)
        os.replace(tmp, self.out / name)  # a kill mid-write leaves the previous version

    def markdown(self) -> str:
        lines = [f"# Device check ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
                 f"Budget {self.budget_s:.0f} s, {time.monotonic() - self.started:.0f} s elapsed.", ""]
        for key, value in self.machine.items():
            if key != "nvidia-smi":
                lines.append(f"- {key}: {value}")
        lines += ["", "## Benchmarks", "", "| benchmark | status | s | result |", "| --- | --- | ---: | --- |"]
        for s in self.benchmarks:
            result = "; ".join([s.detail] * bool(s.detail) + [f"{k}: {v}" for k, v in s.numbers.items()])
            lines.append(f"| {s.name} | {s.status} | {s.seconds if s.seconds is not None else ''} | {result} |")
        for s in self.data:
            lines += ["", f"Data before the notebooks: {s.name}: {s.status} ({s.seconds} s) {s.detail}"]
        counts = {}
        for s in self.notebooks:
            counts[s.status] = counts.get(s.status, 0) + 1
        lines += ["", "## Notebooks (LABS_PROFILE=" + self.machine.get("profile", "?") + ")", "",
                  ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none", "",
                  "| notebook | status | s | cells | note |", "| --- | --- | ---: | --- | --- |"]
        for s in self.notebooks:
            lines.append(f"| {s.name} | {s.status} | {s.seconds if s.seconds is not None else ''} | "
                         f"{s.numbers.get('cells', '')} | {s.detail} |")
        if "nvidia-smi" in self.machine:
            lines += ["", "## nvidia-smi", "", "```", self.machine["nvidia-smi"], "```"]
        return "\n".join(lines) + "\n"


def write_labs_metadata(site: Path, pyproject: Path = ROOT / "pyproject.toml") -> Path:
    """The ``labs`` distribution's metadata, as ``pip install -e .`` would record it, into ``site``.

    The notebooks import labs from the working tree (PYTHONPATH), but chapter 13 also reads
    the installed distribution's metadata (``importlib.metadata.metadata("labs")``). Installing
    the package there would need the build backend's version that pyproject.toml names.
    """
    import tomllib

    project = tomllib.loads(pyproject.read_text())["project"]
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}",
             f"Summary: {project['description']}", f"Requires-Python: {project['requires-python']}"]
    lines += [f"Requires-Dist: {req}" for req in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {req}; extra == "{extra}"' for req in reqs]
    folder = site / f"{project['name']}-{project['version']}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "METADATA").write_text("\n".join(lines) + "\n")
    (folder / "INSTALLER").write_text("tools/device_check.py\n")
    return folder


def describe_machine(python: str) -> dict:
    """nvidia-smi and torch's view of the device, from the Python the notebooks will use."""
    facts = {"python": platform.python_version(), "host": platform.node()}
    if shutil.which("nvidia-smi"):
        done = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=60)
        facts["nvidia-smi"] = (done.stdout or done.stderr).strip()[:3000]
    else:
        facts["nvidia-smi"] = "nvidia-smi: not found (no NVIDIA driver on this machine)"
    probe = ("import json, torch; c = torch.cuda.is_available(); print(json.dumps({'torch': torch.__version__, "
             "'cuda': c, 'device': torch.cuda.get_device_name() if c else 'cpu', 'cuda_version': torch.version.cuda}))")
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120)
    try:
        facts.update(json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        facts["torch"] = f"could not import torch: {done.stderr[-500:]}"
        facts["cuda"] = False
    return facts


def _keep_tail(log: Path, limit: int = LOG_TAIL) -> str:
    text = log.read_text(errors="replace")
    if len(text) > limit:
        log.write_text("[...]\n" + text[-limit:])
    return text


def benchmarks(python: str, out: Path, budget: Budget, cuda: bool, nanogpt: Path | None, report: Report,
               logdir: Path) -> None:
    """The GPU benchmarks; without CUDA, the same scripts' CPU smoke runs (numbers not for the book)."""
    gpt = Step("gpt_nanogpt_gpu.py" + (" --nanogpt" if nanogpt else ""))
    mixed = Step("mixed_precision.py " + ("--device cuda (GPT-2 small size)" if cuda else "--quick (CPU smoke)"))
    report.benchmarks = [gpt, mixed]
    report.write()

    argv = [python, "benchmarks/gpt_nanogpt_gpu.py"] + (["--nanogpt", str(nanogpt)] if nanogpt else [])
    if nanogpt and not (nanogpt / "train.py").exists():
        gpt.detail = f"no nanoGPT train.py in {nanogpt} (tools/device_prepare.sh puts it in .device/nanogpt)"
    output = run_one(gpt, argv, out / OUT_FILES["gpt_log"], budget.timeout(300))
    _keep_tail(out / OUT_FILES["gpt_log"])
    produced = ROOT / "benchmarks" / "results_gpt_gpu.json"
    if cuda and gpt.status == "pass" and produced.exists():
        shutil.copy(produced, out / OUT_FILES["gpt_json"])
        gpt.numbers.update(summarise_gpt_rows(json.loads(produced.read_text())["rows"]))
    elif not cuda:
        said = [line for line in output.splitlines() if "no CUDA" in line]
        gpt.detail = said[-1] if said else "no CUDA, and the benchmark did not say so"
        if gpt.status == "pass" and said and nanogpt and (nanogpt / "train.py").exists():
            _nanogpt_cpu_smoke(python, nanogpt, out, budget, gpt, logdir)
    report.write()

    if cuda:
        argv = [python, "benchmarks/mixed_precision.py", "--device", "cuda", "--n-layer", "12", "--n-embd", "768",
                "--n-head", "12", "--block", "1024", "--batch", "16"]
    else:
        argv = [python, "benchmarks/mixed_precision.py", "--quick"]
    output = run_one(mixed, argv, out / OUT_FILES["mixed_log"], budget.timeout(240))
    _keep_tail(out / OUT_FILES["mixed_log"])
    mixed.numbers.update(parse_mixed_precision(output))
    if mixed.status == "pass" and "float32" not in mixed.numbers:
        mixed.status, mixed.detail = "error", "no table in its output"
    report.write()


def summarise_gpt_rows(rows) -> dict:
    """results_gpt_gpu.json's rows as one line each: tokens/s and MFU, or why not measured."""
    summary = {}
    for row in rows:
        if row.get("ms_per_iter") is not None:
            summary[row["name"]] = (f"{row['ms_per_iter']:.1f} ms/iter, {row['tokens_per_s']:,.0f} tok/s, "
                                    f"MFU {100 * row['mfu']:.1f}%")
        else:
            summary[row["name"]] = row.get("why", "not measured")
    return summary


def parse_mixed_precision(output: str) -> dict:
    """mixed_precision.py's table: {precision: "ms/step, ratio to fp32, TFLOP/s[, MFU]"}."""
    rows = {}
    for line in output.splitlines():
        match = re.match(r"(float32|bfloat16|float16)\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)(?:\s+([\d.]+%))?\s*$", line)
        if match:
            name, ms, ratio, tflops, mfu = match.groups()
            rows[name] = f"{ms} ms/step, {ratio}x fp32, {tflops} TFLOP/s" + (f", MFU {mfu}" if mfu else "")
    return rows


def _nanogpt_cpu_smoke(python: str, nanogpt: Path, out: Path, budget: Budget, step: Step, logdir: Path) -> None:
    """Without CUDA: nanoGPT's train.py for a few tiny CPU iterations, parsed like the real run."""
    code = ("import json, sys; from pathlib import Path; sys.path.insert(0, 'benchmarks');"
            "from gpt_nanogpt_gpu import measure_nanogpt;"
            f"row = measure_nanogpt(Path({str(nanogpt)!r}), 'cpu', iters=2, warmup=5,"
            " extra=('--device=cpu', '--batch_size=2', '--block_size=32', '--n_layer=1', '--n_head=2',"
            " '--n_embd=32', '--dtype=float32'));"
            "print('nanoGPT CPU smoke:', json.dumps(row))")
    smoke = Step("nanoGPT smoke")
    output = run_one(smoke, [python, "-c", code], logdir / "nanogpt_smoke.log", budget.timeout(120))
    with open(out / OUT_FILES["gpt_log"], "a") as log:
        log.write("\n" + output[-LOG_TAIL:])
    said = [line for line in output.splitlines() if line.startswith("nanoGPT CPU smoke:")]
    row = json.loads(said[-1].split(":", 1)[1]) if said else {}
    ok = smoke.status == "pass" and row.get("ms_per_iter") is not None
    step.numbers["nanoGPT CPU smoke"] = (f"train.py ran and was parsed ({row['ms_per_iter']:.1f} ms/iter)" if ok
                                         else f"FAILED: {row.get('why') or output[-300:]}")
    if not ok:
        step.status = "fail"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=540, help="seconds for the whole command (default 540)")
    parser.add_argument("--setup-seconds", type=float, default=0.0, help="already spent (device_check.sh's install)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "_build" / "device_out"))
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="these notebooks only (paths from the root)")
    parser.add_argument("--skip", nargs="+", default=[], metavar="NOTEBOOK", help="leave these notebooks out")
    parser.add_argument("--no-benchmarks", action="store_true")
    parser.add_argument("--no-notebooks", action="store_true")
    parser.add_argument("--profile", default="gpu", choices=("gpu", "cpu"), help="LABS_PROFILE for the notebooks")
    parser.add_argument("--workers", type=int, default=6, help="notebooks at once (default 6: 16 cores, one GPU)")
    parser.add_argument("--notebook-timeout", type=float, default=400, help="seconds per notebook at most (default 400)")
    parser.add_argument("--nanogpt", type=Path, default=ROOT / ".device" / "nanogpt")
    parser.add_argument("--site", type=Path, help="where the wheels went: labs's metadata is written there too")
    args = parser.parse_args(argv)
    if args.site:
        write_labs_metadata(args.site)
    python = sys.executable
    budget = Budget(args.budget, spent=args.setup_seconds)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out, args.budget)
    logdir = Path("/tmp") / f"device_check_logs_{os.getpid()}"  # full logs stay on the machine
    logdir.mkdir(parents=True, exist_ok=True)

    report.machine = describe_machine(python)
    report.machine["profile"] = args.profile
    cuda = bool(report.machine.get("cuda"))
    print(report.machine["nvidia-smi"])
    print("torch:", {k: v for k, v in report.machine.items() if k != "nvidia-smi"}, flush=True)
    if not cuda:
        print("device_check: no CUDA GPU here: the benchmarks only smoke-run on the CPU (no numbers for the book)")
    report.write()

    if not args.no_benchmarks:
        benchmarks(python, out, budget, cuda, args.nanogpt if args.nanogpt.exists() else None, report, logdir)
        for s in report.benchmarks:
            print(f"benchmark {s.name}: {s.status} ({s.seconds} s) {s.numbers or s.detail}", flush=True)

    if not args.no_notebooks:
        chosen = args.only or all_notebooks()
        missing = [nb for nb in chosen + args.skip if not (ROOT / nb).is_file()]
        if missing:
            print(f"device_check: no such notebook: {', '.join(missing)} (give paths such as chapters/01_background.ipynb)")
            return 2
        notebooks = order_notebooks([nb for nb in chosen if nb not in args.skip])
        env = dict(os.environ, LABS_PROFILE=args.profile, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT)))
        report.notebooks = [Step(nb) for nb in notebooks]
        # Generated once here, so that the notebooks that load it do not all generate it at once.
        data = Step("MNIST-1D (labs.data.load_mnist1d)")
        report.data = [data]
        output = run_one(data, [python, "-c", "from labs.data import load_mnist1d; load_mnist1d()"],
                         logdir / "data.log", budget.timeout(90), env=env)
        if data.status != "pass":
            data.detail = output[-300:]
        report.write()

        def on_change(steps):
            report.notebooks = list(steps.values())
            report.write()

        print(f"notebooks: {len(notebooks)}, {args.workers} at a time, {budget.left():.0f} s left", flush=True)
        run_pool(notebooks, nbval_command(python), budget, args.workers, args.notebook_timeout, logdir,
                 env=env, on_change=on_change)
        report.write()

    print()
    print(report.markdown().split("## nvidia-smi")[0])
    bad = [s for s in report.benchmarks + report.notebooks if s.status in ("fail", "error")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
