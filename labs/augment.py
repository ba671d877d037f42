"""Data augmentation for image batches, in NumPy: random crop, rotation and flips.

Every function takes a batch of images shaped ``(N, H, W)`` or ``(N, C, H, W)`` (the layout
``labs.data.load_digits(flatten=False)`` gives) and returns a new array of the same shape and
dtype; the input is never modified. Randomness comes only from the ``numpy.random.Generator``
passed in, so a seeded generator gives the same augmented batch on every machine::

    rng = np.random.default_rng(0)
    x_aug = augment(x, rng, padding=1, max_degrees=15, flip=False)

- :func:`random_crop` pads each image with zeros and cuts a window of the original size at a
  random offset: a shift by up to ``padding`` pixels in each direction.
- :func:`rotate` turns each image about its centre by a given angle (degrees, counter-clockwise
  as the image is displayed, row 0 at the top), with bilinear interpolation and zeros where the
  rotated image has no source pixel; :func:`random_rotate` draws the angles.
- :func:`hflip` mirrors left-right, :func:`vflip` top-bottom, :func:`random_hflip` mirrors a
  random subset. Whether a flip preserves the label depends on the data (a mirrored 3 is not a
  3), which is why :func:`augment` leaves flipping off unless asked.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["random_crop", "shift", "rotate", "random_rotate", "hflip", "vflip", "random_hflip", "augment"]


def _check_images(name: str, images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{name} expects a batch of images of shape (N, H, W) or (N, C, H, W); got shape {images.shape}: "
            "for one image add a batch axis, e.g. image[None]"
        )
    if images.shape[0] == 0 or images.shape[-1] == 0 or images.shape[-2] == 0:
        raise ValueError(f"{name} got an empty batch or empty images, shape {images.shape}")
    if not np.issubdtype(images.dtype, np.number) or np.issubdtype(images.dtype, np.complexfloating):
        raise TypeError(f"{name} expects real-valued pixels; got dtype {images.dtype}")
    return images


def _check_rng(name: str, rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} needs a numpy.random.Generator for its randomness; got {type(rng).__name__}: "
                        "pass rng=np.random.default_rng(seed)")
    return rng


def _check_nonnegative_int(name: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name}: {what} must be a non-negative int; got {value!r}")
    return int(value)


def shift(images, offsets) -> np.ndarray:
    """Shift each image by whole pixels, filling with zeros: ``offsets[i] = (dy, dx)``.

    ``dy > 0`` moves the content down, ``dx > 0`` to the right. This is the deterministic core
    of :func:`random_crop` (a crop of the zero-padded image is a shift).
    """
    images = _check_images("shift", images)
    offsets = np.asarray(offsets)
    if offsets.shape != (len(images), 2) or not np.issubdtype(offsets.dtype, np.integer):
        raise ValueError(f"shift expects integer offsets of shape (N, 2) = ({len(images)}, 2); got {offsets.dtype} "
                         f"of shape {offsets.shape}")
    h, w = images.shape[-2:]
    pad = int(np.abs(offsets).max()) if offsets.size else 0
    widths = [(0, 0)] * (images.ndim - 2) + [(pad, pad), (pad, pad)]
    padded = np.pad(images, widths)
    out = np.empty_like(images)
    for i, (dy, dx) in enumerate(offsets):
        # Output pixel (r, c) takes input pixel (r - dy, c - dx), i.e. padded (r - dy + pad, ...).
        out[i] = padded[i, ..., pad - dy:pad - dy + h, pad - dx:pad - dx + w]
    return out


def random_crop(images, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Pad by ``padding`` zero pixels on each side, then crop back to ``(H, W)`` at a random offset.

    Each image gets its own offset, uniform over the ``(2 * padding + 1) ** 2`` positions, so the
    content moves by up to ``padding`` pixels in each direction. ``padding=0`` returns a copy.
    """
    images = _check_images("random_crop", images)
    padding = _check_nonnegative_int("random_crop", "padding", padding)
    rng = _check_rng("random_crop", rng)
    h, w = images.shape[-2:]
    if padding >= min(h, w):
        raise ValueError(f"random_crop: padding={padding} would shift {h}x{w} images out of view; "
                         f"use padding < {min(h, w)} (1 or 2 pixels for 8x8 digits)")
    offsets = rng.integers(-padding, padding + 1, size=(len(images), 2))
    return shift(images, offsets)


def rotate(images, degrees) -> np.ndarray:
    """Rotate each image about its centre by ``degrees`` (a number, or one angle per image).

    Positive angles turn the image counter-clockwise as displayed. Each output pixel looks up
    where it came from (the inverse rotation) and interpolates bilinearly between the four
    nearest source pixels; pixels whose source lies outside the image are zero. A multiple of
    90 degrees on a square image is exactly ``np.rot90``.
    """
    images = _check_images("rotate", images)
    angles = np.asarray(degrees, dtype=np.float64)
    if angles.ndim > 1 or (angles.ndim == 1 and len(angles) != len(images)):
        raise ValueError(f"rotate: degrees must be one number or one angle per image ({len(images)}); "
                         f"got shape {angles.shape}")
    angles = np.broadcast_to(angles, (len(images),))
    if not np.all(np.isfinite(angles)):
        raise ValueError(f"rotate: degrees must be finite; got {degrees!r}")
    h, w = images.shape[-2:]
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    # Display coordinates: x to the right, y up, origin at the centre.
    x, y = cols - cx, cy - rows
    theta = np.deg2rad(angles)[:, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    # Inverse rotation (by -theta) of each output position gives its source position.
    xs, ys = cos * x + sin * y, -sin * x + cos * y
    src_r, src_c = cy - ys, xs + cx
    # Round away float noise so that exact multiples of 90 degrees land on pixel centres.
    src_r, src_c = np.round(src_r, 10), np.round(src_c, 10)
    r0, c0 = np.floor(src_r).astype(np.int64), np.floor(src_c).astype(np.int64)
    fr, fc = src_r - r0, src_c - c0

    flat = images.reshape(len(images), -1, h, w).astype(np.float64)  # (N, C, H, W)
    n_idx = np.arange(len(images))[:, None, None]
    out = np.zeros_like(flat)
    for dr, dc, weight in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        rr, cc = r0 + dr, c0 + dc
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w) & (weight > 0)
        values = flat[n_idx, :, np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1)]  # (N, H, W, C)
        out += np.moveaxis(values * (weight * inside)[..., None], -1, 1)
    out = out.reshape(images.shape)
    if np.issubdtype(images.dtype, np.integer):
        out = np.rint(out)
    return out.astype(images.dtype)


def random_rotate(images, max_degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate each image by its own angle drawn uniformly from ``[-max_degrees, max_degrees]``."""
    images = _check_images("random_rotate", images)
    rng = _check_rng("random_rotate", rng)
    if isinstance(max_degrees, bool) or not isinstance(max_degrees, numbers.Real) or not 0 <= max_degrees <= 180:
        raise ValueError(f"random_rotate: max_degrees must be a number in [0, 180]; got {max_degrees!r}")
    angles = rng.uniform(-max_degrees, max_degrees, size=len(images))
    return rotate(images, angles)


def hflip(images) -> np.ndarray:
    """Mirror every image left-right (the last axis)."""
    return _check_images("hflip", images)[..., ::-1].copy()


def vflip(images) -> np.ndarray:
    """Mirror every image top-bottom (the second-to-last axis)."""
    return _check_images("vflip", images)[..., ::-1, :].copy()


def random_hflip(images, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability ``p``."""
    images = _check_images("random_hflip", images)
    rng = _check_rng("random_hflip", rng)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"random_hflip: p must be a probability in [0, 1]; got {p!r}")
    chosen = rng.random(len(images)) < p
    out = images.copy()
    out[chosen] = out[chosen][..., ::-1]
    return out


def augment(images, rng: np.random.Generator, padding: int = 1, max_degrees: float = 10.0, flip: bool = False) -> np.ndarray:
    """Random crop (shift by up to ``padding``), then random rotation, then (if ``flip``) random hflip.

    ``flip`` is off by default: mirroring is label-preserving only for classes that are
    symmetric (a mirrored cat is a cat; a mirrored 3 is not a digit).
    """
    images = _check_images("augment", images)
    rng = _check_rng("augment", rng)
    out = random_crop(images, padding, rng)
    if max_degrees:
        out = random_rotate(out, max_degrees, rng)
    if flip:
        out = random_hflip(out, rng)
    return out
