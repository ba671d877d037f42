"""labs.scratch.optim against torch.optim: several steps, parameter for parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import labs.scratch as S
import labs.scratch.functional as F
from labs.scratch import optim
from labs.scratch.lr_scheduler import warmup_cosine

STEPS = 8


def initial_params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((2, 4)), rng.standard_normal(2)]


def data(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((6, 3)), rng.integers(0, 2, size=6)


def loss_ours(params, x, t):
    w1, b1, w2, b2 = params
    h = F.linear(S.tensor(x), w1, b1).tanh()
    return F.cross_entropy(F.linear(h, w2, b2), S.tensor(t))


def loss_torch(params, x, t):
    w1, b1, w2, b2 = params
    h = torch.tanh(torch.nn.functional.linear(torch.tensor(x), w1, b1))
    return torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, w2, b2), torch.tensor(t))


def run_both(make_ours, make_theirs, steps=STEPS, groups=False):
    """Train the same small network with both optimizers; compare the parameters after each step."""
    init = initial_params()
    ours = [S.Parameter(a.copy()) for a in init]
    theirs = [torch.nn.Parameter(torch.tensor(a.copy())) for a in init]
    if groups:  # weights and biases in separate groups with different hyper-parameters
        opt_ours = make_ours([{"params": ours[0::2]}, {"params": ours[1::2], "lr": 0.05, "weight_decay": 0.0}])
        opt_theirs = make_theirs([{"params": theirs[0::2]}, {"params": theirs[1::2], "lr": 0.05, "weight_decay": 0.0}])
    else:
        opt_ours, opt_theirs = make_ours(ours), make_theirs(theirs)
    for step in range(steps):
        x, t = data(seed=step)
        opt_ours.zero_grad()
        opt_theirs.zero_grad()
        lo, lt = loss_ours(ours, x, t), loss_torch(theirs, x, t)
        np.testing.assert_allclose(lo.item(), lt.item(), rtol=1e-10, err_msg=f"loss at step {step}")
        lo.backward()
        lt.backward()
        opt_ours.step()
        opt_theirs.step()
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"parameter {i} after step {step + 1}")
    # the parameters really moved (a test where nothing happens would pass trivially)
    assert not np.allclose(ours[0].data, init[0])


SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.3),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
]


@pytest.mark.parametrize("config", SGD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_matches_torch(config):
    run_both(lambda p: optim.SGD(p, **config), lambda p: torch.optim.SGD(p, **config))


ADAM_CONFIGS = [
    dict(),
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
]


@pytest.mark.parametrize("config", ADAM_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "defaults")
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_and_adamw_match_torch(name, config):
    run_both(lambda p: getattr(optim, name)(p, **config), lambda p: getattr(torch.optim, name)(p, **config))


@pytest.mark.parametrize("name,config", [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
                                         ("Adam", dict(lr=0.01, weight_decay=0.01)),
                                         ("AdamW", dict(lr=0.01, weight_decay=0.1))])
def test_param_groups_match_torch(name, config):
    run_both(lambda p: getattr(optim, name)(p, **config), lambda p: getattr(torch.optim, name)(p, **config), groups=True)


ADAGRAD_CONFIGS = [
    dict(),
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.1, lr_decay=0.1),
    dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6),
    dict(lr=0.05, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2, maximize=True),
]


@pytest.mark.parametrize("config", ADAGRAD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "defaults")
def test_adagrad_matches_torch(config):
    run_both(lambda p: optim.Adagrad(p, **config), lambda p: torch.optim.Adagrad(p, **config))


def test_adagrad_param_groups_and_torchs_state_dict():
    config = dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.3)
    run_both(lambda p: optim.Adagrad(p, **config), lambda p: torch.optim.Adagrad(p, **config), groups=True)
    # the state before any step already holds the sums, as in torch, with torch's keys
    init = initial_params()
    ours = [S.Parameter(a.copy()) for a in init]
    theirs = [torch.nn.Parameter(torch.tensor(a.copy())) for a in init]
    opt_ours, opt_theirs = optim.Adagrad(ours, **config), torch.optim.Adagrad(theirs, **config)
    for step in range(3):
        x, t = data(seed=step)
        opt_ours.zero_grad()
        opt_theirs.zero_grad()
        loss_ours(ours, x, t).backward()
        loss_torch(theirs, x, t).backward()
        opt_ours.step()
        opt_theirs.step()
    mine, ref = opt_ours.state_dict(), opt_theirs.state_dict()
    for i in ref["state"]:
        assert set(mine["state"][i]) == set(ref["state"][i]) == {"step", "sum"}
        assert mine["state"][i]["step"] == int(ref["state"][i]["step"]) == 3
        np.testing.assert_allclose(mine["state"][i]["sum"], ref["state"][i]["sum"].numpy(), rtol=1e-12)
    # torch's state continues in ours: three more steps in each from the same state agree
    resumed = [S.Parameter(p.detach().numpy().copy()) for p in theirs]
    opt_resumed = optim.Adagrad(resumed, lr=1.0)
    opt_resumed.load_state_dict(ref)
    assert opt_resumed.param_groups[0]["lr_decay"] == 0.05
    for step in range(3, 6):
        x, t = data(seed=step)
        opt_resumed.zero_grad()
        opt_theirs.zero_grad()
        loss_ours(resumed, x, t).backward()
        loss_torch(theirs, x, t).backward()
        opt_resumed.step()
        opt_theirs.step()
    for a, b in zip(resumed, theirs):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_adagrad_step_shrinks_where_gradients_were_large():
    # two coordinates with gradients 10 and 0.1 each step: Adagrad moves both by about lr per step
    p = S.Parameter(np.array([0.0, 0.0]))
    opt = optim.Adagrad([p], lr=0.1)
    for t in range(1, 4):
        opt.zero_grad()
        (p * S.tensor(np.array([10.0, 0.1]))).sum().backward()
        opt.step()
        expected = -0.1 * sum(1 / np.sqrt(k) for k in range(1, t + 1))  # g / sqrt(k g^2) = 1 / sqrt(k)
        np.testing.assert_allclose(p.data, [expected, expected], rtol=1e-9)


def test_adagrad_errors_explain_themselves():
    p = S.Parameter(np.ones(2))
    for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
        with pytest.raises(ValueError, match=f"invalid {name}: expected >= 0.0; got -1"):
            optim.Adagrad([p], **{name: -1.0})
    with pytest.raises(TypeError, match="maximize must be a bool"):
        optim.Adagrad([p], maximize="yes")
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adagrad([])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adagrad([p * 2])


def test_adam_and_adamw_differ_when_weight_decay_is_on():
    # L2-in-the-gradient (Adam) and decoupled decay (AdamW) are different algorithms
    results = []
    for cls in (optim.Adam, optim.AdamW):
        p = S.Parameter(np.array([1.0, -2.0]))
        opt = cls([p], lr=0.1, weight_decay=0.5)
        for _ in range(3):
            opt.zero_grad()
            (p * p).sum().backward()
            opt.step()
        results.append(p.data.copy())
    assert not np.allclose(results[0], results[1])


def test_defaults_match_torch():
    p = [S.Parameter(np.zeros(1))]
    tp = [torch.nn.Parameter(torch.zeros(1))]
    for name in ("SGD", "Adagrad", "Adam", "AdamW"):
        ours, theirs = getattr(optim, name)(p).param_groups[0], getattr(torch.optim, name)(tp).param_groups[0]
        for key in ("lr", "weight_decay", "betas", "eps", "momentum", "nesterov", "dampening", "amsgrad",
                    "lr_decay", "initial_accumulator_value", "maximize"):
            if key in theirs and key in ours:
                assert ours[key] == theirs[key], (name, key)


def test_float32_parameters_stay_float32():
    p = S.Parameter(np.ones(3, dtype=np.float32))
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adagrad([p]), optim.Adam([p]), optim.AdamW([p])):
        (p * p).sum().backward()
        opt.step()
        opt.zero_grad()
        assert p.data.dtype == np.float32


def test_zero_grad_and_parameters_without_gradients():
    a, b = S.Parameter(np.ones(2)), S.Parameter(np.ones(2))
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    (a * 3).sum().backward()
    opt.step()  # b has no gradient: it is skipped, as in torch
    np.testing.assert_allclose(a.data, 1 - 0.3)
    np.testing.assert_allclose(b.data, 1.0)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, 0.0)
    opt.zero_grad()
    assert a.grad is None


def test_optimizer_errors_explain_themselves():
    p = S.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="wrap it in a list"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="invalid lr"):
        optim.Adam([p], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta2"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)


# ---------------------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("warmup,total,min_ratio", [(5, 30, 0.1), (0, 10, 0.0), (3, 3, 0.5), (1, 20, 0.0)])
def test_lambda_lr_with_warmup_cosine_matches_torch(warmup, total, min_ratio):
    def schedule(step):
        return warmup_cosine(step, warmup, total, min_ratio)

    ours = optim.SGD([S.Parameter(np.zeros(1))], lr=0.3)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    s_ours = optim.lr_scheduler.LambdaLR(ours, schedule)
    s_theirs = torch.optim.lr_scheduler.LambdaLR(theirs, schedule)
    for _ in range(total + 5):
        assert s_ours.get_last_lr() == pytest.approx(s_theirs.get_last_lr(), rel=1e-12)
        assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-12)
        ours.step()
        theirs.step()
        s_ours.step()
        s_theirs.step()


def test_warmup_cosine_shape():
    warmup, total = 10, 110
    values = [warmup_cosine(s, warmup, total, 0.1) for s in range(total + 20)]
    assert values[0] == pytest.approx(1 / warmup)
    assert values[warmup - 1] == pytest.approx(1.0) and values[warmup] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(values[:warmup - 1], values[1:warmup]))  # rising
    assert all(a >= b for a, b in zip(values[warmup:total], values[warmup + 1:total + 1]))  # falling
    mid = warmup + (total - warmup) // 2
    assert values[mid] == pytest.approx(0.1 + 0.9 * 0.5)  # halfway through the cosine
    assert values[total] == pytest.approx(0.1) and values[-1] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="warmup"):
        warmup_cosine(0, 20, 10)
    with pytest.raises(ValueError, match="min_ratio"):
        warmup_cosine(0, 1, 10, min_ratio=2.0)


def test_cosine_annealing_matches_torch():
    ours = optim.SGD([S.Parameter(np.zeros(1))], lr=0.5)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    s_ours = optim.lr_scheduler.CosineAnnealingLR(ours, T_max=12, eta_min=0.01)
    s_theirs = torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=12, eta_min=0.01)
    for _ in range(12):
        # torch updates recursively, we use the closed form: equal up to rounding
        assert s_ours.get_last_lr()[0] == pytest.approx(s_theirs.get_last_lr()[0], rel=1e-9, abs=1e-12)
        ours.step()
        theirs.step()
        s_ours.step()
        s_theirs.step()


def test_training_an_mlp_reduces_the_loss():
    # the integration test: linear + relu + cross_entropy + Adam on a separable problem
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    t = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # XOR-like quadrants: needs the hidden layer
    S.manual_seed(0)
    w1 = S.Parameter(S.randn(16, 2).data * 0.5)
    b1 = S.Parameter(np.zeros(16, dtype=np.float32))
    w2 = S.Parameter(S.randn(2, 16).data * 0.5)
    b2 = S.Parameter(np.zeros(2, dtype=np.float32))
    opt = optim.Adam([w1, b1, w2, b2], lr=0.05)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(F.linear(F.relu(F.linear(S.tensor(x), w1, b1)), w2, b2), S.tensor(t))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]
    assert math.isfinite(losses[-1])


# ---------------------------------------------------------------------------------------
# Parameter groups (decay on matrices only) and gradient clipping, as a GPT trains
# ---------------------------------------------------------------------------------------
def _gpt_like_pair():
    S.manual_seed(0)
    ours = S.nn.Sequential(S.nn.Embedding(7, 6), S.nn.LayerNorm(6), S.nn.Linear(6, 7)).double()
    theirs = torch.nn.Sequential(torch.nn.Embedding(7, 6), torch.nn.LayerNorm(6), torch.nn.Linear(6, 7)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def _decay_groups(model, weight_decay=0.1):
    named = list(model.named_parameters())
    return [{"params": [p for _, p in named if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0}]


@pytest.mark.parametrize("max_norm", [None, 0.05])
def test_adamw_with_decay_groups_and_clipping_matches_torch(max_norm):
    ours, theirs = _gpt_like_pair()
    opt = optim.AdamW(_decay_groups(ours), lr=0.02, betas=(0.9, 0.95))
    opt_t = torch.optim.AdamW(_decay_groups(theirs), lr=0.02, betas=(0.9, 0.95))
    assert [len(g["params"]) for g in opt.param_groups] == [2, 3]  # embedding and linear weights decay
    rng = np.random.default_rng(0)
    for _ in range(6):
        tokens = rng.integers(0, 7, size=(4, 5))
        target = rng.integers(0, 7, size=(4, 5))
        opt.zero_grad()
        loss = F.cross_entropy(ours(S.tensor(tokens)).reshape(-1, 7), S.tensor(target.reshape(-1)))
        loss.backward()
        opt_t.zero_grad()
        loss_t = torch.nn.functional.cross_entropy(theirs(torch.tensor(tokens)).reshape(-1, 7),
                                                   torch.tensor(target.reshape(-1)))
        loss_t.backward()
        assert loss.item() == pytest.approx(loss_t.item(), rel=1e-12)
        if max_norm is not None:
            norm = S.nn.utils.clip_grad_norm_(ours.parameters(), max_norm)
            norm_t = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm)
            assert norm.item() == pytest.approx(norm_t.item(), rel=1e-12)
            assert norm.item() > max_norm  # clipping really happened
        opt.step()
        opt_t.step()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch_for_each_norm(norm_type):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) * 5 for s in [(3, 4), (4,), (2, 2, 2)]]
    ours = [S.Parameter(np.zeros(a.shape)) for a in arrays]
    theirs = [torch.nn.Parameter(torch.zeros(a.shape, dtype=torch.float64)) for a in arrays]
    for p, q, a in zip(ours, theirs, arrays):
        p.grad, q.grad = a.copy(), torch.from_numpy(a.copy())
    keep = ours[0].grad
    total = S.nn.utils.clip_grad_norm_(ours, 1.0, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type)
    assert total.item() == pytest.approx(total_t.item(), rel=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12)
    assert keep is ours[0].grad  # in place: a reference to the gradient sees the clipped values
    with pytest.raises(ValueError, match="max_norm must be a positive number"):
        S.nn.utils.clip_grad_norm_(ours, 0.0)
    ours[1].grad = np.array([np.nan, 1.0, 1.0, 1.0])
    with pytest.raises(RuntimeError, match="cannot be clipped"):
        S.nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(TypeError, match="expects Tensors"):
        S.nn.utils.clip_grad_norm_([np.zeros(3)], 1.0)


def test_clip_grad_norm_gradient_is_the_scaled_backward():
    """Clipping is a linear map of the gradient: check it against a numerically scaled copy."""
    p = S.Parameter(np.array([3.0, 4.0]))
    (p * p).sum().backward()  # gradient (6, 8), norm 10
    total = S.nn.utils.clip_grad_norm_([p], 5.0)
    assert total.item() == pytest.approx(10.0)
    np.testing.assert_allclose(p.grad, np.array([6.0, 8.0]) * 5.0 / (10.0 + 1e-6), rtol=1e-12)
