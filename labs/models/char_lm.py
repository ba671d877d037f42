"""A character-level language model: embedding -> recurrent layer -> linear head.

    logits = CharLM(vocab_size, cell="lstm")(idx)        # idx (B, T) -> logits (B, T, V)

``logits[:, t]`` scores the character that comes *after* ``idx[:, t]``, so training pairs
are windows of the text shifted by one (:func:`next_char_windows`). The recurrent layer
is ``torch.nn.RNN``, ``LSTM`` or ``GRU`` (chosen by ``cell``); its weights keep PyTorch's
names, so the NumPy twin in ``labs/scratch/models/char_lm.py`` loads this model's
``state_dict`` unchanged.

Also here: :func:`generate` (seeded sampling with a temperature), :func:`sample_next`
(the sampling rule of :mod:`labs.sampling`, shared with the twin) and :func:`bits_per_char`
(validation bits per character on a long text, scoring the same targets as the
counting baselines of :mod:`labs.lm_baselines`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from labs.sampling import check_sampling_args, sampling_probs
from labs.sampling import sample_next as _sample_next

__all__ = ["CharLM", "CELLS", "next_char_windows", "sample_next", "next_char_probs", "generate", "bits_per_char"]

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharLM(nn.Module):
    """Predict the next character from all the characters before it.

    Parameters: ``vocab_size`` (V), ``embed_dim`` (E), ``hidden_size`` (H),
    ``num_layers``, ``cell`` (``"rnn"``, ``"lstm"`` or ``"gru"``) and ``dropout``
    (between stacked recurrent layers, as in ``torch.nn.LSTM``).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_size: int = 128, num_layers: int = 1,
                 cell: str = "lstm", dropout: float = 0.0):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"CharLM: {name} must be a positive int; got {value!r}")
        if cell not in CELLS:
            raise ValueError(f"CharLM: cell must be one of {sorted(CELLS)}; got {cell!r}")
        self.vocab_size, self.cell = int(vocab_size), cell
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = CELLS[cell](embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, state=None, return_state: bool = False):
        """``idx`` (B, T) of ids -> logits (B, T, V); with ``return_state`` also the final state.

        ``state`` continues from an earlier call (``h`` for RNN/GRU, ``(h, c)`` for LSTM,
        each (num_layers, B, H)); ``None`` starts from zeros.
        """
        if not torch.is_tensor(idx) or idx.dtype not in (torch.int64, torch.int32):
            raise TypeError(
                f"CharLM expects a tensor of integer character ids of shape (B, T); got "
                f"{type(idx).__name__}{'' if not torch.is_tensor(idx) else ' of dtype ' + str(idx.dtype)}"
                " (use torch.as_tensor(tokenizer.encode(text))[None])"
            )
        if idx.ndim != 2:
            raise ValueError(f"CharLM expects ids of shape (B, T); got {tuple(idx.shape)} (add a batch axis: idx[None])")
        x = self.embedding(idx)  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H): the top layer's hidden state at every step
        logits = self.head(out)  # (B, T, V): the head is applied to each h_t, it feeds nothing back
        return (logits, state) if return_state else logits


def next_char_windows(ids, seq_len: int, stride: int | None = None):
    """Cut a 1-D id sequence into training pairs ``(x, y)`` of shape (N, seq_len).

    ``y`` is ``x`` shifted by one character: ``y[n, t] = ids[start_n + t + 1]``. Windows
    start every ``stride`` characters (default ``seq_len``: no overlap).
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D array of integer ids; got shape {ids.shape} and dtype {ids.dtype}")
    stride = seq_len if stride is None else stride
    for name, value in (("seq_len", seq_len), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    if len(ids) < seq_len + 1:
        raise ValueError(f"a text of {len(ids)} ids is too short for one window of seq_len={seq_len} (needs seq_len + 1)")
    starts = np.arange(0, len(ids) - seq_len, stride)
    offsets = starts[:, None] + np.arange(seq_len)[None, :]
    return ids[offsets].astype(np.int64), ids[offsets + 1].astype(np.int64)


def _check_temperature(temperature) -> float:
    return check_sampling_args(temperature)[0]


def sample_next(logits, temperature: float, rng: np.random.Generator) -> int:
    """Draw one id from ``softmax(logits / temperature)`` with ``rng`` (inverse CDF).

    ``temperature = 0`` returns the argmax. Low temperatures sharpen the distribution
    towards the most likely characters; high ones flatten it towards uniform. This is
    :func:`labs.sampling.sample_next` without top-k and top-p (chapter 7 adds those).
    """
    return _sample_next(logits, temperature, rng)


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


def _encode_prompt(tokenizer, prompt: str) -> np.ndarray:
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty str (the model needs at least one character to start from); got {prompt!r}")
    return np.asarray(tokenizer.encode(prompt), dtype=np.int64)


@torch.no_grad()
def next_char_probs(model: CharLM, tokenizer, prompt: str, temperature: float = 1.0) -> np.ndarray:
    """The model's distribution over the character after ``prompt``, at ``temperature``: (V,)."""
    temperature = _check_temperature(temperature)
    ids = torch.as_tensor(_encode_prompt(tokenizer, prompt))[None].to(_model_device(model))
    was_training = model.training
    model.eval()
    try:
        logits = model(ids)[0, -1].double().cpu().numpy()
    finally:
        model.train(was_training)
    return sampling_probs(logits, temperature)


@torch.no_grad()
def generate(model: CharLM, tokenizer, prompt: str, n: int, temperature: float = 1.0, seed: int = 0) -> str:
    """Continue ``prompt`` by ``n`` sampled characters; returns prompt + continuation.

    The prompt is read in one call, then one character at a time is sampled and fed
    back, carrying the recurrent state (so each step costs one step of the recurrence,
    not a re-read of the whole text). Sampling uses ``numpy.random.default_rng(seed)``:
    the same seed gives the same text.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n (how many characters to generate) must be an int >= 0; got {n!r}")
    temperature = _check_temperature(temperature)
    rng = np.random.default_rng(seed)
    device = _model_device(model)
    ids = torch.as_tensor(_encode_prompt(tokenizer, prompt))[None].to(device)
    was_training = model.training
    model.eval()  # no dropout while sampling
    out = np.empty(n, dtype=np.int64)
    try:
        logits, state = model(ids, return_state=True)
        for i in range(n):
            out[i] = sample_next(logits[0, -1].double().cpu().numpy(), temperature, rng)
            step = torch.tensor([[out[i]]], device=device)
            logits, state = model(step, state, return_state=True)
    finally:
        model.train(was_training)
    return prompt + tokenizer.decode(out)


@torch.no_grad()
def bits_per_char(model: CharLM, ids, chunk: int = 256, context: int = 64, batch_size: int = 256) -> float:
    """Bits per character of ``model`` on a long id sequence, scoring every target ``ids[1:]``.

    The text is cut into chunks of ``chunk`` targets; each chunk is read after up to
    ``context`` earlier characters (a warm-up that is not scored), so every character
    except the very first is predicted exactly once, with at least ``context``
    characters of history where the text has them. These are the same targets that
    :class:`labs.lm_baselines.BigramLM` scores, so the two numbers compare directly.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"ids must be a 1-D sequence of at least 2 ids; got shape {ids.shape}")
    for name, value in (("chunk", chunk), ("context", context), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if name == "context" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'context' else 'positive'} int; got {value!r}")
    device = _model_device(model)
    was_training = model.training
    model.eval()
    total_nats, total_count = 0.0, 0
    # chunk k scores the targets at positions [first, last) of ids
    firsts = np.arange(1, len(ids), chunk)
    try:
        for group in range(0, len(firsts), batch_size):
            rows_x, rows_y, rows_mask = [], [], []
            for first in firsts[group : group + batch_size]:
                last = min(first + chunk, len(ids))
                start = max(0, first - 1 - context)
                x, y = ids[start : last - 1], ids[start + 1 : last]
                scored = np.arange(start + 1, last) >= first  # the warm-up targets are not scored
                rows_x.append(x), rows_y.append(y), rows_mask.append(scored)
            width = max(len(r) for r in rows_x)
            # Right padding is harmless: a recurrent model reads left to right, so padded steps
            # come after every scored step and cannot change its prediction.
            pad = lambda rows, fill: np.stack([np.pad(r, (0, width - len(r)), constant_values=fill) for r in rows])  # noqa: E731, B023 (used in this iteration only)
            x = torch.as_tensor(pad(rows_x, 0), device=device)
            y = torch.as_tensor(pad(rows_y, 0), device=device)
            mask = torch.as_tensor(pad(rows_mask, False), device=device)
            logits = model(x)
            if logits.dtype in (torch.float16, torch.bfloat16):
                logits = logits.float()  # a low-precision model's log-probabilities are summed in float32 at least
            nll = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
            total_nats += float(nll[mask.reshape(-1)].double().sum())
            total_count += int(mask.sum())
    finally:
        model.train(was_training)
    assert total_count == len(ids) - 1, "every target must be scored exactly once"
    return total_nats / total_count / math.log(2.0)
