"""Knowledge-graph completion, measured: a generated graph, TransE training, filtered ranking and a rule baseline.

    graph = geography_graph(seed=0)                 # cities, countries, continents, languages
    train, test = split_triples(graph.triples, 0.2, seed=0)
    model, losses = train_transe(train, graph.num_entities, graph.num_relations, steps=600)
    ranks = filtered_tail_ranks(distances, test, graph.triples)   # lower distance = better
    mrr(ranks), hits_at(ranks, 10)
    rules = PathRules.fit(train, graph.num_entities, graph.num_relations)
    ranks_rules = filtered_tail_ranks(-rules.tail_scores(test[:, 0], test[:, 1]), test, graph.triples)

The graph has a *known structure*: every city lies in one country, every country in one
continent and speaks one language, and the two "city" relations are compositions
(``city_continent = city_in then country_in``, ``city_language = city_in then language_of``).
A held-out fact is therefore recoverable from the training facts whenever its path is, and
a rule baseline that mines two-step paths (:class:`PathRules`, in the spirit of the path
ranking algorithm) is the fair opponent for an embedding model.

Ranking is in the *filtered* setting of Bordes et al. (2013): when the true tail of (h, r, ?)
is ranked, the other tails that are also true (in any split) are removed from the
candidates, so a model is not punished for ranking another correct answer first. Ties
count half (the mean of the optimistic and the pessimistic rank), so a baseline that gives
many candidates the same score is neither flattered nor punished.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Graph", "geography_graph", "split_triples", "filtered_tail_ranks", "mrr", "hits_at", "FactPrompts",
           "PathRules", "train_transe"]


@dataclass
class Graph:
    """Entities and relations by name, and the true triples as an int64 (N, 3) array of (head, relation, tail) ids."""

    entities: list
    relations: list
    triples: np.ndarray

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def name(self, triple) -> tuple:
        h, r, t = (int(v) for v in triple)
        return self.entities[h], self.relations[r], self.entities[t]


def geography_graph(n_countries: int = 24, cities_per_country: int = 6, n_continents: int = 4, n_languages: int = 8,
                    seed: int = 0) -> Graph:
    """A generated world: cities in countries in continents, one language per country, and the two composed relations."""
    for name, value in (("n_countries", n_countries), ("cities_per_country", cities_per_country),
                        ("n_continents", n_continents), ("n_languages", n_languages)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"geography_graph: {name} must be a positive int; got {value!r}")
    rng = np.random.default_rng(seed)
    countries = [f"country_{i}" for i in range(n_countries)]
    cities = [f"city_{i}" for i in range(n_countries * cities_per_country)]
    continents = [f"continent_{i}" for i in range(n_continents)]
    languages = [f"language_{i}" for i in range(n_languages)]
    entities = cities + countries + continents + languages
    relations = ["city_in", "country_in", "language_of", "city_continent", "city_language"]
    ent = {e: i for i, e in enumerate(entities)}
    rel = {r: i for i, r in enumerate(relations)}
    continent_of = rng.integers(0, n_continents, n_countries)
    language_of = rng.integers(0, n_languages, n_countries)
    triples = []
    for c in range(n_countries):
        triples.append((ent[countries[c]], rel["country_in"], ent[continents[continent_of[c]]]))
        triples.append((ent[countries[c]], rel["language_of"], ent[languages[language_of[c]]]))
    for i, city in enumerate(cities):
        c = i // cities_per_country
        triples.append((ent[city], rel["city_in"], ent[countries[c]]))
        triples.append((ent[city], rel["city_continent"], ent[continents[continent_of[c]]]))
        triples.append((ent[city], rel["city_language"], ent[languages[language_of[c]]]))
    return Graph(entities, relations, np.array(sorted(triples), dtype=np.int64))


def _check_triples(triples, name: str = "triples") -> np.ndarray:
    arr = np.asarray(triples)
    if arr.ndim != 2 or arr.shape[1] != 3 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array of shape (N, 3), rows (head, relation, tail); "
                         f"got shape {arr.shape}, dtype {arr.dtype}")
    return arr.astype(np.int64)


def split_triples(triples, test_fraction: float = 0.2, seed: int = 0):
    """``(train, test)``: a random ``test_fraction`` of the triples held out."""
    triples = _check_triples(triples)
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"split_triples: test_fraction must be strictly between 0 and 1; got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(triples))
    n_test = max(1, int(round(len(triples) * float(test_fraction))))
    return triples[np.sort(order[n_test:])], triples[np.sort(order[:n_test])]


def filtered_tail_ranks(distances, queries, known) -> np.ndarray:
    """The filtered rank (1 = best) of each query's true tail; ``distances`` (Q, N): lower is better.

    For query ``(h, r, t)`` every other ``t'`` with ``(h, r, t')`` in ``known`` is left out of
    the candidates; ties with the true tail count half.
    """
    distances = np.asarray(distances, dtype=np.float64)
    queries, known = _check_triples(queries, "queries"), _check_triples(known, "known")
    if distances.ndim != 2 or distances.shape[0] != len(queries):
        raise ValueError(f"filtered_tail_ranks: distances must be (number of queries, number of entities) = "
                         f"({len(queries)}, N); got {distances.shape}")
    if np.isnan(distances).any():
        raise ValueError("filtered_tail_ranks: distances contain NaN; a rank needs every candidate scored")
    true_tails: dict = {}
    for h, r, t in known:
        true_tails.setdefault((int(h), int(r)), set()).add(int(t))
    ranks = np.empty(len(queries))
    for i, (h, r, t) in enumerate(queries):
        row = distances[i]
        keep = np.ones(row.shape[0], dtype=bool)
        keep[[o for o in true_tails.get((int(h), int(r)), ()) if o != t]] = False
        better = np.sum(row[keep] < row[t])
        ties = np.sum(row[keep] == row[t]) - 1  # the true tail ties with itself
        ranks[i] = 1 + better + 0.5 * ties
    return ranks


def mrr(ranks) -> float:
    """Mean reciprocal rank: the mean of 1 / rank (1 when every answer comes first)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0 or (ranks < 1).any():
        raise ValueError(f"mrr expects ranks >= 1, at least one; got {ranks[:5]}")
    return float(np.mean(1.0 / ranks))


def hits_at(ranks, k: int) -> float:
    """The fraction of answers ranked in the top ``k``."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"hits_at: k must be an int >= 1; got {k!r}")
    return float(np.mean(ranks <= k))


@dataclass
class PathRules:
    """Rules ``r(x, z) <- a(x, y), b(y, z)`` mined from training triples, scored by their confidence.

    The steps ``a`` and ``b`` run over every relation and its inverse (a step backwards along an
    edge), and one-step rules ``r <- a`` are included. A rule's confidence is the share of the
    pairs it predicts on the training graph that are true training facts of ``r``. A query
    ``(h, r, ?)`` scores each tail by the largest confidence among the rules that reach it
    (a noisy-or would double count near-identical paths).
    """

    steps: np.ndarray  # (S, N, N) adjacency of every relation and inverse: 1 where the step exists
    confidence: dict  # relation -> list of (confidence, path) with path a tuple of step ids

    @classmethod
    def fit(cls, train, num_entities: int, num_relations: int, min_confidence: float = 0.1):
        train = _check_triples(train, "train")
        n = int(num_entities)
        adj = np.zeros((2 * num_relations, n, n), dtype=np.float64)
        adj[train[:, 1], train[:, 0], train[:, 2]] = 1.0
        adj[num_relations + train[:, 1], train[:, 2], train[:, 0]] = 1.0  # inverses
        paths = [(a,) for a in range(2 * num_relations)] + [(a, b) for a in range(2 * num_relations)
                                                           for b in range(2 * num_relations)]
        confidence = {}
        for r in range(num_relations):
            target = adj[r] > 0
            rules = []
            for path in paths:
                if path == (r,):
                    continue  # a relation does not predict itself
                reach = cls._reach(adj, path) > 0
                predicted = reach.sum()
                if predicted:
                    conf = float((reach & target).sum() / predicted)
                    if conf >= min_confidence:
                        rules.append((conf, path))
            confidence[r] = sorted(rules, reverse=True)
        return cls(adj, confidence)

    @staticmethod
    def _reach(adj, path):
        out = adj[path[0]]
        for step in path[1:]:
            out = out @ adj[step]
        return out

    def tail_scores(self, heads, relations) -> np.ndarray:
        """(Q, N) scores, higher is better: the best confidence of a rule that reaches each tail."""
        heads, relations = np.asarray(heads, dtype=np.int64), np.asarray(relations, dtype=np.int64)
        scores = np.zeros((len(heads), self.steps.shape[1]))
        cache: dict = {}
        for i, (h, r) in enumerate(zip(heads, relations)):
            for conf, path in self.confidence[int(r)]:
                if path not in cache:
                    cache[path] = self._reach(self.steps, path) > 0
                scores[i] = np.maximum(scores[i], conf * cache[path][h])
        return scores


def train_transe(train, num_entities: int, num_relations: int, *, embedding_dim: int = 32, p: int = 1, steps: int = 600,
                 batch_size: int = 256, lr: float = 0.01, margin: float = 1.0, seed: int = 0):
    """Train :class:`labs.models.transe.TransE` with Adam on the margin loss; return ``(model, losses)``.

    Each step takes a batch of true triples and corrupts each one by replacing its head or
    its tail (a fair coin) with a uniformly drawn entity, then renormalises the entities.
    """
    import torch

    from labs.models.transe import TransE, margin_loss

    train = _check_triples(train, "train")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TransE(num_entities, num_relations, embedding_dim, p)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        batch = train[rng.integers(0, len(train), min(batch_size, len(train)))]
        corrupted = batch.copy()
        replace_head = rng.random(len(batch)) < 0.5
        corrupted[:, 0] = np.where(replace_head, rng.integers(0, num_entities, len(batch)), batch[:, 0])
        corrupted[:, 2] = np.where(~replace_head, rng.integers(0, num_entities, len(batch)), batch[:, 2])
        b, c = torch.from_numpy(batch), torch.from_numpy(corrupted)
        loss = margin_loss(model(b[:, 0], b[:, 1], b[:, 2]), model(c[:, 0], c[:, 1], c[:, 2]), margin)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.normalise_entities_()
        losses.append(loss.item())
    return model.eval(), losses


class FactPrompts:
    """Questions about a graph as token ids for a small GPT, with or without retrieved facts in front.

        prompts = FactPrompts(graph, store, paths={city_language: (city_in, language_of)})
        x, y = prompts.encode(questions, with_facts=True)   # x (N, context_length) ids, y (N,) answer ids

    Token ids: entity ``e`` is ``e``, relation ``r`` is ``num_entities + r``, then ``QUESTION``,
    ``END`` (after each fact) and ``PAD`` (on the left). A prompt with facts reads
    ``h r1 x END x r2 t END h r QUESTION`` and its answer is ``t``; without facts it is
    ``h r QUESTION``. The retriever (:meth:`retrieve`) follows the path of relations given for
    the question's relation (a rule, such as :class:`PathRules` mines) through ``store``, one
    edge at a time, so the answer is in the prompt exactly when the graph holds that path.
    """

    def __init__(self, graph: Graph, store, paths: dict, context_length: int = 11):
        self.graph, self.store, self.context_length = graph, _check_triples(store, "store"), int(context_length)
        self.paths = {int(r): tuple(int(step) for step in path) for r, path in paths.items()}
        self._next = {}
        for h, r, t in self.store:
            self._next.setdefault((int(h), int(r)), int(t))  # the first tail: the graph's relations here are functions
        E, R = graph.num_entities, graph.num_relations
        self.QUESTION, self.END, self.PAD = E + R, E + R + 1, E + R + 2
        self.vocab_size = E + R + 3
        kinds = [name.rsplit("_", 1)[0] for name in graph.entities]  # "city_3" -> "city"
        self.groups = [np.array([i for i, k in enumerate(kinds) if k == kind]) for kind in sorted(set(kinds))]

    def retrieve(self, head: int, relation: int) -> list:
        """The facts along ``paths[relation]`` from ``head``, as far as ``store`` has them."""
        if int(relation) not in self.paths:
            raise KeyError(f"FactPrompts has no retrieval path for relation {self.graph.relations[int(relation)]!r}; "
                           f"it has paths for {[self.graph.relations[r] for r in self.paths]}")
        facts, node = [], int(head)
        for step in self.paths[int(relation)]:
            if (node, step) not in self._next:
                break
            facts.append((node, step, self._next[node, step]))
            node = self._next[node, step]
        return facts

    def prompt(self, head: int, relation: int, facts=()) -> list:
        tokens = [tok for h, r, t in facts for tok in (h, self.graph.num_entities + r, t, self.END)]
        tokens += [int(head), self.graph.num_entities + int(relation), self.QUESTION]
        if len(tokens) > self.context_length:
            raise ValueError(f"FactPrompts: {len(facts)} facts and the question take {len(tokens)} tokens, more than "
                             f"context_length={self.context_length}: raise it")
        return [self.PAD] * (self.context_length - len(tokens)) + tokens

    def encode(self, questions, with_facts: bool):
        """``(x, y)``: one prompt per question triple (its tail is the answer), int64."""
        questions = _check_triples(questions, "questions")
        rows = [self.prompt(h, r, self.retrieve(h, r) if with_facts else ()) for h, r, _ in questions]
        return np.array(rows, dtype=np.int64).reshape(len(questions), self.context_length), questions[:, 2].copy()

    def rename(self, x, y, rng):
        """The same prompts in a made-up world: entities permuted at random within their kind (cities among cities, ...).

        Facts and answers stay consistent inside each prompt, but no longer match the real
        graph, so a model trained on renamed prompts can answer them only by reading the facts.
        """
        table = np.arange(self.vocab_size)
        for group in self.groups:
            table[group] = rng.permutation(group)
        return table[x], table[y]
