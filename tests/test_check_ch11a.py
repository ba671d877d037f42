"""Chapter 11a graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import numpy as np
import pytest
from labs.check import ExerciseFailed, ch11a
from labs.scratch.quantize import quantize_symmetric


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 11a.x: not yet")


@pytest.mark.parametrize("grader", [ch11a.int8_error_bound, ch11a.distillation_compute, ch11a.channel_shuffle,
                                    ch11a.global_magnitude_masks])
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 11a.x"):
        grader(stub)


# ----------------------------------------------------------------------------- Exercise 11a.1


def bound(x, w, half=0.5, cross=True, per_channel=True):
    _, sx = quantize_symmetric(x)
    _, sw = quantize_symmetric(w, dim=0 if per_channel else None)
    sw = np.reshape(sw, -1)
    out = half * sw * np.abs(x).sum(1, keepdims=True) + half * sx * np.abs(w).sum(1)
    return out + (x.shape[1] * sx * sw / 4 if cross else 0)


def test_int8_error_bound_accepts_the_derivation(capsys):
    ch11a.int8_error_bound(bound)
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,hint", [
    (lambda x, w: bound(x, w, cross=False), "multiply each other"),
    (lambda x, w: 2 * bound(x, w), "half a step"),
    (lambda x, w: bound(x, w, per_channel=False), "per output channel"),
])
def test_int8_error_bound_names_the_slip(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch11a.int8_error_bound(wrong)


def test_int8_error_bound_rejects_a_bound_that_the_measurement_beats():
    with pytest.raises(ExerciseFailed):
        ch11a.int8_error_bound(lambda x, w: 0.1 * bound(x, w))


# ----------------------------------------------------------------------------- Exercise 11a.2


def compute(f_t, f_s, n, e_t, e_s, teacher_training=True, teacher_labels=True, step=3):
    alone = step * f_s * n * e_s
    distilled = alone + (3 * f_t * n * e_t if teacher_training else 0) + (f_t * n * e_s if teacher_labels else 0)
    return {"student_alone": alone, "distilled": distilled, "break_even_queries": (distilled - alone) / (f_t - f_s)}


def test_distillation_compute_accepts_the_accounting(capsys):
    ch11a.distillation_compute(compute)
    assert "pays back" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs,hint", [({"teacher_training": False}, "trained first"),
                                         ({"teacher_labels": False}, "soft labels"),
                                         ({"step": 1}, "about 3 forwards")])
def test_distillation_compute_names_the_missing_term(kwargs, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch11a.distillation_compute(lambda *a: compute(*a, **kwargs))


def test_distillation_compute_wants_the_three_keys():
    with pytest.raises(ExerciseFailed, match="keys"):
        ch11a.distillation_compute(lambda *a: compute(*a)["distilled"])


# ----------------------------------------------------------------------------- Exercise 11a.3


def shuffle(x, groups):
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f"{c} channels in {groups} groups")
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def test_channel_shuffle_accepts_reshape_transpose_reshape(capsys):
    ch11a.channel_shuffle(shuffle)
    assert "passed" in capsys.readouterr().out


def test_channel_shuffle_names_the_inverse_and_the_missing_transpose():
    def inverse(x, groups):
        n, c, h, w = x.shape
        if c % groups:
            raise ValueError("uneven")
        return x.reshape(n, c // groups, groups, h, w).transpose(1, 2).reshape(n, c, h, w)

    with pytest.raises(ExerciseFailed, match="inverse shuffle"):
        ch11a.channel_shuffle(inverse)
    with pytest.raises(ExerciseFailed, match="transpose"):
        ch11a.channel_shuffle(lambda x, g: x.reshape(x.shape[0], g, -1, *x.shape[2:]).reshape(x.shape))


def test_channel_shuffle_must_refuse_uneven_groups():
    def no_check(x, groups):
        n, c, h, w = x.shape
        return x.reshape(n, groups, -1, h, w).transpose(1, 2).reshape(n, c, h, w) if c % groups == 0 else x

    with pytest.raises(ExerciseFailed, match="ValueError"):
        ch11a.channel_shuffle(no_check)


# ----------------------------------------------------------------------------- Exercise 11a.4


def global_masks(weights, amount):
    flat = np.concatenate([np.abs(w).ravel() for w in weights])
    k = int(round(amount * flat.size))
    threshold = np.sort(flat)[k - 1] if k else -np.inf
    return [np.abs(w) > threshold for w in weights]


def test_global_masks_accepts_a_threshold_over_all_layers(capsys):
    ch11a.global_magnitude_masks(global_masks)
    assert "passed" in capsys.readouterr().out


def test_global_masks_matches_torch_global_unstructured():
    from torch import nn
    from torch.nn.utils import prune

    layers = [nn.Linear(8, 8), nn.Linear(8, 4)]
    prune.global_unstructured([(m, "weight") for m in layers], pruning_method=prune.L1Unstructured, amount=0.6)
    ours = global_masks([m.weight_orig.detach().numpy() for m in layers], 0.6)
    for m, mask in zip(layers, ours):
        np.testing.assert_array_equal(m.weight_mask.numpy().astype(bool), mask)


def test_global_masks_names_per_layer_pruning():
    def per_layer(weights, amount):
        return [global_masks([w], amount)[0] for w in weights]

    with pytest.raises(ExerciseFailed, match="over all layers"):
        ch11a.global_magnitude_masks(per_layer)


def test_channel_shuffle_wants_a_torch_tensor_back():
    with pytest.raises(ExerciseFailed, match="torch.Tensor"):
        ch11a.channel_shuffle(lambda x, g: shuffle(x, g).numpy())
