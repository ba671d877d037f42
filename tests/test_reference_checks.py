"""Every identifier in references.bib has a record of where it was checked
(labs/data/reference_checks.json), and the record still describes the bib: changing an
identifier or a title without checking it again fails here."""

from __future__ import annotations

import copy
import json

import pytest

from labs.reading_list import (
    CHECK_VERDICTS,
    REFERENCE_CHECKS_PATH,
    identifier_problems,
    load_bib,
    load_reference_checks,
    primary_identifier,
    reference_check_problems,
    titles_match,
)

BIB = load_bib()
CHECKS = load_reference_checks()


def test_every_entry_with_an_identifier_has_a_record_of_that_identifier_and_its_title():
    assert reference_check_problems(BIB, CHECKS) == []


def test_only_the_old_works_without_an_identifier_have_no_record():
    """The same exemption as test_reading_list: before 1991, with no identifier at all."""
    unrecorded = {k for k in BIB if k not in CHECKS}
    for key in unrecorded:
        assert primary_identifier(BIB[key]) is None, key
        assert int(BIB[key].fields["year"]) < 1991, key
        assert identifier_problems(BIB[key])[0].startswith("no identifier"), key


def test_the_record_is_sorted_by_key_and_every_verdict_is_one_of_three():
    text = REFERENCE_CHECKS_PATH.read_text(encoding="utf-8")
    keys = list(json.loads(text))
    assert keys == sorted(keys)
    assert {r["verdict"] for r in CHECKS.values()} <= set(CHECK_VERDICTS)


def test_an_identifier_changed_after_its_check_is_reported():
    key = "vaswani2017attention"
    bib = copy.deepcopy(BIB)
    bib[key].fields["eprint"] = "1706.03763"
    assert any(key in p and "check it again" in p for p in reference_check_problems(bib, CHECKS))


def test_a_title_the_source_does_not_give_is_reported():
    key = "he2016resnet"
    checks = copy.deepcopy(CHECKS)
    checks[key]["title_seen"] = "Identity Mappings in Deep Residual Networks"
    assert any(key in p and "gives the title" in p for p in reference_check_problems(BIB, checks))


def test_a_missing_record_and_a_record_without_an_entry_are_reported():
    checks = copy.deepcopy(CHECKS)
    del checks["lecun1998gradient"]
    checks["nosuchwork2099"] = dict(CHECKS["he2016resnet"])
    found = " ".join(reference_check_problems(BIB, checks))
    assert "lecun1998gradient: no record" in found and "nosuchwork2099: a record for a key that is not" in found


def test_a_corrected_record_must_say_what_was_wrong():
    key = next(k for k, r in CHECKS.items() if r["verdict"] == "corrected")
    checks = copy.deepcopy(CHECKS)
    del checks[key]["note"]
    assert any(key in p and "must say what was wrong" in p for p in reference_check_problems(BIB, checks))


def test_a_key_given_twice_in_the_file_is_an_error(tmp_path):
    path = tmp_path / "checks.json"
    path.write_text('{"a": {"verdict": "verified"}, "a": {"verdict": "corrected"}}', encoding="utf-8")
    with pytest.raises(ValueError, match="more than once"):
        load_reference_checks(path)


@pytest.mark.parametrize("seen, title, same", [
    ("Attention is all you need", "Attention Is All You Need", True),
    ("Renyi Differential Privacy", "R{\\'e}nyi Differential Privacy", True),
    ("On large-batch training for deep learning",
     "On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima", True),  # subtitle left out
    ("Deep Residual Learning: A Survey", "Deep Residual Learning: For Image Recognition", False),  # two subtitles
    ("Deep Residual Learning", "Deep Residual Learning for Image Recognition", False),
    ("", "Deep Learning", False),
])
def test_titles_match_up_to_case_accents_punctuation_and_a_dropped_subtitle(seen, title, same):
    assert titles_match(seen, title) is same
