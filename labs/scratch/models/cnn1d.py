"""The NumPy twin of ``labs.models.cnn1d.CNN1d``: three strided 1-D convolutions and a linear head."""

from __future__ import annotations

from labs.models._checks import check_input, check_positive_int
from labs.convolution import conv_output_length
from labs.scratch import nn

__all__ = ["CNN1d"]


class CNN1d(nn.Module):
    """Conv1d(1, c, 5, 2, 1) -> ReLU -> Conv1d(c, c, 3, 2, 1) -> ReLU -> Conv1d(c, c, 3, 2, 1) -> ReLU -> Linear."""

    kernel_sizes = (5, 3, 3)

    def __init__(self, in_length: int = 40, num_classes: int = 10, channels: int = 25):
        super().__init__()
        check_positive_int("CNN1d", in_length=in_length, num_classes=num_classes, channels=channels)
        self.in_length = in_length
        self.conv1 = nn.Conv1d(1, channels, self.kernel_sizes[0], stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, self.kernel_sizes[1], stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, self.kernel_sizes[2], stride=2, padding=1)
        length = in_length
        for k in self.kernel_sizes:
            length = conv_output_length(length, k, stride=2, padding=1)
        self.linear = nn.Linear(channels * length, num_classes)

    def features(self, x):
        check_input("CNN1d", x, "(N, L) or (N, 1, L)", (2, 3), "pass a batch of signals, e.g. x[None] for one")
        h1 = self.conv1(x.reshape(len(x), 1, -1)).relu()
        h2 = self.conv2(h1).relu()
        h3 = self.conv3(h2).relu()
        return h1, h2, h3

    def forward(self, x):
        h3 = self.features(x)[-1]
        return self.linear(h3.reshape(len(h3), -1))
