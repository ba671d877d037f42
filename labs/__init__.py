"""labs: the importable code of the course.

Everything a chapter shows lives here once, so the notebooks, the tests and the
exercise checkers all use the same definitions.

- ``labs.device``: which device to use, and the CPU/GPU size profile.
- ``labs.seed``: one call that seeds Python, NumPy and PyTorch.
- ``labs.data``: offline-first data loaders with a verified download cache.
- ``labs.check``: the graders that the exercise cells call.
- ``labs.scratch``: a NumPy deep-learning engine that mirrors PyTorch's API.
"""

from labs.device import get_device, profile, pick
from labs.seed import seed_everything
from labs.notebook import setup_notebook, show_source

__version__ = "0.1.0"
__all__ = ["get_device", "profile", "pick", "seed_everything", "setup_notebook", "show_source", "__version__"]
