"""tools/device_check.py, the GPU machine's check script, on the CPU: the notebook order, the
time budget, the pool that runs and kills notebooks' processes, the parsers of the benchmarks'
output (fed by the benchmarks themselves), and the report that comes back from $OUT."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools import device_check as dc

ROOT = Path(__file__).resolve().parent.parent


def test_the_order_covers_every_notebook_once_with_the_gpu_heavy_chapters_first():
    notebooks = dc.all_notebooks()
    made = subprocess.run(["find", "chapters", "book", "-name", "*.ipynb", "-not", "-path", "*/.ipynb_checkpoints/*"],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert notebooks == sorted(made)  # what `make notebooks` runs
    ordered = dc.order_notebooks(notebooks)
    assert sorted(ordered) == notebooks and len(set(ordered)) == len(ordered)
    assert ordered[: len(dc.PRIORITY)] == list(dc.PRIORITY)
    assert len(set(dc.PRIORITY)) == len(dc.PRIORITY)
    for nb, deps in dc.AFTER.items():  # a notebook never waits for one listed after it
        assert all(dc.PRIORITY.index(dep) < dc.PRIORITY.index(nb) for dep in deps), nb


def test_every_notebook_named_exists_and_its_gpu_profile_is_larger():
    for nb in set(dc.PRIORITY) | set(dc.AFTER) | {d for deps in dc.AFTER.values() for d in deps}:
        assert (ROOT / nb).is_file(), f"{nb} is named in tools/device_check.py but does not exist"
    for nb in dc.PRIORITY:  # the priority list is for notebooks whose GPU profile changes something
        text = (ROOT / nb).read_text()
        assert "pick(" in text, f"{nb} has no labs.pick(cpu=..., gpu=...): it does no GPU-sized work"


def test_order_puts_unknown_notebooks_last_in_path_order():
    assert dc.order_notebooks(["z.ipynb", "a.ipynb", dc.PRIORITY[3]], priority=dc.PRIORITY) == [
        dc.PRIORITY[3], "a.ipynb", "z.ipynb"]


def test_next_ready_waits_for_a_prerequisite_in_the_run_but_not_for_one_outside_it():
    seven, eight, five = ("chapters/07_attention_transformers.ipynb", "chapters/08_pretraining_finetuning.ipynb",
                          "chapters/05_cnn.ipynb")
    assert dc.AFTER[eight] == (seven,)
    assert dc.next_ready([seven, eight, five], finished=set()) == seven
    assert dc.next_ready([eight, five], finished=set(), running=[seven]) == five  # 7 still training
    assert dc.next_ready([eight], finished=set(), running=[seven]) is None  # wait, do not start it
    assert dc.next_ready([eight, five], finished={seven}) == eight  # 7 ended (in any state)
    assert dc.next_ready([eight, five], finished=set()) == eight  # 7 is not in this run: no wait


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_budget_counts_the_setup_and_caps_each_timeout():
    clock = FakeClock()
    budget = dc.Budget(540, spent=40, clock=clock)
    assert budget.left() == 500
    assert budget.timeout(300) == 300
    clock.now += 400
    assert budget.left() == 100 and budget.timeout(300) == 95  # 5 s kept for the report
    clock.now += 200
    assert budget.left() == 0 and budget.timeout(300) == 0


def test_classify_and_pytest_counts():
    assert [dc.classify(0, False), dc.classify(1, False), dc.classify(5, False), dc.classify(None, True)] == [
        "pass", "fail", "error", "timeout"]
    out = "....F\n=== 1 failed, 33 passed, 2 warnings in 25.31s ===\n"
    assert dc.pytest_counts(out) == "1 failed, 33 passed, 2 warnings"
    assert dc.pytest_counts("Traceback: no summary") == ""
    assert dc.plain("\x1b[31mPackageNotFoundError\x1b[39m: labs") == "PackageNotFoundError: labs"


def test_the_notebook_command_uses_this_environment_as_the_kernel():
    argv = dc.nbval_command("/opt/py")("chapters/01_background.ipynb", 99.5)
    assert argv[:3] == ["/opt/py", "-m", "pytest"] and argv[-1] == "chapters/01_background.ipynb"
    assert {"--nbval-lax", "--nbval-current-env"} <= set(argv)
    assert argv[argv.index("--nbval-cell-timeout") + 1] == "100"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_pool_reports_pass_fail_timeout_and_not_started_and_kills_the_whole_tree(tmp_path):
    child_pid = tmp_path / "child.pid"
    programs = {
        "pass.ipynb": "print('1 passed in 0.01s')",
        "fail.ipynb": "import sys; print('1 failed, 2 passed in 0.1s'); sys.exit(1)",
        # a kernel-like child that outlives its parent unless the whole tree is killed
        "hang.ipynb": ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
                       "'import time; time.sleep(60)']); open(%r, 'w').write(str(p.pid)); time.sleep(60)") % str(child_pid),
        "late.ipynb": "print('never')",
    }

    def command(nb, limit):
        assert limit <= 6
        return [sys.executable, "-c", programs[nb]]

    writes = []
    # Seconds with room for a loaded 2-core CI machine, where starting a Python can take a second.
    budget = dc.Budget(10, margin=1.2)
    start = time.monotonic()
    # two at a time; late.ipynb waits for hang.ipynb, which is killed at 6 s, leaving under
    # min_start + margin: so late.ipynb is never started
    steps = dc.run_pool(["hang.ipynb", "pass.ipynb", "fail.ipynb", "late.ipynb"], command, budget, workers=2,
                        timeout=6, logdir=tmp_path, on_change=lambda s: writes.append(dict(s)), min_start=3.2,
                        poll=0.05, after={"late.ipynb": ("hang.ipynb",)})
    elapsed = time.monotonic() - start
    by_name = {s.name: s for s in steps}
    assert by_name["pass.ipynb"].status == "pass" and by_name["pass.ipynb"].numbers["cells"] == "1 passed"
    assert by_name["fail.ipynb"].status == "fail" and "1 failed" in by_name["fail.ipynb"].numbers["tail"]
    assert by_name["hang.ipynb"].status == "timeout" and 5.9 <= by_name["hang.ipynb"].seconds < 9
    assert by_name["late.ipynb"].status == "not run" and "left in the budget" in by_name["late.ipynb"].detail
    assert elapsed < 12
    deadline = time.monotonic() + 5
    while _alive(int(child_pid.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(child_pid.read_text())), "the timed-out notebook's child process was left running"
    assert writes, "the report was never updated while the pool ran"


def test_run_one_does_not_start_without_time_left(tmp_path):
    step = dc.Step("x")
    assert dc.run_one(step, [sys.executable, "-c", "print(1)"], tmp_path / "x.log", timeout=0) == ""
    assert step.status == "not run" and not (tmp_path / "x.log").exists()


def test_the_report_writes_only_the_files_that_come_back_and_rewrites_them_whole(tmp_path):
    assert len(set(dc.OUT_FILES.values())) == len(dc.OUT_FILES) <= 8  # the run tool returns at most 8
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in dc.OUT_FILES.values())
    report = dc.Report(tmp_path, 540)
    report.machine = {"python": "3.12", "cuda": True, "profile": "gpu", "nvidia-smi": "NVIDIA H200 | 143771MiB"}
    report.benchmarks = [dc.Step("gpt_nanogpt_gpu.py", "pass", 41.0, numbers={"our PyTorch GPT": "1 tok/s"})]
    report.notebooks = [dc.Step("chapters/07_attention_transformers.ipynb", "timeout", 300.0, "killed after 300 s",
                                {"cells": "", "tail": "Traceback ... KeyboardInterrupt"}),
                        dc.Step("chapters/01_background.ipynb", "pass", 20.0, numbers={"cells": "34 passed"})]
    report.write()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted({dc.OUT_FILES["report_md"], dc.OUT_FILES["report_json"], dc.OUT_FILES["notebooks_log"]})
    data = json.loads((tmp_path / "report.json").read_text())
    assert [n["status"] for n in data["notebooks"]] == ["timeout", "pass"]
    assert "tail" not in data["notebooks"][0]["numbers"]  # tails go to notebooks.log only
    md = (tmp_path / "report.md").read_text()
    assert "| chapters/07_attention_transformers.ipynb | timeout | 300.0 |" in md
    assert "1 pass, 1 timeout" in md and "NVIDIA H200" in md and "our PyTorch GPT: 1 tok/s" in md
    assert "KeyboardInterrupt" in (tmp_path / "notebooks.log").read_text()


def test_the_labs_metadata_is_what_an_install_records(tmp_path):
    from importlib import metadata

    folder = dc.write_labs_metadata(tmp_path)
    ours = metadata.Distribution.at(folder)
    assert ours.metadata["Name"] == "labs" and ours.metadata["Requires-Python"] == ">=3.11"
    assert ours.version == metadata.version("labs")  # the installed package's (CI's editable install)
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needs = [Requirement(r) for r in ours.requires]  # each line a valid requirement
    plain = [str(r) for r in needs if r.marker is None or r.marker.evaluate({"extra": ""})]
    assert sorted(plain) == sorted(str(Requirement(r)) for r in project["dependencies"])
    jax = [r.name for r in needs if r.marker is not None and r.marker.evaluate({"extra": "jax"})]
    assert jax == ["jax"]


def test_the_parsers_read_what_the_benchmarks_print(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpt_nanogpt_gpu
        import mixed_precision
        import torch
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    mixed_precision.main(["--quick", "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block", "8", "--batch", "2"])
    rows = dc.parse_mixed_precision(capsys.readouterr().out)
    assert set(rows) == {"float32", "bfloat16"} and "1.00x fp32" in rows["float32"] and "MFU" not in rows["float32"]
    cuda_line = "bfloat16        12.34    2.51x    80.1234  12.3%"  # the GPU's row has an MFU column
    assert dc.parse_mixed_precision(cuda_line) == {"bfloat16": "12.34 ms/step, 2.51x fp32, 80.1234 TFLOP/s, MFU 12.3%"}
    ours = gpt_nanogpt_gpu.measure_ours(torch, torch.device("cpu"), iters=1, warmup=0, batch=1)
    summary = dc.summarise_gpt_rows([ours, {"name": "nanoGPT `train.py`", "ms_per_iter": None, "why": "no checkout"}])
    assert re.fullmatch(r"[\d.]+ ms/iter, [\d,]+ tok/s, MFU nan%", summary["our PyTorch GPT"])
    assert summary["nanoGPT `train.py`"] == "no checkout"


@pytest.mark.parametrize("script", ["device_check.sh", "device_wheels.sh", "device_prepare.sh", "device_simulate.sh"])
def test_the_shell_scripts_parse(script):
    subprocess.run(["bash", "-n", str(ROOT / "tools" / script)], check=True)


def test_the_carried_folders_are_ignored_by_git():
    for path in (".whl/nbval-0.11.0-py2.py3-none-any.whl", ".device/nanogpt/train.py"):  # present or not
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert done.returncode == 0, f"{path}/ must be ignored: it travels to the GPU machine, never into a commit"
