"""DP-SGD in two engines (float64, the same step), its accountant against Opacus, per-sample
gradients against Opacus's GradSampleModule, and the membership-inference measures against
scikit-learn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import labs.privacy as P
import labs.scratch as S
import labs.scratch.privacy as SP
from labs.dp_accountant import (dp_epsilon, log_a_sampled_gaussian, membership_advantage_bound, poisson_batch,
                                rdp_sampled_gaussian, rdp_to_epsilon, rdp_to_epsilon_classic)
from labs.membership import loss_threshold_attack, membership_advantage, membership_auc
from labs.models.mlp import MLP
from labs.scratch.models.mlp import MLP as ScratchMLP


def _twins(seed=0):
    S.manual_seed(seed)
    ours = ScratchMLP(6, 3, hidden=5).double()
    theirs = MLP(6, 3, hidden=5).double()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float64)) for k, v in ours.state_dict().items()})
    return ours, theirs


def _batch(n=9, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)) * 3, rng.integers(0, 3, size=n)


# ----------------------------------------------------------------------------- per-sample gradients


def test_torch_per_sample_grads_equal_the_engines_primitive():
    ours, theirs = _twins()
    x, y = _batch()
    got = P.per_sample_grads(theirs, F.cross_entropy, torch.tensor(x), torch.tensor(y))
    expected = S.per_sample_grads(ours, S.F.cross_entropy, x, y)
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_allclose(got[name].numpy(), expected[name], rtol=1e-11, atol=1e-13, err_msg=name)


def test_per_sample_grads_equal_opacus_grad_sample_module():
    opacus = pytest.importorskip("opacus", reason="opacus is not installed: pip install opacus to cross-check")
    _, theirs = _twins()
    x, y = _batch(n=7)
    expected = P.per_sample_grads(theirs, F.cross_entropy, torch.tensor(x), torch.tensor(y))
    wrapped = opacus.GradSampleModule(theirs, loss_reduction="mean")  # it undoes the mean's 1/B
    with warnings.catch_warnings():  # the inputs need no grad, which Opacus's hooks remark on
        warnings.simplefilter("ignore", UserWarning)
        F.cross_entropy(wrapped(torch.tensor(x)), torch.tensor(y)).backward()
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(p.grad_sample.numpy(), expected[name].numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


# ----------------------------------------------------------------------------- clipping and the step


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 10.0), st.integers(0, 2**31 - 1))
def test_clipping_bounds_every_example_and_keeps_small_ones(max_norm, seed):
    rng = np.random.default_rng(seed)
    grads = {"w": rng.standard_normal((6, 3, 2)) * rng.uniform(0.001, 5.0), "b": rng.standard_normal((6, 2))}
    grads["w"][0] = 0.0
    grads["b"][0] = 0.0  # an all-zero gradient must not divide by zero
    clipped, norms = SP.clip_per_sample(grads, max_norm)
    new_norms = np.sqrt(sum((g.reshape(6, -1) ** 2).sum(axis=1) for g in clipped.values()))
    assert np.all(new_norms <= max_norm * (1 + 1e-12))
    small = norms <= max_norm
    np.testing.assert_allclose(new_norms[small], norms[small])  # untouched below the bound
    np.testing.assert_allclose(new_norms[~small], max_norm)  # exactly on it above
    torch_clipped, torch_norms = P.clip_per_sample({k: torch.from_numpy(v) for k, v in grads.items()}, max_norm)
    np.testing.assert_allclose(torch_norms.numpy(), norms)
    for k in grads:
        np.testing.assert_allclose(torch_clipped[k].numpy(), clipped[k], rtol=1e-13, atol=1e-15)


def test_one_dp_sgd_step_is_the_same_in_both_engines_float64():
    ours, theirs = _twins()
    x, y = _batch()
    kw = dict(lr=0.3, max_norm=0.5, noise_multiplier=1.3, expected_batch_size=8.0)
    n_ours = SP.dp_sgd_step(ours, S.F.cross_entropy, S.tensor(x), S.tensor(y), rng=np.random.default_rng(4), **kw)
    n_theirs = P.dp_sgd_step(theirs, F.cross_entropy, torch.tensor(x), torch.tensor(y), rng=np.random.default_rng(4), **kw)
    np.testing.assert_allclose(n_theirs.numpy(), n_ours, rtol=1e-11)
    assert np.all(n_ours > kw["max_norm"])  # the clipping was active, so the test tests it
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), ours.state_dict()[name], rtol=1e-11, atol=1e-13, err_msg=name)


def test_the_step_is_the_formula():
    """theta - lr (sum_i clip(g_i) + sigma C z) / (q N), with z drawn from the same generator."""
    _, theirs = _twins()
    x, y = _batch()
    before = {n: p.detach().clone() for n, p in theirs.named_parameters()}
    g = P.per_sample_grads(theirs, F.cross_entropy, torch.tensor(x), torch.tensor(y))
    flat = torch.cat([v.flatten(1) for v in g.values()], dim=1)
    factor = torch.clamp(0.5 / flat.norm(dim=1), max=1.0)
    rng = np.random.default_rng(9)
    z = {n: torch.from_numpy(rng.standard_normal(p.shape)) for n, p in theirs.named_parameters()}
    P.dp_sgd_step(theirs, F.cross_entropy, torch.tensor(x), torch.tensor(y), lr=0.2, max_norm=0.5,
                  noise_multiplier=2.0, expected_batch_size=10.0, rng=np.random.default_rng(9))
    for n, p in theirs.named_parameters():
        clipped_sum = (g[n] * factor.reshape(-1, *[1] * (g[n].ndim - 1))).sum(0)
        expected = before[n] - 0.2 * (clipped_sum + 2.0 * 0.5 * z[n]) / 10.0
        torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-14)


def test_opacus_dp_optimizer_without_noise_takes_the_same_step():
    opacus = pytest.importorskip("opacus", reason="opacus is not installed: pip install opacus to cross-check")
    from opacus.optimizers import DPOptimizer

    _, ours = _twins()
    _, theirs = _twins()
    x, y = _batch()
    P.dp_sgd_step(ours, F.cross_entropy, torch.tensor(x), torch.tensor(y), lr=0.3, max_norm=0.5, noise_multiplier=0.0,
                  expected_batch_size=len(x), rng=np.random.default_rng(0))
    wrapped = opacus.GradSampleModule(theirs)
    opt = DPOptimizer(torch.optim.SGD(theirs.parameters(), lr=0.3), noise_multiplier=0.0, max_grad_norm=0.5,
                      expected_batch_size=len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        F.cross_entropy(wrapped(torch.tensor(x)), torch.tensor(y)).backward()
    opt.step()
    for (n, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
        # Opacus clips by C / (norm + 1e-6): a relative difference of about 1e-6 / norm
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-7, err_msg=n)


def test_empty_poisson_batch_only_adds_noise():
    ours, theirs = _twins()
    empty_x, empty_y = np.zeros((0, 6)), np.zeros(0, dtype=np.int64)
    before = {n: p.detach().clone() for n, p in theirs.named_parameters()}
    P.dp_sgd_step(theirs, F.cross_entropy, torch.tensor(empty_x), torch.tensor(empty_y), lr=1.0, max_norm=1.0,
                  noise_multiplier=1.0, expected_batch_size=4.0, rng=np.random.default_rng(0))
    SP.dp_sgd_step(ours, S.F.cross_entropy, S.tensor(empty_x), S.tensor(empty_y), lr=1.0, max_norm=1.0,
                   noise_multiplier=1.0, expected_batch_size=4.0, rng=np.random.default_rng(0))
    for n, p in theirs.named_parameters():
        assert not torch.equal(p.detach(), before[n])
        np.testing.assert_allclose(p.detach().numpy(), ours.state_dict()[n], rtol=1e-12)


def test_training_loops_agree_across_engines():
    ours, theirs = _twins()
    x, y = _batch(n=30, seed=3)
    kw = dict(steps=5, sample_rate=0.3, lr=0.2, max_norm=1.0, noise_multiplier=0.8, seed=2)
    SP.train_dp_sgd(ours, x, y, **kw)
    P.train_dp_sgd(theirs, torch.tensor(x), torch.tensor(y), **kw)
    for n, p in theirs.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), ours.state_dict()[n], rtol=1e-10, atol=1e-12, err_msg=n)


def test_bad_arguments_say_what_is_wrong():
    _, theirs = _twins()
    x, y = torch.zeros(3, 6, dtype=torch.float64), torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="clip norm"):
        P.dp_sgd_step(theirs, F.cross_entropy, x, y, lr=0.1, max_norm=None, noise_multiplier=1.0,
                      expected_batch_size=3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="max_norm"):
        P.clip_per_sample({"w": torch.ones(2, 3)}, 0.0)
    with pytest.raises(ValueError, match="same batch size"):
        P.per_sample_grads(theirs, F.cross_entropy, x, y[:2])
    with pytest.raises(ValueError, match="expected_batch_size"):
        P.dp_sgd_step(theirs, F.cross_entropy, x, y, lr=0.1, max_norm=1.0, noise_multiplier=1.0,
                      expected_batch_size=0, rng=np.random.default_rng(0))


def test_poisson_batches_have_the_expected_size():
    rng = np.random.default_rng(0)
    sizes = [len(poisson_batch(1000, 0.05, rng)) for _ in range(400)]
    assert abs(np.mean(sizes) - 50) < 3 * math.sqrt(1000 * 0.05 * 0.95 / 400)


# ----------------------------------------------------------------------------- the accountant


@pytest.mark.parametrize("sigma,q,steps", [(1.0, 0.01, 1000), (0.8, 0.05, 300), (2.0, 0.2, 50), (4.0, 0.004, 10_000)])
def test_epsilon_equals_opacus_rdp_accountant(sigma, q, steps):
    pytest.importorskip("opacus", reason="opacus is not installed: pip install opacus to cross-check")
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    for _ in range(3):  # Opacus merges repeated steps into its history; several calls, same result
        acc.step(noise_multiplier=sigma, sample_rate=q)
    acc.history = [(sigma, q, steps)]
    orders = list(range(2, 256))
    assert dp_epsilon(sigma, q, steps, 1e-5) == pytest.approx(acc.get_epsilon(1e-5, alphas=orders), rel=1e-9)
    # Opacus's default orders include fractional ones, so its epsilon can be a little lower
    assert acc.get_epsilon(1e-5) <= dp_epsilon(sigma, q, steps, 1e-5) * 1.05


def test_full_batch_is_the_gaussian_mechanism():
    """q = 1: RDP(alpha) = alpha / (2 sigma^2) per step, the Gaussian mechanism's closed form."""
    orders = np.arange(2, 40)
    np.testing.assert_allclose(rdp_sampled_gaussian(1.7, 1.0, 3, orders), 3 * orders / (2 * 1.7**2), rtol=1e-12)
    assert log_a_sampled_gaussian(0.0, 1.0, 5) == 0.0


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 8.0), st.floats(1e-4, 0.5), st.integers(1, 2000))
def test_epsilon_behaves(sigma, q, steps):
    orders = list(range(2, 256))
    rdp = rdp_sampled_gaussian(sigma, q, steps, orders)
    eps, _ = rdp_to_epsilon(orders, rdp, 1e-5)
    assert eps <= rdp_to_epsilon_classic(orders, rdp, 1e-5)[0] + 1e-12
    # more noise, fewer steps or a smaller sampling rate never spends more
    assert rdp_to_epsilon(orders, rdp_sampled_gaussian(sigma * 1.5, q, steps, orders), 1e-5)[0] <= eps + 1e-12
    assert rdp_to_epsilon(orders, rdp_sampled_gaussian(sigma, q / 2, steps, orders), 1e-5)[0] <= eps + 1e-12
    assert rdp_to_epsilon(orders, 2 * rdp, 1e-5)[0] >= eps - 1e-12  # composition adds RDP


def test_accountant_errors():
    with pytest.raises(ValueError, match="noise_multiplier"):
        dp_epsilon(0.0, 0.1, 10, 1e-5)
    with pytest.raises(ValueError, match="sample_rate"):
        dp_epsilon(1.0, 1.5, 10, 1e-5)
    with pytest.raises(ValueError, match="delta"):
        dp_epsilon(1.0, 0.1, 10, 0.0)
    with pytest.raises(ValueError, match="largest"):
        dp_epsilon(50.0, 0.001, 1, 1e-5, orders=range(2, 8))


def test_advantage_bound():
    for eps in (0.1, 1.0, 3.0):
        assert membership_advantage_bound(eps) == pytest.approx(math.tanh(eps / 2), rel=1e-12)
        assert membership_advantage_bound(eps, 1e-3) > membership_advantage_bound(eps)
    assert membership_advantage_bound(math.inf) == 1.0


# ----------------------------------------------------------------------------- membership inference


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(0, 2**31 - 1), st.booleans())
def test_auc_equals_sklearn(n_m, n_n, seed, ties):
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(seed)
    m, n = rng.standard_normal(n_m) + 0.5, rng.standard_normal(n_n)
    if ties:
        m, n = np.round(m), np.round(n)
    labels = np.r_[np.ones(n_m), np.zeros(n_n)]
    assert membership_auc(m, n) == pytest.approx(roc_auc_score(labels, np.r_[m, n]), abs=1e-12)
    fpr, tpr, _ = roc_curve(labels, np.r_[m, n])
    assert membership_advantage(m, n) == pytest.approx(max(0.0, float(np.max(tpr - fpr))), abs=1e-12)


def test_attack_reads_losses_and_refuses_nan():
    r = loss_threshold_attack([0.0, 0.1, 0.2], [1.0, 2.0, 0.15])
    assert r["auc"] == pytest.approx(8 / 9)
    assert r["advantage"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="finite"):
        loss_threshold_attack([0.1, float("nan")], [1.0])
    with pytest.raises(ValueError, match="at least one"):
        membership_auc([], [1.0])
