"""What the first cell of every chapter calls."""

from __future__ import annotations

import platform


def limit_cpu_threads(threads: int = 1) -> None:
    """Use ``threads`` BLAS threads (NumPy) and ``threads`` PyTorch threads.

    The course's matrices are small (a few hundred rows at most). On a 2-core machine a
    second thread has little work to take over, and when the cores are shared (CI runs
    two notebooks at once) threads that spin while waiting made a training step many
    times slower: see benchmarks/results_cpu.md, which measured it.
    """
    import torch
    from threadpoolctl import threadpool_limits

    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int; got {threads!r}")
    threadpool_limits(limits=threads, user_api="blas")
    torch.set_num_threads(threads)


# Figure text that stays readable in the book. The book's text column is 784 px wide at
# a 1280 px window (book/_static/book.css), and a figure wider than that is scaled down
# to it: a 12-inch multi-panel figure (about 1200 px at 100 dpi) shrinks by a third, and
# with matplotlib's 10-point default its tick labels came out 6 to 9 px high. At these
# sizes they are about 11 px there (9 px on the widest, 15-inch figure), and a 6-inch
# figure, shown at full size, gets 17 px.
FIGURE_STYLE = {
    "figure.dpi": 100,
    "font.size": 13,
    "axes.titlesize": 13,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "legend.title_fontsize": 12,
    "figure.titlesize": 14,
}


def use_figure_style() -> None:
    """Apply :data:`FIGURE_STYLE` to matplotlib (``setup_notebook`` calls it)."""
    import matplotlib

    matplotlib.rcParams.update(FIGURE_STYLE)


def setup_notebook(seed: int = 0, quiet: bool = False, cpu_threads: int | None = 1):
    """Seed everything, pick the device, set readable figure text, print what was found;
    return the device.

    The same call works in Colab (GPU or not) and locally. It prints one line of
    versions so that a reader who reports a problem can paste it. On the CPU it limits
    NumPy and PyTorch to ``cpu_threads`` threads (``None`` leaves the libraries' default).
    """
    import numpy as np
    import torch

    from labs.device import get_device, profile
    from labs.seed import seed_everything

    seed_everything(seed)
    use_figure_style()
    device = get_device()
    if device.type == "cpu" and cpu_threads is not None:
        limit_cpu_threads(cpu_threads)
    if not quiet:
        gpu = f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""
        print(
            f"device: {device}{gpu} | profile: {profile()} | threads: {torch.get_num_threads()}"
            f" | python {platform.python_version()} | numpy {np.__version__} | torch {torch.__version__} | seed {seed}"
        )
    return device


# The first cell of every chapter, verbatim (tests/test_guards.py compares them).
# In Colab it installs this package from the repository only when it is missing; pip
# keeps Colab's own torch because the package asks only for torch>=2.1. Locally
# `labs` is installed already, so the cell only seeds and prints the device.
REPOSITORY_URL = "https://github.com/large-models-course/course"
SETUP_CELL = f'''\
# Set-up (works in Colab and locally): install the course package if it is missing, never torch.
import importlib.util, subprocess, sys
if importlib.util.find_spec("labs") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "labs @ git+{REPOSITORY_URL}"], check=True)
import labs
device = labs.setup_notebook(seed=0)'''


def show_source(obj) -> None:
    """Display the source of a library object, so a notebook shows the code it runs."""
    import inspect

    source = inspect.getsource(obj)
    try:
        from IPython.display import Code, display

        display(Code(source, language="python"))
    except ImportError:  # plain Python
        print(source)


def glue(name: str, value, display: bool = False) -> None:
    """Record ``value`` under ``name`` for ``{glue:text}`name``` in the prose.

    A thin wrapper over ``myst_nb.glue`` that also works where myst-nb is not
    installed (for example a bare Colab runtime), where it does nothing. It returns None,
    so a ``glue(...)`` that ends a cell prints no stray number on the page.
    """
    import numpy as np

    if isinstance(value, np.generic):  # np.float64(3.1) would not take a format spec in the prose
        value = value.item()
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return None
    _glue(name, value, display=display)
