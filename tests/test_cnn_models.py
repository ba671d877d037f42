"""Chapter 5's models and helpers: each PyTorch model and its NumPy twin agree; the helpers match torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import labs.scratch as scratch
from labs import convolution as C
from labs.image_classifier import compare_double_softmax, keras_validation_split, logit_gradient_norms
from labs.models import cnn1d, cnn2d, gru, linear, mlp
from labs.scratch.models import cnn1d as s_cnn1d, cnn2d as s_cnn2d, gru as s_gru, linear as s_linear, mlp as s_mlp

TWINS = {
    "LogisticRegression": (linear.LogisticRegression, s_linear.LogisticRegression, (6, 40), {}),
    "MLP": (mlp.MLP, s_mlp.MLP, (6, 40), {}),
    "CNN1d": (cnn1d.CNN1d, s_cnn1d.CNN1d, (6, 40), {}),
    "GRUClassifier": (gru.GRUClassifier, s_gru.GRUClassifier, (4, 40), {}),
    "GRUClassifier-uni": (gru.GRUClassifier, s_gru.GRUClassifier, (4, 40), {"bidirectional": False}),
    "CNN2d-digits": (cnn2d.CNN2d, s_cnn2d.CNN2d, (3, 1, 8, 8), {}),
    "CNN2d-cifar": (cnn2d.CNN2d, s_cnn2d.CNN2d, (2, 3, 32, 32), {"in_channels": 3, "image_size": 32, "padding": 0}),
    "CNN2d-softmax": (cnn2d.CNN2d, s_cnn2d.CNN2d, (3, 1, 8, 8), {"softmax_output": True}),
}


@pytest.mark.parametrize("name", TWINS)
def test_twins_agree_in_outputs_and_gradients(name):
    torch_cls, numpy_cls, shape, kwargs = TWINS[name]
    torch.manual_seed(0)
    t_model = torch_cls(**kwargs)
    s_model = numpy_cls(**kwargs)
    state = {k: v.detach().numpy() for k, v in t_model.state_dict().items()}
    assert sorted(state) == sorted(s_model.state_dict()), "the twins must share PyTorch's state_dict keys"
    for key, value in s_model.state_dict().items():
        assert value.shape == state[key].shape, key
    s_model.load_state_dict(state)
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    out_t = t_model(torch.tensor(x))
    x_s = scratch.tensor(x, requires_grad=True)
    out_s = s_model(x_s)
    np.testing.assert_allclose(out_s.data, out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    weights = torch.tensor(np.random.default_rng(2).normal(size=tuple(out_t.shape)).astype(np.float32))
    (out_t * weights).sum().backward()
    (out_s * scratch.tensor(weights.numpy())).sum().backward()
    s_params = dict(s_model.named_parameters())
    for key, p in t_model.named_parameters():
        np.testing.assert_allclose(s_params[key].grad, p.grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=key)


def test_published_mnist1d_architectures():
    """Parameter counts of the mnist1d repository's models (its notebook prints them)."""
    counts = {cls().__class__.__name__: sum(p.numel() for p in cls().parameters())
              for cls in (linear.LogisticRegression, mlp.MLP, cnn1d.CNN1d, gru.GRUClassifier)}
    assert counts == {"LogisticRegression": 410, "MLP": 15210, "CNN1d": 5210, "GRUClassifier": 5134}
    h1, h2, h3 = cnn1d.CNN1d().features(torch.zeros(2, 40))
    assert h1.shape == (2, 25, 19) and h2.shape == (2, 25, 10) and h3.shape == (2, 25, 5)


def test_cnn2d_sizes_and_errors():
    assert cnn2d.CNN2d(3, 10, 32, padding=0).fc1.in_features == 64 * 4 * 4  # the tutorial's 32x32 -> 4x4
    assert cnn2d.CNN2d().fc1.in_features == 64 * 2 * 2  # 8x8 digits with padding 1
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        cnn2d.CNN2d()(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="channel"):
        cnn2d.CNN2d()(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="does not fit"):
        cnn2d.CNN2d(image_size=4, padding=0)
    with pytest.raises(ValueError, match="positive int"):
        cnn1d.CNN1d(channels=0)
    with pytest.raises(ValueError, match="length 40"):
        gru.GRUClassifier()(torch.zeros(2, 30))


def test_correlation_and_convolution_definitions():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=12), rng.normal(size=4)
    np.testing.assert_allclose(C.correlate1d(x, w), np.correlate(x, w, "valid"))
    np.testing.assert_allclose(C.convolve1d(x, w), np.convolve(x, w, "valid"))
    torch_out = F.conv1d(torch.tensor(x)[None, None], torch.tensor(w)[None, None], stride=2, padding=1)
    np.testing.assert_allclose(C.correlate1d(x, w, stride=2, padding=1), torch_out.numpy().ravel())
    assert not np.allclose(C.correlate1d(x, w), C.convolve1d(x, w))
    np.testing.assert_allclose(C.correlate1d(x, w[::-1]), C.convolve1d(x, w))


def test_output_length_formula_over_a_grid():
    for n in range(1, 15):
        for k in range(1, 6):
            for s in range(1, 4):
                for p in range(0, 3):
                    if n + 2 * p < k:
                        with pytest.raises(ValueError, match="does not fit"):
                            C.conv_output_length(n, k, s, p)
                        continue
                    expected = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p).shape[-1]
                    assert C.conv_output_length(n, k, s, p) == expected
    assert C.conv_output_length(10, 3, dilation=2) == F.conv1d(torch.zeros(1, 1, 10), torch.zeros(1, 1, 3), dilation=2).shape[-1]
    with pytest.raises(ValueError, match="stride"):
        C.conv_output_length(10, 3, stride=0)


def test_conv_as_dense_matrix():
    rng = np.random.default_rng(3)
    weight, x = rng.normal(size=(3, 2, 5)), rng.normal(size=(2, 17))
    for stride, padding in ((1, 0), (2, 1), (3, 2)):
        dense = C.conv1d_as_dense(weight, 17, stride, padding)
        expected = F.conv1d(torch.tensor(x)[None], torch.tensor(weight), stride=stride, padding=padding)
        np.testing.assert_allclose(dense @ x.ravel(), expected.numpy().ravel(), atol=1e-12)
    assert C.conv_parameter_count(1, 25, 5) == 150 == sum(p.numel() for p in torch.nn.Conv1d(1, 25, 5).parameters())
    assert C.conv_parameter_count(3, 8, (3, 3), bias=False) == 216
    assert C.dense_parameter_count(40, 475) == sum(p.numel() for p in torch.nn.Linear(40, 475).parameters())


def test_double_softmax_floor_and_gradients():
    floor = C.double_softmax_loss_floor(10)
    best = F.cross_entropy(torch.eye(10), torch.arange(10)).item()  # perfect one-hot probabilities as "logits"
    assert best == pytest.approx(floor) and floor == pytest.approx(math.log(1 + 9 / math.e))
    single, double = logit_gradient_norms(np.array([[10.0, 0, 0], [0.1, 0.2, 0.0]]), np.array([1, 0]))
    assert double[0] < 1e-3 * single[0]  # a confident mistake: almost no signal through the double softmax
    assert np.all(double < single)
    with pytest.raises(ValueError, match=">= 2"):
        C.double_softmax_loss_floor(1)


def test_keras_validation_split():
    x, y = np.arange(50_000), np.arange(50_000)
    (xt, _), (xv, _) = keras_validation_split(x, y, 0.1)
    assert len(xt) == 45_000 and len(xv) == 5_000 and xv[0] == 45_000  # the last tenth
    with pytest.raises(ValueError):
        keras_validation_split(x, y, 1.5)


def test_compare_double_softmax_runs_on_tiny_images():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int64) * 3  # learnable: two of the ten classes
    runs = compare_double_softmax((x[:100], y[:100]), (x[100:], y[100:]), image_size=8, in_channels=1, padding=1,
                                  epochs=2, batch_size=16)
    assert set(runs) == {"double softmax", "fixed"}
    assert runs["fixed"].samples_per_epoch == 90  # 10 % held out for validation
    assert runs["double softmax"].history.train_loss[-1] > C.double_softmax_loss_floor(10)
    assert runs["fixed"].history.train_loss[-1] < runs["fixed"].history.train_loss[0]


def test_window_starts_count_is_the_output_length_formula():
    import torch

    from labs.convolution import conv_output_length, window_starts

    for n in range(1, 12):
        for k in range(1, 5):
            for s in (1, 2, 3):
                for p in (0, 1, 2):
                    if n + 2 * p < k:
                        with pytest.raises(ValueError, match="does not fit"):
                            window_starts(n, k, s, p)
                        continue
                    starts = window_starts(n, k, s, p)
                    assert len(starts) == conv_output_length(n, k, s, p)
                    assert len(starts) == torch.nn.functional.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p).shape[-1]
                    assert starts[-1] + k <= n + 2 * p, "every window fits in the padded input"
                    assert starts[-1] + s + k > n + 2 * p, "one more stride would not fit"


def test_plot_conv_windows_draws_one_bar_per_output():
    import matplotlib

    matplotlib.use("Agg")
    from labs.convolution import plot_conv_windows

    ax = plot_conv_windows(n=8, kernel_size=3, stride=2, padding=1)
    bars = [p for p in ax.patches if p.get_facecolor()[:3] != (1.0, 1.0, 1.0) and p.get_height() < 1]
    assert len(bars) == 4  # floor((8 + 2 - 3) / 2) + 1
