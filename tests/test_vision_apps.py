"""Chapter 9b's modules: multimodal fusion, detection (IoU, NMS), autoencoders, multi-task learning."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labs import detection as det
from labs import multimodal as mm
from labs.autoencoders import VAE, DenoisingAutoencoder, psnr, vae_loss
from labs.data import load_digits
from labs.multitask import SharedTrunk, task_accuracies, train_multitask


# ----------------------------------------------------------------------------- detection

def iou_by_brute_force(a, b, grid=0.25):
    """IoU by counting the cells of a fine grid covered by each box (an independent method)."""
    xs = np.arange(0, 10, grid) + grid / 2
    gx, gy = np.meshgrid(xs, xs)
    ina = (gx >= a[0]) & (gx < a[2]) & (gy >= a[1]) & (gy < a[3])
    inb = (gx >= b[0]) & (gx < b[2]) & (gy >= b[1]) & (gy < b[3])
    union = (ina | inb).sum()
    return (ina & inb).sum() / union if union else 0.0


boxes_on_grid = st.lists(st.integers(0, 40), min_size=4, max_size=4).map(
    lambda v: [min(v[0], v[2]) / 4, min(v[1], v[3]) / 4, max(v[0], v[2]) / 4, max(v[1], v[3]) / 4])


@settings(max_examples=60, deadline=None)
@given(a=boxes_on_grid, b=boxes_on_grid)
def test_iou_matches_counting_grid_cells(a, b):
    """Corners on a 0.25 grid: counting 0.25 cells is exact, so the two must agree."""
    assert det.box_iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(iou_by_brute_force(a, b), abs=1e-12)


def test_iou_cases_by_hand():
    a = np.array([[0, 0, 2, 2]])
    assert det.box_iou(a, np.array([[1, 1, 3, 3]]))[0, 0] == pytest.approx(1 / 7)
    assert det.box_iou(a, np.array([[2, 0, 4, 2]]))[0, 0] == 0.0      # touching edges
    assert det.box_iou(a, np.array([[0.5, 0.5, 1.5, 1.5]]))[0, 0] == pytest.approx(0.25)   # contained
    assert det.box_iou(a, a)[0, 0] == 1.0
    assert det.box_iou(np.array([[1, 1, 1, 1]]), np.array([[1, 1, 1, 1]]))[0, 0] == 0.0    # empty boxes


def nms_by_definition(boxes, scores, threshold):
    """NMS as a fixed point: a box is kept iff no kept box with a higher score overlaps it > threshold."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if all(iou_by_brute_force(boxes[i], boxes[j], grid=0.125) <= threshold for j in kept):
            kept.append(i)
    return kept


@settings(max_examples=30, deadline=None)
@given(raw=st.lists(boxes_on_grid, min_size=1, max_size=8), seed=st.integers(0, 100),
       threshold=st.sampled_from([0.1, 0.3, 0.5, 0.7]))
def test_nms_matches_its_definition(raw, seed, threshold):
    boxes = np.array(raw, dtype=float)
    scores = np.random.default_rng(seed).permutation(len(boxes)).astype(float)
    assert det.nms(boxes, scores, threshold).tolist() == nms_by_definition(boxes, scores, threshold)


def nms_by_iou_matrix(boxes, scores, threshold):
    """The previous labs.detection.nms: every pair's IoU at once, then the greedy pass over that matrix."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    iou = det.box_iou(boxes, boxes)
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for i in order:
        if not suppressed[i]:
            keep.append(i)
            suppressed |= iou[i] > threshold
    return keep


@settings(max_examples=60, deadline=None)
@given(raw=st.lists(boxes_on_grid, min_size=1, max_size=12), copies=st.lists(st.integers(0, 11), max_size=4),
       levels=st.integers(1, 4), seed=st.integers(0, 100), threshold=st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]))
def test_nms_equals_the_iou_matrix_version_with_ties_and_identical_boxes(raw, copies, levels, seed, threshold):
    boxes = np.array(raw + [raw[i % len(raw)] for i in copies], dtype=float)  # some boxes repeated exactly
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=len(boxes)).astype(float)  # few score levels: many ties
    got = det.nms(boxes, scores, threshold)
    assert got.dtype == np.int64
    assert got.tolist() == nms_by_iou_matrix(boxes, scores, threshold)
    assert got.tolist() == nms_by_definition(boxes, scores, threshold)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 1000), threshold=st.floats(0.0, 1.0))
def test_nms_equals_the_iou_matrix_version_on_random_scenes(n, seed, threshold):
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 50, (n, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(0, 20, (n, 2))], axis=1)
    scores = np.round(rng.uniform(0, 1, n), 1)  # rounded: ties between different boxes
    assert det.nms(boxes, scores, threshold).tolist() == nms_by_iou_matrix(boxes, scores, threshold)


def test_nms_ties_and_copies_by_hand():
    box = [0.0, 0.0, 2.0, 2.0]
    # three copies of one box with equal scores: the lowest index is kept, its copies (IoU 1) dropped
    assert det.nms(np.array([box, box, box]), np.array([0.5, 0.5, 0.5]), 0.5).tolist() == [0]
    # at threshold 1 an IoU of exactly 1 is not *greater*: nothing is dropped, order by score then index
    assert det.nms(np.array([box, box, box]), np.array([0.2, 0.5, 0.5]), 1.0).tolist() == [1, 2, 0]
    # empty boxes overlap nothing (IoU 0), so they survive even at threshold 0
    empty = [1.0, 1.0, 1.0, 1.0]
    assert det.nms(np.array([empty, empty, box]), np.array([0.9, 0.8, 0.7]), 0.0).tolist() == [0, 1, 2]
    assert det.nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []


def test_nms_keeps_one_box_per_object_on_generated_scenes():
    objects, proposals, scores = det.make_detections(seed=0)
    keep = det.nms(proposals, scores, 0.5)
    before = det.match_detections(proposals, scores, objects)
    after = det.match_detections(proposals[keep], scores[keep], objects)
    assert after[1] == before[1] == 1.0 and after[0] > 2 * before[0]


@pytest.mark.parametrize("call, message", [
    (lambda: det.box_iou(np.zeros(4), np.zeros((1, 4))), "shape (N, 4)"),
    (lambda: det.box_iou(np.array([[2, 0, 1, 1]]), np.zeros((1, 4))), "x1 <= x2"),
    (lambda: det.nms(np.zeros((2, 4)), np.zeros(3)), "one score per box"),
    (lambda: det.nms(np.zeros((2, 3)), np.zeros(2)), "shape (N, 4)"),
    (lambda: det.nms(np.array([[0, 0, 1, np.nan]]), np.zeros(1)), "finite"),
    (lambda: det.nms(np.array([[0, 2, 1, 1]]), np.zeros(1)), "y1 <= y2"),
    (lambda: det.nms(np.zeros((2, 4)), np.zeros(2), 1.5), "iou_threshold must be in [0, 1]"),
])
def test_detection_errors(call, message):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert message in str(info.value)


# ----------------------------------------------------------------------------- multimodal

@pytest.fixture(scope="module")
def captioned():
    x, y, xt, yt = load_digits()
    train = mm.make_captioned_digits(x, y, seed=0)
    test = mm.make_captioned_digits(xt, yt, seed=1, thresholds=train.thresholds)
    return train, test


def test_captions_say_what_they_claim(captioned):
    train, _ = captioned
    clue = train.tokens[:, 1]
    named = (clue >= mm.WORD_ID["zero"])
    assert np.array_equal(clue[named] - mm.WORD_ID["zero"], train.labels[named])
    parity = np.isin(clue, [mm.WORD_ID["even"], mm.WORD_ID["odd"]])
    assert np.array_equal(clue[parity] == mm.WORD_ID["odd"], train.labels[parity] % 2 == 1)
    assert 0.25 < named.mean() < 0.45 and 0.25 < parity.mean() < 0.45
    assert train.captions[0] == " ".join(mm.VOCAB[t] for t in train.tokens[0])
    # half of every image is hidden: that half holds no digit, only noise
    assert train.images.shape == (len(train.labels), 64) and train.images.dtype == np.float32


def test_quadrants_are_the_four_4x4_blocks():
    img = torch.arange(64.0)[None]
    q = mm.CrossAttentionFusion.quadrants(img)
    grid = img.reshape(8, 8)
    for k, (r, c) in enumerate(itertools.product((0, 4), (0, 4))):
        assert torch.equal(q[0, k], grid[r:r + 4, c:c + 4].reshape(16))


def test_bag_of_words_ignores_the_missing_word():
    bow = mm.bag_of_words(torch.tensor([[0, 2, 2], [0, 0, 0]]))
    assert bow[0, 2] == 2 and bow.sum() == 2


def test_info_nce_against_a_loop():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(5, 3), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(5, 3), dim=-1)
    t = 0.2
    loop = 0.0
    for i in range(5):
        row = torch.stack([a[i] @ b[j] / t for j in range(5)])
        col = torch.stack([a[j] @ b[i] / t for j in range(5)])
        loop += -(row[i] - torch.logsumexp(row, 0)) - (col[i] - torch.logsumexp(col, 0))
    assert mm.info_nce(a, b, t).item() == pytest.approx(loop.item() / 10, rel=1e-6)
    # perfectly aligned, well separated pairs: the loss goes to 0 as the temperature falls
    eye = torch.eye(4)
    assert mm.info_nce(eye, eye, 0.01).item() < 1e-6
    with pytest.raises(ValueError, match="paired embeddings"):
        mm.info_nce(a, b[:4])


def test_retrieval_recall_at_k():
    sim = np.array([[0.9, 0.1, 0.5], [0.1, 0.3, 0.2]])
    rel = np.array([[0, 0, 1], [1, 0, 0]], bool)
    assert mm.retrieval_recall_at_k(sim, rel, 1) == 0.0
    assert mm.retrieval_recall_at_k(sim, rel, 2) == 0.5
    assert mm.retrieval_recall_at_k(sim, rel, 3) == 1.0


def test_fusion_beats_each_modality_and_missing_modality_falls_back(captioned):
    train, test = captioned
    T = [torch.tensor(v) for v in (train.images, train.tokens, train.labels)]
    V = [torch.tensor(v) for v in (test.images, test.tokens, test.labels)]
    torch.manual_seed(0)
    image = mm.train_classifier(mm.ImageClassifier(), *T, steps=200)
    text = mm.train_classifier(mm.TextClassifier(), *T, steps=200)
    early = mm.train_classifier(mm.EarlyFusion(), *T, steps=200)
    late = mm.LateFusion(image, text)
    acc = {name: mm.accuracy(m, *V) for name, m in (("image", image), ("text", text), ("early", early), ("late", late))}
    assert acc["early"] > max(acc["image"], acc["text"]) + 0.05, acc
    assert acc["late"] > max(acc["image"], acc["text"]) + 0.05, acc
    # without the caption, late fusion is (about) the image model alone
    no_text = mm.drop_modality(V[0], V[1], "text")
    assert abs(mm.accuracy(late, *no_text, V[2]) - acc["image"]) < 0.05
    logp = late(V[0][:4], V[1][:4])
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(4))
    with pytest.raises(ValueError, match="'image', 'text' or 'none'"):
        mm.drop_modality(V[0], V[1], "audio")


def test_cross_attention_weights_are_distributions():
    torch.manual_seed(0)
    model = mm.CrossAttentionFusion()
    logits, w = model(torch.rand(5, 64), torch.randint(0, len(mm.VOCAB), (5, 3)), return_weights=True)
    assert logits.shape == (5, 10) and w.shape == (5, 3, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(5, 3))


def test_make_captioned_digits_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        mm.make_captioned_digits(np.zeros((3, 10)), np.zeros(3, int))


# ----------------------------------------------------------------------------- autoencoders, multi-task

def test_psnr():
    ref = np.zeros((4, 4))
    assert psnr(ref + 0.1, ref) == pytest.approx(20.0)
    assert psnr(ref, ref) == float("inf")
    with pytest.raises(ValueError, match="one shape"):
        psnr(ref, ref[:2])


def test_vae_kl_closed_form_against_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.7]])
    x = torch.zeros(1, 64)
    _, _, kl = vae_loss(torch.zeros(1, 64), x, mu, logvar)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(2), torch.ones(2))
    assert kl.item() == pytest.approx(torch.distributions.kl_divergence(q, p).sum().item(), rel=1e-6)


def test_autoencoders_shapes_and_a_training_step_lowers_the_loss():
    torch.manual_seed(0)
    x = torch.rand(32, 64)
    dae = DenoisingAutoencoder()
    assert dae(x).shape == x.shape and 0 <= dae(x).min() and dae(x).max() <= 1
    vae = VAE(latent=2)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        torch.manual_seed(1)  # the same noise each step, so the losses are comparable
        logits, mu, logvar = vae(x)
        loss = vae_loss(logits, x, mu, logvar)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert vae.sample(3, torch.Generator().manual_seed(0)).shape == (3, 64)


def test_shared_trunk_has_fewer_parameters_and_learns_both_tasks():
    x, y, _, _ = load_digits()
    X, A = torch.tensor(x[:400]), torch.tensor(y[:400])
    B = A % 2
    torch.manual_seed(0)
    model = train_multitask(SharedTrunk(64, 32, (10, 2)), X, (A, B), steps=200)
    acc = task_accuracies(model, X, (A, B))
    assert acc[0] > 0.9 and acc[1] > 0.9
    n_shared = sum(p.numel() for p in model.parameters())
    n_single = sum(p.numel() for m in (SharedTrunk(64, 32, (10,)), SharedTrunk(64, 32, (2,))) for p in m.parameters())
    assert n_single - n_shared == 64 * 32 + 32
    with pytest.raises(ValueError, match="2 heads; got 1"):
        train_multitask(model, X, (A,))


def test_fit_with_augmentation_learns_and_is_reproducible():
    from labs.augment import augment
    from labs.augmented_training import fit_with_augmentation, predict_labels
    from labs.models.cnn2d import CNN2d

    x, y, xt, yt = load_digits(flatten=False)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = fit_with_augmentation(CNN2d(channels=(8, 16, 16), hidden=32), x[:200], y[:200],
                                      lambda b, rng: augment(b, rng, padding=1, max_degrees=10), epochs=15, lr=1e-2)
        runs.append(predict_labels(model, xt))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert (runs[0] == yt).mean() > 0.3  # chance is 0.1; 15 short epochs of augmented batches
    with pytest.raises(ValueError, match="as many labels"):
        fit_with_augmentation(CNN2d(), x[:3], y[:2])
