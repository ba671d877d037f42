"""Where downloaded and generated data sets are kept."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LABS_DATA_DIR"


def cache_dir() -> Path:
    """The data cache: ``$LABS_DATA_DIR`` if set, else ``~/.cache/labs``.

    The directory is created on first use.
    """
    root = os.environ.get(CACHE_ENV)
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "labs"
    path.mkdir(parents=True, exist_ok=True)
    return path
