"""FedAvg with one full-batch local step equals centralised gradient descent (float64); label
skew really skews; secure aggregation's masks cancel exactly; model extraction copies a model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labs import federated as FL
from labs import security as SEC
from labs.models.mlp import MLP


def _data(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g, dtype=torch.float64)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 3 classes
    return x, y


def _model():
    torch.manual_seed(0)
    return MLP(8, 3, hidden=6).double()


@pytest.mark.parametrize("split", ["iid", "label", "unequal"])
def test_fedavg_one_local_step_is_centralised_gradient_descent(split):
    x, y = _data()
    rng = np.random.default_rng(0)
    if split == "iid":
        parts = FL.split_iid(len(x), 4, rng)
    elif split == "label":
        parts = FL.split_by_label(y.numpy(), 4, 1, rng)
    else:  # unequal sizes test the n_k / n weights
        parts = np.split(rng.permutation(len(x)), [5, 20, 42])
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(x)))  # a partition
    clients = [(x[p], y[p]) for p in parts]
    model = _model()
    fed, history = FL.fedavg(model, clients, rounds=5, local_steps=1, lr=0.5)
    central = FL.centralised_gd(model, x, y, steps=5, lr=0.5)
    for n in central:
        torch.testing.assert_close(fed[n], central[n], rtol=1e-12, atol=1e-14)
    assert len(history) == 5 and all(h["drift"] > 0 for h in history)


def test_many_local_steps_are_not_centralised_and_non_iid_drifts_more():
    x, y = _data(n=120)
    rng = np.random.default_rng(1)
    model = _model()
    iid = [(x[p], y[p]) for p in FL.split_iid(len(x), 6, rng)]
    skew = [(x[p], y[p]) for p in FL.split_by_label(y.numpy(), 6, 1, rng)]
    fed_iid, h_iid = FL.fedavg(model, iid, rounds=3, local_steps=10, lr=0.3)
    _, h_skew = FL.fedavg(model, skew, rounds=3, local_steps=10, lr=0.3)
    central = FL.centralised_gd(model, x, y, steps=3, lr=0.3)
    assert any(not torch.allclose(fed_iid[n], central[n]) for n in central)
    assert np.mean([h["drift"] for h in h_skew]) > 1.2 * np.mean([h["drift"] for h in h_iid])


def test_label_skew_gives_each_client_few_labels():
    y = np.repeat(np.arange(10), 30)
    parts = FL.split_by_label(y, 10, 2, np.random.default_rng(0))
    assert all(len(np.unique(y[p])) <= 2 for p in parts)
    iid = FL.split_iid(len(y), 10, np.random.default_rng(0))
    assert all(len(np.unique(y[p])) >= 6 for p in iid)
    with pytest.raises(ValueError, match="shards"):
        FL.split_by_label(y[:5], 3, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_clients"):
        FL.split_iid(3, 5, np.random.default_rng(0))


def test_partial_participation_and_errors():
    x, y = _data()
    clients = [(x[p], y[p]) for p in FL.split_iid(len(x), 5, np.random.default_rng(0))]
    params, history = FL.fedavg(_model(), clients, rounds=2, local_steps=2, lr=0.1, batch_size=4,
                                participation=0.4, evaluate=lambda p: 1.0)
    assert [h["metric"] for h in history] == [1.0, 1.0]
    with pytest.raises(ValueError, match="participation"):
        FL.fedavg(_model(), clients, rounds=1, local_steps=1, lr=0.1, participation=0.0)
    with pytest.raises(ValueError, match="at least one client"):
        FL.fedavg(_model(), [], rounds=1, local_steps=1, lr=0.1)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 7), st.integers(0, 2**31 - 1))
def test_pairwise_masks_cancel_and_the_secure_sum_is_exact(n_clients, seed):
    rng = np.random.default_rng(seed)
    masks = FL.pairwise_masks(n_clients, (5,), rng)
    total = np.zeros(5, dtype=np.uint64)
    for m in masks:
        total = (total + m) % FL.MODULUS
    assert np.all(total == 0)
    updates = [rng.standard_normal(5) for _ in range(n_clients)]
    scale = 1e-6
    got, masked = FL.secure_sum(updates, scale, rng)
    exact = FL.dequantise(sum(FL.quantise(u, scale) for u in updates) % FL.MODULUS, scale)
    np.testing.assert_array_equal(got, exact)  # fixed point: the masks change nothing, not one bit
    np.testing.assert_allclose(got, np.sum(updates, axis=0), atol=n_clients * scale / 2 + 1e-12)
    for u, v in zip(updates, masked):
        assert not np.allclose(FL.dequantise(v, scale), u)  # the server does not see the update


def test_quantise_round_trips_negatives_and_refuses_overflow():
    v = np.array([-3.25, 0.0, 2.5, -1e-3])
    np.testing.assert_allclose(FL.dequantise(FL.quantise(v, 1e-4), 1e-4), v, atol=5e-5)
    with pytest.raises(ValueError, match="larger scale"):
        FL.quantise(np.array([1e6]), 1e-6)


def test_model_extraction_copies_a_black_box():
    x, y = _data(n=600, seed=2)
    victim = _model()
    opt = torch.optim.Adam(victim.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(victim(x[:150]), y[:150]).backward()
        opt.step()
    victim.eval()

    def api(q):  # the attacker sees only labels
        with torch.no_grad():
            return victim(q).argmax(dim=1)

    torch.manual_seed(1)
    copy = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).double()
    SEC.extract_model(api, x[150:450], copy, steps=300, lr=0.05)
    with torch.no_grad():
        agree = SEC.agreement(copy(x[450:]).argmax(1).numpy(), api(x[450:]).numpy())
    chance = max(np.bincount(api(x[450:]).numpy(), minlength=3)) / 150  # always answering the commonest label
    assert agree > max(0.85, chance + 0.3)
    with pytest.raises(ValueError, match="one integer label per query"):
        SEC.extract_model(lambda q: torch.zeros(len(q), 3), x[:5], copy, steps=1, lr=0.1)
    with pytest.raises(ValueError, match="same non-zero length"):
        SEC.agreement([1, 2], [1])


def test_instruction_toy_formats_and_a_short_training_run():
    rng = np.random.default_rng(0)
    ex = SEC.instruction_examples(200, rng, length=3, revised=0.5)
    for t in ex:
        ops = t[: t.index("=")].split("]")[:-1]
        data = t[t.rindex("]") + 1: t.index("=")]
        assert t.endswith(SEC.apply_op(ops[-1][-1], data) + "\n")
    assert 0.35 < np.mean([t.count("[") == 2 for t in ex]) < 0.65
    prompts, datas = SEC.injection_prompts(5, rng, length=3)
    assert all(p == f"[U][L]{d}=" for p, d in zip(prompts, datas))
    assert SEC.pad_prompts(["[U]ab=", "[U][L]ab="], 2) == ["\n\n\n[U]ab=", "[U][L]ab="]
    assert SEC.decode(SEC.encode(prompts)[0]) == prompts[0]
    model, losses = SEC.train_instruction_gpt(max_steps=60, length=2, check_every=30)
    assert len(losses) in (30, 60) and np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5])
    answers = SEC.answer_greedy(model, [f"[U]{d[:2]}=" for d in datas], 2)
    rates = SEC.follow_rates(answers, [d[:2] for d in datas])
    assert sum(rates.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown instruction"):
        SEC.apply_op("X", "ab")
    with pytest.raises(ValueError, match="one length"):
        SEC.encode(["ab", "abc"])
