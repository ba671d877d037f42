"""The NumPy twin of ``labs.models.matrix_factorization.MatrixFactorization`` (same names, same state_dict).

    r_hat(u, i) = mu + b_u + b_i + p_u . q_i
"""

from __future__ import annotations

from labs.scratch import nn, zeros

from labs.models._checks import check_positive_int

__all__ = ["MatrixFactorization"]


class MatrixFactorization(nn.Module):
    """``forward(users, items)`` -> predicted ratings; ``scores()`` -> the full (users, items) matrix."""

    def __init__(self, num_users: int, num_items: int, rank: int = 8, bias: bool = True, init_std: float = 0.3):
        super().__init__()
        check_positive_int("MatrixFactorization", num_users=num_users, num_items=num_items, rank=rank)
        self.num_users, self.num_items, self.rank, self.bias = num_users, num_items, rank, bias
        self.user_factors = nn.Embedding(num_users, rank)
        self.item_factors = nn.Embedding(num_items, rank)
        # Small factors at the start (N(0, 1) would give dot products of size sqrt(rank)), but not
        # so small that training starts at the saddle point P = Q = 0.
        nn.init.normal_(self.user_factors.weight, std=init_std)
        nn.init.normal_(self.item_factors.weight, std=init_std)
        if bias:
            self.user_bias = nn.Embedding(num_users, 1)
            self.item_bias = nn.Embedding(num_items, 1)
            nn.init.zeros_(self.user_bias.weight)
            nn.init.zeros_(self.item_bias.weight)
            self.global_bias = nn.Parameter(zeros(1))

    def _check(self, users, items):
        if users.shape != items.shape or users.ndim != 1:
            raise ValueError(f"MatrixFactorization expects 1-D users and items of the same length (one pair each); "
                             f"got shapes {tuple(users.shape)} and {tuple(items.shape)}")
        if users.ndim == 1 and len(users) == 0:
            return
        for name, ids, n in (("users", users, self.num_users), ("items", items, self.num_items)):
            if (int(ids.min()) < 0 or int(ids.max()) >= n):
                raise IndexError(f"MatrixFactorization: {name} must lie in [0, {n}); got ids from {int(ids.min())} "
                                 f"to {int(ids.max())}")

    def forward(self, users, items):
        self._check(users, items)
        dot = (self.user_factors(users) * self.item_factors(items)).sum(-1)  # (B,)
        if not self.bias:
            return dot
        return dot + self.user_bias(users)[:, 0] + self.item_bias(items)[:, 0] + self.global_bias

    def scores(self):
        """Every user's predicted rating of every item, shape (num_users, num_items)."""
        out = self.user_factors.weight @ self.item_factors.weight.T
        if self.bias:
            out = out + self.user_bias.weight + self.item_bias.weight.T + self.global_bias
        return out
