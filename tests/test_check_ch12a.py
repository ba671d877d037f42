"""Chapter 12a graders: each accepts a right answer, rejects the usual wrong ones with a useful
hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs.check import ExerciseFailed, ch12a
from labs.explain import exact_shapley


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 12a.x: not yet")


@pytest.mark.parametrize("grader", [ch12a.ig_sum, ch12a.shapley_values, ch12a.fgsm_step, ch12a.early_stop])
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 12a.x"):
        grader(stub)


def test_ig_sum_accepts_completeness_and_names_the_slips(capsys):
    ch12a.ig_sum(lambda score, x, b: score(x) - score(b))
    assert "passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="score\\(x\\) alone"):
        ch12a.ig_sum(lambda score, x, b: score(x))
    with pytest.raises(ExerciseFailed, match="the sign"):
        ch12a.ig_sum(lambda score, x, b: score(b) - score(x))
    with pytest.raises(ExerciseFailed, match="Exercise 12a.1"):
        ch12a.ig_sum(lambda score, x, b: float(np.sum(x - b)))


def _shapley_by_permutations(value_fn, n):
    """Shapley values as the mean marginal gain over all orders of arrival: a different route."""
    import itertools

    phi = np.zeros(n)
    orders = list(itertools.permutations(range(n)))
    for order in orders:
        mask = np.zeros(n, bool)
        for i in order:
            before = value_fn(mask[None])[0]
            mask[i] = True
            phi[i] += value_fn(mask[None])[0] - before
    return phi / len(orders)


def test_shapley_values_accepts_two_routes_and_rejects_banzhaf(capsys):
    ch12a.shapley_values(exact_shapley)
    ch12a.shapley_values(_shapley_by_permutations)
    assert capsys.readouterr().out.count("passed") == 2

    def banzhaf(value_fn, n):
        return ch12a._banzhaf(value_fn, n)

    with pytest.raises(ExerciseFailed, match="Banzhaf"):
        ch12a.shapley_values(banzhaf)


def test_fgsm_step_accepts_the_formula_and_names_the_slips(capsys):
    ch12a.fgsm_step(lambda x, g, eps: np.clip(x + eps * np.sign(g), 0, 1))
    assert "passed" in capsys.readouterr().out
    for wrong, hint in [(lambda x, g, eps: x + eps * np.sign(g), "clip"),
                        (lambda x, g, eps: np.clip(x - eps * np.sign(g), 0, 1), "climbs"),
                        (lambda x, g, eps: np.clip(x + eps * g, 0, 1), "sign of the gradient"),
                        (lambda x, g, eps: np.clip(x + eps * g / np.linalg.norm(g), 0, 1), "L2")]:
        with pytest.raises(ExerciseFailed, match=hint):
            ch12a.fgsm_step(wrong)


def test_early_stop_accepts_the_rule_and_rejects_reading_the_future(capsys):
    def right(losses, patience):
        best, best_epoch = math.inf, -1
        for epoch, loss in enumerate(losses):
            if loss < best:
                best, best_epoch = loss, epoch
            elif epoch - best_epoch >= patience:
                return epoch, best_epoch
        return len(losses) - 1, best_epoch

    ch12a.early_stop(right)
    assert "passed" in capsys.readouterr().out

    def argmin_of_all(losses, patience):
        stop, _ = right(losses, patience)
        return stop, int(np.argmin(losses))

    with pytest.raises(ExerciseFailed, match="reads the future"):
        ch12a.early_stop(argmin_of_all)

    def one_late(losses, patience):
        stop, best = right(losses, patience)
        return stop + 1, best

    with pytest.raises(ExerciseFailed, match="off by one"):
        ch12a.early_stop(one_late)
    with pytest.raises(ExerciseFailed, match="pair of ints"):
        ch12a.early_stop(lambda losses, patience: None)
