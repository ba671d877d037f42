"""``python -m labs doctor``: what this machine offers the course."""

from __future__ import annotations

import os
import platform
import re
import socket
from importlib import metadata

# What `import labs` needs, when the package's own metadata cannot say (run from a source
# tree that was never installed); otherwise the list comes from pyproject.toml, via pip.
FALLBACK_REQUIREMENTS = ("numpy", "matplotlib", "torch", "ipywidgets", "scikit-learn", "scipy", "mnist1d", "tqdm",
                         "threadpoolctl")
# Not needed by `import labs`, but by the notebooks: reported, never counted as missing.
NOTEBOOK_PACKAGES = ("ipykernel", "jupyter-book", "nbval")


def required_packages() -> tuple[str, ...]:
    """The distributions labs declares (pyproject.toml's dependencies), without extras."""
    try:
        requires = metadata.requires("labs") or []
    except metadata.PackageNotFoundError:
        return FALLBACK_REQUIREMENTS
    names = [re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r]
    return tuple(dict.fromkeys(n for n in names if n)) or FALLBACK_REQUIREMENTS


def version_of(distribution: str) -> str:
    """The installed version of ``distribution`` (its metadata, so nothing is imported), or 'missing'."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "missing"


def blas_threads() -> dict[str, str]:
    """One line per BLAS / OpenMP library NumPy and torch loaded: its implementation, version and threads."""
    try:
        import numpy  # noqa: F401 (loads NumPy's BLAS, so that threadpoolctl sees it)
        from threadpoolctl import threadpool_info
    except ImportError as err:
        return {"blas": f"unknown ({err.name} missing)"}
    try:
        import torch  # noqa: F401 (loads torch's OpenMP and BLAS)
    except ImportError:
        pass
    found: dict[str, str] = {}
    for lib in threadpool_info():
        key = lib["user_api"]  # 'blas' or 'openmp'
        line = f"{lib.get('internal_api', '?')} {lib.get('version') or ''}".strip() + f", {lib['num_threads']} thread(s)"
        found[key] = line if key not in found else f"{found[key]}; {line}"
    return found or {"blas": "none loaded"}


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

    facts: dict[str, str] = {"python": platform.python_version(), "platform": platform.platform(),
                             "labs": version_of("labs")}
    for name in required_packages() + NOTEBOOK_PACKAGES:
        facts[name] = version_of(name)
    try:
        import torch

        facts["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        if torch.cuda.is_available():
            facts["gpu"] = torch.cuda.get_device_name(0)
        facts["torch threads"] = str(torch.get_num_threads())
    except ImportError:
        facts["device"] = "cpu (torch missing)"
    facts.update(blas_threads())
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
    missing = [k for k in required_packages() if facts.get(k) == "missing"]
    if missing:
        print(f"\nmissing packages: {', '.join(missing)}; run `make book` or `pip install -r requirements.txt`")
        return 1
    return 0
