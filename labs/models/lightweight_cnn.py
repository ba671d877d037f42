"""Small image classifiers built from MobileNet's and ShuffleNet's cheap convolutions.

- **Depthwise-separable convolution** (MobileNet): a k x k convolution of each channel on
  its own (``groups=C_in``), then a 1 x 1 convolution that mixes channels. Weights:
  k^2 C_in + C_in C_out instead of k^2 C_in C_out, a fraction 1/C_out + 1/k^2.
- **Grouped 1 x 1 convolution and channel shuffle** (ShuffleNet): a 1 x 1 convolution in g
  groups costs C_in C_out / g, but each group then only sees its own channels. Shuffling the
  channels between two grouped layers (reshape to (g, C/g), transpose, flatten) lets every
  output group read from every input group.

``LightweightCNN(kind="mobilenet" | "shufflenet")`` stacks three such blocks in the places of
:class:`labs.models.cnn2d.CNN2d`'s three convolutions (same widths, same pooling), then global
average pooling and one Linear layer, so the two are compared on the same digits.

Unlike the other models here it has no NumPy twin: ``labs.scratch`` convolutions have no
``groups`` argument (a depthwise convolution is ``groups=C_in``), and refuse one clearly.
"""

from __future__ import annotations

from torch import nn

from labs.models._checks import check_input, check_positive_int

__all__ = ["DepthwiseSeparableConv2d", "LightweightCNN", "ShuffleBlock", "channel_shuffle"]


def channel_shuffle(x, groups: int):
    """Interleave the channels of ``x`` (N, C, H, W) across ``groups``: channel order
    (g0c0, g0c1, ..., g1c0, ...) becomes (g0c0, g1c0, ..., g0c1, g1c1, ...)."""
    check_input("channel_shuffle", x, "(N, C, H, W)", (4,), "add batch and channel axes")
    n, c, h, w = x.shape
    if groups < 1 or c % groups:
        raise ValueError(f"channel_shuffle: {c} channels cannot be split into {groups} equal groups")
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class DepthwiseSeparableConv2d(nn.Module):
    """Depthwise k x k (one filter per channel), BatchNorm, ReLU; pointwise 1 x 1, BatchNorm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        check_positive_int("DepthwiseSeparableConv2d", in_channels=in_channels, out_channels=out_channels,
                           kernel_size=kernel_size)
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2,
                                   groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return self.bn2(self.pointwise(self.bn1(self.depthwise(x)).relu())).relu()


class ShuffleBlock(nn.Module):
    """Grouped 1 x 1, channel shuffle, depthwise 3 x 3, grouped 1 x 1 (ShuffleNet's unit,
    without its residual branch so that the width can change)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int = 4):
        super().__init__()
        check_positive_int("ShuffleBlock", in_channels=in_channels, out_channels=out_channels, groups=groups)
        g_in = groups if in_channels % groups == 0 else 1            # the first layer's single channel
        if out_channels % groups:
            raise ValueError(f"ShuffleBlock: out_channels={out_channels} must be divisible by groups={groups}")
        self.groups = groups
        self.reduce = nn.Conv2d(in_channels, out_channels, 1, groups=g_in, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.depthwise = nn.Conv2d(out_channels, out_channels, 3, padding=1, groups=out_channels, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.expand = nn.Conv2d(out_channels, out_channels, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        h = channel_shuffle(self.bn1(self.reduce(x)).relu(), self.groups)
        return self.bn3(self.expand(self.bn2(self.depthwise(h)))).relu()


class LightweightCNN(nn.Module):
    """block, pool, block, pool, block, global average pool, Linear (logits)."""

    def __init__(self, kind: str = "mobilenet", in_channels: int = 1, num_classes: int = 10,
                 channels=(32, 64, 64), groups: int = 4):
        super().__init__()
        if kind not in ("mobilenet", "shufflenet"):
            raise ValueError(f"kind must be 'mobilenet' or 'shufflenet'; got {kind!r}")
        check_positive_int("LightweightCNN", in_channels=in_channels, num_classes=num_classes)
        self.kind, self.in_channels = kind, in_channels
        widths = (in_channels, *channels)
        if kind == "mobilenet":
            blocks = [DepthwiseSeparableConv2d(a, b) for a, b in zip(widths[:-1], widths[1:])]
        else:
            blocks = [ShuffleBlock(a, b, groups) for a, b in zip(widths[:-1], widths[1:])]
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(channels[-1], num_classes)

    def forward(self, x):
        check_input("LightweightCNN", x, "(N, C, H, W)", (4,), "add batch and channel axes, e.g. x[None, None]")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"LightweightCNN was built for {self.in_channels} input channel(s); got {tuple(x.shape)}")
        h = self.pool(self.blocks[0](x))
        h = self.pool(self.blocks[1](h))
        h = self.blocks[2](h)
        return self.head(h.mean(dim=(2, 3)))
