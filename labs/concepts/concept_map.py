"""The concept map of Chapter 2: the ideas behind large models and how they connect.

Every edge says in words how one idea feeds another, and names the section of the
course that runs it as code.
"""

from __future__ import annotations

__all__ = ["CONCEPTS", "RELATIONS", "draw_concept_map"]

# name -> (x, y) on a 12 x 6 canvas, placed by hand so no label hides another
CONCEPTS: dict[str, tuple[float, float]] = {
    "neural networks": (1.0, 5.2),
    "deep learning": (4.6, 5.2),
    "compute": (7.8, 5.2),
    "multimodal fusion": (11.2, 5.2),
    "big data": (1.0, 2.6),
    "self-supervised\nlearning": (4.6, 2.6),
    "large models": (7.8, 2.6),
    "knowledge graphs": (11.2, 2.6),
    "multi-task learning": (3.8, 0.2),
    "transfer learning": (7.8, 0.2),
}

# (from, to, how it connects)
RELATIONS: list[tuple[str, str, str]] = [
    ("neural networks", "deep learning", "many layers\nlearn features"),
    ("deep learning", "large models", "scaled up in\nparameters"),
    ("compute", "large models", "bounds N and D\n(C = 6ND)"),
    ("big data", "self-supervised\nlearning", "too big to label:\nlabels from the data"),
    ("self-supervised\nlearning", "large models", "pre-trains"),
    ("big data", "large models", "trains"),
    ("multimodal fusion", "large models", "widens the inputs"),
    ("knowledge graphs", "large models", "structured facts\nto ground answers"),
    ("large models", "transfer learning", "features reused\non new tasks"),
    ("multi-task learning", "transfer learning", "one shared trunk,\nmany heads"),
]


def draw_concept_map(ax=None):
    """Draw :data:`CONCEPTS` as boxes and :data:`RELATIONS` as labelled arrows."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    unknown = {n for a, b, _ in RELATIONS for n in (a, b)} - set(CONCEPTS)
    if unknown:
        raise ValueError(f"RELATIONS mention concepts with no position: {sorted(unknown)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 6.5))
    for a, b, label in RELATIONS:
        (x0, y0), (x1, y1) = CONCEPTS[a], CONCEPTS[b]
        bend = 0.25 if (a, b) == ("big data", "large models") else 0.0  # curve past the box in between
        shrink = 62 if y0 == y1 else 38  # boxes are wider than tall: stop horizontal arrows earlier
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, color="grey",
                                     shrinkA=shrink, shrinkB=shrink, connectionstyle=f"arc3,rad={bend}", zorder=3))
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        if bend:
            my -= 1.1  # the curved arrow passes below the straight line
        elif y0 == y1:
            my += 0.45  # above a horizontal arrow, clear of the boxes it joins
        ax.text(mx, my, label, fontsize=8, color="tab:red", ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    for name, (x, y) in CONCEPTS.items():
        colour = "gold" if name == "large models" else "lightblue"
        ax.text(x, y, name, ha="center", va="center", fontsize=10, fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.5", fc=colour, ec="black"))
    ax.set_xlim(-0.3, 12.5)
    ax.set_ylim(-0.6, 6.0)
    ax.axis("off")
    return ax
