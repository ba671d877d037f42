"""GPTClassifier in both engines: it reads each sequence's last real token, so right padding
changes nothing (causal or not); the twin matches torch in float64; bad lengths are refused."""

import numpy as np
import pytest
import torch

import labs.scratch as st
from labs.models import gpt as torch_gpt
from labs.scratch.models import gpt as numpy_gpt


def config(**changes):
    return torch_gpt.GPTConfig(**(dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8) | changes))


def pair(seed=0, pool="last", **changes):
    torch.manual_seed(seed)
    model = torch_gpt.GPTClassifier(torch_gpt.GPT(config(**changes)).double(), num_classes=3, pool=pool).double()
    twin = numpy_gpt.GPTClassifier(numpy_gpt.GPT(config(**changes), dtype=np.float64), num_classes=3, pool=pool)
    twin.load_state_dict(model.state_dict())
    return model.eval(), twin.eval()


LENGTHS = np.array([3, 8, 5, 3])


def padded(pad_seed):
    """Four sequences of LENGTHS real tokens, right-padded with random ids (a different pad per seed)."""
    real = np.random.default_rng(0).integers(0, 13, (4, 8))
    pads = np.random.default_rng(pad_seed).integers(0, 13, (4, 8))
    return torch.from_numpy(np.where(np.arange(8) < LENGTHS[:, None], real, pads))


@pytest.mark.parametrize("pool", ["last", "mean"])
@pytest.mark.parametrize("causal", [True, False])
def test_right_padding_changes_nothing_in_both_engines(causal, pool):
    model, twin = pair(causal=causal, pool=pool)
    with torch.no_grad():
        a, b = model(padded(1), torch.from_numpy(LENGTHS)), model(padded(2), LENGTHS)
        wrong = model(padded(1))  # [:, -1] reads a pad for the short rows
    assert a.shape == (4, 3)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert (a[0] - wrong[0]).abs().max() > 1e-6
    torch.testing.assert_close(a[1], wrong[1])  # the full-length row reads the same token either way
    np.testing.assert_allclose(twin(padded(2).numpy(), LENGTHS).data, a.numpy(), rtol=1e-10, atol=1e-12)
    alone = model(padded(1)[:1, :3])  # the first row without its padding at all
    torch.testing.assert_close(a[:1], alone, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pool", ["last", "mean"])
def test_the_twin_matches_torch_gradients_in_float64(pool):
    model, twin = pair(seed=3, pool=pool)
    x, y = padded(1), torch.tensor([0, 2, 1, 1])
    loss = torch.nn.functional.cross_entropy(model(x, LENGTHS), y)
    loss.backward()
    twin_loss = st.nn.functional.cross_entropy(twin(x.numpy(), LENGTHS), st.tensor(y.numpy()))
    twin_loss.backward()
    np.testing.assert_allclose(twin_loss.item(), loss.item(), rtol=1e-12)
    grads = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name].grad.data, p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_bad_lengths_and_arguments_are_refused_clearly(engine):
    model = pair()[0] if engine == "torch" else pair()[1]
    x = padded(1) if engine == "torch" else padded(1).numpy()
    with pytest.raises(ValueError, match="in 1..8"):
        model(x, [0, 8, 5, 3])
    with pytest.raises(ValueError, match="in 1..8"):
        model(x, [9, 8, 5, 3])
    with pytest.raises(ValueError, match="4 integers"):
        model(x, [3, 8])
    with pytest.raises(ValueError, match="4 integers"):
        model(x, np.array([3.0, 8, 5, 3]))
    with pytest.raises(ValueError, match="num_classes"):
        type(model)(model.backbone, 1)
    with pytest.raises(TypeError, match="GPT backbone"):
        type(model)(model.head, 3)
    with pytest.raises(ValueError, match="pool must be"):
        type(model)(model.backbone, 3, pool="max")


def test_mean_pooling_is_the_mean_of_the_real_tokens():
    model, _ = pair(pool="mean")
    x = padded(1)
    with torch.no_grad():
        hidden = model.backbone.features(x)
        expected = torch.stack([hidden[b, :n].mean(0) for b, n in enumerate(LENGTHS)])
        torch.testing.assert_close(model.pooled(x, LENGTHS), expected)
