"""labs.scratch convolution and pooling against torch: values, gradients, errors, properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import labs.scratch as S
from labs.scratch import conv as C

TOL = dict(rtol=1e-9, atol=1e-10)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def compare(fn_ours, fn_torch, arrays, seed=1, tol=TOL):
    """Same output and, for a random upstream gradient, the same gradient for every input."""
    ours = [S.tensor(a, requires_grad=True) if a is not None else None for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) if a is not None else None for a in arrays]
    out, ref = fn_ours(*ours), fn_torch(*theirs)
    assert out.shape == tuple(ref.shape), (out.shape, tuple(ref.shape))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b is None:
            continue
        assert a.grad is not None, f"input {i} got no gradient"
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **tol, err_msg=f"gradient of input {i}")
    return out


# ---------------------------------------------------------------------------------------
# conv2d / conv1d: every stride x padding combination, odd/even and non-square kernels
# ---------------------------------------------------------------------------------------
KERNELS_2D = [(3, 3), (2, 2), (3, 2), (1, 4), (5, 1)]


@pytest.mark.parametrize("kernel", KERNELS_2D, ids=str)
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_conv2d_grid_matches_torch(kernel, stride, padding):
    seed = hash((kernel, stride, padding)) % 1000
    x, w, b = randn(2, 3, 7, 6, seed=seed), randn(4, 3, *kernel, seed=seed + 1), randn(4, seed=seed + 2)
    compare(
        lambda x, w, b: S.functional.conv2d(x, w, b, stride=stride, padding=padding),
        lambda x, w, b: TF.conv2d(x, w, b, stride=stride, padding=padding),
        [x, w, b], seed=seed,
    )


@pytest.mark.parametrize("stride,padding", [((1, 2), (0, 1)), ((3, 1), (2, 0)), ((2, 3), (1, 2))], ids=str)
def test_conv2d_tuple_stride_and_padding(stride, padding):
    x, w = randn(1, 2, 9, 8), randn(3, 2, 3, 2, seed=1)
    compare(
        lambda x, w: S.functional.conv2d(x, w, stride=stride, padding=padding),
        lambda x, w: TF.conv2d(x, w, stride=stride, padding=padding),
        [x, w],
    )


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own notice
@pytest.mark.parametrize("kernel", [(3, 3), (2, 4), (1, 1), (4, 5)], ids=str)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_string_padding(kernel, padding):
    # an even kernel with 'same' pads one more row/column after the input than before, as torch does
    x, w, b = randn(2, 2, 6, 7), randn(3, 2, *kernel, seed=1), randn(3, seed=2)
    out = compare(
        lambda x, w, b: S.functional.conv2d(x, w, b, padding=padding),
        lambda x, w, b: TF.conv2d(x, w, b, padding=padding),
        [x, w, b],
    )
    if padding == "same":
        assert out.shape[2:] == (6, 7)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_conv1d_grid_matches_torch(k, stride, padding):
    x, w, b = randn(3, 2, 11, seed=k), randn(5, 2, k, seed=stride), randn(5, seed=padding)
    compare(
        lambda x, w, b: S.functional.conv1d(x, w, b, stride=stride, padding=padding),
        lambda x, w, b: TF.conv1d(x, w, b, stride=stride, padding=padding),
        [x, w, b],
    )


@pytest.mark.parametrize("k", [2, 3])
def test_conv1d_same_padding(k):
    x, w = randn(1, 3, 8), randn(2, 3, k, seed=1)
    out = compare(lambda x, w: S.functional.conv1d(x, w, padding="same"), lambda x, w: TF.conv1d(x, w, padding="same"), [x, w])
    assert out.shape == (1, 2, 8)


def test_conv_unbatched_input_like_torch():
    x, w, b = randn(3, 6, 5), randn(2, 3, 3, 3, seed=1), randn(2, seed=2)
    compare(lambda x, w, b: S.functional.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1), [x, w, b])
    x1, w1 = randn(3, 9), randn(2, 3, 4, seed=3)
    compare(lambda x, w: S.functional.conv1d(x, w, stride=2), lambda x, w: TF.conv1d(x, w, stride=2), [x1, w1])


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3), c_in=st.integers(1, 3), c_out=st.integers(1, 3),
    h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4),
    sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
    bias=st.booleans(), seed=st.integers(0, 2**16),
)
def test_conv2d_random_shapes_match_torch(n, c_in, c_out, h, w, kh, kw, sh, sw, ph, pw, bias, seed):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return  # torch refuses these too (tested separately)
    arrays = [randn(n, c_in, h, w, seed=seed), randn(c_out, c_in, kh, kw, seed=seed + 1)]
    arrays += [randn(c_out, seed=seed + 2)] if bias else []
    compare(
        lambda *t: S.functional.conv2d(*t, stride=(sh, sw), padding=(ph, pw)),
        lambda *t: TF.conv2d(*t, stride=(sh, sw), padding=(ph, pw)),
        arrays, seed=seed,
    )


def test_conv2d_is_cross_correlation_not_convolution():
    # the kernel is not flipped: a kernel with a single 1 at its top-left corner picks the
    # top-left pixel of every window; true convolution would pick the bottom-right one
    from scipy.signal import convolve2d, correlate2d

    image, kernel = randn(6, 6), randn(3, 3, seed=1)
    ours = S.functional.conv2d(S.tensor(image[None, None]), S.tensor(kernel[None, None])).data[0, 0]
    np.testing.assert_allclose(ours, correlate2d(image, kernel, mode="valid"), rtol=1e-12)
    assert not np.allclose(ours, convolve2d(image, kernel, mode="valid"))
    np.testing.assert_allclose(ours, convolve2d(image, kernel[::-1, ::-1], mode="valid"), rtol=1e-12)


def test_conv2d_float32_close_to_torch_and_stays_float32():
    x, w = randn(4, 3, 10, 10).astype(np.float32), randn(8, 3, 3, 3, seed=1).astype(np.float32)
    out = S.functional.conv2d(S.tensor(x), S.tensor(w), padding=1)
    assert out.dtype == np.float32
    ref = TF.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    np.testing.assert_allclose(out.data, ref, rtol=1e-4, atol=1e-5)


def test_conv2d_without_grad_records_no_graph():
    x, w = S.tensor(randn(1, 1, 5, 5), requires_grad=True), S.tensor(randn(2, 1, 3, 3), requires_grad=True)
    with S.no_grad():
        out = S.functional.conv2d(x, w)
    assert not out.requires_grad
    # only the input needs a gradient: the weight gets none and the result is still right
    x = S.tensor(randn(1, 1, 5, 5), requires_grad=True)
    w = S.tensor(randn(2, 1, 3, 3))
    S.functional.conv2d(x, w).sum().backward()
    assert w.grad is None and x.grad is not None


# ---------------------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel,stride,padding", [
    (2, None, 0), (2, 1, 1), (3, 2, 1), (3, 3, 0), ((2, 3), (1, 2), (1, 1)), ((3, 1), 2, (1, 0)), (1, 1, 0),
], ids=str)
def test_max_pool2d_matches_torch(kernel, stride, padding):
    x = randn(2, 3, 7, 8)
    compare(
        lambda x: S.functional.max_pool2d(x, kernel, stride, padding),
        lambda x: TF.max_pool2d(x, kernel, stride, padding),
        [x],
    )


@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 1, 1), (3, 2, 0), (4, 3, 2)], ids=str)
def test_max_pool1d_matches_torch(kernel, stride, padding):
    compare(
        lambda x: S.functional.max_pool1d(x, kernel, stride, padding),
        lambda x: TF.max_pool1d(x, kernel, stride, padding),
        [randn(3, 2, 10)],
    )


def test_max_pool_ties_send_the_gradient_where_torch_does():
    # integer-valued input: many windows hold the same maximum twice
    x = np.random.default_rng(0).integers(0, 3, size=(2, 2, 6, 6)).astype(np.float64)
    for kernel, stride in [(2, 2), (3, 1), (2, 1)]:
        compare(lambda t, k=kernel, s=stride: S.functional.max_pool2d(t, k, s), lambda t, k=kernel, s=stride: TF.max_pool2d(t, k, s), [x])


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 1, 1), (3, 2, 1), ((2, 3), (2, 1), (1, 1))], ids=str)
def test_avg_pool2d_matches_torch(kernel, stride, padding, count_include_pad):
    compare(
        lambda x: S.functional.avg_pool2d(x, kernel, stride, padding, count_include_pad=count_include_pad),
        lambda x: TF.avg_pool2d(x, kernel, stride, padding, count_include_pad=count_include_pad),
        [randn(2, 3, 7, 8)],
    )


def test_avg_pool1d_matches_torch():
    compare(lambda x: C.avg_pool1d(x, 3, 2, 1), lambda x: TF.avg_pool1d(x, 3, 2, 1), [randn(2, 3, 9)])


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(2, 9), w=st.integers(2, 9), k=st.integers(1, 3),
       s=st.integers(1, 3), p=st.integers(0, 1), seed=st.integers(0, 2**16))
def test_pools_random_shapes_match_torch(n, h, w, k, s, p, seed):
    if 2 * p > k or k > min(h, w) + 2 * p:
        return
    x = randn(n, 2, h, w, seed=seed)
    compare(lambda t: S.functional.max_pool2d(t, k, s, p), lambda t: TF.max_pool2d(t, k, s, p), [x], seed=seed)
    compare(lambda t: S.functional.avg_pool2d(t, k, s, p), lambda t: TF.avg_pool2d(t, k, s, p), [x], seed=seed)


# ---------------------------------------------------------------------------------------
# central-difference gradient checks (independent of torch)
# ---------------------------------------------------------------------------------------
def leaf(*shape, seed=0):
    return S.tensor(randn(*shape, seed=seed), requires_grad=True)


def test_gradcheck_conv2d():
    assert S.gradcheck(lambda x, w, b: S.functional.conv2d(x, w, b, stride=(2, 1), padding=(1, 2)),
                       (leaf(2, 2, 5, 4), leaf(3, 2, 3, 2, seed=1), leaf(3, seed=2)))


def test_gradcheck_conv1d():
    assert S.gradcheck(lambda x, w, b: S.functional.conv1d(x, w, b, stride=2, padding=1),
                       (leaf(2, 2, 7), leaf(3, 2, 3, seed=1), leaf(3, seed=2)))


def test_gradcheck_pools():
    x = leaf(1, 2, 5, 6)
    assert S.gradcheck(lambda t: S.functional.max_pool2d(t, 2, 1, 1), (x,))
    assert S.gradcheck(lambda t: S.functional.avg_pool2d(t, 3, 2, 1, count_include_pad=False), (x,))
    assert S.gradcheck(lambda t: S.functional.max_pool1d(t, 3, 2), (leaf(2, 2, 7),))


# ---------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_conv2d_is_linear_in_the_input(seed, a, b):
    x1, x2, w = randn(2, 2, 6, 5, seed=seed), randn(2, 2, 6, 5, seed=seed + 1), randn(3, 2, 3, 3, seed=seed + 2)
    conv = lambda x: S.functional.conv2d(S.tensor(x), S.tensor(w), stride=2, padding=1).data  # noqa: E731
    np.testing.assert_allclose(conv(a * x1 + b * x2), a * conv(x1) + b * conv(x2), rtol=1e-9, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.integers(1, 3))
def test_conv2d_commutes_with_translation(seed, shift):
    # shifting the image shifts the (stride-1, unpadded) output by the same amount
    x, w = randn(1, 2, 8, 8, seed=seed), randn(2, 2, 3, 3, seed=seed + 1)
    conv = lambda x: S.functional.conv2d(S.tensor(x), S.tensor(w)).data  # noqa: E731
    np.testing.assert_allclose(conv(x)[..., shift:], conv(x[..., shift:])[..., :], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------
# bad input: ValueError/TypeError naming what was expected and what was given
# ---------------------------------------------------------------------------------------
def test_conv2d_wrong_rank_explains_the_fix():
    w = S.tensor(randn(4, 1, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d expects input of shape \(N, C, H, W\); got \(28, 28\): add batch and channel axes with x\[None, None\]"):
        S.functional.conv2d(S.tensor(randn(28, 28)), w)
    with pytest.raises(ValueError, match=r"conv2d expects input of shape \(N, C, H, W\); got \(1, 1, 1, 28, 28\)"):
        S.functional.conv2d(S.tensor(randn(1, 1, 1, 28, 28)), w)
    with pytest.raises(ValueError, match=r"conv1d expects input of shape \(N, C, L\); got \(28,\): add batch and channel axes"):
        S.functional.conv1d(S.tensor(randn(28)), S.tensor(randn(4, 1, 3)))
    with pytest.raises(ValueError, match=r"max_pool2d expects input of shape \(N, C, H, W\); got \(28, 28\): add batch"):
        S.functional.max_pool2d(S.tensor(randn(28, 28)), 2)


def test_conv2d_channel_mismatch_names_both():
    with pytest.raises(ValueError, match=r"expects 3 input channels, but the input \(2, 1, 8, 8\) has 1 \(axis 1\)"):
        S.functional.conv2d(S.tensor(randn(2, 1, 8, 8)), S.tensor(randn(4, 3, 3, 3)))
    # a batch of sequences without a channel axis reads as one unbatched example: say so
    with pytest.raises(ValueError, match=r"has 32 \(axis 0, read as one unbatched example\)"):
        S.functional.conv1d(S.tensor(randn(32, 100)), S.tensor(randn(4, 1, 3)))


def test_bad_kernel_sizes():
    with pytest.raises(ValueError, match="positive kernel size"):
        S.functional.conv2d(S.tensor(randn(1, 1, 5, 5)), S.tensor(np.zeros((2, 1, 0, 3))))
    with pytest.raises(ValueError, match="positive kernel_size; got 0"):
        S.functional.max_pool2d(S.tensor(randn(1, 1, 5, 5)), 0)
    with pytest.raises(ValueError, match="positive kernel_size"):
        S.functional.avg_pool2d(S.tensor(randn(1, 1, 5, 5)), (2, -1))
    with pytest.raises(ValueError, match=r"kernel size \(5, 5\) is larger than the padded input \(4, 4\)"):
        S.functional.conv2d(S.tensor(randn(1, 1, 4, 4)), S.tensor(randn(1, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"kernel size \(3, 3\) is larger than the padded input \(2, 8\)"):
        S.functional.max_pool2d(S.tensor(randn(1, 1, 2, 8)), 3, padding=0)
    with pytest.raises(ValueError, match="at most half the kernel size"):
        S.functional.max_pool2d(S.tensor(randn(1, 1, 6, 6)), 2, padding=2)


def test_empty_batch_and_bad_arguments():
    w = S.tensor(randn(2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"empty batch \(input shape \(0, 1, 5, 5\)\)"):
        S.functional.conv2d(S.tensor(np.zeros((0, 1, 5, 5))), w)
    with pytest.raises(ValueError, match="empty batch"):
        S.functional.max_pool2d(S.tensor(np.zeros((0, 1, 4, 4))), 2)
    with pytest.raises(TypeError, match="labs.scratch Tensor; got ndarray: wrap it"):
        S.functional.conv2d(randn(1, 1, 5, 5), w)
    with pytest.raises(TypeError, match="stride to be an int or a tuple of 2 ints; got 1.5"):
        S.functional.conv2d(S.tensor(randn(1, 1, 5, 5)), w, stride=1.5)
    with pytest.raises(ValueError, match="positive stride; got 0"):
        S.functional.conv2d(S.tensor(randn(1, 1, 5, 5)), w, stride=0)
    with pytest.raises(ValueError, match="non-negative padding"):
        S.functional.conv2d(S.tensor(randn(1, 1, 5, 5)), w, padding=-1)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        S.functional.conv2d(S.tensor(randn(1, 1, 5, 5)), w, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding 'valid', 'same'"):
        S.functional.conv2d(S.tensor(randn(1, 1, 5, 5)), w, padding="full")
    with pytest.raises(ValueError, match=r"bias of shape \(2,\)"):
        S.functional.conv2d(S.tensor(randn(1, 1, 5, 5)), w, S.tensor(randn(3)))
    with pytest.raises(TypeError, match="one dtype; got input float32, weight float64"):
        S.functional.conv2d(S.tensor(randn(1, 1, 5, 5).astype(np.float32)), w)
    with pytest.raises(TypeError, match="floating-point input"):
        S.functional.conv2d(S.tensor(np.ones((1, 1, 5, 5), dtype=np.int64)), w)


def test_no_python_loop_over_batch_or_pixels():
    # the backward pass loops over kernel offsets only: its cost must not grow with the
    # number of Python-level iterations over pixels. Count the slice-adds of col2im.
    calls = []
    original = C._col2im

    def counting(dwin, *args):
        calls.append(dwin.shape)
        return original(dwin, *args)

    C._col2im = counting
    try:
        wide = S.tensor(randn(16, 4, 20, 20), requires_grad=True)
        S.functional.conv2d(wide, S.tensor(randn(3, 4, 3, 3)), padding=1).sum().backward()
        assert calls == []  # stride 1, 4+ channels: shifted products and a transposed convolution, no col2im
        x = S.tensor(randn(16, 2, 20, 20), requires_grad=True)
        S.functional.conv2d(x, S.tensor(randn(3, 2, 3, 3)), stride=2, padding=1).sum().backward()
    finally:
        C._col2im = original
    assert len(calls) == 1 and calls[0] == (16, 2, 3, 3, 10, 10)



@pytest.mark.parametrize("kernel,padding", [((3, 3), 0), ((3, 3), 1), ((3, 3), 3), ((2, 4), (0, 2)), ((1, 5), (2, 4)),
                                            ((4, 4), "same"), ((3, 2), "valid")], ids=str)
@pytest.mark.parametrize("c_in,c_out", [(1, 4), (5, 3), (8, 8), (4, 40)])
@pytest.mark.parametrize("algorithm", ["shifted", "columns"])
def test_stride1_algorithms_match_torch_for_any_padding(kernel, padding, c_in, c_out, algorithm, monkeypatch):
    """Stride 1 runs through shifted matrix products or channels-last columns, whichever suits
    the shape: force each one (forward and the transposed convolution of the backward pass)
    and check every padding shape."""
    chosen = []
    monkeypatch.setattr(C, "_use_columns", lambda *shape: chosen.append(shape) or algorithm == "columns")
    x, w, b = randn(2, c_in, 7, 8), randn(c_out, c_in, *kernel, seed=1), randn(c_out, seed=2)
    ours = [S.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = S.functional.conv2d(*ours, padding=padding)
    ref = torch.nn.functional.conv2d(*theirs, padding=padding)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    up = randn(*out.shape, seed=3)
    out.backward(up)
    ref.backward(torch.tensor(up))
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)
    if c_in >= C._SHIFTED_MIN_CHANNELS:  # fewer channels take the classic im2col of any stride
        assert len(chosen) == 2  # the forward pass and the input gradient both asked


@pytest.mark.parametrize("algorithm", ["shifted", "columns"])
@pytest.mark.parametrize("needs", [(True, False), (False, True), (True, True)], ids=["input", "weight", "both"])
def test_stride1_gradients_when_only_some_inputs_need_them(algorithm, needs, monkeypatch):
    """The stride-1 routes keep what the weight gradient needs only when it is needed, and
    the input gradient reuses the forward pass's layout only when it exists: every mix of
    requires_grad must still give torch's gradients."""
    monkeypatch.setattr(C, "_use_columns", lambda *shape: algorithm == "columns")
    x, w = randn(2, 6, 9, 8), randn(5, 6, 3, 3, seed=1)
    ours = [S.tensor(a, requires_grad=r) for a, r in zip((x, w), needs)]
    theirs = [torch.tensor(a, requires_grad=r) for a, r in zip((x, w), needs)]
    S.functional.conv2d(*ours, padding=1).sum().backward()
    TF.conv2d(*theirs, padding=1).sum().backward()
    for a, t, r in zip(ours, theirs, needs):
        assert (a.grad is not None) == r
        if r:
            np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("small_product", [0, 10**12], ids=["one product per chunk", "one product per image"])
@pytest.mark.parametrize("kernel,padding,c_in,c_out", [((3, 3), 1, 4, 6), ((2, 4), (0, 2), 6, 4), ((1, 5), 2, 5, 40)], ids=str)
def test_columns_products_per_chunk_and_per_image_match_torch(small_product, kernel, padding, c_in, c_out, monkeypatch):
    """The channels-last columns multiply either a chunk of images at once or image by image
    (whichever BLAS runs faster for the size, _SMALL_PRODUCT); force each, with a chunk
    smaller than the batch so that several chunks and a short last one are exercised."""
    monkeypatch.setattr(C, "_use_columns", lambda *shape: True)
    monkeypatch.setattr(C, "_SMALL_PRODUCT", small_product)
    monkeypatch.setattr(C, "_COLUMNS_CHUNK_BYTES", 1)  # one image per chunk
    x, w, b = randn(3, c_in, 6, 7), randn(c_out, c_in, *kernel, seed=1), randn(c_out, seed=2)
    compare(lambda x, w, b: S.functional.conv2d(x, w, b, padding=padding),
            lambda x, w, b: TF.conv2d(x, w, b, padding=padding), [x, w, b])
    monkeypatch.setattr(C, "_COLUMNS_CHUNK_BYTES", 2 * 6 * 7 * c_in * kernel[0] * kernel[1] * 8)  # two, then one
    compare(lambda x, w, b: S.functional.conv2d(x, w, b, padding=padding),
            lambda x, w, b: TF.conv2d(x, w, b, padding=padding), [x, w, b])
