"""NumPy twins of the PyTorch models in ``labs/models/``, one module each, same names.

Each is built on ``labs.scratch.nn`` and loads its twin's ``state_dict`` unchanged.
Import the module you need, e.g. ``from labs.scratch.models.mlp import MLP``.
"""
