"""TransE in both engines (forward and gradients equal in float64, a central-difference
gradcheck), the ranking metrics against scikit-learn, the filtered setting, the rule
baseline on a graph whose rules are known, and the generated graph's structure."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as hst
from sklearn.metrics import label_ranking_average_precision_score, top_k_accuracy_score

import labs.scratch as st
from labs.kg import (PathRules, filtered_tail_ranks, geography_graph, hits_at, mrr, split_triples,
                     train_transe)
from labs.models import transe as torch_transe
from labs.scratch.models import transe as numpy_transe


def twins(p, seed=0, n=9, k=3, d=5):
    torch.manual_seed(seed)
    model = torch_transe.TransE(n, k, d, p=p).double()
    with torch.no_grad():  # off the unit sphere too, so normalisation is not what makes them agree
        model.entity.weight.mul_(torch.linspace(0.5, 1.5, n, dtype=torch.float64)[:, None])
    previous = st.get_default_dtype()
    st.set_default_dtype(st.float64)
    try:
        twin = numpy_transe.TransE(n, k, d, p=p)
    finally:
        st.set_default_dtype(previous)
    twin.load_state_dict(model.state_dict())
    return model, twin


H, R, T = np.array([0, 1, 2, 8, 4]), np.array([0, 2, 1, 1, 0]), np.array([3, 4, 6, 0, 4])


@pytest.mark.parametrize("p", [1, 2])
def test_the_numpy_twin_matches_pytorch_forward_and_gradients_in_float64(p):
    model, twin = twins(p)
    assert list(twin.state_dict()) == list(model.state_dict()) == ["entity.weight", "relation.weight"]
    h, r, t = (torch.from_numpy(a) for a in (H, R, T))
    hs, rs, ts = (st.tensor(a) for a in (H, R, T))
    np.testing.assert_allclose(twin(hs, rs, ts).numpy(), model(h, r, t).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(twin.tail_distances(hs, rs).numpy(), model.tail_distances(h, r).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(twin.head_distances(rs, ts).numpy(), model.head_distances(r, t).detach().numpy(), rtol=1e-12)
    neg = torch.from_numpy(np.array([5, 6, 7, 1, 2]))
    loss = torch_transe.margin_loss(model(h, r, t), model(h, r, neg), 1.0) + model.tail_distances(h, r).mean()
    loss.backward()
    twin_loss = numpy_transe.margin_loss(twin(hs, rs, ts), twin(hs, rs, st.tensor(neg.numpy())), 1.0) + twin.tail_distances(hs, rs).mean()
    twin_loss.backward()
    assert twin_loss.item() == pytest.approx(loss.item(), rel=1e-12)
    for name, param in model.named_parameters():
        np.testing.assert_allclose(dict(twin.named_parameters())[name].grad.numpy(), param.grad.numpy(), rtol=1e-10, atol=1e-14,
                                   err_msg=name)


def test_gradcheck_of_the_distance_against_central_differences():
    _, twin = twins(2)
    entity = st.Tensor(twin.entity.weight.numpy().copy(), requires_grad=True)
    relation = st.Tensor(twin.relation.weight.numpy().copy(), requires_grad=True)

    def distances(entity, relation):  # the model's forward with its tables swapped for gradcheck's copies
        twin.entity._parameters["weight"], twin.relation._parameters["weight"] = entity, relation
        return twin.tail_distances(st.tensor(H), st.tensor(R))

    assert st.gradcheck(distances, (entity, relation)) is True


def test_margin_loss_is_pytorchs_margin_ranking_loss():
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.rand(50, generator=g), torch.rand(50, generator=g)
    ours = torch_transe.margin_loss(pos, neg, 0.3)
    assert torch.allclose(ours, F.margin_ranking_loss(neg, pos, torch.ones(50), margin=0.3))
    with pytest.raises(ValueError, match="one corrupted distance per true one"):
        torch_transe.margin_loss(pos, neg[:3])


def test_normalised_entities_lie_on_the_unit_sphere_and_bad_ids_are_refused():
    model = torch_transe.TransE(6, 2, 4)
    assert torch.allclose(model.entity.weight.norm(dim=1), torch.ones(6))
    with pytest.raises(IndexError, match=r"head ids must be in \[0, 6\)"):
        model(torch.tensor([6]), torch.tensor([0]), torch.tensor([1]))
    with pytest.raises(TypeError, match="1-D integer tensor"):
        model(torch.tensor([0.0]), torch.tensor([0]), torch.tensor([1]))
    with pytest.raises(ValueError, match="p must be 1"):
        torch_transe.TransE(6, 2, 4, p=3)


@settings(max_examples=25, deadline=None)
@given(hst.integers(3, 30), hst.integers(1, 20), hst.integers(0, 10_000))
def test_unfiltered_mrr_and_hits_equal_scikit_learns(n_entities, n_queries, seed):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_queries, n_entities))  # continuous: no ties
    tails = rng.integers(0, n_entities, n_queries)
    queries = np.stack([np.zeros(n_queries, int), np.arange(n_queries), tails], axis=1)  # one query per relation
    ranks = filtered_tail_ranks(-scores, queries, queries)  # nothing else is known true: no filtering
    truth = np.eye(n_entities, dtype=int)[tails]
    assert mrr(ranks) == pytest.approx(label_ranking_average_precision_score(truth, scores), rel=1e-12)
    k = min(3, n_entities - 1)
    assert hits_at(ranks, k) == pytest.approx(top_k_accuracy_score(tails, scores, k=k, labels=np.arange(n_entities)))


def test_the_filtered_setting_ignores_other_true_answers_and_ties_count_half():
    distances = np.array([[0.1, 0.2, 0.3, 0.3]])
    query = np.array([[0, 0, 2]])
    assert filtered_tail_ranks(distances, query, query)[0] == 3.5  # two better, one tie
    known = np.array([[0, 0, 2], [0, 0, 0], [0, 0, 1]])  # entities 0 and 1 are true tails too
    assert filtered_tail_ranks(distances, query, known)[0] == 1.5
    with pytest.raises(ValueError, match=r"distances must be \(number of queries"):
        filtered_tail_ranks(distances[0], query, known)
    with pytest.raises(ValueError, match="integer array of shape"):
        filtered_tail_ranks(distances, [[0, 0]], known)


def test_the_generated_graph_has_the_structure_it_promises():
    g = geography_graph(n_countries=5, cities_per_country=3, n_continents=2, n_languages=3, seed=1)
    assert g.num_entities == 15 + 5 + 2 + 3 and len(g.triples) == 5 * 2 + 15 * 3
    facts = {g.name(t) for t in g.triples}
    country = {h: t for h, r, t in facts if r == "city_in"}
    for h, r, t in facts:
        if r == "city_language":
            assert (country[h], "language_of", t) in facts
        if r == "city_continent":
            assert (country[h], "country_in", t) in facts
    with pytest.raises(ValueError, match="n_countries must be a positive int"):
        geography_graph(n_countries=0)


def test_path_rules_find_the_compositions_and_answer_with_them():
    g = geography_graph(n_countries=6, cities_per_country=3, seed=0)
    rules = PathRules.fit(g.triples, g.num_entities, g.num_relations)
    R = len(g.relations)
    best = rules.confidence[g.relations.index("city_language")][0]
    assert best == (1.0, (g.relations.index("city_in"), g.relations.index("language_of")))
    queries = g.triples[g.triples[:, 1] == g.relations.index("city_language")]
    ranks = filtered_tail_ranks(-rules.tail_scores(queries[:, 0], queries[:, 1]), queries, g.triples)
    assert mrr(ranks) == 1.0
    steps = [step for rules_of in rules.confidence.values() for _, path in rules_of for step in path]
    assert min(steps) >= 0 and max(steps) < 2 * R  # each step is a relation or its inverse


def test_transe_learns_held_out_facts_better_than_chance_and_splits_are_disjoint():
    g = geography_graph(n_countries=8, cities_per_country=4, seed=0)
    train, test = split_triples(g.triples, 0.2, seed=0)
    assert len(train) + len(test) == len(g.triples)
    assert not {tuple(t) for t in train} & {tuple(t) for t in test}
    model, losses = train_transe(train, g.num_entities, g.num_relations, steps=200, embedding_dim=16)
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    with torch.no_grad():
        distances = model.tail_distances(torch.from_numpy(test[:, 0]), torch.from_numpy(test[:, 1])).numpy()
    ranks = filtered_tail_ranks(distances, test, g.triples)
    chance = mrr(np.arange(1, g.num_entities + 1))  # a uniformly random rank's MRR
    assert mrr(ranks) > 3 * chance


def test_fact_prompts_hold_the_answer_only_with_facts_and_renaming_keeps_them_consistent():
    from labs.kg import FactPrompts

    g = geography_graph(n_countries=4, cities_per_country=2, seed=0)
    base = [g.relations.index(r) for r in ("city_in", "country_in", "language_of")]
    store = g.triples[np.isin(g.triples[:, 1], base)]
    rel = g.relations.index
    prompts = FactPrompts(g, store, {rel("city_language"): (rel("city_in"), rel("language_of"))})
    questions = g.triples[g.triples[:, 1] == g.relations.index("city_language")]
    x, y = prompts.encode(questions, with_facts=True)
    assert x.shape == (len(questions), 11) and (x[:, -1] == prompts.QUESTION).all()
    assert all(answer in row[:-3] for row, answer in zip(x, y))  # the answer is among the retrieved facts
    closed, _ = prompts.encode(questions, with_facts=False)
    assert all(answer not in row for row, answer in zip(closed, y))
    renamed_x, renamed_y = prompts.rename(x, y, np.random.default_rng(0))
    kind = np.array([e.split("_")[0] for e in g.entities] + ["special"] * (prompts.vocab_size - g.num_entities))
    assert (kind[renamed_x] == kind[x]).all() and (kind[renamed_y] == kind[y]).all()  # cities stay cities, ...
    for row, answer, new_row, new_answer in zip(x, y, renamed_x, renamed_y):
        assert list(new_row).index(new_answer) == list(row).index(answer)  # the answer sits where it sat
    assert all(row[-3] == h and len(prompts.retrieve(h, r)) == 2 for row, (h, r, _) in zip(x, questions))
    with pytest.raises(ValueError, match="more than context_length=5"):
        FactPrompts(g, store, prompts.paths, context_length=5).encode(questions, with_facts=True)
    with pytest.raises(KeyError, match="no retrieval path for relation 'city_in'"):
        prompts.retrieve(0, rel("city_in"))
    missing = FactPrompts(g, store[store[:, 1] != rel("language_of")], prompts.paths)  # the second hop is gone
    assert len(missing.retrieve(questions[0, 0], questions[0, 1])) == 1
