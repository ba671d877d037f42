"""The NumPy twin of ``labs.models.mlp_classifier.MLPClassifier``, built with ``labs.scratch.nn``.

    model = MLPClassifier([64, 128, 10])
    torch_twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
"""

from __future__ import annotations

from labs.models._mlp_classifier_layout import check_sizes, layer_plan
from labs.scratch import nn

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
