"""labs.augment: crop, rotation and flips for image batches, against NumPy and SciPy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from labs.augment import augment, hflip, random_crop, random_hflip, random_rotate, rotate, shift, vflip


def batch(shape=(5, 1, 8, 8), seed=0):
    return np.random.default_rng(seed).random(shape)


@pytest.mark.parametrize("shape", [(4, 8, 8), (4, 3, 8, 6)])
def test_shapes_and_dtypes_are_kept_and_input_untouched(shape):
    x = batch(shape).astype(np.float32)
    before = x.copy()
    rng = np.random.default_rng(1)
    for out in (random_crop(x, 2, rng), random_rotate(x, 30, rng), hflip(x), vflip(x), random_hflip(x, rng),
                augment(x, rng, flip=True)):
        assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(x, before)


def test_rotation_by_multiples_of_90_is_rot90():
    x = batch((3, 2, 7, 7))
    for k in (1, 2, 3, -1):
        np.testing.assert_allclose(rotate(x, 90 * k), np.rot90(x, k, axes=(-2, -1)), atol=1e-12)
    np.testing.assert_allclose(rotate(x, 0), x, atol=1e-12)
    np.testing.assert_allclose(rotate(x, 360), x, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(angle=st.floats(-180, 180), seed=st.integers(0, 1000))
def test_rotation_matches_scipy_bilinear(angle, seed):
    """SciPy's ndimage.rotate with order=1 and zero padding outside the grid is the same map."""
    x = batch((2, 1, 8, 8), seed)
    ref = ndimage.rotate(x, angle, axes=(3, 2), reshape=False, order=1, mode="grid-constant", cval=0.0)
    np.testing.assert_allclose(rotate(x, angle), ref, atol=1e-8)


def test_rotation_per_image_angles():
    x = batch((3, 1, 8, 8))
    out = rotate(x, [0.0, 90.0, 180.0])
    np.testing.assert_allclose(out[0], x[0], atol=1e-12)
    np.testing.assert_allclose(out[1], np.rot90(x[1], 1, axes=(-2, -1)), atol=1e-12)
    np.testing.assert_allclose(out[2], x[2, :, ::-1, ::-1], atol=1e-12)


def test_random_rotate_is_a_rotation_by_an_angle_in_range():
    x = batch((6, 1, 8, 8))
    out = random_rotate(x, 20, np.random.default_rng(3))
    angles = np.random.default_rng(3).uniform(-20, 20, size=6)
    np.testing.assert_allclose(out, rotate(x, angles))
    np.testing.assert_allclose(random_rotate(x, 0, np.random.default_rng(0)), x, atol=1e-12)


def test_random_crop_is_a_shift_within_padding():
    x = batch((90, 8, 8))
    out = random_crop(x, 1, np.random.default_rng(2))
    seen = set()
    for image, cropped in zip(x, out):
        matches = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                   if np.array_equal(shift(image[None], np.array([[dy, dx]]))[0], cropped)]
        assert matches, "each crop must equal the image shifted by at most 1 pixel"
        seen.add(matches[0])
    assert len(seen) == 9, f"90 draws should visit all 9 offsets of padding=1; saw {sorted(seen)}"
    np.testing.assert_array_equal(random_crop(x, 0, np.random.default_rng(0)), x)


def test_shift_against_numpy_roll_with_zero_fill():
    x = batch((1, 8, 8))
    out = shift(x, np.array([[2, -1]]))
    expected = np.zeros_like(x)
    expected[0, 2:, :-1] = x[0, :-2, 1:]
    np.testing.assert_array_equal(out, expected)


def test_same_seed_same_batch_different_seed_different_batch():
    x = batch((8, 1, 8, 8))
    a = augment(x, np.random.default_rng(5), padding=1, max_degrees=15, flip=True)
    b = augment(x, np.random.default_rng(5), padding=1, max_degrees=15, flip=True)
    c = augment(x, np.random.default_rng(6), padding=1, max_degrees=15, flip=True)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_flips():
    x = batch((2, 3, 4, 5))
    np.testing.assert_array_equal(hflip(hflip(x)), x)
    np.testing.assert_array_equal(hflip(x), np.flip(x, axis=-1))
    np.testing.assert_array_equal(vflip(x), np.flip(x, axis=-2))
    np.testing.assert_array_equal(random_hflip(x, np.random.default_rng(0), p=1.0), hflip(x))
    np.testing.assert_array_equal(random_hflip(x, np.random.default_rng(0), p=0.0), x)
    mixed = random_hflip(batch((200, 4, 4)), np.random.default_rng(0))
    flipped = np.array([np.array_equal(m, np.flip(o, -1)) for m, o in zip(mixed, batch((200, 4, 4)))])
    assert 70 < flipped.sum() < 130


def test_integer_images_stay_integer():
    x = (batch((2, 8, 8)) * 16).astype(np.int64)
    out = rotate(x, 90)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, np.rot90(x, 1, axes=(-2, -1)))


@pytest.mark.parametrize("call, message", [
    (lambda: hflip(np.zeros((8, 8))), "(N, H, W) or (N, C, H, W)"),
    (lambda: rotate(np.zeros((1, 1, 1, 8, 8)), 10), "got shape (1, 1, 1, 8, 8)"),
    (lambda: random_crop(np.zeros((2, 8, 8)), -1, np.random.default_rng(0)), "non-negative int"),
    (lambda: random_crop(np.zeros((2, 8, 8)), 8, np.random.default_rng(0)), "padding < 8"),
    (lambda: random_crop(np.zeros((2, 8, 8)), 1, 0), "numpy.random.Generator"),
    (lambda: random_rotate(np.zeros((2, 8, 8)), 270, np.random.default_rng(0)), "[0, 180]"),
    (lambda: rotate(np.zeros((2, 8, 8)), np.nan), "finite"),
    (lambda: rotate(np.zeros((2, 8, 8)), [1.0, 2.0, 3.0]), "one angle per image"),
    (lambda: random_hflip(np.zeros((2, 8, 8)), np.random.default_rng(0), p=2), "probability"),
    (lambda: shift(np.zeros((2, 8, 8)), np.zeros((3, 2), int)), "(N, 2)"),
])
def test_bad_input_says_what_was_expected(call, message):
    with pytest.raises((ValueError, TypeError), match=None) as info:
        call()
    assert message in str(info.value)
