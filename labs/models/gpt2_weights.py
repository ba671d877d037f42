"""OpenAI's GPT-2 weights, downloaded once, verified, and renamed for our GPT (no torch here).

    config, state = load_pretrained("gpt2")      # GPTConfig, {nanoGPT key: float32 ndarray}
    tokenizer = gpt2_tokenizer()                 # GPT-2's byte-level BPE (encode / decode)

``labs.models.gpt.from_pretrained`` and ``labs.scratch.models.gpt.from_pretrained`` load
``state`` into the two engines. The file is Hugging Face's ``model.safetensors`` of
``openai-community/gpt2`` at a fixed revision, fetched with :func:`labs.data.download`: its
SHA-256 is checked, it is cached under :func:`labs.data.cache_dir`, and it is read with
``safetensors`` (a flat table of arrays), never unpickled. Without a network and without
a cached copy, :class:`labs.data.OfflineError` says so.

Hugging Face stores GPT-2's four projections as ``Conv1D`` layers, whose weight is the
transpose of ``nn.Linear``'s ((in, out) instead of (out, in)); the renaming transposes
them. The original file also holds each layer's causal mask (``h.N.attn.bias``), a
constant that our model builds itself, so it is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from labs.data.cache import cache_dir
from labs.data.download import OfflineError, download
from labs.models.gpt_config import GPTConfig

__all__ = ["PRETRAINED", "gpt2_state_dict", "load_gpt2_safetensors", "load_pretrained", "GPT2Tokenizer", "gpt2_tokenizer"]

_REVISION = "607a30d783dfa663caf39e06633721c8d4cfcd7e"
_BASE = f"https://huggingface.co/openai-community/gpt2/resolve/{_REVISION}"

# name -> its number of heads (the shapes do not say) and its files, each (url, sha256, size in bytes or None)
PRETRAINED = {
    "gpt2": {
        "n_head": 12,
        "weights": (f"{_BASE}/model.safetensors", "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707", 548_105_171),
        "vocab": (f"{_BASE}/vocab.json", "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783", 1_042_301),
        "merges": (f"{_BASE}/merges.txt", "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5", None),
    },
}

_CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
_SKIPPED = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers, not weights


def _entry(name: str) -> dict:
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; available: {sorted(PRETRAINED)}")
    return PRETRAINED[name]


def _fetch(name: str, part: str, timeout: float) -> Path:
    url, sha256, size = _entry(name)[part]
    try:
        return download(url, sha256, filename=f"{name}-{_REVISION[:8]}-{url.rsplit('/', 1)[-1]}", timeout=timeout)
    except OfflineError as error:
        how_big = f" ({size / 1e6:.0f} MB)" if size else ""
        raise OfflineError(
            f"{name}'s {part} file{how_big} must be downloaded once from {url}, and there is no network "
            f"(or it is too slow): you are offline. Connect once (the file is then cached in {os.fspath(cache_dir())}), "
            "or stay with the course's own GPT, which trains offline in chapter 7."
        ) from error


def gpt2_state_dict(tensors, n_head: int, dtype=np.float32) -> tuple[GPTConfig, dict]:
    """Rename and transpose Hugging Face GPT-2 arrays (either key layout) into our GPT's keys.

    ``tensors`` maps names such as ``h.0.attn.c_attn.weight`` (OpenAI's file) or
    ``transformer.h.0.attn.c_attn.weight`` (``GPT2LMHeadModel.state_dict()``) to arrays.
    Returns the matching :class:`GPTConfig` (sizes read from the shapes) and a state dict
    of ``dtype`` arrays with both ``transformer.wte.weight`` and the tied ``lm_head.weight``.
    """
    arrays = {}
    for key, value in tensors.items():
        key = key[len("transformer."):] if key.startswith("transformer.") else key
        if key.endswith(_SKIPPED):
            continue
        value = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
        arrays[key] = value.T if key.endswith(_CONV1D) else value
    for needed in ("wte.weight", "wpe.weight", "ln_f.weight", "h.0.attn.c_attn.weight"):
        if needed not in arrays:
            raise ValueError(f"these arrays are not GPT-2's: {needed!r} is missing (got keys such as {sorted(arrays)[:4]})")
    vocab_size, n_embd = arrays["wte.weight"].shape
    n_layer = 1 + max(int(k.split(".")[1]) for k in arrays if k.startswith("h."))
    config = GPTConfig(vocab_size=int(vocab_size), block_size=int(arrays["wpe.weight"].shape[0]), n_layer=n_layer,
                       n_head=n_head, n_embd=int(n_embd), bias="ln_f.bias" in arrays, tie_weights=True)
    state = {("lm_head.weight" if k == "lm_head.weight" else "transformer." + k): np.ascontiguousarray(v, dtype=dtype)
             for k, v in arrays.items()}
    state.setdefault("lm_head.weight", state["transformer.wte.weight"])
    if not np.array_equal(state["lm_head.weight"], state["transformer.wte.weight"]):
        raise ValueError("lm_head.weight differs from wte.weight: GPT-2 ties them, so these are not GPT-2's weights")
    return config, state


def load_gpt2_safetensors(path, n_head: int) -> tuple[GPTConfig, dict]:
    """Read a GPT-2 ``.safetensors`` file (no pickle) and rename it with :func:`gpt2_state_dict`."""
    try:
        from safetensors.numpy import load_file
    except ImportError as error:  # pragma: no cover - safetensors is a dependency
        raise ImportError("reading GPT-2's weights needs safetensors: pip install safetensors") from error
    return gpt2_state_dict(load_file(os.fspath(path)), n_head)


def load_pretrained(name: str = "gpt2", timeout: float = 60.0) -> tuple[GPTConfig, dict]:
    """Download (once) and read ``name``'s weights: ``(GPTConfig, state dict of float32 arrays)``."""
    entry = _entry(name)
    return load_gpt2_safetensors(_fetch(name, "weights", timeout), entry["n_head"])


class GPT2Tokenizer:
    """GPT-2's byte-level BPE: ``encode(text) -> list of ids``, ``decode(ids) -> text``.

    A thin wrapper around the ``tokenizers`` library (Hugging Face's Rust tokenizer), built
    from GPT-2's own ``vocab.json`` and ``merges.txt``.
    """

    def __init__(self, vocab_path, merges_path):
        try:
            from tokenizers import ByteLevelBPETokenizer
        except ImportError as error:  # pragma: no cover - installed with transformers
            raise ImportError("GPT-2's tokenizer needs the tokenizers package: pip install tokenizers") from error
        self._bpe = ByteLevelBPETokenizer(os.fspath(vocab_path), os.fspath(merges_path))
        self.vocab_size = self._bpe.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self._bpe.encode(text).ids

    def decode(self, ids) -> str:
        return self._bpe.decode([int(i) for i in ids])


def gpt2_tokenizer(name: str = "gpt2", timeout: float = 60.0) -> GPT2Tokenizer:
    """GPT-2's tokenizer, from its verified ``vocab.json`` and ``merges.txt`` (downloaded once)."""
    return GPT2Tokenizer(_fetch(name, "vocab", timeout), _fetch(name, "merges", timeout))
