"""A small, sourced table of model sizes: the data behind Chapter 1's plots.

Every number in :data:`MODEL_FACTS` is the one the cited paper itself states,
with a pointer to where it says so (``where``) and the BibTeX key of the paper
in ``references.bib`` (``cite``). A row is in the table only if its paper states
the parameter count; training tokens and training compute are filled in only
where the paper states them, and are ``None`` otherwise. Nothing is estimated
here: estimates (such as the 6·N·D training-FLOPs rule) are computed from these
rows by :func:`training_flops`, so a reader can always tell a measurement from
a derived number.

``year`` is the year the work first appeared in public (often as a preprint);
the BibTeX entry may carry the later year of the journal or conference version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "ModelFact",
    "Milestone",
    "MODEL_FACTS",
    "MILESTONES",
    "METRICS",
    "fact",
    "training_flops",
    "metric_values",
    "plot_model_sizes",
    "plot_milestones",
    "milestone_year",
    "html_table",
]


@dataclass(frozen=True)
class ModelFact:
    """One model, with the numbers its paper states."""

    name: str
    year: int  # first public appearance
    params: float  # trainable parameters, as stated by the paper
    cite: str  # BibTeX key in references.bib
    where: str  # where in the paper the parameter count is stated
    domain: str  # "vision" or "language"
    train_data: str  # the training data, as the paper describes it
    train_tokens: float | None = None  # tokens seen in training, where the paper states them
    stated_compute: float | None = None  # training FLOPs, where a paper states them
    compute_source: str = ""  # which paper states ``stated_compute``, and where
    note: str = ""

    def __post_init__(self):
        if not (isinstance(self.params, (int, float)) and self.params > 0):
            raise ValueError(f"{self.name}: params must be a positive number; got {self.params!r}")
        if self.train_tokens is not None and self.train_tokens <= 0:
            raise ValueError(f"{self.name}: train_tokens must be positive or None; got {self.train_tokens!r}")
        if (self.stated_compute is None) != (not self.compute_source):
            raise ValueError(f"{self.name}: stated_compute and compute_source go together")


@dataclass(frozen=True)
class Milestone:
    """An event in the history of neural networks, with its source."""

    year: int
    event: str
    cite: str


MODEL_FACTS: tuple[ModelFact, ...] = (
    ModelFact(
        "LeNet (zip codes)", 1989, 9_760, "lecun1989backprop",
        "Sec. 3.3: 1256 units, 64,660 connections and 9,760 independent parameters",
        "vision", "7,291 handwritten zip-code digits (16x16 pixels)",
    ),
    ModelFact(
        "LeNet-5", 1998, 60_000, "lecun1998gradient",
        "Sec. II-B: the per-layer trainable-parameter counts of C1, S2, C3, S4, C5 and F6 add up to 60,000",
        "vision", "60,000 MNIST training images",
    ),
    ModelFact(
        "AlexNet", 2012, 60e6, "krizhevsky2012imagenet",
        "abstract: 60 million parameters and 650,000 neurons",
        "vision", "about 1.2 million ImageNet training images",
    ),
    ModelFact(
        "VGG-16", 2014, 138e6, "simonyan2015vgg",
        "Table 2, configuration D (the 16-layer net): 138 million parameters",
        "vision", "1.3 million ILSVRC-2012 training images",
    ),
    ModelFact(
        "ResNet-110 (CIFAR-10)", 2015, 1.7e6, "he2016resnet",
        "Table 6: 1.7M parameters for the 110-layer net",
        "vision", "50,000 CIFAR-10 training images",
        note="The paper's ImageNet ResNets are given in FLOPs (Table 1), not parameters; "
        "ResNet's step was depth, not size.",
    ),
    ModelFact(
        "Transformer (base)", 2017, 65e6, "vaswani2017attention",
        "Table 3, row 'base': 65 x 10^6 parameters",
        "language", "WMT 2014 English-German, about 4.5 million sentence pairs",
    ),
    ModelFact(
        "Transformer (big)", 2017, 213e6, "vaswani2017attention",
        "Table 3, row 'big': 213 x 10^6 parameters",
        "language", "WMT 2014 English-German, about 4.5 million sentence pairs",
    ),
    ModelFact(
        "BERT-large", 2018, 340e6, "devlin2019bert",
        "Sec. 3: BERT-LARGE (L=24, H=1024, A=16), total parameters 340M",
        "language", "BooksCorpus (800M words) and English Wikipedia (2,500M words)",
    ),
    ModelFact(
        "GPT-2 (largest)", 2019, 1542e6, "radford2019gpt2",
        "Table 2: 1542M parameters (48 layers, d_model 1600)",
        "language", "WebText: about 8 million documents, 40 GB of text",
        note="The authors later wrote that the paper's parameter counts were wrong; "
        "counting from the architecture gives about 1558M (Chapter 1 does the count).",
    ),
    ModelFact(
        "GPT-3", 2020, 175e9, "brown2020gpt3",
        "Table 2.1: 175.0B parameters (96 layers, d_model 12288)",
        "language", "a filtered Common Crawl, WebText2, two book corpora and Wikipedia",
        train_tokens=300e9,
        stated_compute=3.14e23,
        compute_source="brown2020gpt3, Table D.1: 3.14E+23 FLOPs (3.64E+03 petaflop/s-days)",
    ),
    ModelFact(
        "Gopher", 2021, 280e9, "rae2021gopher",
        "abstract: a 280 billion parameter model; 300B training tokens (also in Table 1 of hoffmann2022chinchilla)",
        "language", "MassiveText",
        train_tokens=300e9,
    ),
    ModelFact(
        "Chinchilla", 2022, 70e9, "hoffmann2022chinchilla",
        "abstract and Table 1: 70B parameters, 1.4 trillion training tokens",
        "language", "MassiveText",
        train_tokens=1.4e12,
        stated_compute=5.76e23,
        compute_source="hoffmann2022chinchilla: Gopher's compute budget, 5.76 x 10^23 FLOPs, "
        "which Chinchilla was trained with",
    ),
    ModelFact(
        "PaLM", 2022, 540e9, "chowdhery2023palm",
        "Sec. 1: a 540 billion parameter model trained on 780 billion tokens",
        "language", "780 billion tokens of web pages, books, Wikipedia, news, code and conversations",
        train_tokens=780e9,
    ),
    ModelFact(
        "LLaMA-65B", 2023, 65.2e9, "touvron2023llama",
        "Table 2: 65.2B parameters, 1.4T training tokens",
        "language", "public data only: CommonCrawl, C4, GitHub, Wikipedia, books, ArXiv, StackExchange",
        train_tokens=1.4e12,
    ),
)

MILESTONES: tuple[Milestone, ...] = (
    Milestone(1958, "Rosenblatt's perceptron learns a linear threshold unit from examples", "rosenblatt1958perceptron"),
    Milestone(1969, "Minsky and Papert: one-layer perceptrons cannot compute XOR or connectedness", "minsky1969perceptrons"),
    Milestone(1970, "Linnainmaa: reverse-mode differentiation, the algorithm inside back-propagation", "linnainmaa1970representation"),
    Milestone(1974, "Werbos proposes training networks by propagating errors backwards", "werbos1974beyond"),
    Milestone(1986, "Back-propagation shown to teach hidden layers useful features", "rumelhart1986backprop"),
    Milestone(1989, "A convolutional network trained by back-propagation reads zip codes", "lecun1989backprop"),
    Milestone(1997, "LSTM: a recurrent cell that keeps information over long sequences", "hochreiter1997lstm"),
    Milestone(1998, "LeNet-5 reads handwritten digits and bank cheques", "lecun1998gradient"),
    Milestone(2006, "Layer-wise pre-training of deep belief nets revives deep networks", "hinton2006fast"),
    Milestone(2012, "AlexNet, trained on two GPUs, wins ImageNet by a wide margin", "krizhevsky2012imagenet"),
    Milestone(2014, "Attention lets a translation model look back at every input word", "bahdanau2015attention"),
    Milestone(2015, "Residual connections make networks with 100+ layers trainable", "he2016resnet"),
    Milestone(2017, "The Transformer: attention only, no recurrence", "vaswani2017attention"),
    Milestone(2018, "GPT: generative pre-training on unlabelled text, then fine-tuning", "radford2018gpt"),
    Milestone(2018, "BERT: pre-training by predicting masked words", "devlin2019bert"),
    Milestone(2020, "Scaling laws: loss falls as a power law in size, data and compute", "kaplan2020scaling"),
    Milestone(2020, "GPT-3: 175B parameters, tasks learned from a few examples in the prompt", "brown2020gpt3"),
    Milestone(2022, "Chinchilla: for a fixed compute budget, a smaller model on more data wins", "hoffmann2022chinchilla"),
)

# The quantities the size plot can show, with their axis labels.
METRICS: dict[str, str] = {
    "params": "parameters (as stated by each paper)",
    "train_tokens": "training tokens (where the paper states them)",
    "compute_6nd": "training compute, 6·N·D estimate (FLOPs)",
}


def fact(name: str) -> ModelFact:
    """The row of :data:`MODEL_FACTS` called ``name``."""
    for row in MODEL_FACTS:
        if row.name == name:
            return row
    names = ", ".join(r.name for r in MODEL_FACTS)
    raise KeyError(f"no model called {name!r} in MODEL_FACTS; the names are: {names}")


def milestone_year(cite: str) -> int:
    """The year of the milestone whose source is the BibTeX key ``cite``."""
    for m in MILESTONES:
        if m.cite == cite:
            return m.year
    keys = ", ".join(m.cite for m in MILESTONES)
    raise KeyError(f"no milestone cites {cite!r}; the keys are: {keys}")


def html_table(header: list[str], rows: list[list]) -> str:
    """An HTML table of ``rows`` under ``header``, every cell escaped.

    Jupyter Book renders a notebook's markdown *outputs* as CommonMark, which has
    no tables, so a table computed in a cell is displayed as HTML instead.
    """
    import html

    if any(len(r) != len(header) for r in rows):
        raise ValueError(f"every row needs {len(header)} cells, one per column of {header!r}")
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def training_flops(n_params: float, n_tokens: float) -> float:
    """The standard estimate of training compute for a dense network: C ≈ 6·N·D.

    Each token costs about 2 FLOPs per parameter in the forward pass (a multiply and
    an add) and about 4 in the backward pass (gradients for the activations and for
    the weights), so 6 per parameter per token. It ignores attention's extra cost,
    which is small while the context is short compared with the model width.
    """
    for label, value in (("n_params", n_params), ("n_tokens", n_tokens)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"training_flops needs a positive finite {label}; got {value!r}")
    return 6.0 * float(n_params) * float(n_tokens)


def metric_values(metric: str = "params") -> list[tuple[ModelFact, float]]:
    """``(row, value)`` for every row that has ``metric`` (see :data:`METRICS`)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}; got {metric!r}")
    out = []
    for row in MODEL_FACTS:
        if metric == "params":
            out.append((row, row.params))
        elif row.train_tokens is not None:
            value = row.train_tokens if metric == "train_tokens" else training_flops(row.params, row.train_tokens)
            out.append((row, value))
    return out


# Where each point's label goes (offset in points, alignment), so crowded years stay readable.
_LABEL_OFFSETS = {
    "GPT-3": (-6, 2, "right"),
    "Gopher": (-6, 6, "right"),
    "PaLM": (5, 3, "left"),
    "Chinchilla": (-6, -11, "right"),
    "LLaMA-65B": (5, -11, "left"),
    "Transformer (big)": (5, -9, "left"),
    "Transformer (base)": (5, -9, "left"),
}


def plot_model_sizes(metric: str = "params", years: tuple[int, int] = (1985, 2025), ax=None, trend: bool = True):
    """Scatter ``metric`` against year on a log scale, one labelled point per model.

    With ``trend=True`` and at least three points in range, a least-squares line
    through log10(value) against year is drawn, and its doubling time is returned.
    Returns ``(ax, doubling_time_in_months or None)``.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if len(years) != 2 or years[0] > years[1]:
        raise ValueError(f"years must be (first, last) with first <= last; got {years!r}")
    rows = [(r, v) for r, v in metric_values(metric) if years[0] <= r.year <= years[1]]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    colours = {"vision": "tab:blue", "language": "tab:orange"}
    for domain, colour in colours.items():
        pts = [(r.year, v) for r, v in rows if r.domain == domain]
        if pts:
            ax.scatter(*zip(*pts), color=colour, label=domain, zorder=3)
    for r, v in rows:
        dx, dy, ha = _LABEL_OFFSETS.get(r.name, (4, 4, "left"))
        ax.annotate(r.name, (r.year, v), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=8)
    if metric == "compute_6nd":
        stated = [(r.year, r.stated_compute) for r, _ in rows if r.stated_compute is not None]
        if stated:
            ax.scatter(*zip(*stated), marker="x", color="black", label="compute stated by a paper", zorder=4)
    ax.set_yscale("log")
    ax.margins(x=0.1)  # room for the labels of the first and last points
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("year first published")
    ax.set_ylabel(METRICS[metric])
    doubling = None
    if trend and len(rows) >= 3 and len({r.year for r, _ in rows}) >= 2:
        x = np.array([r.year for r, _ in rows], dtype=float)
        y = np.log10([v for _, v in rows])
        slope, intercept = np.polyfit(x, y, 1)  # decades per year
        xs = np.linspace(x.min(), x.max(), 50)
        if slope > 0:
            doubling = 12.0 * math.log10(2.0) / slope
            label = f"trend: x2 every {doubling:.0f} months"
        else:
            label = "trend"
        ax.plot(xs, 10 ** (slope * xs + intercept), "--", color="grey", label=label, zorder=2)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return ax, doubling


def plot_milestones(ax=None):
    """A timeline of :data:`MILESTONES`, one labelled tick per event."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 5))
    for i, m in enumerate(MILESTONES):
        ax.plot([m.year], [i], "o", color="tab:purple")
        ax.annotate(f"{m.year}  {m.event}", (m.year, i), textcoords="offset points", xytext=(6, -3), fontsize=8)
    ax.set_ylim(len(MILESTONES), -1)
    first, last = min(m.year for m in MILESTONES), max(m.year for m in MILESTONES)
    ax.set_xlim(first - 3, last + 45)  # room on the right for the labels
    decades = range(10 * -(-first // 10), last + 1, 10)  # 1960, 1970, ... up to the last event
    ax.set_xticks(list(decades))
    ax.spines["bottom"].set_bounds(first - 3, last + 1)  # the axis stops at the last event
    ax.set_yticks([])
    ax.set_xlabel("year")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    return ax
