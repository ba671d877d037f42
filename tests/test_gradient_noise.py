"""labs.gradient_noise: unbiased pieces, 1/B variance, and a real model's microbatch gradients."""

import numpy as np
import pytest
import torch

from labs.gradient_noise import gradient_variance_by_batch, microbatch_gradients, noise_scale, steps_and_examples


def _draw(rng, G, sigma, k, b):
    return (G + sigma * rng.normal(size=(k, b, len(G)))).mean(axis=1)


def test_noise_scale_is_unbiased():
    rng = np.random.default_rng(0)
    G, sigma = rng.normal(size=40), np.full(40, 2.0)
    est = np.array([[noise_scale(_draw(rng, G, sigma, 8, 4), 4)[k] for k in ("G2", "trace")] for _ in range(500)]).mean(0)
    assert abs(est[0] / (G @ G) - 1) < 0.05 and abs(est[1] / (sigma @ sigma) - 1) < 0.03


def test_variance_shrinks_as_one_over_batch():
    rng = np.random.default_rng(1)
    G, sigma = rng.normal(size=30), np.full(30, 1.5)
    var = {B: [] for B in (2, 4, 8)}
    for _ in range(300):
        for B, v in gradient_variance_by_batch(_draw(rng, G, sigma, 16, 2), 2, groups=(1, 2, 4)).items():
            var[B].append(v)
    for B, values in var.items():
        assert abs(np.mean(values) / (sigma @ sigma / B) - 1) < 0.05


def test_microbatch_gradients_average_to_the_full_batch_gradient():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2).double()
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 2, (8,))
    loss = torch.nn.functional.cross_entropy
    rows = microbatch_gradients(model, loss, [(x[i:i + 2], y[i:i + 2]) for i in range(0, 8, 2)])
    full = torch.autograd.grad(loss(model(x), y), list(model.parameters()))
    assert np.allclose(rows.mean(0), torch.cat([g.reshape(-1) for g in full]).numpy(), atol=1e-14)
    with pytest.raises(ValueError, match="same size"):
        microbatch_gradients(model, loss, [(x[:2], y[:2]), (x[:3], y[:3])])


def test_steps_and_examples_tradeoff():
    S, E = steps_and_examples([1.0, 10.0, 100.0], 10.0)
    assert np.allclose(S, [11, 2, 1.1]) and np.allclose(E, [1.1, 2, 11])
    assert np.allclose((S - 1) * (E - 1), 1.0)  # McCandlish et al.'s hyperbola
