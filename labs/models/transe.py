"""TransE (Bordes et al. 2013): knowledge-graph embeddings where a relation is a translation.

    model = TransE(num_entities, num_relations, embedding_dim=32, p=1)
    d = model(heads, relations, tails)            # (B,) distances ||e_h + r - e_t||_p
    all_tails = model.tail_distances(heads, relations)   # (B, num_entities): every candidate tail
    loss = margin_loss(d_true, d_corrupted, margin=1.0)  # mean(relu(margin + d_true - d_corrupted))

A fact (h, r, t) is plausible when the head's vector moved by the relation's vector lands
near the tail's: ``e_h + r ~ e_t``, so the *distance* is the score, lower is better.
Training pushes true triples below corrupted ones (a head or tail replaced at random) by a
margin; entity vectors are kept on the unit sphere (:meth:`TransE.normalise_entities_`),
otherwise the loss could be lowered by growing every vector. The NumPy twin,
``labs/scratch/models/transe.py``, is this file line for line on ``labs.scratch``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from labs.models._checks import check_positive_int

__all__ = ["TransE", "margin_loss"]


class TransE(nn.Module):
    """``TransE(num_entities, num_relations, embedding_dim=32, p=1)``: ``forward(h, r, t)`` -> (B,) distances."""

    def __init__(self, num_entities: int, num_relations: int, embedding_dim: int = 32, p: int = 1):
        super().__init__()
        check_positive_int("TransE", num_entities=num_entities, num_relations=num_relations, embedding_dim=embedding_dim)
        if p not in (1, 2):
            raise ValueError(f"TransE: p must be 1 (L1 distance) or 2 (L2 distance), as in Bordes et al.; got {p!r}")
        self.num_entities, self.num_relations, self.p = num_entities, num_relations, p
        self.entity = nn.Embedding(num_entities, embedding_dim)
        self.relation = nn.Embedding(num_relations, embedding_dim)
        bound = 6.0 / math.sqrt(embedding_dim)  # the paper's uniform initialisation
        nn.init.uniform_(self.entity.weight, -bound, bound)
        nn.init.uniform_(self.relation.weight, -bound, bound)
        with torch.no_grad():
            self.relation.weight.div_(self.relation.weight.norm(p=2, dim=1, keepdim=True))  # relations once, at the start
        self.normalise_entities_()

    def normalise_entities_(self) -> None:
        """Put every entity vector back on the unit sphere (the paper does it before each step)."""
        with torch.no_grad():
            self.entity.weight.div_(self.entity.weight.norm(p=2, dim=1, keepdim=True).clamp(min=1e-12))

    def _check(self, ids, table: str, count: int):
        if not hasattr(ids, "ndim") or ids.ndim != 1 or "int" not in str(ids.dtype):  # a tensor of ids, either engine
            raise TypeError(f"TransE expects {table} ids as a 1-D integer tensor; got "
                            f"{type(ids).__name__} {getattr(ids, 'dtype', '')} of shape {tuple(getattr(ids, 'shape', ()))}")
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= count):
            raise IndexError(f"TransE: {table} ids must be in [0, {count}); got values from {int(ids.min())} to {int(ids.max())}")
        return ids.long()

    def forward(self, heads, relations, tails):
        h = self.entity(self._check(heads, "head", self.num_entities))  # (B, d)
        r = self.relation(self._check(relations, "relation", self.num_relations))  # (B, d)
        t = self.entity(self._check(tails, "tail", self.num_entities))  # (B, d)
        return (h + r - t).norm(p=self.p, dim=-1)  # (B,)

    def tail_distances(self, heads, relations):
        """``||e_h + r - e_t||`` for every entity t: (B, num_entities), for ranking (h, r, ?)."""
        h = self.entity(self._check(heads, "head", self.num_entities))
        r = self.relation(self._check(relations, "relation", self.num_relations))
        return ((h + r)[:, None, :] - self.entity.weight[None, :, :]).norm(p=self.p, dim=-1)  # (B, N)

    def head_distances(self, relations, tails):
        """``||e_h + r - e_t||`` for every entity h: (B, num_entities), for ranking (?, r, t)."""
        r = self.relation(self._check(relations, "relation", self.num_relations))
        t = self.entity(self._check(tails, "tail", self.num_entities))
        return (self.entity.weight[None, :, :] + (r - t)[:, None, :]).norm(p=self.p, dim=-1)  # (B, N)


def margin_loss(positive, negative, margin: float = 1.0):
    """``mean(relu(margin + d(true) - d(corrupted)))``: zero once every true triple is closer by ``margin``.

    PyTorch's ``F.margin_ranking_loss(negative, positive, ones, margin)`` is the same number.
    """
    if positive.shape != negative.shape:
        raise ValueError(f"margin_loss expects one corrupted distance per true one; got shapes "
                         f"{tuple(positive.shape)} and {tuple(negative.shape)}")
    return (margin + positive - negative).relu().mean()
