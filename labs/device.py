"""Device choice and the size profile.

The CPU run is the reference: it is what CI executes and what every number in the
book comes from. On a machine with a CUDA GPU the same notebooks run with larger
configurations, chosen in one place through :func:`pick`.
"""

from __future__ import annotations

import os

PROFILES = ("cpu", "gpu")
_PROFILE_ENV = "LABS_PROFILE"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # the NumPy half of the course works without torch
        return False
    return torch.cuda.is_available()


def get_device(prefer: str | None = None):
    """Return ``torch.device("cuda")`` when a CUDA GPU is present, else CPU.

    ``prefer="cpu"`` forces the CPU even on a GPU machine (useful to reproduce
    the reference numbers). Setting ``LABS_DEVICE=cpu`` does the same globally.
    """
    import torch

    choice = prefer or os.environ.get("LABS_DEVICE")
    if choice is not None:
        if choice not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda'; got {choice!r}")
        if choice == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for, but torch.cuda.is_available() is False on this machine")
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def profile() -> str:
    """The active size profile: ``"gpu"`` on a CUDA machine, else ``"cpu"``.

    Override with the environment variable ``LABS_PROFILE=cpu`` (for example to
    reproduce the book's numbers on a GPU) or ``LABS_PROFILE=gpu``.
    """
    value = os.environ.get(_PROFILE_ENV)
    if value is not None:
        if value not in PROFILES:
            raise ValueError(f"{_PROFILE_ENV} must be one of {PROFILES}; got {value!r}")
        return value
    if os.environ.get("LABS_DEVICE") == "cpu":
        return "cpu"
    return "gpu" if _cuda_available() else "cpu"


def pick(cpu, gpu):
    """Choose a setting by profile: ``epochs = pick(cpu=5, gpu=50)``.

    The CPU value is the reference the book's text describes; the GPU value makes
    the same experiment larger, never different in kind.
    """
    return gpu if profile() == "gpu" else cpu
