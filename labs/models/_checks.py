"""Argument checks shared by the model constructors (both backends)."""

from __future__ import annotations

import numbers


def check_positive_int(model: str, **values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{model}: {name} must be a positive int; got {value!r}")


def check_input(model: str, x, expected: str, ndims: tuple[int, ...], hint: str) -> None:
    """Raise a ValueError that names the expected layout when ``x.ndim`` is not in ``ndims``."""
    if x.ndim not in ndims:
        raise ValueError(f"{model} expects x of shape {expected}; got {tuple(x.shape)}: {hint}")
