"""``MultiheadAttention``, like ``torch.nn.MultiheadAttention`` (names, shapes, masks, outputs).

    q, k, v = x W_q^T + b_q, x W_k^T + b_k, x W_v^T + b_v    # rows of in_proj_weight: [W_q; W_k; W_v]
    split each into num_heads heads of size head_dim = embed_dim / num_heads
    head_i = softmax(q_i k_i^T / sqrt(head_dim) + mask) v_i    # (batch, heads, L, head_dim)
    output = concat(head_1, ..., head_h) W_o^T + b_o           # out_proj

Masks use PyTorch's *MultiheadAttention* convention, the opposite of
``scaled_dot_product_attention``'s boolean masks: here **True means "do not attend"**.
``key_padding_mask`` (batch, S) hides padded keys; ``attn_mask`` (L, S) or
(batch * num_heads, L, S) hides pairs. Float masks are added to the scores in both places.
A query whose keys are all hidden gets zero attention weights, so its output is just
``out_proj.bias`` (PyTorch's MultiheadAttention returns NaN there; see ``labs.scratch.attention``).
"""

from __future__ import annotations

import numpy as np

from labs.scratch import functional as F
from labs.scratch.attention import attention_weights, scaled_dot_product_attention
from labs.scratch.nn import init
from labs.scratch.nn.linear import Linear, _check_device, _empty_parameter, _float_dtype, _positive_int
from labs.scratch.nn.module import Module
from labs.scratch.tensor import Tensor

__all__ = ["MultiheadAttention"]


def _additive(mask, name: str, dtype) -> np.ndarray:
    """MultiheadAttention's masks as numbers to add: bool True -> -inf, float as given."""
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype == bool:
        return np.where(m, -np.inf, 0.0).astype(dtype)
    if not np.issubdtype(m.dtype, np.floating):
        raise TypeError(f"MultiheadAttention expects {name} to be boolean (True = ignore) or float (added to the scores); got dtype {m.dtype}")
    return m.astype(dtype, copy=False)


class MultiheadAttention(Module):
    """Multi-head attention with PyTorch's parameters ``in_proj_weight`` (3E, E),
    ``in_proj_bias`` (3E,) and ``out_proj`` (a Linear(E, E)).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights)``: output in
    the input's layout, ``(L, N, E)`` or ``(N, L, E)`` with ``batch_first=True``; weights
    ``(N, L, S)`` averaged over heads (``(N, heads, L, S)`` with
    ``average_attn_weights=False``), or None with ``need_weights=False``. As in PyTorch the
    returned weights are the ones actually used, i.e. after dropout. ``is_causal=True``
    without ``attn_mask`` builds the causal mask here (PyTorch requires the mask as well).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        _check_device(device, "MultiheadAttention")
        self.embed_dim = _positive_int(embed_dim, "embed_dim", "MultiheadAttention")
        self.num_heads = _positive_int(num_heads, "num_heads", "MultiheadAttention")
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads}), "
                f"since each head gets embed_dim // num_heads features"
            )
        if add_bias_kv or add_zero_attn or kdim not in (None, embed_dim) or vdim not in (None, embed_dim):
            raise ValueError("MultiheadAttention: add_bias_kv, add_zero_attn and kdim/vdim != embed_dim are not implemented in the NumPy engine")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiheadAttention expects 0 <= dropout < 1; got {dropout}")
        self.head_dim = embed_dim // num_heads
        self.dropout, self.batch_first = float(dropout), batch_first
        self.kdim = self.vdim = embed_dim
        dtype = _float_dtype(dtype, "MultiheadAttention")
        self.in_proj_weight = _empty_parameter((3 * embed_dim, embed_dim), dtype)
        if bias:
            self.in_proj_bias = _empty_parameter((3 * embed_dim,), dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # PyTorch: Xavier-uniform for the stacked projections, zero biases; out_proj.weight keeps Linear's init
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _check(self, t, name: str) -> Tensor:
        if not isinstance(t, Tensor):
            raise TypeError(f"MultiheadAttention expects {name} to be a labs.scratch Tensor; got {type(t).__name__}")
        layout = "(batch, seq, embed_dim)" if self.batch_first else "(seq, batch, embed_dim)"
        if t.ndim not in (2, 3) or t.shape[-1] != self.embed_dim:
            raise ValueError(
                f"MultiheadAttention(embed_dim={self.embed_dim}) expects {name} of shape {layout} "
                f"(or (seq, embed_dim) unbatched); got {tuple(t.shape)}"
            )
        if t.dtype != self.in_proj_weight.dtype:
            raise TypeError(f"MultiheadAttention: {name} has dtype {t.dtype} but the weights have {self.in_proj_weight.dtype}")
        return t

    def _mask(self, key_padding_mask, attn_mask, is_causal, N, L, S, dtype):
        """One additive mask broadcastable to (N, heads, L, S), or None."""
        total = None
        if attn_mask is None and is_causal:
            attn_mask = ~np.tril(np.ones((L, S), dtype=bool))
        if attn_mask is not None:
            m = _additive(attn_mask, "attn_mask", dtype)
            if m.shape == (L, S):
                total = m
            elif m.shape == (N * self.num_heads, L, S):
                total = m.reshape(N, self.num_heads, L, S)
            else:
                raise ValueError(
                    f"MultiheadAttention expects attn_mask of shape (L, S) = ({L}, {S}) or "
                    f"(batch * num_heads, L, S) = ({N * self.num_heads}, {L}, {S}); got {m.shape}"
                )
        if key_padding_mask is not None:
            m = _additive(key_padding_mask, "key_padding_mask", dtype)
            if m.shape != (N, S):
                raise ValueError(f"MultiheadAttention expects key_padding_mask of shape (batch, S) = ({N}, {S}); got {m.shape}")
            m = m[:, None, None, :]
            total = m if total is None else total + m
        return total

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        q_in, k_in, v_in = (self._check(t, n) for t, n in ((query, "query"), (key, "key"), (value, "value")))
        if not q_in.ndim == k_in.ndim == v_in.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be batched or all unbatched; got shapes {tuple(q_in.shape)}, {tuple(k_in.shape)}, {tuple(v_in.shape)}")
        if tuple(k_in.shape) != tuple(v_in.shape):
            raise ValueError(f"MultiheadAttention expects key and value of the same shape; got {tuple(k_in.shape)} and {tuple(v_in.shape)}")
        unbatched = q_in.ndim == 2
        self_attention = query is key and key is value

        def to_batch_first(t):
            if unbatched:
                return t.unsqueeze(0)
            return t if self.batch_first else t.transpose(0, 1)

        q, k, v = to_batch_first(q_in), to_batch_first(k_in), to_batch_first(v_in)
        if q.shape[0] != k.shape[0]:
            raise ValueError(f"MultiheadAttention: query and key have different batch sizes ({q.shape[0]} vs {k.shape[0]})")
        N, L, E = q.shape
        S = k.shape[1]
        if N == 0 or L == 0 or S == 0:
            raise ValueError(f"MultiheadAttention got an empty batch or sequence: query {tuple(query.shape)}, key {tuple(key.shape)}")
        if unbatched and key_padding_mask is not None:
            kpm = key_padding_mask.data if isinstance(key_padding_mask, Tensor) else np.asarray(key_padding_mask)
            key_padding_mask = kpm[None]
        W, b = self.in_proj_weight, self.in_proj_bias
        if self_attention:  # one matrix product for q, k and v together
            qkv = F.linear(q, W, b)  # (N, L, 3E)
            q, k, v = qkv[..., :E], qkv[..., E : 2 * E], qkv[..., 2 * E :]
        else:
            bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E : 2 * E], b[2 * E :])
            q, k, v = F.linear(q, W[:E], bq), F.linear(k, W[E : 2 * E], bk), F.linear(v, W[2 * E :], bv)
        h, d = self.num_heads, self.head_dim
        q = q.reshape(N, L, h, d).transpose(1, 2)  # (N, h, L, d)
        k = k.reshape(N, S, h, d).transpose(1, 2)  # (N, h, S, d)
        v = v.reshape(N, S, h, d).transpose(1, 2)  # (N, h, S, d)
        mask = self._mask(key_padding_mask, attn_mask, is_causal, N, L, S, q.dtype)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            weights = attention_weights(q, k, attn_mask=mask)  # (N, h, L, S)
            weights = F.dropout(weights, p, True) if p > 0 else weights
            out = weights @ v
        else:
            out = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        out = out.transpose(1, 2).reshape(N, L, E)  # heads side by side again
        out = self.out_proj(out)
        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if weights is not None:
            if average_attn_weights:
                weights = weights.mean(dim=1)
            if unbatched:
                weights = weights.squeeze(0)
        return out, weights
