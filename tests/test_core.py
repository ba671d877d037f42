"""Device, profile, seeding and the doctor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labs
from labs import __main__ as cli
from labs import doctor
from labs.device import get_device, pick, profile


def test_device_is_cpu_here_and_cuda_when_available(monkeypatch):
    monkeypatch.delenv("LABS_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected
    assert get_device("cpu").type == "cpu"


def test_asking_for_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="cuda"):
        get_device("cuda")
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        get_device("tpu")


def test_profile_follows_the_hardware_and_can_be_overridden(monkeypatch):
    monkeypatch.delenv("LABS_PROFILE", raising=False)
    monkeypatch.delenv("LABS_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profile() == "gpu" and pick(cpu=1, gpu=2) == 2
    monkeypatch.setenv("LABS_PROFILE", "cpu")
    assert profile() == "cpu" and pick(cpu=1, gpu=2) == 1
    monkeypatch.setenv("LABS_PROFILE", "fast")
    with pytest.raises(ValueError, match="LABS_PROFILE"):
        profile()


def test_seed_everything_makes_numpy_and_torch_repeat():
    rng = labs.seed_everything(7)
    a = (rng.normal(size=3), np.random.rand(3), torch.randn(3))
    rng = labs.seed_everything(7)
    b = (rng.normal(size=3), np.random.rand(3), torch.randn(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert torch.equal(a[2], b[2])


@pytest.mark.parametrize("bad", [1.5, "0", -1, True])
def test_seed_rejects_non_integers(bad):
    with pytest.raises((TypeError, ValueError), match="seed"):
        labs.seed_everything(bad)


def test_doctor_reports_versions_device_cache_and_network(monkeypatch, tmp_path, capsys):
    from importlib import metadata

    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(doctor, "network_reachable", lambda *a, **k: False)
    facts = doctor.report()
    assert facts["numpy"] == np.__version__ and facts["torch"] == torch.__version__
    # versions from the distributions' metadata, for every package labs declares
    assert {"numpy", "torch", "scikit-learn", "mnist1d", "threadpoolctl"} <= set(doctor.required_packages())
    assert facts["mnist1d"] == metadata.version("mnist1d") and facts["ipykernel"] == metadata.version("ipykernel")
    assert "thread" in facts["blas"]  # e.g. "openblas 0.3.29, 1 thread(s)"
    assert facts["data cache"] == str(tmp_path / "cache")
    assert facts["network"].startswith("unreachable")
    assert facts["device"] in ("cpu", "cuda")
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "data cache" in out and "torch threads" in out and "blas" in out


def test_doctor_fails_and_names_a_missing_package(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "network_reachable", lambda *a, **k: False)
    real = doctor.version_of
    monkeypatch.setattr(doctor, "version_of", lambda name: "missing" if name == "mnist1d" else real(name))
    assert doctor.main() == 1
    assert "missing packages: mnist1d" in capsys.readouterr().out
    assert doctor.version_of("no-such-distribution-xyz") == "missing"


def test_cli_without_a_command_prints_usage(capsys):
    assert cli.main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_network_check_is_false_for_a_closed_port():
    import socket

    with socket.socket() as s:  # find a free port, then close it so nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert doctor.network_reachable("127.0.0.1", port, timeout=1.0) is False


def test_setup_notebook_prints_the_device(capsys):
    device = labs.setup_notebook(seed=3)
    assert device.type in ("cpu", "cuda")
    assert f"device: {device}" in capsys.readouterr().out
