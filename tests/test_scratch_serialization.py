"""Saving and loading weights and optimizer state (np.savez, never pickle), and state_dict layouts."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import labs.scratch as S
from labs.scratch import nn, optim


def _model(seed=0):
    S.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def _data(seed=1):
    rng = np.random.default_rng(seed)
    return S.tensor(rng.standard_normal((16, 4))), S.tensor(rng.integers(0, 3, size=16))


def _train(model, opt, steps):
    x, y = _data()
    for _ in range(steps):
        opt.zero_grad()
        S.F.cross_entropy(model(x), y).backward()
        opt.step()


def test_model_weights_round_trip_through_npz(tmp_path):
    model = _model()
    path = tmp_path / "model.npz"
    S.save(model.state_dict(), path)
    assert path.exists()  # the name is kept (np.savez alone would append .npz)
    with np.load(path, allow_pickle=False) as archive:  # a plain npz: readable without our code
        assert len(archive.files) == len(model.state_dict()) + 1
    other = _model(seed=5)
    other.load_state_dict(S.load(path))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)


@pytest.mark.parametrize("make", [lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.1),
                                  lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.Adagrad(p, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)],
                         ids=["adamw", "sgd_momentum", "adagrad"])
def test_resuming_from_a_checkpoint_equals_training_through(make):
    straight = _model()
    opt = make(straight.parameters())
    _train(straight, opt, 6)

    first = _model()
    opt1 = make(first.parameters())
    _train(first, opt1, 3)
    buffer = io.BytesIO()
    S.save({"model": first.state_dict(), "optim": opt1.state_dict(), "step": 3}, buffer)

    checkpoint = S.load(buffer.getvalue())
    assert checkpoint["step"] == 3
    resumed = _model(seed=9)
    resumed.load_state_dict(checkpoint["model"])
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(checkpoint["optim"])
    _train(resumed, opt2, 3)
    for key, value in straight.state_dict().items():
        np.testing.assert_allclose(resumed.state_dict()[key], value, rtol=1e-13, atol=1e-15)


def test_optimizer_state_dict_has_torchs_layout():
    ours_model = _model()
    theirs_model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    theirs_model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours_model.state_dict().items()})
    params = list(ours_model.parameters())
    groups = [{"params": params[::2], "weight_decay": 0.1}, {"params": params[1::2], "weight_decay": 0.0}]
    t_params = list(theirs_model.parameters())
    t_groups = [{"params": t_params[::2], "weight_decay": 0.1}, {"params": t_params[1::2], "weight_decay": 0.0}]
    ours, theirs = optim.AdamW(groups, lr=0.01), torch.optim.AdamW(t_groups, lr=0.01)
    _train(ours_model, ours, 2)
    x, y = _data()
    for _ in range(2):
        theirs.zero_grad()
        torch.nn.functional.cross_entropy(theirs_model(torch.from_numpy(x.data)), torch.from_numpy(y.data)).backward()
        theirs.step()
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert set(mine["state"]) == set(ref["state"]) == {0, 1, 2, 3}
    assert [g["params"] for g in mine["param_groups"]] == [g["params"] for g in ref["param_groups"]]
    for i in ref["state"]:
        assert set(mine["state"][i]) == set(ref["state"][i])
        np.testing.assert_allclose(mine["state"][i]["exp_avg"], ref["state"][i]["exp_avg"].numpy(), rtol=1e-10)
        assert mine["state"][i]["step"] == int(ref["state"][i]["step"])
    # torch's own state loads into ours (step is a tensor there)
    fresh = optim.AdamW([{"params": params[::2]}, {"params": params[1::2]}], lr=0.5)
    fresh.load_state_dict(ref)
    assert fresh.param_groups[0]["lr"] == 0.01 and fresh.param_groups[0]["weight_decay"] == 0.1
    np.testing.assert_allclose(fresh.state[params[2]]["exp_avg_sq"], ref["state"][1]["exp_avg_sq"].numpy())


def test_save_and_load_refuse_what_needs_pickle(tmp_path):
    with pytest.raises(TypeError, match="without pickle"):
        S.save({"model": _model()}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="object array"):
        S.save({"x": np.array([{}, 1], dtype=object)}, tmp_path / "bad.npz")
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(3))
    with pytest.raises(ValueError, match="did not write it"):
        S.load(plain)
    # an archive holding a pickled object is never unpickled
    evil = tmp_path / "evil.npz"
    np.savez(evil, __structure__=np.array('{"array": "a0"}'), a0=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        S.load(evil)


def test_optimizer_load_state_dict_checks_shapes_and_groups():
    model = _model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    _train(model, opt, 1)
    state = opt.state_dict()
    other = optim.Adam(list(model.parameters())[:2], lr=0.01)
    with pytest.raises(ValueError, match="has 2 parameters here but 4"):
        other.load_state_dict(state)
    state["state"][0]["exp_avg"] = np.zeros((1, 1))
    with pytest.raises(ValueError, match="has shape"):
        opt.load_state_dict(state)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
