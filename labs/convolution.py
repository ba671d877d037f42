"""Chapter 5's code: convolution, written out so that each claim of the chapter can be checked.

- :func:`correlate1d` and :func:`convolve1d`: the two operations by their definitions
  (loops over output positions), to compare with ``np.correlate``, ``np.convolve`` and
  ``torch.nn.functional.conv1d``;
- :func:`conv_output_length`: the output-size formula floor((n + 2p - k) / s) + 1, and
  :func:`window_starts` / :func:`plot_conv_windows`, which draw where each window sits;
- :func:`conv1d_as_dense`: the matrix of a 1-D convolution layer, which shows what a
  convolution is as a "y = Wx + b" layer: a sparse matrix with shared weights;
- :func:`conv_parameter_count` and :func:`dense_parameter_count`;
- :func:`double_softmax_loss_floor`: the smallest loss a classifier can reach when its
  outputs are already probabilities but the loss expects logits.

The fast convolution that the engine trains with is ``labs.scratch.conv`` (im2col).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["correlate1d", "convolve1d", "conv_output_length", "window_starts", "plot_conv_windows",
           "conv1d_as_dense", "conv_parameter_count", "dense_parameter_count", "double_softmax_loss_floor"]


def _vector(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {arr.shape}")
    return arr


def correlate1d(x, w, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Cross-correlation, what every deep-learning framework calls "convolution".

    ``y[i] = sum_k x_padded[i * stride + k] * w[k]``: the kernel slides over the input
    as it is, unflipped.
    """
    x, w = _vector("x", x), _vector("w", w)
    x = np.pad(x, padding)
    n_out = conv_output_length(len(x), len(w), stride)  # padding already applied
    return np.array([sum(x[i * stride + k] * w[k] for k in range(len(w))) for i in range(n_out)])


def convolve1d(x, w) -> np.ndarray:
    """Convolution as mathematics defines it, "valid" part only.

    ``y[i] = sum_k x[i + K - 1 - k] * w[k]``, i.e. ``(x * w)[n] = sum_k x[n - k] w[k]``
    at the positions where the kernel fits: the kernel is flipped before it slides.
    """
    x, w = _vector("x", x), _vector("w", w)
    K = len(w)
    n_out = conv_output_length(len(x), K)
    return np.array([sum(x[i + K - 1 - k] * w[k] for k in range(K)) for i in range(n_out)])


def conv_output_length(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window: floor((n + 2p - d(k - 1) - 1) / s) + 1.

    With ``dilation=1`` this is the familiar floor((n + 2p - k) / s) + 1. Raises
    ValueError when the (dilated) kernel does not fit in the padded input.
    """
    for name, value, low in (("n", n, 1), ("kernel_size", kernel_size, 1), ("stride", stride, 1),
                             ("padding", padding, 0), ("dilation", dilation, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"conv_output_length: {name} must be an int >= {low}; got {value!r}")
    out = (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(
            f"a kernel of size {kernel_size} (dilation {dilation}) does not fit in length {n} with padding "
            f"{padding}: the output would have length {out}; use a smaller kernel or more padding"
        )
    return out


def window_starts(n: int, kernel_size: int, stride: int = 1, padding: int = 0) -> list[int]:
    """Where each window begins, counted in the padded input (0 is the first padding cell).

    There is one start per output position, so ``len(window_starts(...))`` is
    :func:`conv_output_length`: the formula counts the starts 0, s, 2s, ... that leave
    room for a whole window in the n + 2p cells.
    """
    length = conv_output_length(n, kernel_size, stride, padding)
    return [i * stride for i in range(length)]


def plot_conv_windows(n: int = 9, kernel_size: int = 3, stride: int = 1, padding: int = 0, ax=None):
    """Draw the padded input as a row of cells and each window as a bar under it.

    Padding cells are hatched; cells that no window covers (the leftover at the end when
    the stride does not divide evenly) are shaded, which is what the floor in the
    formula throws away.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    starts = window_starts(n, kernel_size, stride, padding)
    total = n + 2 * padding
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.45 * total), 1.2 + 0.3 * len(starts)))
    covered = set(c for s in starts for c in range(s, s + kernel_size))
    for c in range(total):
        is_pad = c < padding or c >= padding + n
        ax.add_patch(Rectangle((c, 0), 1, 1, fill=not is_pad, facecolor="0.85" if c not in covered else "white",
                               edgecolor="black", hatch="//" if is_pad else None))
    for row, s in enumerate(starts, start=1):
        ax.add_patch(Rectangle((s + 0.1, -row * 0.6 - 0.1), kernel_size - 0.2, 0.4, color="tab:blue", alpha=0.7))
        ax.text(s + kernel_size / 2, -row * 0.6 + 0.1, f"y[{row - 1}]", ha="center", va="center", fontsize=7, color="white")
    ax.set_xlim(-0.5, total + 0.5)
    ax.set_ylim(-len(starts) * 0.6 - 0.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"n={n}, k={kernel_size}, s={stride}, p={padding}: {len(starts)} outputs "
                 f"= floor(({n} + 2*{padding} - {kernel_size}) / {stride}) + 1", fontsize=9)
    return ax


def conv1d_as_dense(weight, length: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The matrix ``W`` with ``conv1d(x, weight).flatten() == W @ x.flatten()`` for one example.

    ``weight`` has PyTorch's shape (out_channels, in_channels, k); ``x`` has shape
    (in_channels, length). ``W`` has shape (out_channels * L_out, in_channels * length):
    row (o, i) holds ``weight[o]`` at the columns of window i, and zeros elsewhere.
    Each kernel weight appears in L_out rows (weight sharing), and most entries are 0
    (local connectivity).
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 3:
        raise ValueError(f"weight must have shape (out_channels, in_channels, k); got {w.shape}")
    c_out, c_in, k = w.shape
    l_out = conv_output_length(length, k, stride, padding)
    dense = np.zeros((c_out, l_out, c_in, length + 2 * padding))
    for i in range(l_out):
        dense[:, i, :, i * stride : i * stride + k] = w
    dense = dense[..., padding : padding + length]  # padded positions multiply zeros: drop them
    return dense.reshape(c_out * l_out, c_in * length)


def conv_parameter_count(in_channels: int, out_channels: int, kernel_size: int | tuple, bias: bool = True) -> int:
    """Parameters of a convolution layer: out * in * prod(kernel) (+ out biases); independent of the input size."""
    area = math.prod(kernel_size) if isinstance(kernel_size, tuple) else kernel_size
    return out_channels * in_channels * area + (out_channels if bias else 0)


def dense_parameter_count(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of a dense layer ``y = W x + b``: out * in (+ out)."""
    return out_features * in_features + (out_features if bias else 0)


def double_softmax_loss_floor(num_classes: int) -> float:
    """The least cross-entropy a model can reach when softmax is applied twice.

    If the network already outputs probabilities p (each in [0, 1]) and the loss
    applies softmax again, the best case is p = one-hot on the right class, where the
    second softmax gives that class only e / (e + C - 1). The loss can never go
    below -log(e / (e + C - 1)) = log(1 + (C - 1) / e).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}")
    return math.log1p((num_classes - 1) / math.e)
