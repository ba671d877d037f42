"""The offline text corpus, its split and the character tokenizer."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.data import CharTokenizer, load_text_corpus, train_val_split
from labs.data import corpus as corpus_module
from labs.data.corpus import CORPUS_MODULES, corpus_fingerprint, normalise_text


@pytest.fixture(scope="module")
def text():
    return load_text_corpus()


def test_corpus_is_about_a_megabyte_of_ascii_english(text):
    assert 500_000 <= len(text) <= 2_000_000, f"corpus has {len(text):,} characters"
    assert text.isascii() and "\t" not in text and "\n\n\n" not in text
    words = Counter(text.lower().split())
    # English prose: the commonest words of English are among the commonest here.
    common = {w for w, _ in words.most_common(25)}
    for word in ("the", "of", "and", "is", "to", "a"):
        assert word in common, f"{word!r} is not among the 25 commonest words: {sorted(common)}"
    assert words["the"] > 10_000


def forget_parsed_files(monkeypatch, tmp_path):
    """An empty data cache and empty memory caches: every file is parsed again."""
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    corpus_module._load.cache_clear()
    corpus_module._file_documents.cache_clear()
    corpus_module._PARSED.reset()


def test_corpus_is_deterministic_even_without_the_cache(text, monkeypatch, tmp_path):
    forget_parsed_files(monkeypatch, tmp_path)
    again = load_text_corpus()
    assert again == text
    assert corpus_fingerprint(again) == corpus_fingerprint(text)
    # the order in which modules are named does not matter
    assert load_text_corpus(["json", "abc"]) == load_text_corpus(["abc", "json"])


def test_parsed_files_are_kept_on_disk_and_a_changed_file_is_parsed_again(monkeypatch, tmp_path):
    root = tmp_path / "stdlib"
    root.mkdir()
    source = root / "toy.py"
    source.write_text('"""First text."""\n\ndef f():\n    """Second text."""\n', encoding="utf-8")
    monkeypatch.setattr(corpus_module, "_stdlib_dir", lambda: root)
    try:
        forget_parsed_files(monkeypatch, tmp_path)
        assert load_text_corpus(["toy"]) == "First text.\n\nSecond text.\n"
        stores = list((tmp_path / "cache" / "corpus").glob("docstrings-*.json"))
        assert len(stores) == 1 and "Second text." in stores[0].read_text(encoding="utf-8")

        forget_parsed_files(monkeypatch, tmp_path)  # a new run: read from the store, parse nothing
        monkeypatch.setattr(corpus_module, "_parse_documents", lambda path: pytest.fail(f"parsed {path} again"))
        assert load_text_corpus(["toy"]) == "First text.\n\nSecond text.\n"
        monkeypatch.undo()  # the real parser again (and the real stdlib for the next lines)
        monkeypatch.setattr(corpus_module, "_stdlib_dir", lambda: root)

        source.write_text('"""A changed file."""\n', encoding="utf-8")  # another size: parsed again
        forget_parsed_files(monkeypatch, tmp_path)
        assert load_text_corpus(["toy"]) == "A changed file.\n"

        stores[0].write_text("{not json", encoding="utf-8")  # a broken store is ignored, then rewritten
        forget_parsed_files(monkeypatch, tmp_path)
        assert load_text_corpus(["toy"]) == "A changed file.\n"
        assert "A changed file." in stores[0].read_text(encoding="utf-8")
    finally:
        corpus_module._load.cache_clear()
        corpus_module._file_documents.cache_clear()
        corpus_module._PARSED.reset()


def test_corpus_module_list_is_sorted_and_free_of_removed_modules():
    assert list(CORPUS_MODULES) == sorted(CORPUS_MODULES)
    removed_by_pep_594 = {"aifc", "cgi", "nntplib", "pipes", "sunau", "telnetlib", "smtpd", "asynchat"}
    assert not removed_by_pep_594 & set(CORPUS_MODULES)


def test_corpus_skips_a_module_this_python_lacks():
    assert load_text_corpus(["json", "no_such_module_xyz"]) == load_text_corpus(["json"])


def test_missing_stdlib_sources_are_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(corpus_module, "_stdlib_dir", lambda: tmp_path)
    corpus_module._load.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="without its .py files"):
            load_text_corpus()
    finally:
        corpus_module._load.cache_clear()


@pytest.mark.parametrize("bad", ["json", [1, 2]])
def test_corpus_rejects_a_bad_module_list(bad):
    with pytest.raises(TypeError, match="module names"):
        load_text_corpus(bad)


def test_normalise_text_keeps_letters_drops_accents_and_tabs():
    assert normalise_text("Caf\u00e9\tna\u00efve  \n\n\n\nend\r\n") == "Cafe    naive\n\nend"
    with pytest.raises(TypeError):
        normalise_text(b"bytes")


def test_split_is_contiguous_and_deterministic(text):
    train, val = train_val_split(text, 0.1)
    assert train + val == text
    assert len(val) == pytest.approx(0.1 * len(text), abs=1)
    assert train_val_split(text, 0.1) == (train, val)
    arr = np.arange(10)
    a, b = train_val_split(arr, 0.3)
    assert a.tolist() == list(range(7)) and b.tolist() == [7, 8, 9]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_fractions_outside_zero_one(fraction):
    with pytest.raises(ValueError, match="between 0 and 1"):
        train_val_split("abcdefghij", fraction)


def test_split_rejects_bad_types_and_tiny_inputs():
    with pytest.raises(TypeError, match="val_fraction"):
        train_val_split("abc", "0.1")
    with pytest.raises(TypeError, match="val_fraction"):
        train_val_split("abc", True)
    with pytest.raises(TypeError, match="str, list or 1-D array"):
        train_val_split(12345, 0.1)
    with pytest.raises(ValueError, match="empty"):
        train_val_split("ab", 0.1)
    with pytest.raises(ValueError, match="1-D"):
        train_val_split(np.zeros((4, 4)), 0.5)


def test_tokenizer_round_trips_the_corpus(text):
    tok = CharTokenizer.fit(text)
    assert tok.vocab_size == len(set(text)) == len(tok)
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.min() == 0 and ids.max() == tok.vocab_size - 1
    assert tok.decode(ids) == text
    assert tok.chars == tuple(sorted(set(text)))


def test_tokenizer_ids_follow_sorted_characters():
    tok = CharTokenizer.fit("hello")
    assert tok.chars == ("e", "h", "l", "o")
    assert tok.encode("hole").tolist() == [1, 3, 2, 0]
    assert tok.decode(torch.tensor([1, 0, 2, 2, 3])) == "hello"
    assert tok.encode("").shape == (0,) and tok.decode([]) == ""
    assert tok == CharTokenizer.fit("olleh") and tok != CharTokenizer.fit("help")


def test_unknown_characters_are_an_error_that_says_what_to_do():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(ValueError, match=r"outside the vocabulary: 'z'.*unknown="):
        tok.encode("abz")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.encode("a\u4e2d")  # a code point far beyond the lookup table


def test_unknown_id_when_asked_for():
    tok = CharTokenizer.fit("abc", unknown="?")
    assert tok.vocab_size == 4 and tok.unk_id == tok.encode("?")[0]
    ids = tok.encode("a\u00e9z\u4e2dc")
    assert ids.tolist() == [tok.encode("a")[0], tok.unk_id, tok.unk_id, tok.unk_id, tok.encode("c")[0]]
    assert tok.decode(ids) == "a???c"
    assert "unknown='?'" in repr(tok)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda t: t.encode(b"abc"), TypeError, "expects a str"),
        (lambda t: t.encode([0, 1]), TypeError, "expects a str"),
        (lambda t: t.decode([0, 7]), ValueError, r"outside \[0, 3\)"),
        (lambda t: t.decode([-1]), ValueError, "outside"),
        (lambda t: t.decode([0.0, 1.0]), TypeError, "integer ids"),
        (lambda t: t.decode([[0, 1], [1, 2]]), ValueError, "1-D"),
    ],
)
def test_tokenizer_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(CharTokenizer.fit("abc"))


@pytest.mark.parametrize("bad", ["", None])
def test_fit_rejects_empty_or_non_text(bad):
    with pytest.raises((ValueError, TypeError)):
        CharTokenizer.fit(bad)


@pytest.mark.parametrize("unknown", ["", "??", 3])
def test_unknown_must_be_one_character(unknown):
    with pytest.raises(ValueError, match="single character"):
        CharTokenizer.fit("abc", unknown=unknown)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_round_trip_for_any_text(sample):
    tok = CharTokenizer.fit(sample)
    ids = tok.encode(sample)
    assert ids.shape == (len(sample),)
    assert tok.decode(ids) == sample


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdef", min_size=1, max_size=50), st.text(max_size=50))
def test_round_trip_with_an_unknown_id(known, other):
    tok = CharTokenizer.fit(known, unknown="~")
    decoded = tok.decode(tok.encode(other))
    assert decoded == "".join(c if c in tok.chars else "~" for c in other)
