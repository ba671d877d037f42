"""``labs.scratch.nn``: layers as modules, mirroring ``torch.nn``.

Every layer has PyTorch's constructor arguments, parameter names, shapes, default
initialisation and ``state_dict`` keys, so a model can be built here and in PyTorch and
the weights copied across with ``load_state_dict`` (the tests do exactly that).

- ``module.py``: ``Module``, ``Sequential``, ``ModuleList``, ``Identity``
- ``linear.py``: ``Linear``, ``Flatten``;  ``activation.py``: ``ReLU``, ``GELU``, ``Tanh``, ...
- ``conv.py``: ``Conv1d``, ``Conv2d``;  ``pooling.py``: ``MaxPool1d``, ``MaxPool2d``, ``AvgPool2d``
- ``dropout.py``, ``embedding.py``, ``normalization.py`` (``LayerNorm``)
- ``rnn.py``: ``RNN``, ``LSTM``, ``GRU`` (and the single-step cells)
- ``attention.py``: ``MultiheadAttention``;  ``loss.py``: ``CrossEntropyLoss``, ``MSELoss``, ...
- ``init.py``: ``nn.init`` (kaiming, xavier, ...);  ``utils.py``: ``nn.utils.clip_grad_norm_``
"""

from labs.scratch.tensor import Parameter
from labs.scratch.nn import functional, init, utils
from labs.scratch.nn.module import Identity, Module, ModuleList, Sequential
from labs.scratch.nn.linear import Flatten, Linear
from labs.scratch.nn.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from labs.scratch.nn.conv import Conv1d, Conv2d
from labs.scratch.nn.pooling import AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from labs.scratch.nn.dropout import Dropout
from labs.scratch.nn.embedding import Embedding
from labs.scratch.nn.normalization import LayerNorm
from labs.scratch.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from labs.scratch.nn.attention import MultiheadAttention
from labs.scratch.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss

__all__ = [
    "Parameter", "functional", "init", "utils",
    "Module", "Sequential", "ModuleList", "Identity",
    "Linear", "Flatten", "ReLU", "GELU", "Tanh", "Sigmoid", "SiLU", "LeakyReLU", "Softmax", "LogSoftmax",
    "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
    "Dropout", "Embedding", "LayerNorm",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "MultiheadAttention",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss",
]
