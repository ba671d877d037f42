"""labs.explain: each method against its axiom, a closed form, and the field's library (Captum, shap)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from labs import explain


def _net(seed=0, dtype=torch.float64, inputs=16):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, 12), nn.Tanh(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)


def _image(seed=1):
    return torch.rand(1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_saliency_is_the_gradient_and_for_a_linear_model_its_weights():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    x = _image()
    sal = explain.gradient_saliency(lin, x, 2)
    assert torch.allclose(sal.reshape(-1), lin[1].weight[2])
    net = _net()
    eps, i = 1e-6, (0, 1, 2)
    bumped = x.clone()
    bumped[i] += eps
    with torch.no_grad():
        fd = (net(bumped[None])[0, 1] - net(x[None])[0, 1]) / eps
    assert math.isclose(float(explain.gradient_saliency(net, x, 1)[i]), float(fd), rel_tol=1e-4, abs_tol=1e-8)


@pytest.mark.parametrize("rule", ["trapezoid", "midpoint"])
def test_integrated_gradients_completeness_error_shrinks_with_steps(rule):
    net, x = _net(), _image()
    baseline = torch.full_like(x, 0.2)
    gaps = [explain.completeness_gap(net, x, 0, explain.integrated_gradients(net, x, 0, baseline, steps=s, rule=rule),
                                     baseline) for s in (4, 16, 64, 256)]
    assert gaps[-1] < 1e-4 and gaps[-1] < gaps[0] / 20, gaps


def test_integrated_gradients_of_a_linear_model_is_exact_at_any_step_count():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    x, b = _image(), _image(2)
    attr = explain.integrated_gradients(lin, x, 1, b, steps=2)
    assert torch.allclose(attr.reshape(-1), lin[1].weight[1] * (x - b).reshape(-1))


def test_quadrature_weights_sum_to_one_and_bad_input_is_named():
    for rule in ("trapezoid", "midpoint"):
        alphas, w = explain.ig_path(7, rule)
        assert math.isclose(w.sum(), 1.0) and alphas.min() >= 0 and alphas.max() <= 1
    with pytest.raises(ValueError, match="at least 2"):
        explain.ig_path(1, "trapezoid")
    with pytest.raises(ValueError, match="rule"):
        explain.ig_path(8, "simpson")
    with pytest.raises(TypeError, match="floating-point"):
        explain.integrated_gradients(_net(), torch.ones(1, 4, 4, dtype=torch.int64), 0)
    with pytest.raises(ValueError, match="class index"):
        explain.integrated_gradients(_net(), _image(), 7)
    with pytest.raises(ValueError, match="baseline must have"):
        explain.integrated_gradients(_net(), _image(), 0, torch.zeros(16))


def test_integrated_gradients_equals_captum():
    attr_mod = pytest.importorskip("captum.attr", reason="captum is not installed: pip install captum")
    net, x = _net(), _image()
    baseline = torch.full_like(x, 0.1)
    ig = attr_mod.IntegratedGradients(net)

    def captum(method, steps):
        return ig.attribute(x[None], baselines=baseline[None], target=2, n_steps=steps, method=method)[0]

    # the same points and weights (Captum builds its alphas in float32, hence rtol 1e-6)
    ours = explain.integrated_gradients(net, x, 2, baseline, steps=32, rule="midpoint")
    assert torch.allclose(ours, captum("riemann_middle", 32), rtol=1e-6, atol=1e-9)
    # Captum's trapezoid weights are 1/n (ends halved), summing to (n - 1)/n, not 1: its result is
    # ours times (n - 1)/n, so it misses completeness by a fraction 1/n of score(x) - score(b)
    ours = explain.integrated_gradients(net, x, 2, baseline, steps=32, rule="trapezoid")
    assert torch.allclose(ours * 31 / 32, captum("riemann_trapezoid", 32), rtol=1e-6, atol=1e-9)
    # Captum's default, Gauss-Legendre, converges to the same integral (slowly across ReLU kinks)
    fine = explain.integrated_gradients(net, x, 2, baseline, steps=512)
    assert (fine - captum("gausslegendre", 64)).abs().max() < 1e-3 * fine.abs().max()


def _additive_plus_pairs(n, seed):
    """A game with a closed-form Shapley value: v(S) = sum_{i in S} a_i + sum_{pairs in S} b_ij,
    whose phi_i = a_i + sum_j b_ij / 2 (each pair's surplus split equally)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), np.triu(rng.normal(size=(n, n)), 1)

    def value(masks):
        z = np.asarray(masks, dtype=float)
        return z @ a + np.einsum("si,ij,sj->s", z, b, z)

    return value, a + (b.sum(0) + b.sum(1)) / 2


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.integers(0, 10_000))
def test_exact_shapley_matches_the_closed_form_and_is_efficient(n, seed):
    value, expected = _additive_plus_pairs(n, seed)
    phi = explain.exact_shapley(value, n)
    assert np.allclose(phi, expected)
    ends = value(np.array([np.zeros(n, bool), np.ones(n, bool)]))
    assert math.isclose(phi.sum(), ends[1] - ends[0], abs_tol=1e-9)


def test_shapley_symmetry_and_dummy():
    # players 0 and 1 are interchangeable, player 2 never changes the value
    def value(masks):
        z = np.asarray(masks, dtype=float)
        return 3 * z[:, 0] * z[:, 1] + z[:, 0] + z[:, 1] + 0 * z[:, 2]

    phi = explain.exact_shapley(value, 3)
    assert math.isclose(phi[0], phi[1]) and abs(phi[2]) < 1e-12


def test_kernel_shap_on_every_coalition_equals_exact_shapley():
    value, expected = _additive_plus_pairs(6, 3)

    def cubic(masks):  # add a three-way interaction, so the game is not quadratic
        z = np.asarray(masks, dtype=float)
        return value(masks) + 2 * z[:, 0] * z[:, 2] * z[:, 4]

    exact = explain.exact_shapley(cubic, 6)
    kernel = explain.local_linear_surrogate(cubic, 6, kernel="shapley", masks=explain.all_coalitions(6), ridge=0.0)
    assert np.allclose(kernel, exact, atol=1e-9)


def test_lime_recovers_an_additive_model():
    rng = np.random.default_rng(0)
    a = rng.normal(size=10)
    coef = explain.local_linear_surrogate(lambda m: np.asarray(m, float) @ a + 5.0, 10, np.random.default_rng(1),
                                          n_samples=400)
    assert np.allclose(coef, a, atol=1e-4)


def test_shapley_equals_shap():
    shap = pytest.importorskip("shap", reason="shap is not installed: pip install shap")
    net = _net(dtype=torch.float32, inputs=8)
    x = torch.rand(1, 2, 4, generator=torch.Generator().manual_seed(3))
    patches = explain.patch_masks((2, 4), 1)  # 8 one-pixel features
    value_fn = explain.masked_images(net, x, 1, patches)
    ours = explain.exact_shapley(value_fn, len(patches))
    # shap sees the features as on/off switches: 1 keeps a pixel, the background 0 removes it.
    # KernelExplainer with nsamples >= 2**8 - 2 enumerates every coalition, so it is exact
    # (shap.explainers.Exact agrees too, but compiles for about 40 s first).
    explainer = shap.KernelExplainer(lambda z: value_fn(np.asarray(z) > 0.5), np.zeros((1, len(patches))))
    theirs = np.ravel(explainer.shap_values(np.ones((1, len(patches))), nsamples=2 ** len(patches), silent=True))
    assert np.allclose(ours, theirs, atol=1e-6)
    assert np.allclose(ours, explain.local_linear_surrogate(value_fn, len(patches), kernel="shapley",
                                                            masks=explain.all_coalitions(len(patches)), ridge=0.0),
                       atol=1e-6)


def test_masked_images_keeps_and_removes_patches():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).double()
    x = _image()
    patches = explain.patch_masks((4, 4), 2)
    assert patches.shape == (4, 4, 4) and patches.sum(0).min() == 1 == patches.sum(0).max()
    value_fn = explain.masked_images(lin, x, 0, patches)
    masks = np.array([[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]], bool)
    kept = torch.stack([torch.where(torch.as_tensor(patches[m].any(0)), x, torch.zeros_like(x)) for m in masks])
    with torch.no_grad():
        assert np.allclose(value_fn(masks), lin(kept)[:, 0].numpy())
    with pytest.raises(ValueError, match="masks should have shape"):
        value_fn(np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="does not split"):
        explain.patch_masks((8, 8), 3)


def test_occlusion_is_leave_one_out():
    weights = np.array([0.0, 2.0, -1.0, 0.5])

    def score(batch):
        return (np.asarray(batch) * weights).sum(1)

    ids = np.array([3, 1, 2, 0])
    drop = explain.occlusion_importance(score, ids, fill=0)
    assert np.allclose(drop, ids * weights)
    with pytest.raises(ValueError, match="one sequence"):
        explain.occlusion_importance(score, ids[None], 0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=3, max_size=20), st.integers(0, 1000))
def test_spearman_agrees_with_scipy(values, seed):
    from scipy.stats import spearmanr

    a = np.array(values, float)
    b = np.random.default_rng(seed).normal(size=len(a))
    if np.ptp(a) == 0:
        with pytest.raises(ValueError, match="constant"):
            explain.spearman(a, b)
        return
    assert math.isclose(explain.spearman(a, b), spearmanr(a, b).statistic, abs_tol=1e-12)
