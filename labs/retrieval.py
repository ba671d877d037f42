"""Dense retrieval with a small language model: embed texts by mean-pooling hidden states, rank by cosine.

    vectors = embed_texts(gpt, tokenizer, docs)          # (N, n_embd), one vector per text
    scores = cosine_scores(embed_texts(gpt, tokenizer, queries), vectors)   # (Q, N), higher = closer

A character GPT reads at most ``block_size`` characters, so a longer text is cut into
consecutive windows of that length; each window's final hidden states are averaged over
its characters, and the text's vector is the average over all its characters (a window
counts as many times as it has characters). Characters the tokenizer does not know become
``unknown``. :func:`cosine_scores` centres both sides on the documents' mean first: the
hidden states of a language model share a large common direction, which would make every
cosine close to 1 and the ranking noisy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["embed_texts", "cosine_scores"]


def embed_texts(model, tokenizer, texts, block_size: int | None = None, unknown: str = "?", batch_size: int = 512) -> np.ndarray:
    """One float64 vector per text: the mean of the model's final hidden states over all its characters."""
    import torch

    if isinstance(texts, str) or len(texts) == 0:
        raise ValueError("embed_texts expects a non-empty list of strings (wrap a single text in a list)")
    block = int(block_size or model.config.block_size)
    known = set(tokenizer.chars)
    windows, owners = [], []
    for i, text in enumerate(texts):
        ids = tokenizer.encode("".join(c if c in known else unknown for c in text))
        if len(ids) == 0:
            raise ValueError(f"embed_texts: text {i} is empty; an empty text has no hidden state to average")
        for start in range(0, len(ids), block):
            windows.append(ids[start:start + block])
            owners.append(i)
    sums = np.zeros((len(texts), model.config.n_embd))
    counts = np.zeros(len(texts))
    device = model.transformer.wte.weight.device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for length in sorted({len(w) for w in windows}):  # equal lengths batch without padding
            chosen = [k for k, w in enumerate(windows) if len(w) == length]
            for start in range(0, len(chosen), batch_size):
                part = chosen[start:start + batch_size]
                x = torch.as_tensor(np.stack([windows[k] for k in part]), device=device)
                hidden = model.features(x).sum(1).double().cpu().numpy()  # (b, n_embd): summed over characters
                np.add.at(sums, [owners[k] for k in part], hidden)
                np.add.at(counts, [owners[k] for k in part], length)
    model.train(was_training)
    return sums / counts[:, None]


def cosine_scores(queries, documents) -> np.ndarray:
    """(Q, N) cosine similarities after centring both on the documents' mean vector."""
    queries, documents = np.asarray(queries, dtype=np.float64), np.asarray(documents, dtype=np.float64)
    if queries.ndim != 2 or documents.ndim != 2 or queries.shape[1] != documents.shape[1]:
        raise ValueError(f"cosine_scores expects (Q, d) queries and (N, d) documents with the same d; "
                         f"got {queries.shape} and {documents.shape}")
    centre = documents.mean(0)
    q, d = queries - centre, documents - centre
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    return q @ d.T
