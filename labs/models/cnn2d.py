"""A small 2-D CNN for images: the classic "conv, pool, conv, pool, conv, dense" tutorial net.

The layer stack is the one popular TensorFlow tutorials (and seed article 003) use on
CIFAR-10: Conv(32, 3x3) -> pool -> Conv(64, 3x3) -> pool -> Conv(64, 3x3) -> Dense(64)
-> Dense(classes). ``padding=0`` is the tutorial's "valid" convolution (a 32x32 image
ends as 64 x 4 x 4); ``padding=1`` keeps sizes, so the same net fits 8x8 digits.

``softmax_output=True`` reproduces that tutorial's bug: a softmax on the last layer,
followed by a loss that expects logits (softmax applied twice). It is here so the
chapter can measure the damage; leave it False. The NumPy twin is
``labs.scratch.models.cnn2d``.
"""

from __future__ import annotations

from torch import nn

from labs.models._checks import check_input, check_positive_int
from labs.convolution import conv_output_length

__all__ = ["CNN2d"]


class CNN2d(nn.Module):
    """conv-relu-pool, conv-relu-pool, conv-relu, flatten, linear-relu, linear (logits)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 8, channels=(32, 64, 64),
                 hidden: int = 64, padding: int = 1, softmax_output: bool = False):
        super().__init__()
        c1, c2, c3 = channels
        check_positive_int("CNN2d", in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                           c1=c1, c2=c2, c3=c3, hidden=hidden)
        self.in_channels, self.image_size, self.softmax_output = in_channels, image_size, softmax_output
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=padding)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=padding)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=padding)
        self.pool = nn.MaxPool2d(2)
        side = image_size
        for pooled in (True, True, False):
            side = conv_output_length(side, 3, padding=padding)
            if pooled:
                side = conv_output_length(side, 2, stride=2)
        self.fc1 = nn.Linear(c3 * side * side, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def features(self, x):
        """The three feature maps after each ReLU (before pooling), for plotting."""
        check_input("CNN2d", x, "(N, C, H, W)", (4,), "add batch and channel axes, e.g. x[None, None] for one image")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"CNN2d was built for {self.in_channels} input channel(s); got x of shape {tuple(x.shape)}")
        h1 = self.conv1(x).relu()
        h2 = self.conv2(self.pool(h1)).relu()
        h3 = self.conv3(self.pool(h2)).relu()
        return h1, h2, h3

    def forward(self, x):
        h3 = self.features(x)[-1]
        logits = self.fc2(self.fc1(h3.reshape(len(h3), -1)).relu())
        # The bug on purpose (see the module docstring): probabilities, not logits.
        return logits.softmax(dim=-1) if self.softmax_output else logits
