"""The byte-level BPE: the same merges and ids as a plain-Python minbpe "basic" reference,
no overlapping merges in runs, every Unicode string round-trips, clear errors, bits per byte."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.data import bpe
from labs.data.bpe import ByteBPETokenizer, bits_per_byte
from labs.data.corpus import load_text_corpus


def reference_merge(ids, pair, new):
    out, i = [], 0
    while i < len(ids):
        if i < len(ids) - 1 and (ids[i], ids[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def reference_train(text, vocab_size):
    """minbpe's BasicTokenizer.train, one pair at a time in plain Python, ties to the smallest pair."""
    ids, merges = list(text.encode("utf-8")), {}
    for new in range(256, vocab_size):
        stats = {}
        for pair in zip(ids, ids[1:]):
            stats[pair] = stats.get(pair, 0) + 1
        top = max(stats.values())
        pair = min(p for p, count in stats.items() if count == top)
        ids = reference_merge(ids, pair, new)
        merges[pair] = new
    return merges


def reference_encode(text, merges):
    """minbpe's BasicTokenizer.encode: merge the earliest-learned pair present, until none is."""
    ids = list(text.encode("utf-8"))
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break
        ids = reference_merge(ids, pair, merges[pair])
    return ids


@pytest.fixture(scope="module")
def corpus_piece():
    return load_text_corpus()[:6000]


def test_the_merges_and_the_ids_are_minbpes(corpus_piece):
    tok = ByteBPETokenizer.train(corpus_piece, 300)
    assert tok.merges == reference_train(corpus_piece, 300)
    assert tok.vocab_size == 300 == len(tok.vocab)
    other = "A different text: the tokenizer never saw these exact sentences, ünïcödé included."
    for text in (corpus_piece[:2000], other, ""):
        ids = tok.encode(text)
        assert ids.dtype == np.int64
        assert ids.tolist() == reference_encode(text, tok.merges)
    assert len(tok.encode(corpus_piece)) < 0.7 * len(corpus_piece.encode())  # it does compress


def test_runs_merge_left_to_right_without_overlap():
    tok = ByteBPETokenizer.train("aaaa", 257)
    assert tok.merges == {(97, 97): 256}
    assert tok.encode("aaaa").tolist() == [256, 256]  # not three overlapping (a, a)
    assert tok.encode("aaaaa").tolist() == [256, 256, 97]
    # "aaabdaaabac": Wikipedia's example; ties at the second step go to the smallest pair
    text = "aaabdaaabac"
    assert ByteBPETokenizer.train(text, 259).merges == reference_train(text, 259)


def test_the_large_vocabulary_path_gives_the_same_merges(corpus_piece, monkeypatch):
    small = ByteBPETokenizer.train(corpus_piece, 280)
    monkeypatch.setattr(bpe, "_BINCOUNT_LIMIT", 10)  # force np.unique
    large = ByteBPETokenizer.train(corpus_piece, 280)
    assert large.merges == small.merges
    assert large.encode(corpus_piece[:999]).tolist() == small.encode(corpus_piece[:999]).tolist()


@settings(max_examples=100, deadline=None)
@given(st.text("ab a\u00e9", min_size=0, max_size=60), st.text("ab a\u00e9", min_size=2, max_size=60))
def test_one_pass_per_merge_encodes_as_minbpe_does(train_text, text):
    """encode applies each merge once, in learned order; minbpe looks for the earliest-learned pair
    present after every merge. Few symbols make long runs and merges of merges: the hard cases."""
    tok = ByteBPETokenizer.train(train_text + " aaaab abba a\u00e9a baab", 264)  # 8 merges, some of merges
    assert tok.encode(text).tolist() == reference_encode(text, tok.merges)


@pytest.fixture(scope="module")
def trained():
    return ByteBPETokenizer.train(load_text_corpus()[:20000] + "héllo wörld ✓ 日本語 🙂", 320)


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(blacklist_categories=())))  # () lets in lone surrogates too
def test_every_unicode_string_round_trips(trained, text):
    ids = trained.encode(text)
    assert trained.decode(ids) == text
    assert ((ids >= 0) & (ids < trained.vocab_size)).all()


def test_decode_accepts_lists_and_replaces_a_split_character(trained):
    ids = trained.encode("é")  # two bytes, maybe merged
    assert trained.decode(list(ids)) == "é"
    assert trained.decode([0xC3]) == "\ufffd"  # half a character, as a model could sample
    assert trained.decode([]) == ""


def test_bad_arguments_say_what_was_expected(trained):
    with pytest.raises(ValueError, match=">= 256"):
        ByteBPETokenizer.train("abc", 255)
    with pytest.raises(ValueError, match="vocab_size <= 259"):
        ByteBPETokenizer.train("abcd", 300)  # four bytes allow three merges at most
    with pytest.raises(TypeError, match="expected a str"):
        trained.encode(b"bytes")
    with pytest.raises(ValueError, match="outside"):
        trained.decode([trained.vocab_size])
    with pytest.raises(ValueError, match="1-D"):
        trained.decode(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="in order"):
        ByteBPETokenizer({(1, 2): 300})
    assert ByteBPETokenizer(trained.merges).encode("abc abc").tolist() == trained.encode("abc abc").tolist()


def test_bits_per_byte_is_the_same_cost_in_any_unit():
    assert bits_per_byte(math.log(256), 10, 10) == pytest.approx(8.0)  # a uniform guess over bytes
    # one BPE token of 3 bytes at 3 ln 2 nats costs what three bytes at ln 2 nats each do
    assert bits_per_byte(3 * math.log(2), 4, 12) == pytest.approx(bits_per_byte(math.log(2), 12, 12)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="finite"):
        bits_per_byte(float("nan"), 1, 1)
    with pytest.raises(ValueError, match="n_bytes"):
        bits_per_byte(1.0, 1, 0)
