"""The book's GPT recipe and its weight cache (labs.char_gpt): keyed, never stale, never pickled."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from labs.char_gpt import (
    CPU_RECIPE,
    Recipe,
    cache_key,
    cache_path,
    gpt_bits_per_char,
    gpt_config,
    ids_digest,
    train_char_gpt,
)
from labs.models.gpt import GPT

TINY = Recipe(block_size=8, n_layer=1, n_head=2, n_embd=16, stride=4, batch_size=8, steps=12, warmup_steps=2,
              eval_every=6, val_chars=200)


@pytest.fixture()
def ids():
    rng = np.random.default_rng(0)
    text = rng.integers(0, 7, size=1_200)
    return text[:1_000], text[1_000:]


def test_the_cpu_recipe_is_the_issue_recipe():
    r = CPU_RECIPE
    assert (r.block_size, r.n_layer, r.n_head, r.n_embd, r.stride, r.batch_size, r.steps) == (32, 2, 4, 64, 8, 32, 1600)
    assert (r.lr, r.betas, r.weight_decay, r.warmup_steps, r.min_lr_ratio, r.clip_grad_norm) == (6e-3, (0.9, 0.99), 0.0, 50, 0.1, 1.0)
    assert sum(p.numel() for p in GPT(gpt_config(97, r)).parameters()) > 100_000


def test_the_key_changes_with_everything_that_decides_the_weights():
    base = cache_key("corpus:abc", 50, TINY)
    assert base == cache_key("corpus:abc", 50, TINY)
    others = {cache_key("corpus:abd", 50, TINY), cache_key("corpus:abc", 51, TINY),
              cache_key("corpus:abc", 50, dataclasses.replace(TINY, steps=13)),
              cache_key("corpus:abc", 50, dataclasses.replace(TINY, lr=1e-3)),
              cache_key("corpus:abc", 50, dataclasses.replace(TINY, n_embd=32))}
    assert base not in others and len(others) == 5
    with pytest.raises(TypeError, match="fingerprint"):
        cache_key(None, 50, TINY)


def test_another_split_of_the_same_corpus_is_another_model(ids, tmp_path):
    train_ids, val_ids = ids
    first = train_char_gpt(train_ids, val_ids, 7, "fp", TINY, device="cpu", cache_dir=tmp_path)
    moved = train_char_gpt(train_ids[:-50], np.concatenate([train_ids[-50:], val_ids]), 7, "fp", TINY, device="cpu",
                           cache_dir=tmp_path)
    assert moved.key != first.key and not moved.from_cache
    assert ids_digest(train_ids, val_ids) == ids_digest(list(train_ids), val_ids.astype(np.int32))
    assert train_char_gpt(train_ids, val_ids, 7, "fp", TINY, device="cpu", cache_dir=tmp_path).from_cache


def test_train_then_load_gives_the_same_weights_and_history(ids, tmp_path):
    train_ids, val_ids = ids
    first = train_char_gpt(train_ids, val_ids, 7, "fp", TINY, device="cpu", cache_dir=tmp_path)
    assert not first.from_cache and first.path.exists() and first.path == cache_path(first.key, tmp_path)
    assert first.history["steps"] == TINY.steps and len(first.history["val_time"]) == len(first.history["val_loss"])
    second = train_char_gpt(train_ids, val_ids, 7, "fp", TINY, device="cpu", cache_dir=tmp_path)
    assert second.from_cache and second.history == first.history
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert second.model.lm_head.weight is second.model.transformer.wte.weight   # still tied after loading
    # the file holds plain arrays: it loads without pickle
    with np.load(first.path, allow_pickle=False) as data:
        assert json.loads(bytes(data["meta"]).decode())["key"] == first.key


def test_a_stale_or_broken_cache_file_is_never_used(ids, tmp_path):
    train_ids, val_ids = ids
    first = train_char_gpt(train_ids, val_ids, 7, "fp", TINY, device="cpu", cache_dir=tmp_path)
    with np.load(first.path, allow_pickle=False) as data:
        arrays = dict(data)
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta["key"] = "0" * 64                                              # a file that claims another key
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    for name in arrays:
        if name.startswith("param/"):
            arrays[name] = np.zeros_like(arrays[name])
    np.savez(first.path, **arrays)
    again = train_char_gpt(train_ids, val_ids, 7, "fp", TINY, device="cpu", cache_dir=tmp_path)
    assert not again.from_cache
    assert any(p.abs().sum() > 0 for p in again.model.parameters())
    first.path.write_bytes(b"not an npz file")
    assert not train_char_gpt(train_ids, val_ids, 7, "fp", TINY, device="cpu", cache_dir=tmp_path).from_cache


def test_use_cache_false_reads_and_writes_nothing(ids, tmp_path):
    run = train_char_gpt(*ids, 7, "fp", TINY, device="cpu", use_cache=False, cache_dir=tmp_path)
    assert not run.from_cache and not run.path.exists()


def test_bad_inputs_say_what_to_fix(ids):
    with pytest.raises(ValueError, match="vocab_size"):
        train_char_gpt(ids[0], ids[1], 5, "fp", TINY, use_cache=False)
    with pytest.raises(ValueError, match="1-D"):
        train_char_gpt(ids[0].reshape(10, -1), ids[1], 7, "fp", TINY, use_cache=False)
    with pytest.raises(TypeError, match="Recipe"):
        train_char_gpt(*ids, 7, "fp", {"steps": 3}, use_cache=False)
    with pytest.raises(ValueError, match="steps"):
        Recipe(steps=0)
    with pytest.raises(ValueError, match="warmup_steps"):
        Recipe(steps=10, warmup_steps=10)


def test_bits_per_char_scores_every_target_once_with_half_a_block_of_context():
    torch.manual_seed(0)
    model = GPT(gpt_config(7, TINY)).double().eval()
    ids = np.random.default_rng(1).integers(0, 7, size=41)
    got = gpt_bits_per_char(model, ids, TINY.block_size)
    # by hand: target t is predicted from the window that the chunking gives it
    total, half = 0.0, TINY.block_size // 2
    with torch.no_grad():
        for first in range(1, len(ids), half):
            last = min(first + half, len(ids))
            start = max(0, first - 1 - (TINY.block_size - half))
            logp = torch.log_softmax(model(torch.as_tensor(ids[start:last - 1])[None]), dim=-1)[0]
            for t in range(first, last):
                total -= logp[t - 1 - start, ids[t]].item()
    assert math.isclose(got, total / (len(ids) - 1) / math.log(2), rel_tol=1e-9)
