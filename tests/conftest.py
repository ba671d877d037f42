"""Test-wide settings.

Hypothesis draws its examples from a fixed seed (``derandomize=True``): the same
command twice runs the same cases, so a red CI run can be reproduced exactly. Set
HYPOTHESIS_PROFILE=explore to search with fresh random examples instead.
"""

import os

from hypothesis import settings

settings.register_profile("course", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))
