"""labs.reading_list: the verdicts on the source articles' references are computed from the
real records, and every record the chapter relies on has a well-formed identifier."""

from __future__ import annotations

import os
import re
import urllib.request

import pytest

from labs.reading_list import (
    SEED_003,
    SEED_004,
    Citation,
    arxiv_id_is_valid,
    distinct_works,
    identifier_problems,
    isbn13_is_valid,
    load_bib,
    problems,
    verdict,
)

BIB = load_bib()
CITED = SEED_003 + SEED_004


def test_seed_004_prints_56_entries_for_16_works():
    numbers = sorted(n for c in SEED_004 for n in c.numbers)
    assert numbers == list(range(1, 57)), "every entry number of the list, each once"
    assert len(distinct_works(SEED_004)) == 16


@pytest.mark.parametrize("citation", [c for c in CITED if c.key], ids=lambda c: c.key)
def test_every_real_work_has_a_well_formed_identifier(citation):
    assert identifier_problems(BIB[citation.key]) == []


def test_the_known_mistakes_are_found():
    by_title = {(c.where, c.title, c.year): c for c in CITED}
    attention = by_title[("004 references", "Attention is All You Need", 2017)]
    assert any("4 of its 8 authors" in p for p in problems(attention, BIB))
    densenet = by_title[("004 references", "Densely Connected Convolutional Networks", 2018)]
    found = " ".join(problems(densenet, BIB))
    assert "1807.06521 is another paper; this one is 1608.06993" in found and "year: 2018" in found
    instance = by_title[("004 references", "Instance Normalization: The Missing Ingredient for Fast Stylization", 2016)]
    found = " ".join(problems(instance, BIB))
    assert "1607.08022" in found and "Krizhevsky" in found
    for title in ("Deeper Convolutional Networks for Visual Recognition",
                  "Beyond Separable Convolutions: Learning Efficient Networks with Pruning and Skipping"):
        (c,) = [c for c in SEED_004 if c.title == title]
        assert verdict(c, BIB) == "not found"
    resnet = by_title[("004 references", "Deep Residual Learning for Image Recognition", 2016)]
    assert verdict(resnet, BIB) == "correct"


def test_a_correct_citation_stays_correct_under_accents_braces_and_case():
    c = Citation("test", (), "framewise phoneme classification with bidirectional lstm and other neural network architectures",
                 ("Graves, A.", "Schmidhuber, J."), 2005, None, "graves2005framewise")
    assert problems(c, BIB) == []


def test_a_citation_to_a_missing_key_is_an_error_that_says_so():
    with pytest.raises(KeyError, match="not in references.bib"):
        problems(Citation("test", (), "x", ("A, B.",), None, None, "nosuchkey2099"), BIB)


@pytest.mark.parametrize("identifier, year, ok", [
    ("1608.06993", 2017, True), ("1512.03385v1", 2016, True), ("0706.1234", 2007, True),
    ("1807.06521", 2016, False),  # a 2018 preprint cannot be a 2016 paper
    ("1613.00001", None, False),  # month 13
    ("1503.123456", None, False), ("1412.12345", None, False),  # five digits only from 2015
    ("arXiv:1608.06993", None, False), ("", None, False),
])
def test_arxiv_ids(identifier, year, ok):
    assert arxiv_id_is_valid(identifier, year) is ok


def test_isbn13_check_digit():
    assert isbn13_is_valid("978-0-262-03561-3")
    assert not isbn13_is_valid("9780262035614")
    assert not isbn13_is_valid("0262035618")  # ISBN-10


@pytest.mark.skipif(os.environ.get("LABS_ONLINE") != "1", reason="online check: set LABS_ONLINE=1 to resolve the arXiv IDs")
def test_arxiv_ids_resolve_to_the_recorded_titles():  # pragma: no cover - needs the network
    for key in sorted({c.key for c in CITED if c.key and "eprint" in BIB[c.key].fields}):
        fields = BIB[key].fields
        with urllib.request.urlopen(f"https://export.arxiv.org/api/query?id_list={fields['eprint']}", timeout=30) as r:
            feed = r.read().decode("utf-8")
        titles = re.findall(r"<title>(.*?)</title>", feed, re.S)
        plain = lambda t: re.sub(r"[^a-z0-9]", "", t.lower())  # noqa: E731
        assert plain(fields["title"].replace("{", "").replace("}", "")) in {plain(t) for t in titles}, key


def test_every_entry_of_references_bib_has_an_identifier():
    """An arXiv ID, DOI, ISBN or URL, well formed; only works older than arXiv (1991) may lack one."""
    missing = {k: identifier_problems(e) for k, e in BIB.items() if identifier_problems(e)}
    allowed = {k for k in missing if int(BIB[k].fields["year"]) < 1991 and list(missing[k])[0].startswith("no identifier")}
    assert set(missing) == allowed, {k: v for k, v in missing.items() if k not in allowed}
