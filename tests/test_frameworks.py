"""labs.frameworks: one network in the NumPy engine, PyTorch and JAX gives the same loss,
gradients and SGD step in float64; the landscape table cites real references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.frameworks import ENGINES, FRAMEWORKS, init_mlp, installed_versions, mlp_loss_and_grads, sgd_step
from labs.reading_list import load_bib

pytest.importorskip("jax", reason="the JAX column needs jax (pip install 'labs[jax]')")


def _data(seed, n=12, n_in=4, n_out=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, n_out, n)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 20))
def test_three_engines_agree_on_loss_and_gradients(seed, n):
    params = init_mlp(seed=seed)
    x, y = _data(seed + 1, n=n)
    ref_loss, ref_grads = mlp_loss_and_grads("torch", params, x, y)
    for engine in ("scratch", "jax"):
        loss, grads = mlp_loss_and_grads(engine, params, x, y)
        assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-12)
        for k in params:
            np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-10, atol=1e-12, err_msg=f"{engine} {k}")


def test_gradients_match_central_differences():
    params = init_mlp(seed=3)
    x, y = _data(4)
    _, grads = mlp_loss_and_grads("jax", params, x, y)
    h = 1e-6
    for k in params:
        flat = params[k].reshape(-1)
        for i in range(0, flat.size, max(1, flat.size // 5)):
            up = {n: v.copy() for n, v in params.items()}
            down = {n: v.copy() for n, v in params.items()}
            up[k].reshape(-1)[i] += h
            down[k].reshape(-1)[i] -= h
            numeric = (mlp_loss_and_grads("torch", up, x, y)[0] - mlp_loss_and_grads("torch", down, x, y)[0]) / (2 * h)
            assert grads[k].reshape(-1)[i] == pytest.approx(numeric, abs=1e-7)


def test_one_sgd_step_is_the_same_in_every_engine():
    params = init_mlp(seed=5)
    x, y = _data(6)
    steps = {e: sgd_step(e, params, x, y, lr=0.5) for e in ENGINES}
    for e in ("scratch", "jax"):
        for k in params:
            np.testing.assert_allclose(steps[e][k], steps["torch"][k], rtol=1e-12, atol=1e-14)
    assert mlp_loss_and_grads("torch", steps["torch"], x, y)[0] < mlp_loss_and_grads("torch", params, x, y)[0]


@pytest.mark.parametrize("bad, match", [
    (dict(engine="tensorflow"), "engine must be one of"),
    (dict(x=np.zeros((3, 5))), r"x must be \(batch, 4\)"),
    (dict(y=np.array([0.0, 1.0, 2.0])), "integer class labels"),
    (dict(y=np.array([0, 1, 3])), r"class labels must lie in \[0, 3\)"),
])
def test_bad_input_is_explained(bad, match):
    args = dict(engine="torch", params=init_mlp(), x=np.zeros((3, 4)), y=np.array([0, 1, 2]))
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        mlp_loss_and_grads(args["engine"], args["params"], args["x"], args["y"])


def test_every_row_of_the_landscape_cites_an_entry_of_references_bib():
    bib = load_bib()
    assert {f.cite for f in FRAMEWORKS} <= set(bib)
    assert len({f.name for f in FRAMEWORKS}) == len(FRAMEWORKS)


def test_installed_versions_reports_what_is_there_and_what_is_not():
    found = installed_versions(("torch", "no-such-distribution-xyz"))
    assert found["torch"] and found["no-such-distribution-xyz"] is None
