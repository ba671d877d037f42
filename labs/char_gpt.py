"""The book's character-level GPT: the training recipe of Chapter 7, and a weight cache.

    recipe = labs.pick(cpu=CPU_RECIPE, gpu=GPU_RECIPE)
    run = train_char_gpt(train_ids, val_ids, vocab_size, fingerprint, recipe)
    run.model, run.history, run.from_cache

Chapter 7 trains a small GPT (:mod:`labs.models.gpt`) on the course corpus and Chapter 8
starts from it. Training takes tens of seconds on a CPU, so the weights are kept in the
data cache (``labs.data.cache.cache_dir() / "char_gpt"``), one file per *key*. The key is a
SHA-256 over everything that decides the weights: the corpus fingerprint, the training
and validation ids themselves (so a different split is a different model), the vocabulary
size, the model configuration, the recipe, and the source code of the model and of the
training function. Change any of them and the key changes, so a stale file is never read;
the file also repeats its own key and is checked against the model before it is used.

Weights are stored with ``numpy.savez`` (plain arrays, read back with
``allow_pickle=False``), never pickled, so a cache file cannot run code when it is loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "CPU_RECIPE",
    "GPU_RECIPE",
    "Recipe",
    "TrainedGPT",
    "cache_key",
    "cache_path",
    "gpt_bits_per_char",
    "gpt_config",
    "ids_digest",
    "train_char_gpt",
]

CACHE_FORMAT = 1  # bump when the file layout changes


@dataclass(frozen=True)
class Recipe:
    """How the book's GPT is sized and trained (AdamW, warm-up then cosine, clipping)."""

    block_size: int = 32
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    position: str = "learned"
    stride: int = 8  # training windows start every `stride` characters (they overlap)
    batch_size: int = 32
    steps: int = 1600
    lr: float = 6e-3
    betas: tuple = (0.9, 0.99)
    weight_decay: float = 0.0
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1  # cosine decay down to 10 % of lr
    clip_grad_norm: float = 1.0
    eval_every: int = 400
    val_chars: int = 30_000  # validation characters scored during training
    seed: int = 0

    def __post_init__(self):
        for name in ("block_size", "n_layer", "n_head", "n_embd", "stride", "batch_size", "steps", "eval_every", "val_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Recipe.{name} must be a positive int; got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"Recipe.lr must be a positive number; got {self.lr!r}")
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"Recipe.warmup_steps must be in [0, steps={self.steps}); got {self.warmup_steps!r}")


# Measured on this corpus (issue 11): about 25 s on one CPU core, 108k parameters.
CPU_RECIPE = Recipe()
# nanoGPT's shakespeare_char size, for a GPU.
GPU_RECIPE = Recipe(block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2, stride=64, batch_size=64,
                    steps=3000, lr=1e-3, warmup_steps=100, eval_every=500, val_chars=200_000)


@dataclass
class TrainedGPT:
    """What :func:`train_char_gpt` returns."""

    model: object
    history: dict  # step_loss, val_step, val_loss, val_time (s since the start), time_s, steps
    from_cache: bool
    path: Path
    key: str
    config: object = field(repr=False, default=None)


def gpt_config(vocab_size: int, recipe: Recipe):
    """The :class:`labs.models.gpt.GPTConfig` that ``recipe`` describes."""
    from labs.models.gpt import GPTConfig

    return GPTConfig(vocab_size=int(vocab_size), block_size=recipe.block_size, n_layer=recipe.n_layer,
                     n_head=recipe.n_head, n_embd=recipe.n_embd, dropout=recipe.dropout, bias=True,
                     position=recipe.position)


def _source_digest() -> str:
    # The model's code and this training code decide the weights as much as the numbers do.
    import labs.models.gpt as gpt_module

    text = inspect.getsource(gpt_module) + inspect.getsource(_train)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def ids_digest(train_ids, val_ids) -> str:
    """A SHA-256 (hex) of the training and validation ids, as int64."""
    h = hashlib.sha256()
    for ids in (train_ids, val_ids):
        arr = np.ascontiguousarray(np.asarray(ids, dtype=np.int64))
        h.update(str(arr.shape).encode("utf-8"))
        h.update(arr.tobytes())
    return h.hexdigest()


def cache_key(fingerprint: str, vocab_size: int, recipe: Recipe, data: str = "") -> str:
    """A SHA-256 (hex) over the corpus fingerprint, the data digest (:func:`ids_digest`),
    vocabulary, config, recipe and code."""
    if not isinstance(fingerprint, str) or not fingerprint:
        raise TypeError(f"fingerprint must be the corpus fingerprint string (labs.data.corpus.corpus_fingerprint); got {fingerprint!r}")
    config = dataclasses.asdict(gpt_config(vocab_size, recipe))
    payload = {"format": CACHE_FORMAT, "corpus": fingerprint, "data": data, "config": config,
               "recipe": dataclasses.asdict(recipe), "code": _source_digest()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def cache_path(key: str, cache_dir: Path | str | None = None) -> Path:
    from labs.data.cache import cache_dir as default_dir

    root = Path(cache_dir) if cache_dir is not None else default_dir()
    return root / "char_gpt" / f"{key[:32]}.npz"


def _windows(ids, recipe: Recipe, stride: int):
    from labs.models.char_lm import next_char_windows

    return next_char_windows(np.asarray(ids, dtype=np.int64), recipe.block_size, stride)


def _train(model, train_ids, val_ids, recipe: Recipe, device):
    """Train ``model`` in place with ``recipe``; return its history as plain lists."""
    import torch

    from labs.train import fit

    x_train, y_train = _windows(train_ids, recipe, recipe.stride)
    x_val, y_val = _windows(val_ids[: recipe.val_chars], recipe, recipe.block_size)
    epochs = math.ceil(recipe.steps * recipe.batch_size / len(x_train))
    val_time: list[float] = []
    start = time.perf_counter()
    history = fit(
        model, (x_train, y_train), (x_val, y_val), epochs=epochs, max_steps=recipe.steps,
        batch_size=recipe.batch_size, drop_last=True,
        optimizer=lambda params: torch.optim.AdamW(params, lr=recipe.lr, betas=tuple(recipe.betas),
                                                   weight_decay=recipe.weight_decay),
        scheduler="warmup_cosine", warmup_steps=recipe.warmup_steps, min_lr_ratio=recipe.min_lr_ratio,
        clip_grad_norm=recipe.clip_grad_norm, eval_every=recipe.eval_every, seed=recipe.seed,
        progress=False, amp=False, device=device,
        callback=lambda h, m: val_time.append(time.perf_counter() - start),
    )
    return {"step_loss": [float(v) for v in history.step_loss], "val_step": [int(v) for v in history.val_step],
            "val_loss": [float(v) for v in history.val_loss], "val_time": val_time,
            "time_s": float(history.time_s), "steps": int(history.steps), "device": history.device}


def _save(path: Path, model, history: dict, key: str) -> None:
    arrays = {f"param/{name}": t.detach().cpu().numpy() for name, t in model.state_dict().items()}
    meta = json.dumps({"key": key, "format": CACHE_FORMAT, "history": history})
    arrays["meta"] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def _load(path: Path, model, key: str):
    """The history stored at ``path`` after loading its weights into ``model``; None if unusable."""
    import torch

    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if meta.get("key") != key or meta.get("format") != CACHE_FORMAT:
                return None
            state = {name[len("param/"):]: torch.from_numpy(data[name].copy()) for name in data.files if name.startswith("param/")}
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[n].shape != expected[n].shape for n in expected):
        return None
    model.load_state_dict(state)
    return meta["history"]


def train_char_gpt(train_ids, val_ids, vocab_size: int, fingerprint: str, recipe: Recipe = CPU_RECIPE, *,
                   device=None, use_cache: bool = True, cache_dir=None) -> TrainedGPT:
    """Train the book's GPT with ``recipe``, or load the weights a previous run cached.

    ``fingerprint`` is :func:`labs.data.corpus.corpus_fingerprint` of the text the ids
    come from; with ``use_cache=False`` the model is trained and nothing is read or written.
    The model is returned on ``device`` (default: the best available), in eval mode.
    """
    from labs.device import get_device
    from labs.models.gpt import GPT
    from labs.seed import seed_everything

    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a labs.char_gpt.Recipe (e.g. CPU_RECIPE); got {type(recipe).__name__}")
    train_ids, val_ids = np.asarray(train_ids), np.asarray(val_ids)
    for name, ids in (("train_ids", train_ids), ("val_ids", val_ids)):
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} must be a 1-D array of integer ids; got shape {ids.shape}, dtype {ids.dtype}")
        if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
            raise ValueError(f"{name} holds ids outside [0, vocab_size={vocab_size}): check the tokenizer")
    device = get_device() if device is None else device
    config = gpt_config(vocab_size, recipe)
    key = cache_key(fingerprint, vocab_size, recipe, ids_digest(train_ids, val_ids[: recipe.val_chars]))
    path = cache_path(key, cache_dir)
    seed_everything(recipe.seed)
    model = GPT(config)
    if use_cache and path.exists():
        history = _load(path, model, key)
        if history is not None:
            return TrainedGPT(model.to(device).eval(), history, True, path, key, config)
    history = _train(model, train_ids, val_ids, recipe, device)
    model.eval()
    if use_cache:
        _save(path, model, history, key)
    return TrainedGPT(model, history, False, path, key, config)


def gpt_bits_per_char(model, ids, block_size: int) -> float:
    """Validation bits per character of a GPT, scoring every target ``ids[1:]`` once.

    Chapter 6's :func:`labs.models.char_lm.bits_per_char` with windows that fit the
    context: chunks of ``block_size // 2`` targets, each read after ``block_size // 2``
    earlier characters, so every prediction sees at least half a block of history.
    """
    from labs.models.char_lm import bits_per_char

    half = max(1, block_size // 2)
    return bits_per_char(model, ids, chunk=half, context=block_size - half)
