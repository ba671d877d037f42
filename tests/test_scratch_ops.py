"""The GPT's extra operations (labs.scratch.ops) against torch: values, gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labs.scratch as S

TOL = {"rtol": 1e-10, "atol": 1e-12}


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def outputs(result):
    """The differentiable outputs of an op (topk and max return (values, indices))."""
    if isinstance(result, tuple) and hasattr(result, "indices"):
        return [result[0]]
    return list(result) if isinstance(result, (tuple, list)) else [result]


def compare(fn_ours, fn_torch, array, seed=1):
    """Same outputs and, for random upstream gradients, the same input gradient (float64)."""
    x = S.tensor(array, requires_grad=True)
    xt = torch.tensor(array, requires_grad=True)
    outs, refs = outputs(fn_ours(x)), outputs(fn_torch(xt))
    assert len(outs) == len(refs)
    rng = np.random.default_rng(seed)
    total, total_t = 0, 0
    for o, r in zip(outs, refs):
        assert o.shape == tuple(r.shape), (o.shape, tuple(r.shape))
        np.testing.assert_allclose(o.data, r.detach().numpy(), **TOL)
        up = rng.standard_normal(o.shape)
        total = total + (o * S.tensor(up)).sum()
        total_t = total_t + (r * torch.tensor(up)).sum()
    total.backward()
    total_t.backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), **TOL)
    return x


CASES = {
    "tril": (lambda x: S.tril(x), lambda x: torch.tril(x), (4, 5)),
    "tril_k1_batched": (lambda x: x.tril(1), lambda x: x.tril(1), (2, 4, 4)),
    "triu": (lambda x: S.triu(x), lambda x: torch.triu(x), (5, 4)),
    "triu_k-1": (lambda x: x.triu(-1), lambda x: x.triu(-1), (3, 3, 5)),
    "cumsum0": (lambda x: S.cumsum(x, 0), lambda x: torch.cumsum(x, 0), (5, 3)),
    "cumsum-1": (lambda x: x.cumsum(-1), lambda x: x.cumsum(-1), (2, 3, 6)),
    "logsumexp": (lambda x: S.logsumexp(x, 1), lambda x: torch.logsumexp(x, 1), (4, 6)),
    "logsumexp_keep": (lambda x: x.logsumexp((0, 2), keepdim=True), lambda x: x.logsumexp((0, 2), keepdim=True), (2, 3, 4)),
    "topk": (lambda x: S.topk(x, 3), lambda x: torch.topk(x, 3), (4, 7)),
    "topk_small_dim0": (lambda x: x.topk(2, dim=0, largest=False), lambda x: x.topk(2, dim=0, largest=False), (5, 3)),
    "split": (lambda x: S.split(x, 2, dim=1), lambda x: torch.split(x, 2, dim=1), (3, 5)),
    "split_sections": (lambda x: x.split([1, 3, 2], -1), lambda x: x.split([1, 3, 2], -1), (2, 6)),
    "chunk": (lambda x: S.chunk(x, 3, dim=-1), lambda x: torch.chunk(x, 3, dim=-1), (2, 4, 9)),
    "chunk_uneven": (lambda x: x.chunk(3), lambda x: x.chunk(3), (7, 2)),
    "chunk_too_many": (lambda x: x.chunk(4), lambda x: x.chunk(4), (2, 3)),
}


@pytest.mark.parametrize("name", CASES)
def test_op_matches_torch(name):
    ours, theirs, shape = CASES[name]
    compare(ours, theirs, randn(*shape))
    if name.startswith("topk"):  # the indices too (random data: no ties)
        x = randn(*shape)
        np.testing.assert_array_equal(ours(S.tensor(x)).indices.data, theirs(torch.tensor(x)).indices.numpy())


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_matches_torch_with_repeated_indices(dim):
    x = randn(4, 5)
    rng = np.random.default_rng(3)
    size = x.shape[dim]
    shape = (6, 5) if dim == 0 else (4, 7)
    index = rng.integers(0, size, size=shape)  # longer than the input on `dim`: positions repeat
    compare(lambda t: S.gather(t, dim, S.tensor(index)), lambda t: torch.gather(t, dim, torch.tensor(index)), x)
    # a smaller index on the other axis, as torch allows
    small = index[:2] if dim != 0 else index[:, :3]
    compare(lambda t: t.gather(dim, small), lambda t: t.gather(dim, torch.tensor(small)), x)


def test_gather_picks_the_target_log_probability():
    logits = S.tensor(randn(3, 4), requires_grad=True)
    target = S.tensor([[2], [0], [3]])
    picked = logits.log_softmax(-1).gather(1, target)
    assert picked.shape == (3, 1)
    np.testing.assert_allclose(picked.data[:, 0], logits.log_softmax(-1).data[[0, 1, 2], [2, 0, 3]])


def test_logsumexp_is_stable_and_handles_minus_infinity():
    big = S.tensor(np.array([[1000.0, 1000.0], [-np.inf, -np.inf]]), requires_grad=True)
    out = S.logsumexp(big, 1)
    assert out.data[0] == pytest.approx(1000.0 + np.log(2.0))
    assert out.data[1] == -np.inf  # an empty sum, as torch
    out[0].backward()
    np.testing.assert_allclose(big.grad, [[0.5, 0.5], [0.0, 0.0]])  # no NaN leaks into the other row


@pytest.mark.parametrize("name", ["tril", "triu", "cumsum0", "logsumexp", "topk", "chunk"])
def test_ops_pass_gradcheck(name):
    ours, _, shape = CASES[name]

    def scalar_outputs(x):
        return tuple(outputs(ours(x)))

    assert S.gradcheck(scalar_outputs, (S.tensor(randn(*shape, seed=4), requires_grad=True),))


def test_gather_passes_gradcheck():
    index = S.tensor(np.array([[0, 0, 2], [1, 2, 2]]))
    assert S.gradcheck(lambda x: x.gather(1, index), (S.tensor(randn(2, 3), requires_grad=True),))


def test_bad_inputs_are_refused_clearly():
    x = S.tensor(randn(3, 4))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        S.tril(S.tensor(randn(3)))
    with pytest.raises(TypeError, match="diagonal must be an int"):
        S.triu(x, 0.5)
    with pytest.raises(ValueError, match="out of range"):
        S.cumsum(x, 2)
    with pytest.raises(IndexError, match="index 4 is out of range for dim 1 of size 4"):
        S.gather(x, 1, S.tensor([[4]]))
    with pytest.raises(IndexError, match="index -1"):
        S.gather(x, 1, S.tensor([[-1]]))
    with pytest.raises(TypeError, match="integer index"):
        S.gather(x, 1, S.tensor([[1.0]]))
    with pytest.raises(ValueError, match="as many dimensions"):
        S.gather(x, 1, S.tensor([1, 2]))
    with pytest.raises(ValueError, match="larger than input shape"):
        S.gather(x, 1, S.tensor(np.zeros((5, 1), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"k must be an int in \[0, 4\]"):
        S.topk(x, 5)
    with pytest.raises(ValueError, match="add up to the size"):
        S.split(x, [1, 2], dim=1)
    with pytest.raises(ValueError, match="chunks must be a positive int"):
        S.chunk(x, 0)
    with pytest.raises(TypeError, match="labs.scratch Tensor"):
        S.tril(np.ones((2, 2)))
    for d in [2, -3]:  # torch raises for these too
        with pytest.raises(ValueError, match="out of range"):
            S.topk(x, 1, dim=d)
