"""Multimodal learning on two real modalities: digit images and short generated captions.

Each 8x8 digit comes with a three-word caption, generated from the image and its label::

    data = make_captioned_digits(x, y, seed=0)      # x: (N, 64) in [0, 1], y: (N,) labels
    data.images  (N, 64) noisy, partly occluded pixels;  data.tokens (N, 3) word ids
    data.captions[0]  -> "bold odd leaning-left"

The caption says how thick the strokes are and how the digit leans (both measured on the
image), and gives a clue about the label: the digit's name, its parity, or nothing. Neither
modality is enough alone: the image is noisy with a random half hidden, the caption names the
digit only sometimes. The models:

- :class:`EarlyFusion`: pixels and bag-of-words concatenated into one hidden layer, so hidden
  units can combine a pixel pattern with a word (real interactions);
- :class:`LateFusion`: one classifier per modality, their probabilities averaged;
- :class:`CrossAttentionFusion`: the caption's words attend to the image's four quadrants;
- :class:`DualEncoder` with :func:`info_nce`: CLIP-style contrastive alignment of the two
  modalities in one embedding space, evaluated by :func:`retrieval_recall_at_k`.

Any of them takes ``(images, tokens)``; a missing modality is passed as zeros (images) or as
the ``<none>`` token id 0 (captions), which is how the chapter measures robustness.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["VOCAB", "DIGIT_WORDS", "CaptionedDigits", "make_captioned_digits", "bag_of_words", "ImageClassifier",
           "TextClassifier", "EarlyFusion", "LateFusion", "CrossAttentionFusion", "DualEncoder", "info_nce",
           "retrieval_recall_at_k", "train_classifier", "accuracy", "drop_modality", "slant"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# id 0 is "<none>": a missing word (and a whole missing caption is three of them)
VOCAB = ("<none>", "faint", "bold", "leaning-left", "upright", "leaning-right", "even", "odd", "digit") + DIGIT_WORDS
WORD_ID = {w: i for i, w in enumerate(VOCAB)}


@dataclasses.dataclass
class CaptionedDigits:
    images: np.ndarray      # (N, 64) float32, corrupted pixels
    tokens: np.ndarray      # (N, 3) int64 word ids into VOCAB
    labels: np.ndarray      # (N,) int64
    captions: list[str]     # the words, for reading
    thresholds: tuple = None  # (ink median, slant terciles): pass them on to the other splits


def slant(images: np.ndarray) -> np.ndarray:
    """Second-moment slant of each 8x8 image: covariance of (row, column) over ink, over row variance."""
    img = images.reshape(-1, 8, 8).astype(np.float64) + 1e-9
    r, c = np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij")
    mass = img.sum((1, 2))
    mr, mc = (img * r).sum((1, 2)) / mass, (img * c).sum((1, 2)) / mass
    cov = (img * (r - mr[:, None, None]) * (c - mc[:, None, None])).sum((1, 2)) / mass
    var = (img * (r - mr[:, None, None]) ** 2).sum((1, 2)) / mass
    return cov / var  # > 0: the bottom is further right, the digit leans left


def make_captioned_digits(x, y, seed: int = 0, noise: float = 0.3, p_name: float = 0.35, p_parity: float = 0.35,
                          thresholds=None) -> CaptionedDigits:
    """Captions from the clean images, then the images corrupted (noise, a random half hidden).

    Word 1: "faint" or "bold" (total ink below or above the training set's median).
    Word 2: the digit's name with probability ``p_name``, "even"/"odd" with ``p_parity``, else "digit".
    Word 3: "leaning-left", "upright" or "leaning-right" (slant terciles).
    ``thresholds`` (the ink median, the slant terciles) fitted on the training set should be
    passed to the validation and test sets, so that words mean the same thing everywhere; the
    ones used are returned in ``data.thresholds``.
    """
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.int64)
    if x.shape[1] != 64 or len(x) != len(y):
        raise ValueError(f"make_captioned_digits expects x of shape (N, 64) (8x8 digits) and N labels; got "
                         f"{x.shape} and {y.shape}")
    rng = np.random.default_rng(seed)
    ink = x.sum(1)
    lean_score = slant(x)
    if thresholds is None:
        thresholds = (float(np.median(ink)), np.quantile(lean_score, [1 / 3, 2 / 3]))
    median, terciles = thresholds
    stroke = np.where(ink > median, WORD_ID["bold"], WORD_ID["faint"])
    lean = np.array([WORD_ID["leaning-right"], WORD_ID["upright"], WORD_ID["leaning-left"]])[np.searchsorted(terciles, lean_score)]
    u = rng.random(len(y))
    clue = np.where(u < p_name, WORD_ID["zero"] + y,
                    np.where(u < p_name + p_parity, np.where(y % 2 == 0, WORD_ID["even"], WORD_ID["odd"]), WORD_ID["digit"]))
    tokens = np.stack([stroke, clue, lean], axis=1).astype(np.int64)
    # The image: Gaussian noise, then the top or the bottom half (at random) replaced by noise only.
    images = x + rng.normal(0.0, noise, x.shape).astype(np.float32)
    hide = rng.integers(0, 2, len(x))
    img = images.reshape(-1, 8, 8)
    for half in (0, 1):
        rows = slice(0, 4) if half == 0 else slice(4, 8)
        sel = hide == half
        img[sel, rows] = rng.normal(0.0, noise, (int(sel.sum()), 4, 8))
    captions = [" ".join(VOCAB[t] for t in row) for row in tokens]
    return CaptionedDigits(img.reshape(len(x), 64).astype(np.float32), tokens, y, captions, thresholds)


def bag_of_words(tokens: torch.Tensor) -> torch.Tensor:
    """(N, L) word ids -> (N, |VOCAB|) counts, ignoring the ``<none>`` id 0."""
    counts = F.one_hot(tokens, len(VOCAB)).sum(1).float()
    counts[:, 0] = 0.0
    return counts


def drop_modality(images: torch.Tensor, tokens: torch.Tensor, which: str):
    """Return the inputs with one modality missing: ``"image"`` -> zeros, ``"text"`` -> all ``<none>``."""
    if which == "image":
        return torch.zeros_like(images), tokens
    if which == "text":
        return images, torch.zeros_like(tokens)
    if which == "none":
        return images, tokens
    raise ValueError(f"drop_modality: which must be 'image', 'text' or 'none'; got {which!r}")


class ImageClassifier(nn.Module):
    """Pixels only: 64 -> hidden -> 10 (the caption is ignored)."""

    def __init__(self, hidden: int = 64, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, images, tokens):
        return self.net(images)


class TextClassifier(nn.Module):
    """Caption only: bag of words -> hidden -> 10 (the image is ignored)."""

    def __init__(self, hidden: int = 32, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(len(VOCAB), hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, images, tokens):
        return self.net(bag_of_words(tokens))


class EarlyFusion(nn.Module):
    """Concatenate pixels and bag of words *before* the hidden layer: ``W [x; b] = W_x x + W_b b``,
    and the ReLU after it lets a unit fire only for a pixel pattern *and* a word together."""

    def __init__(self, hidden: int = 64, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64 + len(VOCAB), hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, images, tokens):
        return self.net(torch.cat([images, bag_of_words(tokens)], dim=1))


class LateFusion(nn.Module):
    """One classifier per modality, trained on its own; the prediction averages their probabilities.

    ``forward`` returns log-probabilities (a valid input to ``F.cross_entropy``/``nll_loss``).
    """

    def __init__(self, image_model: nn.Module, text_model: nn.Module):
        super().__init__()
        self.image_model, self.text_model = image_model, text_model

    def forward(self, images, tokens):
        p = 0.5 * (self.image_model(images, tokens).softmax(-1) + self.text_model(images, tokens).softmax(-1))
        return p.clamp_min(1e-12).log()


class CrossAttentionFusion(nn.Module):
    """The caption's three words (queries) attend to the image's four 4x4 quadrants (keys, values).

    Each word embedding asks "where in the image is the evidence for me?"; the attended image
    features are added to the words, averaged, and classified.
    """

    def __init__(self, dim: int = 32, num_heads: int = 2, num_classes: int = 10):
        super().__init__()
        self.words = nn.Embedding(len(VOCAB), dim)
        self.patches = nn.Linear(16, dim)
        self.position = nn.Parameter(torch.zeros(4, dim))
        self.attention = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, num_classes))

    @staticmethod
    def quadrants(images):
        """(N, 64) -> (N, 4, 16): top-left, top-right, bottom-left, bottom-right 4x4 patches."""
        x = images.reshape(-1, 2, 4, 2, 4)                      # (N, row block, row, col block, col)
        return x.permute(0, 1, 3, 2, 4).reshape(len(images), 4, 16)

    def forward(self, images, tokens, return_weights: bool = False):
        q = self.words(tokens)                                  # (N, 3, dim)
        kv = self.patches(self.quadrants(images)) + self.position   # (N, 4, dim)
        attended, weights = self.attention(q, kv, kv)           # (N, 3, dim), (N, 3, 4)
        logits = self.head((q + attended).mean(1))
        return (logits, weights) if return_weights else logits


class DualEncoder(nn.Module):
    """Two encoders into one ``dim``-dimensional space, unit-normalised (CLIP's layout)."""

    def __init__(self, dim: int = 16, hidden: int = 64):
        super().__init__()
        self.image_encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.text_encoder = nn.Sequential(nn.Linear(len(VOCAB), hidden), nn.ReLU(), nn.Linear(hidden, dim))
        # log(1/temperature) is learned, as in CLIP, starting at temperature 0.1
        self.log_inverse_temperature = nn.Parameter(torch.tensor(float(np.log(10.0))))

    def encode_images(self, images):
        return F.normalize(self.image_encoder(images), dim=-1)

    def encode_texts(self, tokens):
        return F.normalize(self.text_encoder(bag_of_words(tokens)), dim=-1)

    def forward(self, images, tokens):
        """The InfoNCE loss of the batch (pairs on the diagonal)."""
        temperature = 1.0 / self.log_inverse_temperature.exp()
        return info_nce(self.encode_images(images), self.encode_texts(tokens), temperature)


def info_nce(image_embeddings, text_embeddings, temperature: float = 0.1):
    """Symmetric InfoNCE: cross-entropy of each row (and column) of the similarity matrix on its diagonal.

    ``logits[i, j] = <a_i, b_j> / temperature``; image i's positive is text i, every other text in
    the batch is a negative, and the same from the texts' side. The embeddings are expected to
    be unit vectors, so the inner product is the cosine similarity.
    """
    if image_embeddings.shape != text_embeddings.shape or image_embeddings.ndim != 2:
        raise ValueError(f"info_nce expects two (N, d) batches of paired embeddings; got "
                         f"{tuple(image_embeddings.shape)} and {tuple(text_embeddings.shape)}")
    logits = image_embeddings @ text_embeddings.T / temperature      # (N, N)
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def retrieval_recall_at_k(similarity: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Fraction of queries (rows) with at least one relevant candidate among their top-k columns.

    ``relevant[i, j]`` is True when candidate j is a right answer for query i (the paired
    caption, or any caption with the very same words: identical captions are indistinguishable).
    """
    similarity, relevant = np.asarray(similarity, dtype=np.float64), np.asarray(relevant, dtype=bool)
    if similarity.shape != relevant.shape or similarity.ndim != 2:
        raise ValueError(f"retrieval_recall_at_k expects similarity and relevant of one (queries, candidates) shape; "
                         f"got {similarity.shape} and {relevant.shape}")
    if not 1 <= k <= similarity.shape[1]:
        raise ValueError(f"retrieval_recall_at_k: k must be in [1, {similarity.shape[1]}]; got {k}")
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return float(np.take_along_axis(relevant, top, axis=1).any(axis=1).mean())


def train_classifier(model, images, tokens, labels, steps: int = 300, lr: float = 0.01, weight_decay: float = 1e-4,
                     batch_size: int = 128, seed: int = 0, modality_dropout: float = 0.0):
    """Adam on cross-entropy in mini-batches; ``modality_dropout`` hides one modality per example
    with that probability (half the time the image, half the caption), to teach robustness."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(labels)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=generator)
        xb, tb, yb = images[idx], tokens[idx], labels[idx]
        if modality_dropout:
            u = torch.rand(len(idx), generator=generator)
            xb = torch.where((u < modality_dropout / 2)[:, None], torch.zeros_like(xb), xb)
            tb = torch.where(((u >= modality_dropout / 2) & (u < modality_dropout))[:, None], torch.zeros_like(tb), tb)
        loss = F.cross_entropy(model(xb, tb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model, images, tokens, labels) -> float:
    """Fraction of examples whose arg-max class is the label."""
    return float((model(images, tokens).argmax(-1) == labels).float().mean())
