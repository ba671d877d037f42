"""Getting a trained model out of Python: graph export, safe weight files, and why pickles are not.

    graph_model = GPTLogits(gpt)                      # the GPT's forward without its Python-side checks
    torch.onnx.export(graph_model, (ids,), "gpt.onnx", dynamo=True, dynamic_shapes=batch_axis())
    save_weights(gpt, "gpt.safetensors"); load_weights(GPT(config), "gpt.safetensors")
    export_tolerance(gpt, ids)                        # how far two float32 runs may differ

**Graph export** (``torch.export``, and ``torch.onnx.export`` on top of it) runs the model on
symbolic inputs and records the tensor operations. Python that looks at the *values* of a tensor
cannot be recorded: :class:`labs.models.gpt.GPT` checks that every id lies in
``[0, vocab_size)`` (``idx.min()``, ``idx.max()``), and the exporter stops there with a
"data-dependent" error. :class:`GPTLogits` is the same forward pass, through the same modules
and weights, without that check; the check moves to whoever feeds the exported graph (the
server's request validator, :func:`labs.serve.validate_request`).

**Weights** go in a ``safetensors`` file: a JSON header (names, dtypes, shapes, offsets) and raw
bytes, nothing that can execute. ``torch.save`` writes a *pickle*, and unpickling can call any
function the file names: :class:`RunsOnLoad` is a harmless payload that proves it. Since
PyTorch 2.6 ``torch.load`` defaults to ``weights_only=True``, an unpickler that accepts only
tensors and plain containers; never pass ``weights_only=False`` for a file you did not write.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

__all__ = ["GPTLogits", "quiet_exporter", "batch_axis", "save_weights", "load_weights", "export_tolerance", "RunsOnLoad", "LOAD_LOG"]


class GPTLogits(nn.Module):
    """``GPTLogits(gpt)(idx)`` -> logits (B, T, V): ``gpt.forward`` without the checks that read values.

    It holds ``gpt`` itself (no copy of weights or code): embeddings, blocks, final norm, head.
    The caller must guarantee ``0 <= idx < vocab_size`` and ``T <= block_size``.
    """

    def __init__(self, gpt):
        super().__init__()
        self.gpt = gpt

    def forward(self, idx):
        g = self.gpt
        x = g._embed(idx, 0)                     # (B, T, C)
        for layer, block in enumerate(g.transformer.h):
            x = block(x, None, layer)
        return g.lm_head(g.transformer.ln_f(x))  # (B, T, V)


@contextlib.contextmanager
def quiet_exporter():
    """Silence the exporters' log lines, prints and warnings for the block (a failed export prints its
    whole graph; the ONNX exporter reports each step). Exceptions still propagate."""
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.startswith("torch")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def batch_axis(max_batch: int = 1024):
    """``dynamic_shapes`` for one (B, T) input whose batch size B may vary (T stays fixed)."""
    return ({0: torch.export.Dim("batch", min=1, max=max_batch)},)


def save_weights(model: nn.Module, path) -> Path:
    """Write ``model.state_dict()`` to a safetensors file (tied weights stored once); return the path."""
    from safetensors.torch import save_model

    path = Path(path)
    save_model(model, str(path))
    return path


def load_weights(model: nn.Module, path) -> nn.Module:
    """Fill ``model`` (of the right architecture) from a safetensors file; unknown or missing names raise."""
    from safetensors.torch import load_model

    load_model(model, str(path), strict=True)
    return model


def export_tolerance(model: nn.Module, example, margin: float = 2.0) -> float:
    """The largest difference two correct float32 implementations of ``model`` should show on ``example``.

    The float64 run is the reference: a float32 run is off by at most ``e`` (measured here),
    another float32 run with other kernels by about as much, so two float32 runs differ by at
    most ``2 e``; ``margin`` covers a different summation order. Returns ``margin * 2 * e``.
    """
    import copy

    model = model.eval()
    with torch.no_grad():
        y32 = model(example).double()
        y64 = copy.deepcopy(model).double()(example)
    e = (y32 - y64).abs().max().item()
    return margin * 2 * max(e, torch.finfo(torch.float32).eps)


LOAD_LOG: list[str] = []


def _record(message: str) -> str:
    """The function a pickle is made to call when it is loaded: it only records that it ran."""
    LOAD_LOG.append(message)
    return message


class RunsOnLoad:
    """An object whose pickle says "call labs.export._record(message)": unpickling runs it.

    A malicious file would name ``os.system`` instead; the mechanism is the same
    (``__reduce__`` returns a callable and its arguments, and the unpickler calls it).
    """

    def __init__(self, message: str = "code ran while the checkpoint was loaded"):
        self.message = message

    def __reduce__(self):
        return (_record, (self.message,))
