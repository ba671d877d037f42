"""Source article 004's two Keras examples, ported to PyTorch for the common-mistakes pages.

Source article 004 (its section 4) trains two small models with Keras:

* a digit CNN: ``Conv2D(32, 3x3) -> MaxPooling2D(2) -> Conv2D(64, 3x3) -> MaxPooling2D(2)
  -> Flatten -> Dense(64) -> Dense(10, softmax)`` on 28 x 28 x 1 images;
* a sequence classifier: ``LSTM(64, return_sequences=True) -> LSTM(64) -> Dense(K, softmax)``.

Both end in a softmax and train with ``sparse_categorical_crossentropy``, which expects
probabilities, so the Keras code is consistent; both call ``model.fit(x_train, y_train)``
on data the snippet never defines or preprocesses, and neither evaluates on held-out data.
The ports here return logits, for ``F.cross_entropy``. Two flags keep what a line-by-line
port copies wrongly, so that the mistakes pages can measure it: ``softmax_output=True``
keeps the softmax (then applied twice, since ``F.cross_entropy`` applies its own), and, for
the LSTM, ``every_step=True`` predicts at every time step (Keras's last ``LSTM(64)``
returns only the last one). Leave both False.
"""

from __future__ import annotations

from torch import nn

from labs.convolution import conv_output_length
from labs.models._checks import check_input, check_positive_int

__all__ = ["KerasDigitCNN", "StackedLSTMClassifier"]


class KerasDigitCNN(nn.Module):
    """conv(32)-relu-pool, conv(64)-relu-pool, flatten, linear(64)-relu, linear(classes)."""

    def __init__(self, image_size: int = 28, in_channels: int = 1, num_classes: int = 10, padding: int = 0,
                 softmax_output: bool = False):
        super().__init__()
        check_positive_int("KerasDigitCNN", image_size=image_size, in_channels=in_channels, num_classes=num_classes)
        sides, side = [image_size], image_size
        for _ in range(2):                         # conv 3x3 (valid in the seed), then pool 2x2
            side = conv_output_length(side, 3, padding=padding) if side + 2 * padding >= 3 else 0
            side = side // 2
            sides.append(side)
        if side < 1:
            raise ValueError(f"KerasDigitCNN: a {image_size} x {image_size} image shrinks to nothing "
                             f"({' -> '.join(map(str, sides))}) with padding={padding}; the source's unpadded 3 x 3 "
                             f"convolutions need images of at least 10 x 10: use padding=1 for small images")
        self.in_channels, self.softmax_output = in_channels, softmax_output
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=padding)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=padding)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * side * side, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x):
        check_input("KerasDigitCNN", x, "(N, C, H, W)", (4,),
                    "Keras's input_shape=(28, 28, 1) is channels-last; add the channel axis in front, x[:, None]")
        h = self.pool(self.conv2(self.pool(self.conv1(x).relu())).relu())
        logits = self.fc2(self.fc1(h.flatten(1)).relu())
        return logits.softmax(dim=-1) if self.softmax_output else logits


class StackedLSTMClassifier(nn.Module):
    """Two stacked LSTM layers read a sequence; a linear head classifies its last step."""

    def __init__(self, input_size: int, num_classes: int, hidden_size: int = 64, every_step: bool = False,
                 softmax_output: bool = False):
        super().__init__()
        check_positive_int("StackedLSTMClassifier", input_size=input_size, num_classes=num_classes,
                           hidden_size=hidden_size)
        self.every_step, self.softmax_output = every_step, softmax_output
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        check_input("StackedLSTMClassifier", x, "(B, T, input_size)", (3,),
                    "a batch of sequences with one feature vector per step; for signals of shape (B, T) use x[..., None]")
        outputs, _ = self.lstm(x)                    # (B, T, H): every step of the second layer
        # Keras's LSTM(64) without return_sequences hands on the last step only
        logits = self.head(outputs if self.every_step else outputs[:, -1])
        return logits.softmax(dim=-1) if self.softmax_output else logits
