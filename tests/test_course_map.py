"""The course map (book/_static/course_map.svg, drawn by tools/course_map.py) shows every
chapter of the book, and its hand-kept list of reuses names only chapters that exist."""

from __future__ import annotations

import re

from tests.notebook_utils import ROOT
from tools.course_map import OUT, REUSES, chapters, draw


def test_every_reuse_points_back_to_an_existing_earlier_chapter():
    ids = [cid for _, cid, _ in chapters()]
    for cid, earlier in REUSES.items():
        assert cid in ids, f"REUSES names chapter {cid}, which is not in _toc.yml"
        for e in earlier:
            assert e in ids and ids.index(e) < ids.index(cid), f"chapter {cid} reuses {e}, which is not an earlier chapter"


def test_the_committed_map_shows_every_chapter(tmp_path):
    committed = OUT.read_text(encoding="utf-8")
    fresh = draw(out=tmp_path / "map.svg").read_text(encoding="utf-8")
    for _, cid, _ in chapters():
        label = f">{cid}.<"
        assert label in fresh, f"the drawn map has no box for chapter {cid}"
        assert label in committed, f"book/_static/course_map.svg has no box for chapter {cid}: run python tools/course_map.py"
    texts = lambda svg: sorted(re.findall(r">([^<>]+)</text>", svg))  # noqa: E731
    assert texts(committed) == texts(fresh), "book/_static/course_map.svg is stale: run python tools/course_map.py"


def test_the_introduction_shows_the_map():
    assert "_static/course_map.svg" in (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
