"""Draw the course map: every chapter of _toc.yml in its part, with an arrow where a chapter
reuses the code or the models of an earlier one.

    python tools/course_map.py        # writes book/_static/course_map.svg (shown by book/intro.md)

The chapters and their titles are read from _toc.yml and the notebooks, so a new chapter
appears on the map when it is added to the book; ``REUSES`` is the one hand-kept part, and
tests/test_course_map.py checks that it names only chapters that exist.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.notebooks import ROOT

OUT = ROOT / "book" / "_static" / "course_map.svg"

# chapter id -> the earlier chapters whose code or models it builds on
REUSES = {
    "2": ["1"], "3": ["2"], "4": ["3"], "5": ["4"], "6": ["4"], "7": ["6"], "8": ["7"],
    "9a": ["8"], "9b": ["5"], "10a": ["7"], "10b": ["10a"], "11a": ["5", "7"], "11b": ["7"],
    "12a": ["5", "7"], "12b": ["4"], "13": ["4"], "14": ["9a", "10a", "11a", "12b", "13"],
}


def chapters(root: Path = ROOT) -> list[tuple[str, str, str]]:
    """(part caption, chapter id, short title) of every chapter notebook in _toc.yml, in book order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    out = []
    for part in toc["parts"]:
        for entry in part.get("chapters", []):
            if not entry["file"].startswith("chapters/"):
                continue
            nb = json.loads((root / f"{entry['file']}.ipynb").read_text(encoding="utf-8"))
            title = next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown").split("\n")[0]
            m = re.match(r"#\s+(\d+[a-z]?)\.\s+(.*)", title)
            if not m:
                raise ValueError(f"{entry['file']}: its first markdown line should be '# N. Title'; got {title!r}")
            short = re.sub(r"^[^:]*[IV]+: ", "", m[2])  # "Scale I: compute, ..." -> "compute, ..."
            out.append((part["caption"], m[1], short))
    return out


def draw(root: Path = ROOT, out: Path = OUT) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, and readable by the tests
    plt.rcParams["svg.hashsalt"] = "course-map"  # the same file every time
    rows = chapters(root)
    parts = list(dict.fromkeys(p for p, _, _ in rows))
    where, column_rows = {}, {}
    for caption, cid, _ in rows:
        col = parts.index(caption)
        where[cid] = (col, column_rows.get(col, 0))
        column_rows[col] = column_rows.get(col, 0) + 1
    height = max(column_rows.values())
    import textwrap

    step, width = 2.7, 2.3  # column pitch and box width, in data units
    fig, ax = plt.subplots(figsize=(12, 0.6 * height + 1.2))
    for col, caption in enumerate(parts):
        ax.text(col * step + width / 2, 0.6, caption.replace(": ", ":\n"), ha="center", va="bottom", fontsize=8,
                weight="bold")
    boxes = {}
    for _caption, cid, short in rows:
        col, row = where[cid]
        x, y = col * step, -row * 0.9
        lines = textwrap.wrap(short, 21)
        label = "\n".join(lines[:2]) + (" ..." if len(lines) > 2 else "")
        ax.add_patch(plt.Rectangle((x, y - 0.35), width, 0.7, facecolor="#e8f0fb", edgecolor="#35609a", lw=0.8))
        ax.text(x + 0.08, y, f"{cid}.", ha="left", va="center", fontsize=8, weight="bold")
        ax.text(x + 0.64, y, label, ha="left", va="center", fontsize=6.2, linespacing=1.1)
        boxes[cid] = (x, y)
    for cid, earlier in REUSES.items():
        for e in earlier:
            if cid in boxes and e in boxes:
                (x1, y1), (x0, y0) = boxes[cid], boxes[e]
                same = abs(x1 - x0) < 1e-9
                start = (x0 + width / 2, y0 - 0.35) if same else (x0 + width, y0)
                end = (x1 + width / 2, y1 + 0.35) if same else (x1, y1)
                ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="#888888", lw=0.6,
                                                                       connectionstyle="arc3,rad=0.15"))
    ax.set_xlim(-0.2, len(parts) * step)
    ax.set_ylim(-height * 0.9, 1.3)
    ax.axis("off")
    fig.suptitle("The course map: each arrow points from a chapter to one that reuses its code", fontsize=9, y=0.995)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format=out.suffix.lstrip(".") or "svg", bbox_inches="tight", metadata={"Date": None} if out.suffix == ".svg" else None)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(f"wrote {draw().relative_to(ROOT)}")
