"""The ports of source article 004's Keras examples: shapes, the errors that explain a wrong input, the literal variants."""

from __future__ import annotations

import pytest
import torch

from labs.keras_ports import KerasDigitCNN, StackedLSTMClassifier


def test_cnn_on_28x28_has_the_seeds_layer_sizes():
    model = KerasDigitCNN()
    assert model.fc1.in_features == 64 * 5 * 5           # 28 -> 26 -> 13 -> 11 -> 5
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(p.numel() for p in model.pool.parameters()) == 0


def test_cnn_on_8x8_without_padding_explains_the_fix():
    with pytest.raises(ValueError, match=r"8 -> 3 -> 0.*padding=1"):
        KerasDigitCNN(image_size=8)
    assert KerasDigitCNN(image_size=8, padding=1)(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


def test_cnn_without_channel_axis_says_to_add_it():
    with pytest.raises(ValueError, match=r"x\[:, None\]"):
        KerasDigitCNN(image_size=8, padding=1)(torch.zeros(3, 8, 8))


def test_literal_cnn_outputs_probabilities():
    probs = KerasDigitCNN(image_size=8, padding=1, softmax_output=True)(torch.randn(4, 1, 8, 8))
    assert torch.allclose(probs.sum(dim=1), torch.ones(4), atol=1e-6) and (probs >= 0).all()


def test_lstm_classifier_reads_the_last_step_and_the_literal_port_every_step():
    torch.manual_seed(0)
    fixed = StackedLSTMClassifier(3, 5, hidden_size=8)
    literal = StackedLSTMClassifier(3, 5, hidden_size=8, every_step=True, softmax_output=True)
    literal.load_state_dict(fixed.state_dict())
    x = torch.randn(2, 7, 3)
    logits, probs = fixed(x), literal(x)
    assert logits.shape == (2, 5) and probs.shape == (2, 7, 5)
    assert torch.allclose(probs[:, -1], logits.softmax(dim=-1), atol=1e-6)
    # the last step does not depend on what follows it: truncating the sequence changes the logits
    assert not torch.allclose(fixed(x[:, :5]), logits)


def test_lstm_classifier_wants_a_feature_axis():
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        StackedLSTMClassifier(1, 10)(torch.zeros(4, 40))
