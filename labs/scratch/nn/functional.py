"""``labs.scratch.nn.functional`` is ``labs.scratch.functional``, as ``torch.nn.functional`` is ``F``."""

from labs.scratch.functional import *  # noqa: F403
from labs.scratch.functional import __all__  # noqa: F401 (re-exported)
