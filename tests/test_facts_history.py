"""Chapter 1's library: the sourced facts table, parameter counting and the perceptron."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.facts import MILESTONES, MODEL_FACTS, ModelFact, fact, metric_values, plot_model_sizes, training_flops
from labs.param_count import gpt_params, lenet1989_parameter_counts, lenet5_parameter_counts, transformer_block_params
from labs.perceptron import Perceptron, check_signed_labels, is_linearly_separable, xor_dataset

ROOT = Path(__file__).resolve().parent.parent
BIB_KEYS = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(encoding="utf-8"), re.M))


# --------------------------------------------------------------------------- facts


def test_every_fact_and_milestone_cites_an_entry_of_references_bib():
    for row in MODEL_FACTS:
        assert row.cite in BIB_KEYS, f"{row.name}: {row.cite} is not in references.bib"
        if row.compute_source:
            assert row.compute_source.split(",")[0].split(":")[0] in BIB_KEYS, row.compute_source
    for m in MILESTONES:
        assert m.cite in BIB_KEYS, f"{m.event}: {m.cite} is not in references.bib"


def test_tables_are_in_time_order_with_unique_names():
    years = [r.year for r in MODEL_FACTS]
    assert years == sorted(years)
    assert [m.year for m in MILESTONES] == sorted(m.year for m in MILESTONES)
    names = [r.name for r in MODEL_FACTS]
    assert len(names) == len(set(names))
    assert all(r.where and r.train_data for r in MODEL_FACTS), "every row says where its number comes from"


def test_six_n_d_matches_every_stated_compute():
    stated = [r for r in MODEL_FACTS if r.stated_compute is not None]
    assert stated, "at least one row states its compute"
    for r in stated:
        assert training_flops(r.params, r.train_tokens) == pytest.approx(r.stated_compute, rel=0.05)


def test_training_flops_rejects_bad_input():
    assert training_flops(2, 3) == 36.0
    for bad in (0, -1, float("nan"), float("inf"), True, "1e9"):
        with pytest.raises(ValueError, match="positive finite"):
            training_flops(bad, 10)


def test_fact_lookup_and_its_error():
    assert fact("GPT-3").params == 175e9
    with pytest.raises(KeyError, match="LeNet-5"):
        fact("GPT-5")


def test_model_fact_validates_itself():
    with pytest.raises(ValueError, match="params"):
        ModelFact("x", 2000, 0, "k", "w", "vision", "d")
    with pytest.raises(ValueError, match="go together"):
        ModelFact("x", 2000, 1, "k", "w", "vision", "d", train_tokens=1, stated_compute=6.0)


def test_metric_values_and_plot():
    assert len(metric_values("params")) == len(MODEL_FACTS)
    with_tokens = metric_values("train_tokens")
    assert with_tokens and all(r.train_tokens == v for r, v in with_tokens)
    assert all(v == 6 * r.params * r.train_tokens for r, v in metric_values("compute_6nd"))
    with pytest.raises(ValueError, match="metric"):
        metric_values("flops")
    ax, months = plot_model_sizes("params")
    assert months is not None and 6 < months < 60
    assert ax.get_yscale() == "log"
    _, none = plot_model_sizes("params", years=(2020, 2020))  # one year: no trend line
    assert none is None
    with pytest.raises(ValueError, match="years"):
        plot_model_sizes("params", years=(2020, 2000))
    matplotlib.pyplot.close("all")


# --------------------------------------------------------------------------- parameter counts


def test_lenet_counts_equal_the_stated_numbers():
    assert sum(lenet1989_parameter_counts().values()) == fact("LeNet (zip codes)").params
    assert sum(lenet5_parameter_counts().values()) == fact("LeNet-5").params


@pytest.mark.parametrize("d, heads, d_ff", [(8, 2, None), (64, 4, None), (48, 6, 100)])
def test_transformer_block_count_matches_torch(d, heads, d_ff):
    layer = torch.nn.TransformerEncoderLayer(d_model=d, nhead=heads, dim_feedforward=d_ff or 4 * d)
    assert sum(p.numel() for p in layer.parameters()) == transformer_block_params(d, d_ff)


def test_gpt2_small_count_is_the_released_one():
    # the released GPT-2 small (12 layers, width 768) has 124,439,808 parameters
    assert gpt_params(12, 768, 50257, 1024) == 124_439_808


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_param_count_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="positive int"):
        gpt_params(bad, 64, 100, 16)
    with pytest.raises(ValueError, match="positive int"):
        transformer_block_params(bad)


# --------------------------------------------------------------------------- perceptron


def test_perceptron_separates_separable_data_and_cycles_on_xor():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = np.where(x @ np.array([1.0, -2.0, 0.5]) + 0.3 > 0, 1, -1)
    x = x + 0.3 * y[:, None] * np.array([1.0, -2.0, 0.5]) / np.linalg.norm([1.0, -2.0, 0.5])  # a margin
    p = Perceptron(3)
    mistakes = p.fit(x, y, epochs=500)
    assert mistakes[-1] == 0 and np.array_equal(p.predict(x), y)
    assert is_linearly_separable(x, y)
    xx, yx = xor_dataset()
    assert not is_linearly_separable(xx, yx)
    q = Perceptron(2)
    assert min(q.fit(xx, yx, epochs=50)) > 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=3, max_size=3), st.floats(0.01, 2.0))
def test_update_raises_the_score_by_lr_times_norm_plus_one(values, lr):
    x = np.array(values)
    p = Perceptron(3, lr=lr)
    p.w, p.b = np.array([0.5, -1.0, 0.25]), 0.1
    y = -1 if p.w @ x + p.b > 0 else 1
    before = y * (p.w @ x + p.b)
    assert p.update(x, y)
    assert y * (p.w @ x + p.b) - before == pytest.approx(lr * (x @ x + 1), rel=1e-9, abs=1e-9)


def test_correct_points_leave_the_weights_alone():
    p = Perceptron(2)
    p.w[:] = [1.0, 1.0]
    assert not p.update(np.array([1.0, 1.0]), 1)
    assert p.w.tolist() == [1.0, 1.0] and p.b == 0.0


def test_perceptron_input_errors_say_what_to_do():
    with pytest.raises(ValueError, match=r"2 \* y01 - 1"):
        check_signed_labels(np.zeros((3, 2)), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        check_signed_labels(np.zeros(3), np.array([1, -1, 1]))
    with pytest.raises(ValueError, match="shape"):
        check_signed_labels(np.zeros((3, 2)), np.array([1, -1]))
    with pytest.raises(ValueError, match="n_features"):
        Perceptron(0)
    with pytest.raises(ValueError, match="features"):
        Perceptron(3).fit(np.zeros((2, 2)), np.array([1, -1]))


def test_milestone_year_and_its_error():
    from labs.facts import milestone_year

    assert milestone_year("linnainmaa1970representation") == 1970 < milestone_year("rumelhart1986backprop")
    with pytest.raises(KeyError, match="no milestone cites"):
        milestone_year("nobody2000")


def test_html_table_escapes_and_checks_widths():
    from labs.facts import html_table

    html = html_table(["a", "b"], [["<x>", 1], ["y & z", 2.5]])
    assert html.startswith("<table>") and "&lt;x&gt;" in html and "y &amp; z" in html and html.count("<tr>") == 3
    with pytest.raises(ValueError, match="2 cells"):
        html_table(["a", "b"], [[1]])


def test_self_training_reports_rounds_and_rejects_bad_settings():
    from labs.data import load_digits
    from labs.self_training import self_training

    x, y, xt, yt = load_digits()
    out = self_training(x[:40], y[:40], x[40:400], xt, yt, threshold=0.8, rounds=2, y_pool=y[40:400])
    assert len(out["test_accuracy"]) == 3 and len(out["added"]) == len(out["pseudo_error"]) == 2
    assert all(0 <= e <= 1 for e in out["pseudo_error"])
    with pytest.raises(ValueError, match="threshold"):
        self_training(x[:40], y[:40], x[40:80], xt, yt, threshold=1.5)
    with pytest.raises(ValueError, match="rounds"):
        self_training(x[:40], y[:40], x[40:80], xt, yt, rounds=0)
