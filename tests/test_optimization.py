"""labs.optimization: every step rule against torch.optim (and labs.scratch.optim) on the
same 2-D problems, the surfaces' gradients, and the 1/B law of mini-batch noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.optimization import (
    METHODS,
    adam_step,
    adamw_step,
    fit_power_law,
    least_squares_surface,
    minibatch_gradient_noise,
    optimize,
    optimize_autograd,
    rosenbrock_surface,
    sgd_step,
)

SURFACES = {"quadratic": least_squares_surface(), "rosenbrock": rosenbrock_surface()}
# (method, learning rate, extra hyper-parameters): defaults and non-defaults.
RUNS = [
    ("gd", 1e-3, {}),
    ("momentum", 1e-3, {}),
    ("momentum", 5e-4, {"momentum": 0.5, "dampening": 0.1}),
    ("momentum", 5e-4, {"nesterov": True}),
    ("gd", 1e-3, {"weight_decay": 0.1}),
    ("adam", 0.05, {}),
    ("adam", 0.02, {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.3}),
    ("adamw", 0.05, {}),
    ("adamw", 0.02, {"weight_decay": 0.5, "betas": (0.8, 0.9)}),
]


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize("method,lr,hyper", RUNS, ids=[f"{m}-{lr}-{sorted(h)}" for m, lr, h in RUNS])
def test_step_rules_follow_torch_optim_for_200_steps(surface, method, lr, hyper):
    s = SURFACES[surface]
    ours = optimize(s, method, lr, 200, **hyper)
    theirs = optimize_autograd(s, method, lr, 200, library="torch", **hyper)
    assert np.all(np.isfinite(ours))
    # Same rule, so the same path up to rounding; a 1-ulp difference in one step can grow
    # over 200 steps on a curved valley, hence not bit-for-bit (the one-step test is tight).
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-9)
    assert np.linalg.norm(ours[-1] - ours[0]) > 1e-3, "the run must actually move"


@pytest.mark.parametrize("method,lr,hyper", RUNS[:2] + RUNS[5:6] + RUNS[7:8], ids=lambda v: str(v))
def test_step_rules_follow_labs_scratch_optim(method, lr, hyper):
    s = SURFACES["rosenbrock"]
    np.testing.assert_allclose(
        optimize(s, method, lr, 100, **hyper), optimize_autograd(s, method, lr, 100, library="labs.scratch", **hyper), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("library", ["torch", "labs.scratch"])
def test_minibatch_sgd_matches_the_library_on_the_same_batches(library):
    s = SURFACES["quadratic"]
    ours = optimize(s, "sgd", 0.03, 100, batch_size=8, seed=3)
    theirs = optimize_autograd(s, "sgd", 0.03, 100, batch_size=8, seed=3, library=library)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    # a different seed draws different batches, so a different path
    assert not np.allclose(ours, optimize(s, "sgd", 0.03, 100, batch_size=8, seed=4))


@pytest.mark.parametrize("method,hyper", [
    ("momentum", {"momentum": 0.7, "dampening": 0.2}), ("momentum", {"nesterov": True, "weight_decay": 0.1}),
    ("adam", {"betas": (0.5, 0.9), "eps": 1e-3}), ("adam", {"weight_decay": 0.3}),
    ("adamw", {"betas": (0.8, 0.99), "weight_decay": 0.5}),
])
def test_three_steps_from_random_points_match_torch_to_rounding(method, hyper):
    rng = np.random.default_rng(1)
    step, defaults, name = METHODS[method]
    options = {**defaults, **hyper}
    p0 = rng.normal(size=5)
    pt = torch.tensor(p0, requires_grad=True)
    opt = getattr(torch.optim, name)([pt], lr=0.1, **options)
    p, state = p0.copy(), {}
    for _ in range(3):
        g = rng.normal(size=5) * rng.uniform(0.01, 10)
        pt.grad = torch.tensor(g)
        opt.step()
        p = step(p, g, state, lr=0.1, **options)
        np.testing.assert_allclose(p, pt.detach().numpy(), rtol=1e-13, atol=1e-15)


def test_surface_gradients_match_autograd():
    rng = np.random.default_rng(0)
    for s in SURFACES.values():
        for _ in range(5):
            p = rng.uniform(-1.5, 1.5, size=2)
            pt = torch.tensor(p, requires_grad=True)
            s.loss(pt).backward()
            np.testing.assert_allclose(s.grad(p), pt.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(s.grad(s.minimum), 0.0, atol=1e-9)


def test_least_squares_surface_is_the_data_loss_with_the_asked_condition_number():
    s = least_squares_surface(condition=40.0, angle_deg=10.0)
    eig = np.linalg.eigvalsh(s.hessian)
    np.testing.assert_allclose(eig, [1.0, 40.0], rtol=1e-10)
    p = np.array([0.3, -0.7])
    np.testing.assert_allclose(s.loss(p), 0.5 * np.mean((s.X @ p - s.y) ** 2), rtol=1e-10)
    np.testing.assert_allclose(s.batch_grad(p, np.arange(s.n_samples)), s.grad(p), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.per_sample_grads(p).mean(axis=0), s.grad(p), rtol=1e-10, atol=1e-12)


def test_gradient_descent_converges_below_two_over_lambda_max_and_diverges_above():
    s = SURFACES["quadratic"]
    lam_max = np.linalg.eigvalsh(s.hessian).max()
    below = optimize(s, "gd", 1.9 / lam_max, 300)
    above = optimize(s, "gd", 2.1 / lam_max, 300)
    assert np.linalg.norm(below[-1] - s.minimum) < 1e-6
    assert not np.all(np.isfinite(above)) or np.linalg.norm(above[-1] - s.minimum) > 1e3


def test_adamw_decay_is_decoupled_and_adam_l2_is_not():
    p = np.array([2.0, -3.0])
    g = np.array([0.5, 40.0])
    lr, wd = 0.1, 0.2
    # AdamW: the update with decay minus the update without it is exactly -lr*wd*p (times the decayed p's effect)
    with_decay = adamw_step(p, g, {}, lr=lr, weight_decay=wd)
    without = adamw_step(p, g, {}, lr=lr, weight_decay=0.0)
    np.testing.assert_allclose(with_decay - without, -lr * wd * p, rtol=1e-12)
    # Adam + L2: the decay goes through 1/sqrt(v_hat), so its effect is not proportional to p
    a_with = adam_step(p, g, {}, lr=lr, weight_decay=wd)
    a_without = adam_step(p, g, {}, lr=lr)
    ratio = (a_with - a_without) / (-lr * wd * p)
    assert not np.allclose(ratio, ratio[0])


def test_momentum_buffer_starts_at_the_first_gradient_like_torch():
    state: dict = {}
    p = sgd_step(np.zeros(2), np.array([1.0, 2.0]), state, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(p, [-0.1, -0.2])
    np.testing.assert_allclose(state["momentum_buffer"], [1.0, 2.0])


def test_minibatch_noise_follows_one_over_b():
    s = SURFACES["quadratic"]
    res = minibatch_gradient_noise(s, s.start, [1, 2, 4, 8, 16, 32], draws=3000, seed=0)
    slope, _ = fit_power_law(res["batch_sizes"], res["measured"])
    assert -1.15 < slope < -0.85
    np.testing.assert_allclose(res["measured"], res["predicted"], rtol=0.2)
    full = minibatch_gradient_noise(s, s.start, [s.n_samples], draws=5)
    assert full["measured"][0] < 1e-20 and full["predicted"][0] == 0.0  # the whole data set has no noise


def test_fit_power_law_recovers_a_known_law():
    x = np.array([1.0, 2, 4, 8, 16])
    slope, c = fit_power_law(x, 3.0 * x**-1.0)
    assert slope == pytest.approx(-1.0) and c == pytest.approx(3.0)
    with pytest.raises(ValueError, match="positive"):
        fit_power_law(x, -x)


def test_bad_inputs_say_what_was_expected():
    s = SURFACES["quadratic"]
    with pytest.raises(ValueError, match="unknown method 'rmsprop'"):
        optimize(s, "rmsprop", 0.1, 10)
    with pytest.raises(ValueError, match="lr must be positive"):
        optimize(s, "gd", -0.1, 10)
    with pytest.raises(TypeError, match="lr must be a number"):
        sgd_step(np.zeros(2), np.zeros(2), {}, lr="0.1")
    with pytest.raises(ValueError, match="same shape"):
        sgd_step(np.zeros(2), np.zeros(3), {}, lr=0.1)
    with pytest.raises(ValueError, match="needs a surface with data"):
        optimize(SURFACES["rosenbrock"], "sgd", 0.1, 10, batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        optimize(s, "sgd", 0.1, 10)
    with pytest.raises(ValueError, match="library"):
        optimize_autograd(s, "gd", 0.1, 10, library="jax")
    assert set(METHODS) == {"gd", "sgd", "momentum", "adam", "adamw"}


def test_adagrad_step_follows_torch_optim_adagrad():
    from labs.optimization import adagrad_step

    rng = np.random.default_rng(0)
    p0 = rng.normal(size=3)
    pt = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.Adagrad([pt], lr=0.3)
    p, state = p0.copy(), {}
    for k in range(6):
        g = rng.normal(size=3) * (10.0 ** (k % 3 - 1))
        pt.grad = torch.tensor(g)
        opt.step()
        p = adagrad_step(p, g, state, lr=0.3)
        assert np.allclose(p, pt.detach().numpy(), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="lr must be positive"):
        adagrad_step(p, p, {}, lr=0.0)
