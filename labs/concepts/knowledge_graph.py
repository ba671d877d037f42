"""A knowledge graph: facts as (subject, relation, object) triples, and queries over them.

A knowledge graph stores what a text states in passing ("GPT-3 is a Transformer")
as explicit, checkable edges. A query is a pattern with blanks; answering it is
matching the pattern against the triples. Chapter 9 learns vector embeddings of
such a graph (TransE); here the graph is queried exactly.
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["KnowledgeGraph", "course_graph", "COURSE_GRAPH_COLUMNS"]

Triple = tuple[str, str, str]


class KnowledgeGraph:
    """A set of (subject, relation, object) triples with pattern queries."""

    def __init__(self, triples: Iterable[Triple] = ()):
        self._triples: set[Triple] = set()
        for triple in triples:
            self.add(*triple)

    def add(self, subject: str, relation: str, obj: str) -> None:
        for name, value in (("subject", subject), ("relation", relation), ("object", obj)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"a triple's {name} must be a non-empty string; got {value!r}")
        self._triples.add((subject, relation, obj))

    @property
    def triples(self) -> list[Triple]:
        return sorted(self._triples)

    @property
    def entities(self) -> list[str]:
        return sorted({s for s, _, _ in self._triples} | {o for _, _, o in self._triples})

    @property
    def relations(self) -> list[str]:
        return sorted({r for _, r, _ in self._triples})

    def __len__(self) -> int:
        return len(self._triples)

    def __contains__(self, triple) -> bool:
        return tuple(triple) in self._triples

    def match(self, subject: str | None = None, relation: str | None = None, obj: str | None = None) -> list[Triple]:
        """Every triple that agrees with the pattern; ``None`` is a blank that matches anything."""
        return [
            t for t in self.triples
            if (subject is None or t[0] == subject) and (relation is None or t[1] == relation) and (obj is None or t[2] == obj)
        ]

    def objects(self, subject: str, relation: str) -> set[str]:
        """``{o : (subject, relation, o)}``: 'what does GPT-3 use?'."""
        return {o for _, _, o in self.match(subject, relation, None)}

    def subjects(self, relation: str, obj: str) -> set[str]:
        """``{s : (s, relation, obj)}``: 'what is a Transformer?'."""
        return {s for s, _, _ in self.match(None, relation, obj)}

    def reachable(self, subject: str, relation: str) -> set[str]:
        """Everything reached from ``subject`` by one or more ``relation`` edges (transitive closure)."""
        seen: set[str] = set()
        frontier = {subject}
        while frontier:
            step = set().union(*(self.objects(s, relation) for s in frontier)) - seen
            seen |= step
            frontier = step
        return seen

    def draw(self, ax=None, columns: list[list[str]] | None = None):
        """Draw the graph: entities as labelled boxes, triples as arrows labelled by relation.

        ``columns`` places entities left to right (a list of lists of names); by
        default an entity's column is the length of the longest path that reaches it.
        """
        import matplotlib.pyplot as plt
        from matplotlib.patches import FancyArrowPatch

        if columns is None:
            depth = {e: 0 for e in self.entities}
            for _ in range(len(depth)):  # longest-path layering; enough rounds for any DAG
                for s, _, o in self._triples:
                    depth[o] = max(depth[o], min(depth[s] + 1, len(depth)))
            columns = [sorted(e for e in depth if depth[e] == d) for d in sorted(set(depth.values()))]
        pos = {}
        for x, column in enumerate(columns):
            for i, name in enumerate(column):
                pos[name] = (x, -(i - (len(column) - 1) / 2))
        missing = set(self.entities) - set(pos)
        if missing:
            raise ValueError(f"columns leave out these entities: {sorted(missing)}")
        if ax is None:
            _, ax = plt.subplots(figsize=(2.8 * len(columns) + 1, 0.8 * max(len(c) for c in columns) + 1.5))
        for s, r, o in self.triples:
            (x0, y0), (x1, y1) = pos[s], pos[o]
            ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12, color="grey",
                                         shrinkA=28, shrinkB=28, connectionstyle="arc3,rad=0.08"))
            # label at 35% of the way, where arrows that share a target have not met yet
            ax.text(x0 + 0.35 * (x1 - x0), y0 + 0.35 * (y1 - y0) + 0.08, r, fontsize=7, color="tab:red", ha="center")
        for name, (x, y) in pos.items():
            ax.text(x, y, name, ha="center", va="center", fontsize=8,
                    bbox=dict(boxstyle="round,pad=0.3", fc="lightyellow", ec="grey"))
        ax.set_xlim(-0.7, len(columns) - 0.3)
        ys = [y for _, y in pos.values()]
        ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
        ax.axis("off")
        return ax


def course_graph() -> KnowledgeGraph:
    """A small graph of models, their families and how they were pre-trained.

    The model names are those of :data:`labs.facts.MODEL_FACTS`.
    """
    return KnowledgeGraph([
        ("LeNet-5", "is_a", "CNN"),
        ("AlexNet", "is_a", "CNN"),
        ("VGG-16", "is_a", "CNN"),
        ("CNN", "uses", "convolution"),
        ("CNN", "is_a", "neural network"),
        ("GPT-3", "is_a", "Transformer"),
        ("BERT-large", "is_a", "Transformer"),
        ("Transformer", "uses", "attention"),
        ("Transformer", "is_a", "neural network"),
        ("GPT-3", "pretrained_by", "next-token prediction"),
        ("BERT-large", "pretrained_by", "masked-token prediction"),
        ("next-token prediction", "is_a", "self-supervised learning"),
        ("masked-token prediction", "is_a", "self-supervised learning"),
        ("AlexNet", "trained_on", "ImageNet"),
        ("VGG-16", "trained_on", "ImageNet"),
        ("LeNet-5", "trained_on", "MNIST"),
    ])


# A left-to-right layout of :func:`course_graph` with few crossing arrows.
COURSE_GRAPH_COLUMNS = [
    ["LeNet-5", "AlexNet", "VGG-16", "GPT-3", "BERT-large"],
    ["MNIST", "ImageNet", "CNN", "Transformer", "next-token prediction", "masked-token prediction"],
    ["convolution", "neural network", "attention", "self-supervised learning"],
]
