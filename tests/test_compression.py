"""Chapter 11a's compression code: int8 quantization (NumPy against torch.ao), pruning,
distillation, lightweight convolutions and the table's measurements."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from labs.compress_table import file_size_bytes, format_table, measure_latency, parameter_count
from labs.distill import distillation_loss, forward_flops, train_classifier, training_flops
from labs.models.cnn2d import CNN2d
from labs.models.lightweight_cnn import DepthwiseSeparableConv2d, LightweightCNN, ShuffleBlock, channel_shuffle
from labs.prune import (make_pruning_permanent, matmul_times, prune_channels, prune_unstructured, shrink_cnn2d,
                        weight_sparsity)
from labs.quantization import dynamic_quantize, select_engine, static_quantize
from labs.scratch.quantize import (choose_qparams_affine, dynamic_int8_linear, int8_linear, int8_linear_error_bound,
                                   quantize_affine, quantize_symmetric)

# ----------------------------------------------------------------------------- int8 in NumPy


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 8), depth=st.integers(1, 96), out=st.integers(1, 12), spread=st.floats(0.01, 100.0),
       per_channel=st.booleans(), seed=st.integers(0, 2**16))
def test_int8_linear_error_never_exceeds_the_derived_bound(rows, depth, out, spread, per_channel, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, depth)) * spread
    w = rng.standard_normal((out, depth)) * rng.uniform(0.01, 10, size=(out, 1))   # rows of different sizes
    error = np.abs(int8_linear(x, w, per_channel=per_channel).data - x @ w.T)
    assert np.all(error <= int8_linear_error_bound(x, w, per_channel=per_channel) * (1 + 1e-9) + 1e-12)


def test_the_bound_is_reached_by_a_worst_case_and_not_loose_by_orders():
    # every rounding error at its maximum and with the same sign: x and w sit half a step off the grid
    k = 64
    x = np.full((1, k), 127.5 / 127.0 * 0.5)           # x_k = 0.5 * 1.00394: all equal, so the scale is exact
    x[0, 0] = 1.0                                       # max |x| = 1 sets the scale to 1/127
    w = np.ones((1, k))
    measured = np.abs(int8_linear(x, w).data - x @ w.T)[0, 0]
    bound = int8_linear_error_bound(x, w)[0, 0]
    assert measured <= bound
    assert measured > 0.2 * bound                       # half the terms at their worst: the bound is not vacuous


def test_per_channel_weights_are_more_accurate_when_rows_differ_in_scale():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 128))
    w = rng.standard_normal((16, 128)) * np.logspace(-3, 0, 16)[:, None]
    exact = x @ w.T
    # relative error of the outputs of the small rows (the first four, |w| ~ 1e-3): one shared
    # scale rounds most of their weights to 0
    err = {pc: (np.abs(int8_linear(x, w, per_channel=pc).data - exact)[:, :4] / np.abs(exact[:, :4]).mean()).mean()
           for pc in (False, True)}
    assert err[True] < 0.2 * err[False]
    assert np.all(int8_linear_error_bound(x, w, True) <= int8_linear_error_bound(x, w, False) + 1e-15)


def test_affine_qparams_represent_zero_exactly_and_cover_the_range():
    scale, zero = choose_qparams_affine(-0.3, 2.0, 0, 255)
    assert 0 <= zero <= 255 and scale == pytest.approx(2.3 / 255, rel=1e-6)
    x = np.array([-0.3, 0.0, 2.0])
    q = quantize_affine(x, scale, zero)
    assert q[1] == zero                                                   # 0.0 -> exactly the zero point
    np.testing.assert_allclose((q - zero) * scale, x, atol=scale / 2 + 1e-9)
    assert choose_qparams_affine(0.0, 0.0) == (0.1, 0)                    # an all-zero input still has a scale
    with pytest.raises(ValueError, match="xmin <= xmax"):
        choose_qparams_affine(1.0, -1.0)


def test_quantization_refuses_integer_input_and_misaligned_shapes():
    with pytest.raises(TypeError, match="floating-point"):
        int8_linear(np.ones((2, 3), dtype=np.int64), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"\(out_features, in_features\)"):
        int8_linear(np.ones((2, 3)), np.ones((3, 4)))


# ----------------------------------------------------------------------------- NumPy int8 == torch int8


def dynamic_linear_tolerance(x, qweight, weight_scale, reduce_range=True):
    """What may differ between our float64 arithmetic and torch's float32 kernel: float32 rounding
    of the rescaled sum (relative 1e-6 of its size), and an activation that lands on a rounding
    tie in one and not the other (one activation step times the largest |weight| in that row)."""
    scale, _ = choose_qparams_affine(float(x.min()), float(x.max()), 0, 127 if reduce_range else 255)
    w_abs_max = np.abs(qweight.astype(np.float64)).max(1) * weight_scale
    return 1e-5 + scale * w_abs_max[None, :] + 1e-6 * np.abs(x).sum(1, keepdims=True) * w_abs_max[None, :]


@pytest.mark.parametrize("shape", [(1, 16, 8), (32, 64, 32), (7, 200, 10)])
def test_numpy_dynamic_int8_linear_equals_torch_quantize_dynamic(shape):
    rows, depth, out = shape
    torch.manual_seed(depth)
    linear = nn.Linear(depth, out)
    qlinear = dynamic_quantize(nn.Sequential(linear))[0]
    x = torch.randn(rows, depth) * 3 + 0.5                    # not centred: the zero point matters
    with torch.no_grad():
        expected = qlinear(x).numpy().astype(np.float64)
    w = qlinear.weight()
    qweight, weight_scale = w.int_repr().numpy(), float(w.q_scale())
    assert w.q_zero_point() == 0                              # symmetric int8 weights
    reduce_range = torch.backends.quantized.engine in ("x86", "fbgemm")
    got = dynamic_int8_linear(x.numpy(), qweight, weight_scale, qlinear.bias().detach().numpy(),
                              reduce_range=reduce_range).data
    assert np.all(np.abs(got - expected) <= dynamic_linear_tolerance(x.numpy(), qweight, weight_scale, reduce_range))
    # and both are int8 answers: close to the float layer, but not equal to it
    exact = linear(x).detach().numpy()
    assert 0 < np.abs(expected - exact).max() < 0.05 * np.abs(exact).max()


def test_numpy_symmetric_int8_matmul_equals_torch_int_mm():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((32, 64)).astype(np.float32), rng.standard_normal((16, 64)).astype(np.float32)
    qx, sx = quantize_symmetric(x)
    qw, sw = quantize_symmetric(w, dim=0)
    ours = int8_linear(x, w).data
    theirs = torch._int_mm(torch.from_numpy(qx.data), torch.from_numpy(qw.data.T.copy())).numpy() * sx * sw.T
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- int8 with torch


def test_select_engine_picks_one_this_build_has():
    assert select_engine() in torch.backends.quantized.supported_engines


def test_static_quantization_of_the_cnn_keeps_its_predictions():
    torch.manual_seed(0)
    model = CNN2d().eval()
    x = torch.rand(256, 1, 8, 8)
    qmodel = static_quantize(model, x[:128])
    assert type(qmodel.model.conv1).__module__.startswith("torch.ao.nn.quantized")
    with torch.no_grad():
        ref, got = model(x[128:]), qmodel(x[128:])
    assert (got - ref).abs().max() < 0.1 * ref.abs().max()
    assert file_size_bytes(qmodel) < 0.5 * file_size_bytes(model)
    assert parameter_count(qmodel) == parameter_count(model)
    with pytest.raises(TypeError, match="float tensor"):
        static_quantize(model, x.numpy())


def test_dynamic_quantization_touches_only_linear_layers():
    qmodel = dynamic_quantize(CNN2d())
    assert type(qmodel.conv1) is nn.Conv2d
    assert type(qmodel.fc1).__module__.startswith("torch.ao.nn.quantized.dynamic")


# ----------------------------------------------------------------------------- pruning


@pytest.mark.parametrize("amount", [0.0, 0.5, 0.9])
def test_global_unstructured_pruning_zeroes_that_fraction(amount):
    pruned = prune_unstructured(CNN2d(), amount)
    assert weight_sparsity(pruned) == pytest.approx(amount, abs=1e-3)
    make_pruning_permanent(pruned)
    assert not any(name.endswith("_orig") for name, _ in pruned.named_parameters())
    assert weight_sparsity(pruned) == pytest.approx(amount, abs=1e-3)


def test_pruned_weights_stay_zero_while_fine_tuning():
    pruned = prune_unstructured(CNN2d(), 0.8)
    x, y = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32), np.arange(64) % 10
    train_classifier(pruned, (x, y), epochs=1)
    assert weight_sparsity(pruned) == pytest.approx(0.8, abs=1e-3)


def test_shrinking_channel_pruned_cnn_keeps_outputs_and_cuts_parameters():
    torch.manual_seed(1)
    model = CNN2d().eval()
    pruned = prune_channels(model, 0.5).eval()
    small = shrink_cnn2d(pruned)
    assert [small.conv1.out_channels, small.conv2.out_channels, small.conv3.out_channels] == [16, 32, 32]
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(small(x), pruned(x), rtol=1e-5, atol=1e-5)
    assert parameter_count(small) < 0.4 * parameter_count(model)
    with pytest.raises(TypeError, match="CNN2d"):
        shrink_cnn2d(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="fraction"):
        prune_channels(model, 1.0)


def test_scattered_zeros_change_nothing_about_dense_work():
    times = matmul_times(n=64, batch=8, sparsity=0.9, rounds=2)
    assert set(times) == {"dense", "scattered zeros, dense kernel", "scattered zeros, CSR sparse kernel",
                          "rows removed (structured)"}
    assert all(t > 0 for t in times.values())


# ----------------------------------------------------------------------------- distillation


def test_distillation_loss_is_the_formula():
    torch.manual_seed(0)
    s, t, y = torch.randn(6, 10, dtype=torch.float64), torch.randn(6, 10, dtype=torch.float64), torch.arange(6)
    T, alpha = 3.0, 0.7
    p_t, log_p_s = (t / T).softmax(-1), (s / T).log_softmax(-1)
    kl = (p_t * (p_t.log() - log_p_s)).sum(-1).mean()
    expected = alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(s, y)
    torch.testing.assert_close(distillation_loss(s, t, y, T, alpha), expected)
    torch.testing.assert_close(distillation_loss(s, t, y, T, 0.0), F.cross_entropy(s, y))
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(s, t[:, :5], y)


def test_t_squared_keeps_the_soft_gradient_the_same_size_at_every_temperature():
    torch.manual_seed(0)
    t, y = torch.randn(16, 10, dtype=torch.float64), torch.zeros(16, dtype=torch.long)
    norms = {}
    for T in (8.0, 16.0, 32.0):
        s = torch.randn(16, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_()
        distillation_loss(s, t, y, T, alpha=1.0).backward()
        norms[T] = s.grad.norm().item()
    assert norms[8.0] / norms[32.0] == pytest.approx(1.0, rel=0.05)     # without T^2 it would be 16


def test_backward_costs_about_two_forwards_and_the_accounting_adds_up():
    from torch.utils.flop_counter import FlopCounterMode

    model, x = CNN2d(), torch.rand(32, 1, 8, 8)
    fwd = forward_flops(model, x)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), torch.zeros(32, dtype=torch.long)).backward()
    ratio = (counter.get_total_flops() - fwd) / fwd
    assert 1.8 < ratio <= 2.0                       # the first layer needs no input gradient
    alone = training_flops(10.0, 100, 5)
    distilled = training_flops(10.0, 100, 5, teacher_forward=40.0, teacher_epochs=5)
    assert alone["total"] == 3 * 10 * 100 * 5
    assert distilled["total"] == alone["total"] + 3 * 40 * 100 * 5 + 40 * 100 * 5
    with pytest.raises(ValueError, match="negative"):
        training_flops(-1.0, 1, 1)


def test_forward_flops_of_a_linear_layer_is_two_per_multiply_add():
    assert forward_flops(nn.Linear(64, 10), torch.rand(5, 64)) == 2 * 5 * 64 * 10


# ----------------------------------------------------------------------------- lightweight convolutions


@given(groups=st.sampled_from([1, 2, 3, 4, 6]), per_group=st.integers(1, 5))
@settings(max_examples=20, deadline=None)
def test_channel_shuffle_is_a_permutation_undone_by_the_transposed_shuffle(groups, per_group):
    c = groups * per_group
    x = torch.arange(c, dtype=torch.float32).reshape(1, c, 1, 1).expand(2, c, 3, 3).contiguous()
    shuffled = channel_shuffle(x, groups)
    assert sorted(shuffled[0, :, 0, 0].tolist()) == list(range(c))
    torch.testing.assert_close(channel_shuffle(shuffled, per_group), x)
    # after the shuffle, every consecutive block of `groups` channels holds one channel of every group
    first = shuffled[0, :groups, 0, 0].long()
    assert sorted((first // per_group).tolist()) == list(range(groups))


def test_channel_shuffle_refuses_uneven_groups():
    with pytest.raises(ValueError, match="equal groups"):
        channel_shuffle(torch.zeros(1, 6, 2, 2), 4)


@pytest.mark.parametrize("c_in,c_out,k", [(32, 64, 3), (3, 16, 5)])
def test_depthwise_separable_parameter_count_is_the_closed_form(c_in, c_out, k):
    block = DepthwiseSeparableConv2d(c_in, c_out, k)
    convs = block.depthwise.weight.numel() + block.pointwise.weight.numel()
    assert convs == k * k * c_in + c_in * c_out
    assert convs / (k * k * c_in * c_out) == pytest.approx(1 / c_out + 1 / (k * k))


def test_grouped_pointwise_costs_one_over_groups():
    block = ShuffleBlock(32, 64, groups=4)
    assert block.reduce.weight.numel() == 32 * 64 // 4 and block.expand.weight.numel() == 64 * 64 // 4


@pytest.mark.parametrize("kind", ["mobilenet", "shufflenet"])
def test_lightweight_cnn_classifies_digit_shaped_input_with_fewer_parameters(kind):
    model = LightweightCNN(kind)
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    assert parameter_count(model) < 0.2 * parameter_count(CNN2d())
    assert forward_flops(model, torch.rand(1, 1, 8, 8)) < 0.25 * forward_flops(CNN2d(), torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="input channel"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="kind"):
        LightweightCNN("resnet")


# ----------------------------------------------------------------------------- the table


def test_latency_is_measured_for_every_variant_and_batch_and_threads_are_restored():
    threads = torch.get_num_threads()
    m1, m2 = nn.Linear(8, 8), nn.Linear(8, 2)
    x1, x32 = torch.rand(1, 8), torch.rand(32, 8)
    out = measure_latency({"a": (m1, x1, x32), "b": (m2, x1, x32)}, rounds=3, warmup=1)
    assert set(out) == {"a", "b"} and all(len(v) == 2 for v in out.values())
    assert all(0 < med <= p90 for v in out.values() for med, p90 in v)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="rounds"):
        measure_latency({"a": (m1, x1)}, rounds=1)


def test_file_size_grows_with_parameters_and_table_formats():
    small, big = nn.Linear(10, 10), nn.Linear(100, 100)
    assert file_size_bytes(big) - file_size_bytes(small) >= 4 * (parameter_count(big) - parameter_count(small))
    text = format_table([{"variant": "dense", "params": 1234, "ms": 0.12345}], ["variant", "params", "ms"])
    assert "1,234" in text and "0.123" in text and text.count("\n") == 2


def test_no_deprecation_warning_leaks_from_the_quantization_helpers():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        dynamic_quantize(nn.Sequential(nn.Linear(4, 4)))
