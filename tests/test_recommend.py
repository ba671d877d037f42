"""Matrix factorisation built twice (PyTorch and the NumPy engine), its training, metrics and baselines."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st_h
from sklearn.metrics import ndcg_score

import labs.scratch as st
from labs import recommend as rec
from labs.models.matrix_factorization import MatrixFactorization as TorchMF
from labs.scratch.models.matrix_factorization import MatrixFactorization as NumpyMF


def pair(num_users=6, num_items=5, rank=3, bias=True, seed=0):
    torch.manual_seed(seed)
    model = TorchMF(num_users, num_items, rank, bias=bias).double()
    twin = NumpyMF(num_users, num_items, rank, bias=bias).double()
    twin.load_state_dict(model.state_dict())
    for p in twin.parameters():
        assert p.dtype == np.float64
    return model, twin


USERS = np.array([0, 1, 5, 2, 2, 3, 4, 0])
ITEMS = np.array([4, 0, 1, 1, 3, 2, 0, 0])
RATINGS = np.array([1.0, 2.5, 3.0, 4.0, 5.0, 2.0, 3.5, 4.5])


@pytest.mark.parametrize("bias", [True, False])
def test_twins_agree_forward_scores_and_gradients_in_float64(bias):
    model, twin = pair(bias=bias)
    assert list(twin.state_dict()) == list(model.state_dict())
    out_t = model(torch.tensor(USERS), torch.tensor(ITEMS))
    out_n = twin(st.tensor(USERS), st.tensor(ITEMS))
    np.testing.assert_allclose(out_n.numpy(), out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(twin.scores().numpy(), model.scores().detach().numpy(), rtol=1e-12)
    # forward(users, items) is the scores() matrix read at those cells
    np.testing.assert_allclose(model.scores().detach().numpy()[USERS, ITEMS], out_t.detach().numpy(), rtol=1e-12)
    # gradients of the training loss, in both engines
    loss_t = rec.matrix_factorization_loss(model, torch.tensor(USERS * 5 + ITEMS), torch.tensor(RATINGS), 0.3)
    loss_n = rec.matrix_factorization_loss(twin, st.tensor(USERS * 5 + ITEMS), st.tensor(RATINGS), 0.3)
    loss_t.backward()
    loss_n.backward()
    assert abs(loss_t.item() - loss_n.item()) < 1e-12
    grads_t = {n: p.grad.numpy() for n, p in model.named_parameters()}
    for name, p in twin.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads_t[name], rtol=1e-10, atol=1e-14, err_msg=name)
    # and the pair-wise forward has the same gradients as torch's
    model.zero_grad()
    twin.zero_grad()
    (model(torch.tensor(USERS), torch.tensor(ITEMS)) ** 2).sum().backward()
    (twin(st.tensor(USERS), st.tensor(ITEMS)) ** 2).sum().backward()
    for (name, p), q in zip(twin.named_parameters(), model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=name)


def test_torch_model_passes_gradcheck():
    model, _ = pair()
    names = [n for n, _ in model.named_parameters()]
    flat = torch.tensor(USERS * 5 + ITEMS)

    def loss(*params):
        out = torch.func.functional_call(model, dict(zip(names, params)), ())
        return ((out.reshape(-1)[flat] - torch.tensor(RATINGS)) ** 2).mean()

    model.forward = model.scores  # functional_call calls forward(); scores() is the whole matrix
    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())
    assert torch.autograd.gradcheck(loss, params)


def test_numpy_twin_gradients_match_central_differences():
    _, twin = pair()
    flat = st.tensor(USERS * 5 + ITEMS)
    loss = rec.matrix_factorization_loss(twin, flat, st.tensor(RATINGS), 0.3)
    loss.backward()
    eps = 1e-6
    for name, p in twin.named_parameters():
        numeric = np.zeros_like(p.data)
        for idx in np.ndindex(p.data.shape):
            old = p.data[idx]
            p.data[idx] = old + eps
            up = rec.matrix_factorization_loss(twin, flat, st.tensor(RATINGS), 0.3).item()
            p.data[idx] = old - eps
            down = rec.matrix_factorization_loss(twin, flat, st.tensor(RATINGS), 0.3).item()
            p.data[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(p.grad.numpy(), numeric, atol=1e-8, err_msg=name)


def test_same_training_trajectory_in_both_engines_float64():
    model, twin = pair()
    losses_t = rec.fit_matrix_factorization(model, USERS, ITEMS, RATINGS, torch, steps=20)
    losses_n = rec.fit_matrix_factorization(twin, USERS, ITEMS, RATINGS, st, steps=20)
    np.testing.assert_allclose(losses_n, losses_t, rtol=1e-9)
    assert losses_t[-1] < losses_t[0] / 2


def test_fit_recovers_the_true_rank_by_validation_rmse():
    data = rec.make_ratings(num_users=80, num_items=60, rank=2, per_user=20, noise=0.2, seed=1)
    assert np.linalg.matrix_rank(data.true_scores - 3.5) == 2
    train, test = rec.train_test_split_ratings(data, seed=1)
    errors = {}
    for rank in (1, 2, 4):
        torch.manual_seed(0)
        model = TorchMF(data.num_users, data.num_items, rank).double()
        rec.fit_matrix_factorization(model, data.users[train], data.items[train], data.ratings[train], torch, steps=300)
        with torch.no_grad():
            errors[rank] = rec.rmse(model.scores().numpy()[data.users[test], data.items[test]], data.ratings[test])
    assert min(errors, key=errors.get) == 2, errors
    baseline = rec.rmse(np.full(test.sum(), data.ratings[train].mean()), data.ratings[test])
    assert errors[2] < 0.6 * baseline


def test_make_ratings_is_missing_not_at_random_and_seeded():
    a, b = rec.make_ratings(seed=3), rec.make_ratings(seed=3)
    np.testing.assert_array_equal(a.ratings, b.ratings)
    counts = np.bincount(a.items, minlength=a.num_items)
    assert counts.max() > 4 * np.median(counts)  # popular items are seen far more often
    # users pick what they like: observed ratings are above the mean of the full matrix
    assert a.ratings.mean() > a.true_scores.mean() + 0.2
    assert len(set(zip(a.users.tolist(), a.items.tolist()))) == len(a.users)
    train, test = rec.train_test_split_ratings(a)
    assert not (train & test).any() and (train | test).all()
    assert set(a.users[test]) == set(range(a.num_users))


@settings(max_examples=30, deadline=None)
@given(seed=st_h.integers(0, 10_000), k=st_h.integers(1, 12))
def test_ndcg_matches_sklearn(seed, k):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(7, 12))            # continuous: no ties
    relevance = rng.integers(0, 4, size=(7, 12)).astype(float)
    relevance[0] = 0                              # a user with nothing relevant is skipped...
    relevance[1, 0] = 1                           # ...but not one with something
    keep = relevance.sum(1) > 0
    expected = ndcg_score(relevance[keep], scores[keep], k=k)
    assert rec.ndcg_at_k(scores, relevance, k) == pytest.approx(expected, rel=1e-12)


def test_recall_and_ndcg_by_hand():
    scores = np.array([[0.9, 0.8, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4]])
    relevance = np.array([[0, 1, 1, 0], [1, 0, 0, 0]])
    # user 0: top-2 = items 0, 1 -> 1 of 2 relevant; user 1: top-2 = items 3, 2 -> 0 of 1
    assert rec.recall_at_k(scores, relevance, 2) == pytest.approx((0.5 + 0.0) / 2)
    # user 0: DCG = 1/log2(3), ideal = 1 + 1/log2(3); user 1: 0
    ndcg0 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert rec.ndcg_at_k(scores, relevance, 2) == pytest.approx(ndcg0 / 2)
    # excluding already-seen item 0 for user 0 moves items 1 and 3 into the top 2
    exclude = np.array([[1, 0, 0, 0], [0, 0, 0, 0]], bool)
    assert rec.recall_at_k(scores, relevance, 2, exclude=exclude) == pytest.approx(0.25)
    assert rec.recall_at_k(scores, relevance, 4) == 1.0


def test_fold_in_is_ridge_regression():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(10, 3))
    items, ratings, offsets = np.array([1, 4, 7, 8, 9]), rng.normal(size=5), rng.normal(size=5)
    p = rec.fold_in_user(q, items, ratings, offsets, l2=1e-12)
    lstsq = np.linalg.lstsq(q[items], ratings - offsets, rcond=None)[0]
    np.testing.assert_allclose(p, lstsq, atol=1e-8)
    shrunk = rec.fold_in_user(q, items, ratings, offsets, l2=10.0)
    assert np.linalg.norm(shrunk) < np.linalg.norm(p)
    np.testing.assert_array_equal(rec.fold_in_user(q, [], [], [], l2=0.1), np.zeros(3))


def test_implicit_fit_ranks_interactions_above_chance():
    data = rec.make_ratings(num_users=60, num_items=40, rank=2, per_user=10, seed=2)
    inter = rec.to_matrix(data.users, data.items, 1.0, data.num_users, data.num_items)
    torch.manual_seed(0)
    model = TorchMF(data.num_users, data.num_items, 2).double()
    losses = rec.fit_implicit(model, inter, torch, steps=100)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        scores = model.scores().numpy()
    assert rec.recall_at_k(scores, inter, 10) > 2 * 10 / data.num_items
    with pytest.raises(ValueError, match="0/1 matrix"):
        rec.fit_implicit(model, inter * 2, torch)


def test_baselines():
    pop = rec.popularity_scores(np.array([0, 1, 1]), np.array([2, 2, 0]), 3, 4)
    np.testing.assert_array_equal(pop, [[1, 0, 2, 0]] * 3)
    m = np.random.default_rng(0).normal(size=(20, 2)) @ np.random.default_rng(1).normal(size=(2, 15))
    np.testing.assert_allclose(rec.truncated_svd_scores(m, 2), m, atol=1e-8)
    assert rec.effective_rank(m) <= 2


@pytest.mark.parametrize("call, message", [
    (lambda: rec.ndcg_at_k(np.zeros((2, 3)), np.zeros((2, 4)), 2), "one shape"),
    (lambda: rec.ndcg_at_k(np.zeros((2, 3)), np.ones((2, 3)), 4), "k must be an int in [1, 3]"),
    (lambda: rec.recall_at_k(np.zeros((2, 3)), np.zeros((2, 3)), 1), "no user has a relevant item"),
    (lambda: rec.rmse([1, 2], [1, 2, 3]), "one shape"),
    (lambda: rec.make_ratings(num_items=5, per_user=10), "more than the 5 items"),
    (lambda: TorchMF(3, 4)(torch.tensor([0, 3]), torch.tensor([0, 1])), "users must lie in [0, 3)"),
    (lambda: NumpyMF(3, 4)(st.tensor([0, 1]), st.tensor([[0, 1]])), "1-D users and items"),
    (lambda: rec.fit_matrix_factorization(TorchMF(3, 4), [0, 1], [0], [1.0, 2.0], torch), "three 1-D arrays"),
])
def test_bad_input_is_explained(call, message):
    with pytest.raises((ValueError, IndexError)) as info:
        call()
    assert message in str(info.value)
