"""Chapter 9b's recommender in both engines, and its non-maximum suppression against the all-pairs IoU matrix it replaced.

Two computations of chapter 9b, timed in alternation in one process (``timing.interleaved``):

1. Matrix factorization (``labs.models.matrix_factorization``, and its NumPy twin in
   ``labs.scratch.models.matrix_factorization``), trained by the library's own loop
   ``labs.recommend.fit_matrix_factorization`` (full-batch Adam on the squared error of the
   observed ratings plus L2, its predictions read from one users x items product), run for a
   fixed number of steps per call in each engine on the same float32 weights, at the chapter's
   CPU size, its GPU size and MovieLens-100k's size (generated ratings; no download).
2. Non-maximum suppression: ``labs.detection.nms`` is the greedy algorithm detectors' reference
   code uses (torchvision's): keep the best box left, drop the remaining boxes it overlaps too
   much, with one vectorised IoU of that box against the boxes still left. The baseline is the
   form it replaced, which computes the IoU of every pair of proposals at once (one n x n
   ``labs.detection.box_iou`` matrix, then a cheap greedy pass over its rows). Both keep the
   same boxes (checked), on generated scenes (``labs.detection.make_detections``) from the
   chapter's 65 proposals to thousands. The matrix costs n^2 time and memory; the greedy loop
   (kept boxes) x (boxes left), one round of NumPy calls per kept box.

    python benchmarks/vision_twins_speed.py            # prints the tables, writes results_vision_twins.md
    python benchmarks/vision_twins_speed.py --quick    # small sizes, few rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

CHAPTERS = ("9b",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_vision_twins.md"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from timing import interleaved, machine_line  # noqa: E402

# (label, make_ratings arguments, rank): the chapter's CPU and GPU sizes (09b, section 9b.2), and MovieLens-100k's shape
RECOMMENDERS = [("the chapter's CPU size", dict(num_users=300, num_items=200, per_user=30), 3),
                ("the chapter's GPU size", dict(num_users=1000, num_items=600, per_user=30), 3),
                ("MovieLens-100k's shape", dict(num_users=943, num_items=1682, per_user=106), 8)]
STEPS_PER_CALL = 10
# (objects, proposals per object, clutter): the chapter's scene first
SCENES = [(6, 10, 5), (40, 25, 100), (60, 30, 400)]


def recommender_steps(torch, sizes: dict, rank: int) -> tuple[dict, int]:
    import labs.scratch as st
    from labs import recommend as rec
    from labs.models.matrix_factorization import MatrixFactorization
    from labs.scratch.models.matrix_factorization import MatrixFactorization as NumpyMatrixFactorization

    data = rec.make_ratings(rank=3, seed=0, **sizes)
    train, _ = rec.train_test_split_ratings(data, test_fraction=0.2)
    users, items, ratings = data.users[train], data.items[train], data.ratings[train]
    torch.manual_seed(0)
    model = MatrixFactorization(data.num_users, data.num_items, rank)
    twin = NumpyMatrixFactorization(data.num_users, data.num_items, rank)
    twin.load_state_dict({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    return {"PyTorch": lambda: rec.fit_matrix_factorization(model, users, items, ratings, torch, steps=STEPS_PER_CALL),
            "NumPy": lambda: rec.fit_matrix_factorization(twin, users, items, ratings, st, steps=STEPS_PER_CALL)}, len(users)


def nms_by_iou_matrix(boxes, scores, iou_threshold: float = 0.5) -> np.ndarray:
    """The previous ``labs.detection.nms``: the IoU of every pair at once, then the greedy pass over that matrix."""
    from labs.detection import box_iou

    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    iou = box_iou(boxes, boxes)
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for i in order:
        if not suppressed[i]:
            keep.append(i)
            suppressed |= iou[i] > iou_threshold
    return np.array(keep, dtype=np.int64)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    import torch

    from labs.detection import make_detections, nms

    torch.set_num_threads(1)
    recommenders, scenes = (RECOMMENDERS[:1], SCENES[:2]) if args.quick else (RECOMMENDERS, SCENES)
    rounds, budget = (2, 0.01) if args.quick else (7, 0.2)
    lines = [f"Written by `benchmarks/vision_twins_speed.py`; {machine_line(torch)}.", "",
             "## Matrix factorization: a training step in both engines", "",
             f"`labs.recommend.fit_matrix_factorization`, {STEPS_PER_CALL} full-batch Adam steps per call, float32, the "
             "same weights in both engines; ratio = NumPy time / PyTorch time (median over rounds of the per-round ratio; "
             "> 1: the NumPy engine is slower).", "",
             "| ratings | users x items, rank | training ratings | PyTorch ms per step | NumPy ms per step | NumPy / PyTorch |",
             "|---|---|---:|---:|---:|---:|"]
    for label, sizes, rank in recommenders:
        steps, n = recommender_steps(torch, sizes, rank)
        timed = interleaved(steps, rounds, budget, reference="PyTorch")
        per_step = {k: 1e3 * v["median_s"] / STEPS_PER_CALL for k, v in timed.items()}
        lines.append(f"| {label} | {sizes['num_users']} x {sizes['num_items']}, {rank} | {n:,} | {per_step['PyTorch']:.2f} "
                     f"| {per_step['NumPy']:.2f} | {timed['NumPy']['ratio']:.2f} |")
        print(lines[-1], flush=True)
    lines += ["", "## Non-maximum suppression: the greedy loop against the all-pairs IoU matrix", "",
              "IoU threshold 0.5; ratio = IoU-matrix time / `labs.detection.nms` time (> 1: the greedy loop is "
              "faster).", "",
              "| scene: objects, proposals each, clutter | proposals | kept | `labs.detection.nms` (greedy) ms "
              "| IoU-matrix NMS ms | matrix / greedy | IoU matrix MB |", "|---|---:|---:|---:|---:|---:|---:|"]
    for objects, per_object, clutter in scenes:
        _, boxes, scores = make_detections(num_objects=objects, proposals_per_object=per_object, num_clutter=clutter, seed=0)
        kept = nms(boxes, scores)
        assert np.array_equal(kept, nms_by_iou_matrix(boxes, scores)), "the two NMS implementations kept different boxes"
        timed = interleaved({"greedy": lambda b=boxes, s=scores: nms(b, s),
                             "matrix": lambda b=boxes, s=scores: nms_by_iou_matrix(b, s)},
                            rounds, budget, reference="greedy")
        lines.append(f"| {objects}, {per_object}, {clutter} | {len(boxes):,} | {len(kept):,} "
                     f"| {1e3 * timed['greedy']['median_s']:.2f} | {1e3 * timed['matrix']['median_s']:.2f} "
                     f"| {timed['matrix']['ratio']:.2f} | {len(boxes) ** 2 * 8 / 1e6:.1f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:  # a smoke test never overwrites the page's numbers
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
