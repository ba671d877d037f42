"""The NumPy twin of :mod:`labs.models.char_lm`, on ``labs.scratch.nn``.

Same constructor, same ``forward(idx, state=None, return_state=False)``, same
``state_dict`` keys (``embedding.weight``, ``rnn.weight_ih_l0``, ..., ``head.bias``), so

    twin = CharLM(V, E, H, cell="lstm"); twin.load_state_dict(torch_model.state_dict())

gives the logits of the PyTorch model. :func:`generate` uses the same sampling rule
(:func:`labs.models.char_lm.sample_next`), so with the same seed both write the same text.
"""

from __future__ import annotations

import numpy as np

import labs.scratch as st
from labs.scratch import nn

__all__ = ["CharLM", "CELLS", "generate"]

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharLM(nn.Module):
    """Embedding -> recurrent layer -> linear head, in NumPy (see :class:`labs.models.char_lm.CharLM`)."""

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_size: int = 128, num_layers: int = 1,
                 cell: str = "lstm", dropout: float = 0.0, dtype=None):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"CharLM: {name} must be a positive int; got {value!r}")
        if cell not in CELLS:
            raise ValueError(f"CharLM: cell must be one of {sorted(CELLS)}; got {cell!r}")
        self.vocab_size, self.cell = int(vocab_size), cell
        self.embedding = nn.Embedding(vocab_size, embed_dim, dtype=dtype)
        self.rnn = CELLS[cell](embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0, dtype=dtype)
        self.head = nn.Linear(hidden_size, vocab_size, dtype=dtype)

    def forward(self, idx, state=None, return_state: bool = False):
        """``idx`` (B, T) of ids -> logits (B, T, V) as a ``labs.scratch.Tensor``."""
        ids = idx.data if isinstance(idx, st.Tensor) else np.asarray(idx)
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"CharLM expects integer character ids of shape (B, T); got dtype {ids.dtype}")
        if ids.ndim != 2:
            raise ValueError(f"CharLM expects ids of shape (B, T); got {ids.shape} (add a batch axis: ids[None])")
        x = self.embedding(st.tensor(ids))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(out)  # (B, T, V)
        return (logits, state) if return_state else logits


def generate(model: CharLM, tokenizer, prompt: str, n: int, temperature: float = 1.0, seed: int = 0) -> str:
    """Continue ``prompt`` by ``n`` sampled characters (see :func:`labs.models.char_lm.generate`)."""
    from labs.models.char_lm import _check_temperature, _encode_prompt, sample_next

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n (how many characters to generate) must be an int >= 0; got {n!r}")
    temperature = _check_temperature(temperature)
    rng = np.random.default_rng(seed)
    ids = _encode_prompt(tokenizer, prompt)[None]
    was_training = model.training
    model.eval()
    out = np.empty(n, dtype=np.int64)
    try:
        with st.no_grad():
            logits, state = model(ids, return_state=True)
            for i in range(n):
                out[i] = sample_next(logits.data[0, -1], temperature, rng)
                logits, state = model(out[i : i + 1][None], state, return_state=True)
    finally:
        model.train(was_training)
    return prompt + tokenizer.decode(out)
