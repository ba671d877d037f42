"""Chapter 2's library: self-supervised pairs, fusion, knowledge graphs, transfer, the concept map."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from labs.concepts.concept_map import CONCEPTS, RELATIONS, draw_concept_map
from labs.concepts.fusion import fusion_accuracies, late_fusion, split_views
from labs.concepts.knowledge_graph import COURSE_GRAPH_COLUMNS, KnowledgeGraph, course_graph
from labs.concepts.self_supervised import IGNORE_INDEX, NeighbourCounts, mask_tokens, next_token_pairs
from labs.concepts.transfer import (
    CHANNELS,
    few_per_class,
    make_trunk,
    pretrain_trunk,
    split_classes,
    train_target,
    with_head,
)
from labs.facts import MODEL_FACTS

# --------------------------------------------------------------------------- self-supervised pairs


def test_next_token_pairs():
    ids = np.array([4, 8, 15, 16, 23, 42])
    contexts, targets = next_token_pairs(ids, 2)
    assert contexts.tolist() == [[4, 8], [8, 15], [15, 16], [16, 23]]
    assert targets.tolist() == [15, 16, 23, 42]


@pytest.mark.parametrize(
    "ids, t, error",
    [(np.arange(3), 3, ValueError), (np.arange(5), 0, ValueError), ("abc", 1, TypeError),
     (np.zeros((2, 3), dtype=int), 1, ValueError), (np.array([0.5, 1.5, 2.5]), 1, TypeError)],
)
def test_next_token_pairs_rejects(ids, t, error):
    with pytest.raises(error):
        next_token_pairs(ids, t)


def test_mask_tokens_hides_the_right_share_and_labels_it():
    ids = np.arange(100, 200)
    inputs, labels, positions = mask_tokens(ids, 0.15, mask_id=-1, rng=np.random.default_rng(3))
    assert len(positions) == 15 and len(set(positions.tolist())) == 15
    assert np.all(inputs[positions] == -1) and np.array_equal(np.delete(inputs, positions), np.delete(ids, positions))
    assert np.array_equal(labels[positions], ids[positions])
    assert np.all(np.delete(labels, positions) == IGNORE_INDEX)
    again = mask_tokens(ids, 0.15, -1, np.random.default_rng(3))[2]
    other = mask_tokens(ids, 0.15, -1, np.random.default_rng(4))[2]
    assert np.array_equal(positions, again) and not np.array_equal(positions, other)
    assert len(mask_tokens(ids[:3], 0.01, -1, np.random.default_rng(0))[2]) == 1  # at least one


@pytest.mark.parametrize("rate", [0.0, 1.5, -0.2, True])
def test_mask_tokens_rejects_bad_rates(rate):
    with pytest.raises(ValueError, match="mask_rate"):
        mask_tokens(np.arange(10), rate, 0, np.random.default_rng(0))


def test_mask_tokens_bert_corruption_is_80_10_10_and_scores_only_the_chosen_positions():
    rng = np.random.default_rng(0)
    V = 50
    ids = rng.integers(0, V, size=20_000)
    inputs, labels, positions = mask_tokens(ids, 0.15, V, np.random.default_rng(1), corruption="bert", vocab_size=V)
    k = len(positions)
    assert k == 3000
    scored = labels != IGNORE_INDEX
    assert np.array_equal(np.flatnonzero(scored), positions) and np.array_equal(labels[scored], ids[scored])
    assert np.array_equal(inputs[~scored], ids[~scored])              # nothing else is touched
    chosen = inputs[positions]
    n_mask = int((chosen == V).sum())
    n_same = int((chosen == ids[positions]).sum())
    assert n_mask == 2400
    # 300 unchanged, plus the random draws that happen to hit the original token (1/V of 300)
    assert 300 <= n_same <= 300 + 20
    assert ((chosen != V) & (chosen != ids[positions])).sum() == k - n_mask - n_same
    assert inputs.max() <= V and inputs.min() >= 0


def test_mask_tokens_bert_wants_a_vocabulary_and_a_mask_id_outside_it():
    with pytest.raises(ValueError, match="vocab_size"):
        mask_tokens(np.arange(10), 0.5, 99, np.random.default_rng(0), corruption="bert")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        mask_tokens(np.arange(10), 0.5, 3, np.random.default_rng(0), corruption="bert", vocab_size=10)
    with pytest.raises(ValueError, match="corruption"):
        mask_tokens(np.arange(10), 0.5, 3, np.random.default_rng(0), corruption="random")


def test_mask_tokens_wants_a_generator():
    with pytest.raises(TypeError, match="default_rng"):
        mask_tokens(np.arange(10), 0.5, 0, rng=42)


def test_neighbour_counts_learn_a_periodic_text():
    ids = np.tile(np.array([0, 1, 2]), 200)
    left = NeighbourCounts(3, "left").fit(ids)
    both = NeighbourCounts(3, "both").fit(ids)
    assert left.accuracy(ids) == 1.0 and both.accuracy(ids) == 1.0
    assert left.bits_per_token(ids) < 0.01 < NeighbourCounts.uniform_bits(3)
    # bits by hand for one position
    row = left.counts[ids[0]] + left.k
    assert -left.log2_probs(ids[:3])[0] == pytest.approx(-np.log2(row[ids[1]] / row.sum()))


def test_both_neighbours_beat_one_on_random_pairs():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, size=5001)
    ids[1::2] = (ids[0:-1:2] + ids[2::2]) % 4  # odd positions are a function of both neighbours
    left, both = NeighbourCounts(4, "left").fit(ids), NeighbourCounts(4, "both").fit(ids)
    assert both.bits_per_token(ids) < left.bits_per_token(ids)


def test_neighbour_counts_errors():
    with pytest.raises(ValueError, match="sides"):
        NeighbourCounts(5, "right")
    with pytest.raises(ValueError, match="k must be positive"):
        NeighbourCounts(5, k=0)
    with pytest.raises(RuntimeError, match="fit"):
        NeighbourCounts(5).bits_per_token(np.arange(5))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        NeighbourCounts(5).fit(np.arange(7))


# --------------------------------------------------------------------------- fusion


def test_split_views_halves_the_image():
    x = np.arange(2 * 64).reshape(2, 64)
    left, right = split_views(x)
    assert left.shape == right.shape == (2, 32)
    rebuilt = np.concatenate([left.reshape(2, 8, 4), right.reshape(2, 8, 4)], axis=2).reshape(2, 64)
    assert np.array_equal(rebuilt, x)
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        split_views(np.zeros((2, 8, 8)))


def test_late_fusion_is_a_weighted_average():
    a, b = np.array([[0.9, 0.1]]), np.array([[0.0, 1.0]])
    assert np.allclose(late_fusion(a, b, 0.25), [[0.225, 0.775]])
    with pytest.raises(ValueError, match="shape"):
        late_fusion(a, np.ones((1, 3)) / 3)
    with pytest.raises(ValueError, match="weight"):
        late_fusion(a, b, 1.2)


def test_fusion_beats_single_views_and_late_fusion_survives_a_missing_view():
    from labs.data import load_digits

    result = fusion_accuracies(*load_digits())
    assert min(result["early fusion"], result["late fusion"]) > max(result["left view only"], result["right view only"])
    assert result["late fusion, right view missing"] > result["early fusion, right view missing"]


# --------------------------------------------------------------------------- knowledge graph


def test_knowledge_graph_queries():
    g = KnowledgeGraph([("a", "is_a", "b"), ("b", "is_a", "c"), ("a", "uses", "d")])
    assert len(g) == 3 and ("a", "is_a", "b") in g
    assert g.match(relation="is_a") == [("a", "is_a", "b"), ("b", "is_a", "c")]
    assert g.match("a", None, "d") == [("a", "uses", "d")]
    assert g.objects("a", "is_a") == {"b"} and g.subjects("is_a", "c") == {"b"}
    assert g.reachable("a", "is_a") == {"b", "c"}
    assert g.entities == ["a", "b", "c", "d"] and g.relations == ["is_a", "uses"]
    with pytest.raises(ValueError, match="non-empty string"):
        g.add("a", "", "b")


def test_reachable_stops_on_cycles():
    g = KnowledgeGraph([("a", "r", "b"), ("b", "r", "a")])
    assert g.reachable("a", "r") == {"a", "b"}


def test_course_graph_names_models_of_the_facts_table_and_draws():
    g = course_graph()
    facts = {r.name for r in MODEL_FACTS}
    models = {s for s, r, _ in g.triples if r in ("is_a", "pretrained_by", "trained_on")} - set(g.subjects("is_a", "self-supervised learning"))
    assert {m for m in models if m not in ("CNN", "Transformer")} <= facts
    assert sorted(e for column in COURSE_GRAPH_COLUMNS for e in column) == g.entities
    fig, ax = plt.subplots()
    g.draw(ax, columns=COURSE_GRAPH_COLUMNS)
    g.draw()  # automatic layering
    with pytest.raises(ValueError, match="leave out"):
        g.draw(ax, columns=[["GPT-3"]])
    plt.close("all")


# --------------------------------------------------------------------------- transfer


def test_few_per_class_and_split_classes():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    idx = few_per_class(y, 2, seed=0)
    assert np.bincount(y[idx]).tolist() == [2, 2, 2]
    assert np.array_equal(idx, few_per_class(y, 2, seed=0))
    with pytest.raises(ValueError, match="only 3"):
        few_per_class(y, 4)
    with pytest.raises(ValueError, match="positive int"):
        few_per_class(y, 0)
    x = np.arange(9 * 4, dtype=float).reshape(9, 4)
    xs, ys = split_classes(x, y, (2, 0))
    assert xs.shape == (6, 1, 4) and xs.dtype == np.float32
    assert ys.tolist() == [1, 1, 1, 0, 0, 0]  # class 2 -> 0, class 0 -> 1, in the order given
    with pytest.raises(ValueError, match=r"\(N, L\)"):
        split_classes(x[:, None, :], y, (0,))


def test_trunk_shapes_and_a_tiny_transfer_run():
    trunk = make_trunk()
    assert trunk(torch.zeros(3, 1, 40)).shape == (3, CHANNELS)
    assert with_head(trunk, 5)(torch.zeros(3, 1, 40)).shape == (3, 5)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 40)).astype(np.float32), np.repeat(np.arange(10), 20)
    source = pretrain_trunk(x, y, epochs=1)
    xt, yt = split_classes(x, y, (5, 6, 7, 8, 9))
    before = [p.detach().clone() for p in source[0].parameters()]
    acc = train_target(xt[:10], yt[:10], xt, yt, "frozen", source[0], steps=2)
    assert 0.0 <= acc <= 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, source[0].parameters())), "the caller's trunk is not modified"
    with pytest.raises(ValueError, match="mode"):
        train_target(xt, yt, xt, yt, "partial", source[0])
    with pytest.raises(ValueError, match="pre-trained trunk"):
        train_target(xt, yt, xt, yt, "finetune", None)


# --------------------------------------------------------------------------- concept map


def test_concept_map_draws_every_relation():
    assert {n for a, b, _ in RELATIONS for n in (a, b)} <= set(CONCEPTS)
    assert "large models" in CONCEPTS
    ax = draw_concept_map()
    assert len(ax.patches) == len(RELATIONS)
    plt.close("all")


# --------------------------------------------------------------------------- early fusion: additive scores, and a hidden layer


def test_early_fusion_formula_matches_scikit_learn_and_is_additive():
    from sklearn.linear_model import LogisticRegression

    from labs.concepts.fusion import interaction_strength, softmax_of_linear

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(120, 3)), rng.normal(size=(120, 2))
    y = (a[:, 0] + b[:, 1] > 0).astype(int) + (a[:, 1] > 1)
    model = LogisticRegression(max_iter=2000).fit(np.hstack([a, b]), y)
    assert np.allclose(softmax_of_linear(model.coef_, model.intercept_, a, b), model.predict_proba(np.hstack([a, b])))
    additive = interaction_strength(lambda p, q: model.decision_function(np.hstack([p, q])), a, b)
    product = interaction_strength(lambda p, q: (p[:, :1] * q[:, :1]) @ np.ones((1, 3)), a, b)
    assert additive < 1e-12 and product > 0.1


def test_hidden_fusion_logits_are_the_mlps_scores_and_interact():
    from scipy.special import softmax

    from labs.concepts.fusion import fit_hidden_fusion, hidden_fusion_logits, interaction_strength

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    y = (a[:, 0] * b[:, 0] > 0).astype(int)  # XOR-like: only an interaction predicts it
    model = fit_hidden_fusion((a, b), y, hidden=16, max_iter=3000)
    logits = hidden_fusion_logits(model, a, b)
    # scikit-learn keeps one logit for two classes; its probability is the sigmoid of it
    p1 = 1 / (1 + np.exp(-logits[:, 0])) if logits.shape[1] == 1 else softmax(logits, axis=1)[:, 1]
    assert np.allclose(p1, model.predict_proba(np.hstack([a, b]))[:, 1])
    assert interaction_strength(lambda p, q: hidden_fusion_logits(model, p, q), a, b) > 0.1


def test_interaction_strength_rejects_mismatched_views():
    from labs.concepts.fusion import interaction_strength

    with pytest.raises(ValueError, match="two views"):
        interaction_strength(lambda p, q: p, np.zeros((3, 1)), np.zeros((4, 1)))


# --------------------------------------------------------------------------- multi-task


def test_multitask_loss_is_the_weighted_sum_and_checks_its_inputs():
    import torch.nn.functional as F

    from labs.concepts.multitask import multitask_loss

    torch.manual_seed(0)
    za, zb = torch.randn(4, 3), torch.randn(5, 2)
    ya, yb = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 0, 1, 1, 0])
    got = multitask_loss([za, zb], [ya, yb], [0.5, 2.0])
    assert torch.isclose(got, 0.5 * F.cross_entropy(za, ya) + 2.0 * F.cross_entropy(zb, yb))
    with pytest.raises(ValueError, match="one weight per task"):
        multitask_loss([za], [ya, yb], [1.0])
    with pytest.raises(ValueError, match=">= 0"):
        multitask_loss([za], [ya], [-1.0])


def test_two_task_training_with_weight_zero_ignores_the_second_task():
    from labs.concepts.multitask import train_two_tasks

    rng = np.random.default_rng(0)
    xa, ya = rng.normal(size=(10, 1, 40)).astype(np.float32), rng.integers(0, 5, 10)
    xb, yb = rng.normal(size=(30, 1, 40)).astype(np.float32), rng.integers(0, 5, 30)
    yb_other = (yb + 1) % 5
    m1 = train_two_tasks(xa, ya, xb, yb, weight_b=0.0, steps=3, batch_b=8)
    m2 = train_two_tasks(xa, ya, xb, yb_other, weight_b=0.0, steps=3, batch_b=8)
    for p, q in zip(m1.trunk.parameters(), m2.trunk.parameters()):
        assert torch.equal(p, q), "with lambda_B = 0, task B's labels cannot change the trunk"
    m3 = train_two_tasks(xa, ya, xb, yb_other, weight_b=1.0, steps=3, batch_b=8)
    assert any(not torch.equal(p, q) for p, q in zip(m1.trunk.parameters(), m3.trunk.parameters()))
    with pytest.raises(ValueError, match="positive"):
        train_two_tasks(xa, ya, xb, yb, weight_b=1.0, steps=0)
