"""The MNIST-1D table machinery: same start for both backends, table format, tolerance check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labs.mnist1d_baselines as B
from labs.data import load_mnist1d


@pytest.fixture(scope="module")
def small_data():
    x_train, y_train, x_test, y_test = load_mnist1d()
    return x_train[:400], y_train[:400], x_test[:200], y_test[:200]


@pytest.mark.parametrize("name", list(B.PUBLISHED))
def test_both_backends_start_from_the_same_weights(name):
    t_model = B.build_model(name, "torch", seed=3)
    s_model = B.build_model(name, "numpy", seed=3)
    for key, value in t_model.state_dict().items():
        np.testing.assert_array_equal(s_model.state_dict()[key], value.numpy())
    again = B.build_model(name, "torch", seed=3)
    for key, value in t_model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)


def test_every_model_has_a_recipe_and_a_published_number():
    assert set(B.RECIPES) == set(B.PUBLISHED) == set(B.AUTHORS_RERUN)
    for recipe in B.RECIPES.values():
        assert recipe.scheduler in (None, "cosine") and recipe.epochs > 0


def test_reproduce_table_two_backends_agree(small_data):
    rows = B.reproduce_table(models=("logistic regression", "CNN"), backends=("numpy", "torch"), data=small_data,
                             epochs=2)
    assert [(r.model, r.backend) for r in rows] == [("logistic regression", "numpy"), ("logistic regression", "torch"),
                                                     ("CNN", "numpy"), ("CNN", "torch")]
    for a, b in (rows[0:2], rows[2:4]):
        # same weights, same batches: rounding only. A first-steps comparison (2 epochs of 400
        # signals: 8 steps), so float32 rounding has not grown yet; 1 point is 2 of the 200 signals
        assert abs(a.accuracy - b.accuracy) <= 1.0
        assert a.epochs == b.epochs == 2 and a.trained is not None
    text = B.format_table(rows)
    assert "logistic regression" in text and "numpy acc" in text and "torch acc" in text and "rerun" in text
    assert B.accuracy_matrix(rows).shape == (2, 2)


def test_assert_within_names_the_offending_rows():
    good = B.Row("CNN", "numpy", 93.0, 94.0, 1.0, 1, "cpu")
    bad = B.Row("MLP", "torch", 60.0, 68.0, 1.0, 1, "cpu")
    B.assert_within([good], 3)
    with pytest.raises(AssertionError, match=r"MLP \(torch\): 60.0% vs published 68%"):
        B.assert_within([good, bad], 3)


def test_the_tolerance_is_the_seed_spread_where_seeds_spread_more_than_the_points():
    B.assert_within([B.Row("MLP", "numpy", 63.0, 68.0, 1.0, 1, "cpu")], 3)  # 5 points: within 3 sd of the MLP
    with pytest.raises(AssertionError, match="CNN"):
        B.assert_within([B.Row("CNN", "numpy", 90.5, 94.0, 1.0, 1, "cpu")], 3)  # the CNN spreads little
    assert B.tolerance("CNN") == 3.0 and B.tolerance("MLP") == pytest.approx(3 * B.SEED_SPREAD["MLP"])


def test_the_seed_spread_is_the_one_the_benchmark_measured():
    import re
    from pathlib import Path

    table = (Path(__file__).resolve().parents[1] / "benchmarks" / "results_mnist1d.md").read_text(encoding="utf-8")
    measured = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] in B.PUBLISHED:
            numpy_cell = next(c for c in cells if re.fullmatch(r"[\d.]+ ± [\d.]+ %", c))  # the NumPy column comes first
            measured[cells[0]] = float(numpy_cell.split("±")[1].rstrip(" %"))
    assert measured == B.SEED_SPREAD, "re-run benchmarks/mnist1d_table.py, then copy its spreads into SEED_SPREAD"


def test_bad_names_are_explained():
    with pytest.raises(ValueError, match="unknown MNIST-1D baseline"):
        B.build_model("ResNet")
    with pytest.raises(ValueError, match="backend"):
        B.build_model("CNN", "jax")


def test_single_threaded_restores_torch_threads():
    before = torch.get_num_threads()
    with B.single_threaded():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def _describe(recipe) -> str:
    schedule = " cosine" if recipe.scheduler == "cosine" else ""
    return f"{recipe.optimizer}, lr {recipe.lr:g}{schedule}, {recipe.epochs} epochs of {recipe.batch_size}"


def test_recipes_are_the_winners_of_the_validation_selection():
    from pathlib import Path

    results = Path(__file__).resolve().parent.parent / "benchmarks" / "results_mnist1d_selection.md"
    chosen = {}
    for line in results.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[3] == "yes":
            chosen[cells[0]] = cells[1]
    assert chosen == {name: _describe(recipe) for name, recipe in B.RECIPES.items()}
    for name, recipe in B.RECIPES.items():
        assert recipe in B.CANDIDATES[name], name      # the winner is one of the candidates


def test_validation_split_holds_out_the_last_training_signals_and_drops_the_test_set(small_data):
    x_fit, y_fit, x_val, y_val = B.validation_split(small_data, 100)
    assert len(x_fit) == 300 and len(x_val) == 100
    np.testing.assert_array_equal(x_val, small_data[0][-100:])
    with pytest.raises(ValueError, match="n_val must be between"):
        B.validation_split(small_data, 400)


def test_select_recipes_never_reads_the_test_set(small_data):
    poisoned = (small_data[0], small_data[1], np.full_like(small_data[2], np.nan), -np.ones_like(small_data[3]))
    candidates = {"logistic regression": (B.Recipe(1, 100, 1e-2, None), B.Recipe(1, 100, 1e-1, None))}
    scores = B.select_recipes(poisoned, candidates, n_val=100)
    ranked = scores["logistic regression"]
    assert len(ranked) == 2 and np.mean(ranked[0][1]) >= np.mean(ranked[1][1])
    assert all(np.isfinite(a).all() and 0 <= min(a) <= max(a) <= 100 for _, a in ranked)
