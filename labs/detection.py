"""Object detection's two core computations, from scratch: box IoU and non-maximum suppression.

Boxes are ``(x1, y1, x2, y2)`` corners with ``x1 <= x2`` and ``y1 <= y2`` (the layout of
``torchvision.ops``). A detector proposes many overlapping scored boxes per object; NMS keeps
the best-scoring box and removes every other box that overlaps it by more than a threshold,
then repeats on what is left::

    keep = nms(boxes, scores, iou_threshold=0.5)    # indices, best score first

:func:`make_detections` generates objects and noisy proposals around them, so the chapter can
measure precision and recall before and after NMS.
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_area", "box_iou", "nms", "make_detections", "match_detections"]


def _check_boxes(name: str, boxes) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} expects boxes of shape (N, 4) as (x1, y1, x2, y2); got shape {boxes.shape}: "
                         "for one box use box[None]")
    if not np.isfinite(boxes).all():
        raise ValueError(f"{name}: boxes must be finite")
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise ValueError(f"{name}: each box needs x1 <= x2 and y1 <= y2 (corners, not (x, y, width, height))")
    return boxes


def box_area(boxes) -> np.ndarray:
    boxes = _check_boxes("box_area", boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """(N, M) intersection over union: |A and B| / (|A| + |B| - |A and B|); 0 for two empty boxes."""
    a, b = _check_boxes("box_iou", boxes_a), _check_boxes("box_iou", boxes_b)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])              # (N, M, 2)
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0.0, None)                    # no overlap -> 0 width
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes, scores, iou_threshold: float = 0.5) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, by decreasing score.

    A box is removed when its IoU with an already kept, higher-scoring box is *greater than*
    ``iou_threshold`` (as in ``torchvision.ops.nms``). Equal scores keep the lower index first.

    The greedy algorithm itself, as torchvision runs it: take the best box left, keep it, and
    drop every remaining box it overlaps by more than the threshold, with one vectorised IoU of
    that box against the boxes still left. The work is (kept boxes) x (boxes left) rather than
    all n^2 pairs at once, and no n x n matrix is ever held in memory (at 2,000 proposals that
    matrix alone is 32 MB of float64).
    """
    boxes = _check_boxes("nms", boxes)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(boxes),):
        raise ValueError(f"nms expects one score per box: shape ({len(boxes)},); got {scores.shape}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"nms: iou_threshold must be in [0, 1]; got {iou_threshold}")
    order = np.argsort(-scores, kind="stable")  # a stable sort: equal scores keep the lower index first
    ordered = boxes[order]
    area = (ordered[:, 2] - ordered[:, 0]) * (ordered[:, 3] - ordered[:, 1])  # box_area's operations
    left = np.arange(len(boxes))  # positions in `order` not yet kept or dropped, best first
    keep = []
    with np.errstate(invalid="ignore"):  # two empty boxes: 0 / 0 = NaN, and NaN > threshold is False, as IoU 0
        while left.size:
            best, left = left[0], left[1:]
            keep.append(order[best])
            if not left.size:
                break
            # box_iou's operations on one row, so the same IoU to the last bit as the all-pairs matrix
            rest = ordered[left]
            wh = np.minimum(ordered[best, 2:], rest[:, 2:]) - np.maximum(ordered[best, :2], rest[:, :2])
            np.maximum(wh, 0.0, out=wh)  # no overlap: 0 width
            inter = wh[:, 0] * wh[:, 1]
            left = left[~(inter / (area[best] + area[left] - inter) > iou_threshold)]
    return np.array(keep, dtype=np.int64)


def make_detections(num_objects: int = 5, proposals_per_object: int = 8, num_clutter: int = 5, size: float = 100.0,
                    jitter: float = 0.12, seed: int = 0):
    """Objects in a ``size`` x ``size`` image, noisy proposals around each, and clutter boxes.

    Returns ``(objects (K, 4), proposals (P, 4), scores (P,))``: a proposal's score is higher the
    closer it is to its object (IoU plus noise); clutter proposals get low random scores.
    """
    rng = np.random.default_rng(seed)
    wh = rng.uniform(0.1, 0.3, (num_objects, 2)) * size
    xy = rng.uniform(0, size - wh)
    objects = np.concatenate([xy, xy + wh], axis=1)
    proposals, scores = [], []
    for box in objects:
        w, h = box[2] - box[0], box[3] - box[1]
        noise = rng.normal(0.0, jitter, (proposals_per_object, 4)) * np.array([w, h, w, h])
        p = box + noise
        p = np.concatenate([np.minimum(p[:, :2], p[:, 2:]), np.maximum(p[:, :2], p[:, 2:])], axis=1)
        proposals.append(p)
        scores.append(np.clip(box_iou(p, box[None])[:, 0] + rng.normal(0, 0.05, len(p)), 0.01, 0.99))
    cwh = rng.uniform(0.05, 0.2, (num_clutter, 2)) * size
    cxy = rng.uniform(0, size - cwh)
    proposals.append(np.concatenate([cxy, cxy + cwh], axis=1))
    scores.append(rng.uniform(0.0, 0.3, num_clutter))
    return objects, np.concatenate(proposals), np.concatenate(scores)


def match_detections(detections, scores, objects, iou_threshold: float = 0.5):
    """Greedy matching by score: a detection is a true positive if it overlaps a not yet matched
    object by IoU >= ``iou_threshold`` (the PASCAL VOC rule). Returns (precision, recall)."""
    detections, objects = _check_boxes("match_detections", detections), _check_boxes("match_detections", objects)
    iou = box_iou(detections, objects) if len(detections) else np.zeros((0, len(objects)))
    matched = np.zeros(len(objects), dtype=bool)
    tp = 0
    for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        candidates = np.where(~matched & (iou[i] >= iou_threshold))[0]
        if len(candidates):
            matched[candidates[np.argmax(iou[i, candidates])]] = True
            tp += 1
    precision = tp / len(detections) if len(detections) else 0.0
    return precision, tp / len(objects)
