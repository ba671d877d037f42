"""Chapter 9b graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import ndcg_score

from labs.check import ExerciseFailed, ch09b


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 9b.x: not yet")


@pytest.mark.parametrize("grader", [ch09b.ndcg_at_k, ch09b.iou, ch09b.info_nce, ch09b.survival_by_class])
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 9b.x"):
        grader(stub)


def dcg(rel, k):
    return sum(r / math.log2(i + 2) for i, r in enumerate(rel[:k]))


def ndcg_right(rel, k):
    ideal = dcg(sorted(rel, reverse=True), k)
    return dcg(rel, k) / ideal if ideal else 0.0


def test_ndcg_reference_agrees_with_sklearn():
    rel = [3, 2, 3, 0, 1, 2]
    scores = np.arange(len(rel))[::-1].astype(float)  # the list is already ranked, no ties
    for k in (1, 3, 6):
        assert ndcg_right(rel, k) == pytest.approx(ndcg_score([rel], [scores], k=k))


def test_ndcg_accepts_the_reference_and_names_the_slips(capsys):
    ch09b.ndcg_at_k(ndcg_right)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="ideal DCG"):
        ch09b.ndcg_at_k(lambda rel, k: dcg(rel, k))
    with pytest.raises(ExerciseFailed, match="2\\*\\*rel - 1"):
        ch09b.ndcg_at_k(lambda rel, k: ndcg_right([2 ** r - 1 for r in rel], k))
    with pytest.raises(ExerciseFailed, match="not 1 / i"):
        def harmonic(rel, k):
            d = lambda r: sum(x / (i + 1) for i, x in enumerate(r[:k]))  # noqa: E731
            return d(rel) / d(sorted(rel, reverse=True)) if d(sorted(rel, reverse=True)) else 0.0
        ch09b.ndcg_at_k(harmonic)
    with pytest.raises(ExerciseFailed, match="cut the ideal"):
        ch09b.ndcg_at_k(lambda rel, k: dcg(rel, k) / dcg(sorted(rel, reverse=True), len(rel)) if any(rel) else 0.0)
    with pytest.raises(ExerciseFailed, match="dividing by zero"):
        ch09b.ndcg_at_k(lambda rel, k: dcg(rel, k) / dcg(sorted(rel, reverse=True), k) if any(rel) else float("nan"))


def iou_right(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_iou_accepts_the_reference_and_names_the_slips(capsys):
    ch09b.iou(iou_right)
    assert "passed" in capsys.readouterr().out

    def unclipped(a, b):
        inter = (min(a[2], b[2]) - max(a[0], b[0])) * (min(a[3], b[3]) - max(a[1], b[1]))
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    with pytest.raises(ExerciseFailed, match="separately"):
        ch09b.iou(unclipped)

    def sum_union(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]))

    with pytest.raises(ExerciseFailed, match="minus the intersection"):
        ch09b.iou(sum_union)


def info_nce_right(a, b, t):
    logits = a @ b.T / t
    target = torch.arange(len(a))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def test_info_nce_accepts_the_reference_and_names_the_slips(capsys):
    ch09b.info_nce(info_nce_right)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="image-to-text direction"):
        ch09b.info_nce(lambda a, b, t: F.cross_entropy(a @ b.T / t, torch.arange(len(a))))
    with pytest.raises(ExerciseFailed, match="temperature"):
        ch09b.info_nce(lambda a, b, t: info_nce_right(a, b, 1.0))
    with pytest.raises(ExerciseFailed, match="times 0.5"):
        ch09b.info_nce(lambda a, b, t: 2 * info_nce_right(a, b, t))
    with pytest.raises(ExerciseFailed, match="scalar torch tensor"):
        ch09b.info_nce(lambda a, b, t: info_nce_right(a, b, t).item())
    with pytest.raises(ExerciseFailed, match="no gradient"):
        ch09b.info_nce(lambda a, b, t: info_nce_right(a.detach(), b.detach(), t))


def survival_right(predict, images, labels, transform, num_classes):
    pred = predict(transform(images))
    return np.array([(pred[labels == k] == k).mean() if (labels == k).any() else np.nan for k in range(num_classes)])


def test_survival_accepts_the_reference_and_names_the_slips(capsys):
    ch09b.survival_by_class(survival_right)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="apply transform"):
        ch09b.survival_by_class(lambda p, x, y, t, n: survival_right(p, x, y, lambda b: b, n))
    with pytest.raises(ExerciseFailed, match="one value per class"):
        ch09b.survival_by_class(lambda p, x, y, t, n: survival_right(p, x, y, t, n)[:4])
    with pytest.raises(ExerciseFailed):   # one mean over all images is not per class
        ch09b.survival_by_class(lambda p, x, y, t, n: np.full(n, (p(t(x)) == y).mean()))
