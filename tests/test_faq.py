"""Chapter 14 answers every question of labs.faq, under its Chinese wording, with a link."""

from __future__ import annotations

import pytest

from labs.faq import QUESTIONS, VERDICTS, Question
from tests.notebook_utils import ROOT, load, source

CHAPTER = ROOT / "chapters" / "14_questions.ipynb"


def test_there_are_22_questions_numbered_in_order():
    assert [q.number for q in QUESTIONS] == list(range(1, 23))
    assert len({q.chinese for q in QUESTIONS}) == 22


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: str(q.number))
def test_the_chapter_answers_it(question):
    text = "\n".join(source(c) for c in load(CHAPTER)["cells"] if c["cell_type"] == "markdown")
    heading = f"### Question {question.number}: {question.english}"
    assert heading in text, f"chapter 14 has no section {heading!r}"
    section = text.split(heading, 1)[1].split("### Question", 1)[0]
    assert question.chinese in section and "**Answer.**" in section
    assert "{glue:text}" in section, f"question {question.number}'s answer repeats no measured number"
    for path in question.chapters:
        if not path.startswith("chapters/14"):
            assert f"<../{path}>" in section, f"question {question.number} does not link {path}"
            assert (ROOT / f"{path}.ipynb").exists(), f"question {question.number} links {path}, which does not exist"


def test_a_verdict_outside_the_scale_is_refused():
    with pytest.raises(ValueError, match="verdict must be one of"):
        Question(99, "x", "x", "x", "x", "maybe", ())
    assert set(q.verdict for q in QUESTIONS) <= set(VERDICTS)
