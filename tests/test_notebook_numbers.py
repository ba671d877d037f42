"""tools/notebook_numbers.py: the determinism check compares every glued and printed number."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tools.notebook_numbers import compare, numbers, values


def _run(loss, seconds, glued):
    cell = new_code_cell("...", outputs=[
        new_output("stream", name="stdout", text=f"final loss {loss}, accuracy 97.5 %, took {seconds} s\n"),
        new_output("display_data", data={"application/papermill.record/text/plain": glued},
                   metadata={"scrapbook": {"name": "acc", "mime_prefix": "application/papermill.record/"}}),
        new_output("display_data", data={"application/papermill.record/text/plain": seconds},
                   metadata={"scrapbook": {"name": "train_s", "mime_prefix": "application/papermill.record/"}}),
    ])
    return {"chapters/x.ipynb": nbformat.from_dict(new_notebook(cells=[cell]))}


def test_numbers_finds_each_number_and_marks_timings():
    assert numbers("loss 0.25 after 1,000 steps in 3.2 s, 1e-3 apart") == [
        ("0.25", False), ("1,000", False), ("3.2", True), ("1e-3", False)]


def test_identical_runs_agree_and_timings_are_set_apart():
    differ, timing, count = compare(_run("0.125", "1.5", "97.5"), _run("0.125", "2.5", "97.5"))
    assert differ == [] and count == len(values(_run("0.125", "1.5", "97.5")["chapters/x.ipynb"])) == 5
    assert len(timing) == 2  # the printed "1.5 s" and the glued train_s


def test_a_changed_number_is_reported_where_it_is():
    differ, _, _ = compare(_run("0.125", "1.5", "97.5"), _run("0.126", "1.5", "97.6"))
    assert differ == ["chapters/x.ipynb, code cell 1, output 1.0, number 1: 0.125 != 0.126",
                      "chapters/x.ipynb, glue acc: 97.5 != 97.6"]
    assert compare(_run("0.125", "1.5", "97.5"), _run("0.125", "2.5", "97.5"), strict=True)[0]


def test_lines_and_table_columns_in_milliseconds_are_timings():
    text = "size  forward ms  step ms\nh=128  0.162  0.408\n\nloss 0.25\n1725 ms: 4,122 times faster\n"
    assert numbers(text) == [("128", True), ("0.162", True), ("0.408", True), ("0.25", False),
                             ("1725", True), ("4,122", True)]
