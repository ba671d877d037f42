"""labs.results: the store chapter 14 reads other chapters' numbers from."""

from __future__ import annotations

import json

import pytest

from labs import results
from labs.editions import code_hash


def _store(tmp_path, glue):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"chapters/99_demo": {"code_sha256": "0" * 64, "glue": glue}}), encoding="utf-8")
    return path


def test_values_come_back_as_numbers_and_text(tmp_path):
    path = _store(tmp_path, {"loss": "0.125", "steps": "80", "what": "'cached'", "np": "np.float64(0.5)"})
    assert results.value("chapters/99_demo", "loss", path) == 0.125
    assert results.value("chapters/99_demo.ipynb", "steps", path) == 80
    assert results.value("chapters/99_demo", "what", path) == "cached"
    assert results.value("chapters/99_demo", "np", path) == "np.float64(0.5)"


def test_a_missing_chapter_or_name_says_what_there_is(tmp_path):
    path = _store(tmp_path, {"loss_train": "1.0", "loss_val": "2.0"})
    with pytest.raises(KeyError, match="not in the results store; it has"):
        results.value("chapters/98_other", "loss", path)
    with pytest.raises(KeyError, match="similar names"):
        results.value("chapters/99_demo", "loss_test", path)
    with pytest.raises(FileNotFoundError, match="make editions"):
        results.value("chapters/99_demo", "loss", tmp_path / "absent.json")


def test_the_committed_store_has_the_chapters_numbers():
    assert "chapters/07_attention_transformers" in results.chapters()
    assert isinstance(results.value("chapters/07_attention_transformers", "gpt_params"), int)


def test_a_notebook_that_reads_the_store_depends_on_it(tmp_path, monkeypatch):
    reader = {"cells": [{"cell_type": "code", "source": "from labs import results\nresults.value('a', 'b')"}]}
    plain = {"cells": [{"cell_type": "code", "source": "x = 1"}]}
    before = code_hash(reader), code_hash(plain)
    other = tmp_path / "results.json"
    other.write_text("{}", encoding="utf-8")
    monkeypatch.setattr(results, "STORE", other)
    assert code_hash(plain) == before[1]
    assert code_hash(reader) != before[0]
