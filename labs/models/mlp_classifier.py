"""A plain multi-layer perceptron classifier: Linear -> ReLU (-> Dropout) -> ... -> Linear.

    model = MLPClassifier([64, 128, 10])          # 64 inputs, one hidden layer of 128, 10 logits
    model = MLPClassifier([64, 256, 256, 10], dropout=0.5)

It is a ``torch.nn.Sequential``, so its ``state_dict`` keys are ``"0.weight"``,
``"0.bias"``, ``"2.weight"``, ... (with dropout, the Dropout layers take indices too).
The NumPy twin ``labs.scratch.models.mlp_classifier.MLPClassifier`` builds the same
layers in the same order with ``labs.scratch.nn``, so one model's ``state_dict`` loads
into the other unchanged (Chapter 4 trains both from the same initial weights).
"""

from __future__ import annotations

from torch import nn

from labs.models._mlp_classifier_layout import check_sizes, layer_plan

__all__ = ["MLPClassifier"]


class MLPClassifier(nn.Sequential):
    """Fully connected layers with ReLU between them; the last layer gives raw scores (logits).

    ``sizes``: widths from input to output, at least two numbers.
    ``dropout``: probability of zeroing a hidden activation while training (0: no Dropout layers).
    """

    def __init__(self, sizes, dropout: float = 0.0):
        sizes, dropout = check_sizes(sizes, dropout)
        layers = {"linear": nn.Linear, "relu": nn.ReLU, "dropout": nn.Dropout}
        super().__init__(*(layers[kind](*args) for kind, args in layer_plan(sizes, dropout)))
        self.sizes = sizes
