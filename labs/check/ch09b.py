"""Graders for the exercises of Chapter 9b, "Applications II: vision, recommendation and multimodal models".

Each grader calls the student's function on inputs of its own, compares with a reference
computed here and either prints one success line or raises :class:`labs.check.ExerciseFailed`
saying what went in, what was expected and what came back, with a hint for the usual mistake
(found by computing that mistake and comparing). ``NotImplementedError`` from a stub is let through.
"""

from __future__ import annotations

import math

import numpy as np

from labs.check import call_student, expect_close, fail, passed

__all__ = ["ndcg_at_k", "iou", "info_nce", "survival_by_class"]


# --------------------------------------------------------------------------- Exercise 9b.1


def _dcg(gains, k):
    gains = np.asarray(gains, dtype=np.float64)[:k]
    return float(np.sum(gains / np.log2(np.arange(2, len(gains) + 2))))


def _reference_ndcg(ranked, k):
    ideal = _dcg(sorted(ranked, reverse=True), k)
    return _dcg(ranked, k) / ideal if ideal > 0 else 0.0


def ndcg_at_k(fn) -> None:
    """``fn(ranked_relevances, k)``: NDCG@k of one ranked list of relevances (0.0 when nothing is relevant)."""
    ex = "Exercise 9b.1"
    cases = [([3, 2, 3, 0, 1, 2], 6), ([3, 2, 3, 0, 1, 2], 3), ([0, 0, 1], 3), ([0, 1, 0, 0, 2, 0, 0], 4),
             ([1, 1, 1], 2), ([2, 0, 0, 0], 10)]
    for ranked, k in cases:
        expected = _reference_ndcg(ranked, k)
        inputs = f"ranked_relevances={ranked}, k={k}"
        got = call_student(ex, fn, (list(ranked), k), inputs=inputs)
        hint = None
        try:
            g = float(got)
            exp_gain = [2.0 ** r - 1 for r in ranked]
            harmonic = sum(r / (i + 1) for i, r in enumerate(ranked[:k]))
            ideal_harmonic = sum(r / (i + 1) for i, r in enumerate(sorted(ranked, reverse=True)[:k]))
            whole_ideal = _dcg(ranked, k) / _dcg(sorted(ranked, reverse=True), len(ranked))
            if math.isclose(g, _dcg(ranked, k), rel_tol=1e-9) and not math.isclose(g, expected, rel_tol=1e-9):
                hint = "that is DCG@k: divide by the ideal DCG@k, the DCG of the relevances sorted in decreasing order"
            elif math.isclose(g, _reference_ndcg(exp_gain, k), rel_tol=1e-9) and not math.isclose(g, expected, rel_tol=1e-9):
                hint = "use the relevance itself as the gain (sklearn's ndcg_score does), not 2**rel - 1"
            elif ideal_harmonic and math.isclose(g, harmonic / ideal_harmonic, rel_tol=1e-9) and not math.isclose(g, expected, rel_tol=1e-9):
                hint = "the discount at rank i (from 1) is 1 / log2(i + 1), not 1 / i: rank 2 gets 1 / log2(3)"
            elif math.isclose(g, whole_ideal, rel_tol=1e-9) and not math.isclose(g, expected, rel_tol=1e-9):
                hint = "cut the ideal ranking at k too: the ideal DCG@k uses only the k largest relevances"
        except (TypeError, ValueError):
            pass
        expect_close(ex, got, expected, what="NDCG@k", inputs=inputs, rtol=1e-9, hint=hint)
    got = call_student(ex, fn, ([0, 0, 0], 2), inputs="ranked_relevances=[0, 0, 0], k=2")
    expect_close(ex, got, 0.0, what="NDCG@k", inputs="ranked_relevances=[0, 0, 0], k=2 (nothing relevant)",
                 hint="with nothing relevant the ideal DCG is 0: return 0.0 instead of dividing by zero")
    passed(ex, "DCG@k over the ideal DCG@k, linear gains, log2(rank + 1) discount")


# --------------------------------------------------------------------------- Exercise 9b.2


def _reference_iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def iou(fn) -> None:
    """``fn(box_a, box_b)``: intersection over union of two (x1, y1, x2, y2) boxes."""
    ex = "Exercise 9b.2"
    cases = [((0, 0, 2, 2), (1, 1, 3, 3), "overlapping corners"), ((0, 0, 2, 2), (3, 3, 4, 4), "apart"),
             ((0, 0, 2, 2), (2, 0, 4, 2), "touching edges"), ((0, 0, 4, 4), (1, 1, 2, 2), "one inside the other"),
             ((0, 0, 2, 2), (0, 0, 2, 2), "identical"), ((3, 0, 5, 1), (0, 0, 4, 3), "overlapping in x only partly"),
             ((0, 3, 2, 4), (1, 0, 3, 2), "apart in y, overlapping in x")]
    for a, b, what in cases:
        expected = _reference_iou(a, b)
        inputs = f"box_a={a}, box_b={b} ({what})"
        got = call_student(ex, fn, (a, b), inputs=inputs)
        hint = None
        try:
            g = float(got)
            raw_w, raw_h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
            area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
            if raw_w < 0 and raw_h < 0 and not math.isclose(g, expected, abs_tol=1e-12):
                hint = "clip the intersection's width and height at 0 separately: two negatives multiply to a positive"
            elif math.isclose(g, max(0, raw_w) * max(0, raw_h) / (area(a) + area(b)), rel_tol=1e-9) and expected > 0:
                hint = "the union is area_a + area_b minus the intersection, counted twice otherwise"
        except (TypeError, ValueError):
            pass
        expect_close(ex, got, expected, what="IoU", inputs=inputs, rtol=1e-9, atol=1e-12, hint=hint)
    passed(ex, "IoU is 0 when apart or touching, 1 when identical, and counts the intersection once")


# --------------------------------------------------------------------------- Exercise 9b.3


def _reference_info_nce(a, b, temperature):
    import torch
    import torch.nn.functional as F

    logits = a @ b.T / temperature
    target = torch.arange(len(a))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def info_nce(fn) -> None:
    """``fn(image_embeddings, text_embeddings, temperature)``: symmetric InfoNCE, a scalar tensor with gradients."""
    import torch
    import torch.nn.functional as F

    ex = "Exercise 9b.3"
    gen = torch.Generator().manual_seed(0)
    for n, d, t in ((4, 3, 0.1), (6, 5, 0.5), (3, 8, 1.0)):
        a = F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=-1)
        b = F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=-1)
        expected = _reference_info_nce(a, b, t).item()
        inputs = f"{n} pairs of unit vectors in {d} dimensions, temperature={t}"
        a_in, b_in = a.clone().requires_grad_(), b.clone().requires_grad_()
        got = call_student(ex, fn, (a_in, b_in, t), inputs=inputs)
        hint = None
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            g = got.item()
            logits = a @ b.T / t
            target = torch.arange(n)
            one_side = F.cross_entropy(logits, target).item()
            no_temp = _reference_info_nce(a, b, 1.0).item()
            if math.isclose(g, one_side, rel_tol=1e-6) and not math.isclose(one_side, expected, rel_tol=1e-6):
                hint = ("that is only the image-to-text direction: average it with the text-to-image one, "
                        "the cross-entropy of the transposed logits")
            elif math.isclose(g, no_temp, rel_tol=1e-6) and t != 1.0:
                hint = "divide the similarities by the temperature before the softmax"
            elif math.isclose(g, 2 * expected, rel_tol=1e-6):
                hint = "average the two directions (times 0.5), do not add them"
        else:
            fail(ex, f"for {inputs} expected a scalar torch tensor (a loss to call .backward() on); got "
                     f"{type(got).__name__}", "return torch tensors throughout: no .item() or NumPy inside")
        expect_close(ex, got.detach(), expected, what="InfoNCE", inputs=inputs, rtol=1e-6, hint=hint)
        if got.requires_grad:
            got.backward()
        if not got.requires_grad or a_in.grad is None or b_in.grad is None:
            fail(ex, f"for {inputs} the loss has no gradient with respect to both embeddings",
                 "compute it from the input tensors with torch operations, without detach()")
    passed(ex, "symmetric cross-entropy on the diagonal of the similarity matrix over the temperature")


# --------------------------------------------------------------------------- Exercise 9b.4


def _reference_survival(predict, images, labels, transform, num_classes):
    pred = np.asarray(predict(transform(images)))
    return np.array([(pred[labels == k] == k).mean() if np.any(labels == k) else np.nan for k in range(num_classes)])


def survival_by_class(fn) -> None:
    """``fn(predict, images, labels, transform, num_classes)``: per class, the fraction of transformed
    images that ``predict`` still assigns to their own label (NaN for a class with no image)."""
    ex = "Exercise 9b.4"
    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 4, 4))
    labels = np.repeat(np.arange(4), 10)
    labels[-3:] = 0                                    # unequal class sizes: a mean over all images is wrong

    def predict(batch):                                # "classifies" by the brightest quadrant, deterministic
        q = np.stack([batch[:, 0, :2, :2].sum((1, 2)), batch[:, 0, :2, 2:].sum((1, 2)),
                      batch[:, 0, 2:, :2].sum((1, 2)), batch[:, 0, 2:, 2:].sum((1, 2))], axis=1)
        return q.argmax(1)

    def mirror(batch):
        return batch[..., ::-1].copy()

    for transform, what in ((mirror, "a left-right flip"), (lambda b: b.copy(), "no change")):
        expected = _reference_survival(predict, images, labels, transform, 5)
        inputs = f"40 random 4x4 images in 4 classes (class 0 has 13), {what}, num_classes=5"
        got = call_student(ex, fn, (predict, images.copy(), labels.copy(), transform, 5), inputs=inputs)
        hint = None
        try:
            g = np.asarray(got, dtype=float)
            untransformed = _reference_survival(predict, images, labels, lambda b: b, 5)
            if g.shape == expected.shape and np.allclose(g, untransformed, equal_nan=True) and not np.allclose(
                    expected, untransformed, equal_nan=True):
                hint = "apply transform to the images before predicting: this is the accuracy on the originals"
            elif g.shape == (4,):
                hint = "return one value per class in range(num_classes), NaN for a class with no image"
        except (TypeError, ValueError):
            pass
        expect_close(ex, np.nan_to_num(np.asarray(got, dtype=float), nan=-1.0), np.nan_to_num(expected, nan=-1.0),
                     what="per-class survival (NaN shown as -1)", inputs=inputs, rtol=1e-12, hint=hint)
    passed(ex, "per class, the share of transformed images still given their own label")
