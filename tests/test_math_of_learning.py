"""Chapter 3's formulas (labs.activations, labs.losses, labs.backprop_by_hand,
labs.regression) against PyTorch and the NumPy engine labs.scratch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import labs.scratch as scratch
from labs import activations as act
from labs import backprop_by_hand as bp
from labs import losses
from labs import regression as reg

Z = np.concatenate([np.linspace(-12, 12, 97), [-0.5, 1e-3, 0.7]])
TORCH_FN = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "gelu": F.gelu}
SCRATCH_FN = {"sigmoid": scratch.F.sigmoid, "tanh": scratch.F.tanh, "relu": scratch.F.relu, "gelu": scratch.F.gelu}


@pytest.mark.parametrize("name", list(act.ACTIVATIONS))
def test_activation_and_derivative_match_torch_autograd(name):
    a = act.ACTIVATIONS[name]
    zt = torch.tensor(Z, requires_grad=True)
    out = TORCH_FN[name](zt)
    out.sum().backward()
    np.testing.assert_allclose(a.f(Z), out.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.derivative(Z), zt.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", list(act.ACTIVATIONS))
def test_derivative_matches_labs_scratch_autograd(name):
    zs = scratch.tensor(Z, requires_grad=True)
    SCRATCH_FN[name](zs).sum().backward()
    np.testing.assert_allclose(act.ACTIVATIONS[name].derivative(Z), zs.grad, rtol=1e-9, atol=1e-12)


def test_sigmoid_does_not_overflow_and_saturation_is_where_the_derivative_is_small():
    with np.errstate(over="raise", invalid="raise"):
        s = act.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])
    assert act.saturated("sigmoid", 10.0) and not act.saturated("sigmoid", 0.0)
    assert act.saturated("relu", -0.1) and not act.saturated("relu", 0.1)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        act.saturated("swish", 0.0)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-1e4, 1e4)))
def test_stable_softmax_and_logsumexp_match_torch_for_any_logits(z):
    zt = torch.tensor(z)
    np.testing.assert_allclose(losses.softmax(z), torch.softmax(zt, dim=-1).numpy(), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(losses.logsumexp(z), torch.logsumexp(zt, dim=-1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(losses.log_softmax(z), torch.log_softmax(zt, dim=-1).numpy(), rtol=1e-10, atol=1e-9)


def test_naive_softmax_overflows_at_1e3_and_the_stable_one_does_not():
    z = np.array([1000.0, 999.0, 0.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        naive = losses.softmax_naive(z)
    assert any("overflow" in str(w.message) for w in caught)
    assert np.isnan(naive).any()
    assert np.all(np.isfinite(losses.softmax(z)))


def test_cross_entropy_and_its_gradient_match_torch():
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(scale=5, size=(6, 4)), rng.integers(0, 4, size=6)
    lt = torch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(lt, torch.tensor(targets))
    loss.backward()
    assert losses.cross_entropy(logits, targets) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(losses.cross_entropy_grad(logits, targets), lt.grad.numpy(), rtol=1e-10, atol=1e-15)
    with pytest.raises(ValueError, match="integer class indices"):
        losses.cross_entropy(logits, np.eye(4)[targets])
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        losses.cross_entropy(logits, targets + 4)


def test_binary_losses_match_torch_and_the_logit_form_survives_extreme_logits():
    z = np.array([-1000.0, -3.0, 0.0, 2.0, 40.0, 1000.0])
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    expected = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(t)).item()
    assert losses.binary_cross_entropy_with_logits(z, t) == pytest.approx(expected, rel=1e-12)
    assert np.isinf(losses.binary_cross_entropy(act.sigmoid(z), t))  # log(0) on probabilities
    p, tt = np.array([0.2, 0.9]), np.array([0.0, 1.0])
    assert losses.binary_cross_entropy(p, tt) == pytest.approx(F.binary_cross_entropy(torch.tensor(p), torch.tensor(tt)).item())
    assert losses.mse_loss(p, tt) == pytest.approx(F.mse_loss(torch.tensor(p), torch.tensor(tt)).item())
    with pytest.raises(ValueError, match="broadcasts"):
        losses.mse_loss(p[:, None], tt)


def test_gradients_with_respect_to_the_logit_of_a_sigmoid_output():
    z = np.array([-10.0, -2.0, 0.5, 3.0])
    t = np.ones(4)
    zt = torch.tensor(z, requires_grad=True)
    (0.5 * (torch.sigmoid(zt) - torch.tensor(t)) ** 2).sum().backward()
    np.testing.assert_allclose(losses.mse_grad_wrt_logit(z, t), zt.grad.numpy(), rtol=1e-10)
    zt.grad = None
    F.binary_cross_entropy_with_logits(zt, torch.tensor(t), reduction="sum").backward()
    np.testing.assert_allclose(losses.bce_grad_wrt_logit(z, t), zt.grad.numpy(), rtol=1e-10)


def test_worked_example_by_hand_equals_torch_and_scratch_autograd():
    p = bp.WORKED_EXAMPLE
    grads = bp.backward(p)
    ref = bp.gradients_torch(p)
    for name in ("dW1", "db1", "dw2", "db2"):
        np.testing.assert_allclose(grads[name], ref[name], rtol=1e-12)
    assert grads["dz1"][1] == 0.0, "hidden unit 2 is off (z1 = -1), so it passes no gradient"
    leaves = {k: scratch.tensor(np.asarray(p[k], dtype=float), requires_grad=True) for k in ("W1", "b1", "w2", "b2")}
    y = (leaves["w2"] * scratch.F.relu(leaves["W1"] @ scratch.tensor(p["x"]) + leaves["b1"])).sum() + leaves["b2"]
    (0.5 * (y - p["t"]) ** 2).backward()
    for name in ("W1", "b1", "w2", "b2"):
        np.testing.assert_allclose(grads["d" + name], leaves[name].grad, rtol=1e-12)
    new = bp.sgd_update(p, grads, lr=0.01)
    assert bp.forward(new)["loss"] < bp.forward(p)["loss"]


def test_seed_example_numbers_are_wrong_and_ours_match_autograd():
    ours = bp.seed_example_forward_backward()
    ref = bp.seed_example_gradients_torch()
    assert ours["loss"] == pytest.approx(ref["loss"])
    for k, g in ours["grads"].items():
        assert g == pytest.approx(ref[k])
    claims = bp.SEED_003_CLAIMS
    assert ours["z2"] != claims["z2"] and ours["delta1"] != claims["delta1"]
    assert 0.5 * (claims["z2"] - 1) ** 2 != claims["loss"]  # even its own arithmetic disagrees


def test_dense_backward_in_matrix_form_matches_torch():
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    W1, b1, W2, b2 = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=(2, 5)), rng.normal(size=2)
    ours = bp.two_layer_batch_gradients(X, T, W1, b1, W2, b2)
    ts = [torch.tensor(a, requires_grad=True) for a in (X, W1, b1, W2, b2)]
    Y = torch.relu(ts[0] @ ts[1].T + ts[2]) @ ts[3].T + ts[4]
    ((Y - torch.tensor(T)) ** 2).sum().div(2 * len(X)).backward()
    for name, t in zip(("dX", "dW1", "db1", "dW2", "db2"), ts):
        assert ours[name].shape == t.shape
        np.testing.assert_allclose(ours[name], t.grad.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="n_in"):
        bp.dense_forward(X, W1.T, b1)


def test_linear_regression_three_ways_agree():
    X, y = reg.seed_linear_data()
    w_ne, b_ne = reg.fit_linear_normal_equations(X, y)
    w_ls, b_ls = reg.fit_linear_lstsq(X, y)
    w_gd, b_gd, _ = reg.fit_linear_gd(X, y)
    w_t, b_t, _ = reg.fit_linear_torch(X, y, steps=300)
    w_g3, b_g3, _ = reg.fit_linear_gd(X, y, steps=300)
    np.testing.assert_allclose([*w_ne, b_ne], [*w_ls, b_ls], rtol=1e-10)
    np.testing.assert_allclose([*w_gd, b_gd], [*w_ls, b_ls], rtol=1e-8)
    np.testing.assert_allclose([*w_t, b_t], [*w_g3, b_g3], rtol=1e-12)
    assert abs(b_ls - 2.5) < abs(b_ls - 2.0), "uniform noise of mean 0.5 moves the intercept towards 2.5"
    with pytest.raises(ValueError, match=r"X\[:, None\]"):
        reg.fit_linear_lstsq(X[:, 0], y)


def test_seed_sigmoid_regression_cannot_fit_and_its_gradient_forgets_the_sigmoid():
    X, y = reg.seed_linear_data()
    out = reg.fit_sigmoid_regression_seed(X, y)
    assert out["pred"].max() <= 1.0 < 2.0 <= y.min()  # saturated outputs round to exactly 1.0
    assert out["mse"][-1] >= np.mean((y - 1.0) ** 2)  # no output below 1 can beat predicting 1
    g = reg.sigmoid_regression_gradients(X, y, w=[0.3], b=0.1)
    wt = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    (0.5 * ((torch.sigmoid(torch.tensor(X) @ wt + 0.1) - torch.tensor(y)) ** 2).sum()).backward()
    np.testing.assert_allclose(g["true_w"], wt.grad.numpy(), rtol=1e-10)
    assert not np.allclose(g["seed_w"], wt.grad.numpy(), rtol=0.1)


def test_logistic_regression_numpy_equals_torch_and_metrics_equal_sklearn():
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    d = reg.load_breast_cancer_split()
    np.testing.assert_allclose(d["X_train"].mean(axis=0), 0.0, atol=1e-12)
    w, b, losses_np = reg.fit_logistic_gd(d["X_train"], d["y_train"], steps=200, weight_decay=1e-2)
    wt, bt, losses_t = reg.fit_logistic_torch(d["X_train"], d["y_train"], steps=200, weight_decay=1e-2)
    np.testing.assert_allclose(w, wt, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(losses_np, losses_t, rtol=1e-10)
    pred = reg.predict_logistic(d["X_test"], w, b)
    m = reg.binary_metrics(d["y_test"], pred)
    assert m["accuracy"] == pytest.approx(accuracy_score(d["y_test"], pred))
    assert m["precision"] == pytest.approx(precision_score(d["y_test"], pred))
    assert m["recall"] == pytest.approx(recall_score(d["y_test"], pred))
    assert m["accuracy"] > 0.9
    assert reg.binary_metrics([0, 0], [0, 0])["precision"] == 0.0  # nothing flagged: precision 0 as in sklearn


def test_pca_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    d = reg.load_breast_cancer_split()
    mean, comps = reg.pca_fit(d["X_train"], 2)
    ref = PCA(2).fit(d["X_train"]).components_
    np.testing.assert_allclose(np.abs(np.sum(comps * ref, axis=1)), 1.0, rtol=1e-8)


def test_soft_threshold_zeroes_small_weights_and_shrinks_the_rest():
    w = np.array([-2.0, -0.3, 0.0, 0.2, 1.5])
    assert np.allclose(reg.soft_threshold(w, 0.5), [-1.5, 0.0, 0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=">= 0"):
        reg.soft_threshold(w, -1.0)


def test_l1_logistic_regression_matches_scikit_learn_and_is_sparse():
    from sklearn.linear_model import LogisticRegression

    data = reg.load_breast_cancer_split(test_size=0.25, seed=0)
    X, y = data["X_train"], data["y_train"]
    lam = 0.1
    w, b, objective = reg.fit_logistic_l1(X, y, lam, lr=0.5, steps=3000)
    sk = LogisticRegression(C=1 / (lam * len(y)), l1_ratio=1.0, solver="saga", tol=1e-10, max_iter=100_000).fit(X, y)
    assert np.allclose(w, sk.coef_[0], atol=1e-4) and abs(b - sk.intercept_[0]) < 1e-4
    assert set(np.flatnonzero(w)) == set(np.flatnonzero(sk.coef_[0])) and (w == 0).sum() > len(w) // 2
    assert objective[-1] <= objective[0]
    with pytest.raises(ValueError, match="lam"):
        reg.fit_logistic_l1(X, y, -1.0)
