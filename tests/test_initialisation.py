"""labs.initialisation: the schemes draw what they claim, and the variance formula holds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import labs.scratch as scratch
from labs.initialisation import SCHEMES, activation_stats, init_std, initialise_, predicted_growth
from labs.scratch.models.mlp_classifier import MLPClassifier


def test_closed_forms():
    assert init_std("Kaiming", 128) == pytest.approx(math.sqrt(2 / 128))
    assert init_std("PyTorch default", 300) == pytest.approx(1 / math.sqrt(900))
    assert init_std("too small", 50) == 0.01 and init_std("too large", 50) == 1.0
    assert predicted_growth("Kaiming", 77) == pytest.approx(1.0)
    assert predicted_growth("PyTorch default", 128) == pytest.approx(math.sqrt(1 / 6))
    assert predicted_growth("Kaiming", 64, gain=2.0) == pytest.approx(2.0)


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_initialise_draws_the_stated_standard_deviation_and_zero_biases(scheme):
    scratch.manual_seed(0)
    net = initialise_(MLPClassifier([400, 300, 10]), scheme)
    first = net[0]
    assert first.weight.data.std() == pytest.approx(init_std(scheme, 400), rel=0.02)
    assert np.all(first.bias.data == 0)
    if scheme == "PyTorch default":
        assert np.abs(first.weight.data).max() <= 1 / math.sqrt(400) + 1e-7


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_measured_growth_matches_the_formula(scheme):
    scratch.manual_seed(0)
    width = 256
    net = initialise_(MLPClassifier([32] + [width] * 5 + [10]), scheme)
    x = np.random.default_rng(0).normal(size=(512, 32)).astype(np.float32)
    with np.errstate(over="ignore"):
        rms = np.array(activation_stats(net, x)["rms"])
    growth = np.exp(np.mean(np.diff(np.log(rms[1:]))))
    assert growth == pytest.approx(predicted_growth(scheme, width), rel=0.1)


def test_activation_stats_reports_every_linear_layer():
    scratch.manual_seed(0)
    net = MLPClassifier([8, 16, 16, 3])
    stats = activation_stats(net, np.ones((4, 8), dtype=np.float32))
    assert [len(v) for v in stats.values()] == [3, 3, 3, 3]
    assert stats["values"][0].shape == (4, 16) and stats["values"][-1].shape == (4, 3)
    assert np.all(stats["values"][0] >= 0)  # after the ReLU
    assert all(0.0 <= d <= 1.0 for d in stats["dead"])


def test_errors_name_the_choices():
    with pytest.raises(ValueError, match="Kaiming"):
        init_std("xavier", 10)
    with pytest.raises(ValueError, match="fan_in"):
        init_std("Kaiming", 0)
    with pytest.raises(ValueError, match="gain"):
        init_std("Kaiming", 10, gain=0)
    with pytest.raises(ValueError, match="no nn.Linear"):
        initialise_(scratch.nn.Sequential(scratch.nn.ReLU()), "Kaiming")
