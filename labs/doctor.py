"""``python -m labs doctor``: what this machine offers the course."""

from __future__ import annotations

import importlib
import os
import platform
import socket


PACKAGES = ("numpy", "torch", "matplotlib", "sklearn", "scipy", "ipywidgets", "mnist1d", "tqdm")


def network_reachable(host: str = "pypi.org", port: int = 443, timeout: float = 2.0) -> bool:
    """True when a TCP connection to ``host:port`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def report() -> dict:
    """Collect the facts the doctor prints, as a dict (tested)."""
    from labs.data.cache import cache_dir
    from labs.device import profile

    facts: dict[str, str] = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            module = importlib.import_module(name)
            facts[name] = getattr(module, "__version__", "installed")
        except ImportError:
            facts[name] = "missing"
    try:
        import torch

        facts["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        if torch.cuda.is_available():
            facts["gpu"] = torch.cuda.get_device_name(0)
        facts["torch threads"] = str(torch.get_num_threads())
    except ImportError:
        facts["device"] = "cpu (torch missing)"
    facts["profile"] = profile()
    facts["cpu cores"] = str(os.cpu_count())
    facts["data cache"] = str(cache_dir())
    facts["network"] = "reachable" if network_reachable() else "unreachable (offline data only)"
    return facts


def main() -> int:
    facts = report()
    width = max(map(len, facts))
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}")
    missing = [k for k in PACKAGES if facts.get(k) == "missing"]
    if missing:
        print(f"\nmissing packages: {', '.join(missing)}; run `make book` or `pip install -r requirements.txt`")
        return 1
    return 0
