"""The layer plan that ``labs.models.mlp_classifier.MLPClassifier`` and its NumPy twin both follow.

Kept in one place (and free of torch) so that the two models cannot drift apart: same
layers, same order, hence the same ``state_dict`` keys.
"""

from __future__ import annotations

import numbers


def check_sizes(sizes, dropout) -> tuple[list[int], float]:
    """Validate ``sizes`` (widths from input to output) and ``dropout``; return them cleaned."""
    try:
        sizes = list(sizes)
    except TypeError:
        raise TypeError(f"MLPClassifier expects sizes as a list of widths such as [64, 128, 10]; got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"MLPClassifier needs at least an input and an output width, e.g. [64, 10]; got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"MLPClassifier widths must be positive ints; got {sizes}")
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"MLPClassifier dropout must be a probability in [0, 1); got {dropout!r}")
    return [int(s) for s in sizes], float(dropout)


def layer_plan(sizes: list[int], dropout: float) -> list[tuple[str, tuple]]:
    """``[("linear", (64, 128)), ("relu", ()), ("dropout", (0.5,)), ("linear", (128, 10))]``."""
    plan = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        plan.append(("linear", (n_in, n_out)))
        if i < len(sizes) - 2:  # hidden layers only: the output stays raw logits
            plan.append(("relu", ()))
            if dropout > 0:
                plan.append(("dropout", (dropout,)))
    return plan
