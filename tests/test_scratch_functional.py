"""labs.scratch.functional against torch.nn.functional: values, gradients, errors, stability."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import labs.scratch as S
import labs.scratch.functional as F

TOL = dict(rtol=1e-9, atol=1e-10)


def leaves(arrays):
    return [S.tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays]


def compare(fn_ours, fn_torch, arrays, seed=1, tol=TOL, scalar_upstream=False):
    """Same values and, for a random upstream gradient, the same gradient for every input."""
    ours, theirs = leaves(arrays)
    out, ref = fn_ours(*ours), fn_torch(*theirs)
    assert out.shape == tuple(ref.shape), (out.shape, tuple(ref.shape))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b.grad is None:
            continue
        assert a.grad is not None, f"input {i} got no gradient"
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **tol, err_msg=f"gradient of input {i}")
    return out


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------------------------------
# linear, activations
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape", [(1, 3), (5, 3), (3,), (2, 4, 3), (2, 1, 2, 3)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(x_shape, bias):
    arrays = [randn(*x_shape), randn(4, 3, seed=1)] + ([randn(4, seed=2)] if bias else [])
    compare(lambda *t: F.linear(*t), lambda *t: TF.linear(*t), arrays)


ACTIVATIONS = {
    "relu": (F.relu, TF.relu),
    "gelu": (F.gelu, TF.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "tanh": (F.tanh, torch.tanh),
    "silu": (F.silu, TF.silu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    "softplus": (F.softplus, TF.softplus),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=5.0), lambda x: TF.softplus(x, beta=2.0, threshold=5.0)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4)], ids=str)
def test_activations_match_torch(name, shape):
    ours, theirs = ACTIVATIONS[name]
    compare(ours, theirs, [randn(*shape) * 3])


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        F.gelu(S.tensor([1.0]), approximate="fast")


# ---------------------------------------------------------------------------------------
# softmax family
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((4, 5), 0), ((4, 5), -1), ((2, 3, 4), 1), ((1, 1), 1), ((6,), 0)], ids=str)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_family_matches_torch(shape, dim, fn):
    compare(lambda x: getattr(F, fn)(x, dim=dim), lambda x: getattr(TF, fn)(x, dim=dim), [randn(*shape) * 4])
    compare(lambda x: getattr(x, fn)(dim), lambda x: getattr(x, fn)(dim), [randn(*shape)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_are_stable_at_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [5e3, 5e3 + 1, -1e4]], dtype=dtype)
    x = S.tensor(logits, requires_grad=True)
    out = F.log_softmax(x, dim=1)
    assert np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data, TF.log_softmax(torch.tensor(logits), 1).numpy(), rtol=1e-6)
    (out * S.tensor(np.ones_like(logits))).sum().backward()
    assert np.isfinite(x.grad).all()
    s = F.softmax(S.tensor(logits), dim=1)
    assert np.isfinite(s.data).all()
    np.testing.assert_allclose(s.data.sum(axis=1), 1.0, rtol=1e-6)


def test_softmax_needs_a_dim():
    with pytest.raises(TypeError, match="dim="):
        F.softmax(S.tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="out of range"):
        F.log_softmax(S.tensor(np.ones((2, 3))), dim=2)


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6),
                    elements=st.floats(-50, 50)),
       shift=st.floats(-100, 100))
def test_softmax_rows_sum_to_one_and_ignore_a_constant_shift(x, shift):
    s = F.softmax(S.tensor(x), dim=-1).data
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-12)
    assert (s >= 0).all()
    np.testing.assert_allclose(F.softmax(S.tensor(x + shift), dim=-1).data, s, atol=1e-12)
    np.testing.assert_allclose(np.exp(F.log_softmax(S.tensor(x), dim=-1).data), s, atol=1e-12)


# ---------------------------------------------------------------------------------------
# cross_entropy and nll_loss
# ---------------------------------------------------------------------------------------
def class_case(shape, seed=0, ignore=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2
    C = shape[0] if len(shape) == 1 else shape[1]
    t_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
    t = rng.integers(0, C, size=t_shape)
    if ignore and t.size > 1:
        t.reshape(-1)[:: 3] = -100
        t.reshape(-1)[1] = 0  # keep at least one real target
    return x, t


CE_SHAPES = [(1, 3), (4, 5), (7, 2), (5,), (3, 4, 6), (2, 3, 2, 5)]


@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_matches_torch(shape, reduction, ignore):
    x, t = class_case(shape, ignore=ignore and len(shape) > 1)
    compare(lambda a: F.cross_entropy(a, S.tensor(t), reduction=reduction),
            lambda a: TF.cross_entropy(a, torch.tensor(t), reduction=reduction), [x])


@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 6), (6,)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_cross_entropy_weights_smoothing_and_ignore_index(shape, reduction, weighted, smoothing):
    x, t = class_case(shape, seed=4, ignore=len(shape) > 1)
    C = shape[0] if len(shape) == 1 else shape[1]
    w = np.random.default_rng(5).random(C) + 0.5 if weighted else None
    compare(
        lambda a: F.cross_entropy(a, S.tensor(t), weight=None if w is None else S.tensor(w), reduction=reduction,
                                  label_smoothing=smoothing),
        lambda a: TF.cross_entropy(a, torch.tensor(t), weight=None if w is None else torch.tensor(w),
                                   reduction=reduction, label_smoothing=smoothing),
        [x],
    )


def test_cross_entropy_custom_ignore_index():
    x, t = class_case((6, 4), seed=2)
    t[[1, 4]] = 3
    compare(lambda a: F.cross_entropy(a, S.tensor(t), ignore_index=3),
            lambda a: TF.cross_entropy(a, torch.tensor(t), ignore_index=3), [x])


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_probability_targets(shape, smoothing, reduction):
    rng = np.random.default_rng(3)
    p = rng.random(shape)
    p = p / p.sum(axis=1, keepdims=True)
    compare(lambda a, q: F.cross_entropy(a, q, reduction=reduction, label_smoothing=smoothing),
            lambda a, q: TF.cross_entropy(a, q, reduction=reduction, label_smoothing=smoothing),
            [randn(*shape), p])


@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 6), (5,)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_torch(shape, reduction, weighted):
    x, t = class_case(shape, seed=6, ignore=len(shape) > 1)
    C = shape[0] if len(shape) == 1 else shape[1]
    w = np.random.default_rng(5).random(C) + 0.5 if weighted else None
    compare(lambda a: F.nll_loss(F.log_softmax(a, dim=0 if len(shape) == 1 else 1), S.tensor(t),
                                 weight=None if w is None else S.tensor(w), reduction=reduction),
            lambda a: TF.nll_loss(TF.log_softmax(a, dim=0 if len(shape) == 1 else 1), torch.tensor(t),
                                  weight=None if w is None else torch.tensor(w), reduction=reduction),
            [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_at_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]], dtype=dtype)
    target = np.array([1, 0, 2])
    x = S.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, S.tensor(target))
    ref = TF.cross_entropy(torch.tensor(logits), torch.tensor(target))
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    loss.backward()
    assert np.isfinite(x.grad).all()


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    # the classic result the chapter derives: d CE / d logits = (softmax - onehot) / N
    x, t = class_case((5, 4), seed=9)
    a = S.tensor(x, requires_grad=True)
    F.cross_entropy(a, S.tensor(t)).backward()
    s = np.exp(x - x.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    np.testing.assert_allclose(a.grad, (s - np.eye(4)[t]) / 5, rtol=1e-12)


def test_cross_entropy_rejects_float_class_targets():
    x = S.tensor(np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(TypeError, match=r"integer class indices as target; got float32 array of shape \(4,\)"):
        F.cross_entropy(x, S.tensor(np.zeros(4, dtype=np.float32)))


def test_cross_entropy_rejects_out_of_range_classes():
    x = S.tensor(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"class index 3 is out of range for 3 classes \(valid 0\.\.2"):
        F.cross_entropy(x, S.tensor([0, 1, 3, 2]))
    with pytest.raises(ValueError, match="class index -1"):
        F.cross_entropy(x, S.tensor([0, 1, -1, 2]))


def test_cross_entropy_rejects_wrong_target_shape_and_rank():
    x = S.tensor(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"input of shape \(4, 3\) needs a target of shape \(4,\).*got \(4, 1\)"):
        F.cross_entropy(x, S.tensor(np.zeros((4, 1), dtype=np.int64)))
    with pytest.raises(ValueError, match="scalar"):
        F.cross_entropy(S.tensor(1.0), S.tensor(0))


def test_cross_entropy_rejects_an_empty_batch():
    with pytest.raises(ValueError, match=r"empty batch.*\(0, 3\)"):
        F.cross_entropy(S.tensor(np.zeros((0, 3))), S.tensor(np.zeros(0, dtype=np.int64)))


def test_loss_reduction_must_be_known():
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(S.tensor(np.zeros((2, 3))), S.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(S.tensor([1.0]), S.tensor([1.0]), reduction="avg")


# ---------------------------------------------------------------------------------------
# Regression and binary losses
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1,), (5,), (4, 3), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_l1_match_torch(shape, reduction):
    arrays = [randn(*shape), randn(*shape, seed=1)]
    compare(lambda a, b: F.mse_loss(a, b, reduction=reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction), arrays)
    compare(lambda a, b: F.l1_loss(a, b, reduction=reduction), lambda a, b: TF.l1_loss(a, b, reduction=reduction), arrays)


def test_mse_loss_refuses_shapes_that_would_broadcast_silently():
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        F.mse_loss(S.tensor(np.zeros((4, 1))), S.tensor(np.zeros(4)))
    with pytest.raises(ValueError, match="empty"):
        F.mse_loss(S.tensor(np.zeros((0,))), S.tensor(np.zeros((0,))))


@pytest.mark.parametrize("shape", [(1,), (6,), (4, 3)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("extras", ["plain", "pos_weight", "weight", "both"])
def test_bce_with_logits_matches_torch(shape, reduction, extras):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(shape) * 3, rng.random(shape)
    last = shape[-1]
    pw = rng.random(last) * 3 if extras in ("pos_weight", "both") else None
    w = rng.random(shape) if extras in ("weight", "both") else None

    def ours(a, b):
        return F.binary_cross_entropy_with_logits(a, b, weight=None if w is None else S.tensor(w), reduction=reduction,
                                                  pos_weight=None if pw is None else S.tensor(pw))

    def theirs(a, b):
        return TF.binary_cross_entropy_with_logits(a, b, weight=None if w is None else torch.tensor(w),
                                                   reduction=reduction, pos_weight=None if pw is None else torch.tensor(pw))

    compare(ours, theirs, [x, y])  # gradients for logits and for targets


def test_bce_with_logits_is_finite_at_huge_logits():
    x = np.array([1e4, -1e4, 50.0, -50.0], dtype=np.float32)
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype=np.float32)
    a = S.tensor(x, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(a, S.tensor(y))
    np.testing.assert_allclose(loss.item(), TF.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y)).item(), rtol=1e-6)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(a.grad).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_on_probabilities_matches_torch(reduction):
    rng = np.random.default_rng(2)
    p, y = rng.random((4, 3)) * 0.98 + 0.01, rng.random((4, 3))
    compare(lambda a: F.binary_cross_entropy(a, S.tensor(y), reduction=reduction),
            lambda a: TF.binary_cross_entropy(a, torch.tensor(y), reduction=reduction), [p], tol=dict(rtol=1e-7, atol=1e-9))
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(S.tensor([1.5]), S.tensor([1.0]))


# ---------------------------------------------------------------------------------------
# dropout, embedding, layer_norm
# ---------------------------------------------------------------------------------------
def test_dropout_in_eval_mode_and_p0_is_the_identity():
    x = S.tensor(randn(3, 4), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_is_seeded_scaled_and_backpropagates_through_the_mask():
    x = S.tensor(np.ones((200, 50)), requires_grad=True)
    S.manual_seed(0)
    y1 = F.dropout(x, p=0.3)
    S.manual_seed(0)
    y2 = F.dropout(x, p=0.3)
    np.testing.assert_array_equal(y1.data, y2.data)  # same seed, same mask
    kept = y1.data != 0
    np.testing.assert_allclose(y1.data[kept], 1 / 0.7)  # survivors scaled by 1/(1-p)
    assert abs(kept.mean() - 0.7) < 0.02  # 10,000 draws: std of the mean is about 0.005
    y1.sum().backward()
    np.testing.assert_allclose(x.grad, y1.data)  # d/dx of sum(x * mask) = mask
    assert F.dropout(x, p=1.0).data.sum() == 0
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, p=1.5)


@pytest.mark.parametrize("idx_shape", [(5,), (2, 3), (1, 1)], ids=str)
@pytest.mark.parametrize("padding_idx", [None, 0, 3])
def test_embedding_matches_torch(idx_shape, padding_idx):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 6, size=idx_shape)
    idx.reshape(-1)[0] = 3  # make the padding index and a repeated index likely present
    idx.reshape(-1)[-1] = 3
    compare(lambda w: F.embedding(S.tensor(idx), w, padding_idx=padding_idx),
            lambda w: TF.embedding(torch.tensor(idx), w, padding_idx=padding_idx), [randn(6, 4)])


def test_embedding_rejects_bad_indices():
    w = S.tensor(np.zeros((5, 2)), requires_grad=True)
    with pytest.raises(TypeError, match="integer indices; got float"):
        F.embedding(S.tensor([1.0, 2.0]), w)
    with pytest.raises(IndexError, match=r"index 5 is out of range for a table of 5 rows"):
        F.embedding(S.tensor([1, 5]), w)


@pytest.mark.parametrize("x_shape,normalized", [((4, 6), (6,)), ((2, 3, 5), (5,)), ((2, 3, 4), (3, 4)), ((1, 2), (2,))], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(x_shape, normalized, affine):
    arrays = [randn(*x_shape) * 3 + 1]
    if affine:
        arrays += [randn(*normalized, seed=1), randn(*normalized, seed=2)]
    compare(lambda *t: F.layer_norm(t[0], normalized, *t[1:]), lambda *t: TF.layer_norm(t[0], normalized, *t[1:]), arrays)


def test_layer_norm_rejects_a_mismatched_shape():
    with pytest.raises(ValueError, match=r"normalized_shape \(5,\).*\(2, 4\)"):
        F.layer_norm(S.tensor(np.zeros((2, 4))), (5,))


def test_linear_rejects_mismatched_features():
    with pytest.raises(ValueError, match=r"3 features.*\(4, 5\) expects 5"):
        F.linear(S.tensor(np.zeros((2, 3))), S.tensor(np.zeros((4, 5))))
    with pytest.raises(ValueError, match=r"weight of shape \(out_features, in_features\); got \(3,\)"):
        F.linear(S.tensor(np.zeros((2, 3))), S.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="bias"):
        F.linear(S.tensor(np.zeros((2, 3))), S.tensor(np.zeros((4, 3))), S.tensor(np.zeros(3)))


# ---------------------------------------------------------------------------------------
# Central-difference checks of every fused backward rule
# ---------------------------------------------------------------------------------------
def _ce(x):
    return F.cross_entropy(x, S.tensor(np.array([0, 2, 1])), label_smoothing=0.1)


GRADCHECKED = {
    "linear": (lambda x, w, b: F.linear(x, w, b), [(3, 4), (2, 4), (2,)]),
    "gelu": (F.gelu, [(3, 4)]),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [(3, 4)]),
    "softmax": (lambda x: F.softmax(x, dim=1), [(3, 4)]),
    "log_softmax": (lambda x: F.log_softmax(x, dim=0), [(3, 4)]),
    "cross_entropy": (_ce, [(3, 4)]),
    "bce_logits": (lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=S.tensor(np.array([2.0, 0.5]))), [(3, 2), (3, 2)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    "silu": (F.silu, [(5,)]),
    "softplus": (F.softplus, [(5,)]),
}


@pytest.mark.parametrize("name", sorted(GRADCHECKED))
def test_fused_backward_rules_pass_gradcheck(name):
    fn, shapes = GRADCHECKED[name]
    rng = np.random.default_rng(0)
    inputs = [S.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert S.gradcheck(fn, inputs)


def test_float32_gelu_uses_an_erf_within_float32_rounding():
    """float32 GELU runs on a fast erf approximation: its error stays at float32 rounding level."""
    from scipy.special import erf

    z = np.linspace(-10, 10, 200001)
    approx = F._erf_float32(z.astype(np.float32)).astype(np.float64)
    assert np.abs(approx - erf(z)).max() < 1e-6
    x = np.linspace(-8, 8, 4001).astype(np.float32)
    ours = F.gelu(S.tensor(x)).data
    ref = TF.gelu(torch.from_numpy(x)).numpy()
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=2e-6)
    grad_x = S.tensor(x, requires_grad=True)
    F.gelu(grad_x).sum().backward()
    xt = torch.from_numpy(x).requires_grad_()
    TF.gelu(xt).sum().backward()
    np.testing.assert_allclose(grad_x.grad, xt.grad.numpy(), rtol=1e-5, atol=3e-6)
