"""PyTorch models of the course, one definition each.

Each module here has a NumPy twin with the same name under ``labs/scratch/models/``,
built on ``labs.scratch.nn``; the tests copy the weights across and compare outputs.
Import the module you need, e.g. ``from labs.models.char_lm import CharLM``.
"""
