"""int8 quantization with PyTorch: dynamic (Linear layers) and static post-training (a CNN).

Both use ``torch.ao.quantization``, PyTorch's eager-mode quantization. In torch 2.13 it still
works but warns that it is deprecated: its successor is the separate ``torchao`` package
(``quantize_`` for eager models, ``prepare_pt2e``/``convert_pt2e`` on an exported graph). The
course keeps the built-in API because it needs nothing else installed and its kernels (fbgemm on
x86, qnnpack on ARM) are what the NumPy version in ``labs.scratch.quantize`` is checked against.
The warnings are silenced here, once, on purpose.

    engine = select_engine()                        # "x86" on a PC, "qnnpack" on ARM
    qgpt = dynamic_quantize(gpt)                    # Linear weights int8, activations per call
    qcnn = static_quantize(cnn, calibration_images) # every conv and Linear int8, scales calibrated
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager

__all__ = ["dynamic_quantize", "select_engine", "static_quantize"]

_PREFERRED_ENGINES = ("x86", "fbgemm", "qnnpack")


@contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        warnings.filterwarnings("ignore", message=".*must run observer before calling calculate_qparams.*")
        warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")
        yield


def select_engine() -> str:
    """Set and return the quantized backend: the first of x86, fbgemm, qnnpack this build has."""
    import torch

    available = torch.backends.quantized.supported_engines
    for engine in _PREFERRED_ENGINES:
        if engine in available:
            torch.backends.quantized.engine = engine
            return engine
    raise RuntimeError(f"this PyTorch build has no int8 backend (supported_engines = {available}); "
                       "int8 inference needs x86/fbgemm or qnnpack")


def dynamic_quantize(model):
    """A copy of ``model`` whose ``nn.Linear`` layers hold int8 weights (per tensor, symmetric)
    and quantize their input on every call (uint8, affine, from that input's own min and max)."""
    import torch
    from torch import nn

    select_engine()
    with _quiet():
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).cpu().eval(), {nn.Linear},
                                                      dtype=torch.qint8)




def _wrapper_class():
    from torch import nn
    from torch.ao.quantization import DeQuantStub, QuantStub

    class Wrapper(nn.Module):
        """float in, quantize, the model's layers in int8, dequantize, float out."""

        def __init__(self, model):
            super().__init__()
            self.quant, self.model, self.dequant = QuantStub(), model, DeQuantStub()

        def forward(self, x):
            return self.dequant(self.model(self.quant(x)))

    return Wrapper


def static_quantize(model, calibration_x, batch_size: int = 256):
    """Post-training static quantization of a copy of ``model`` (eager mode).

    Observers record the range of every activation while ``calibration_x`` (a float tensor of
    training inputs, never test data) flows through; ``convert`` then fixes one scale and zero
    point per activation and replaces each conv and Linear by its int8 kernel (weights per
    output channel). The model's own ``.relu()`` and max-pooling run on quantized tensors.
    """
    import torch
    from torch.ao import quantization as tq

    if not isinstance(calibration_x, torch.Tensor) or not calibration_x.is_floating_point():
        raise TypeError("static_quantize needs calibration_x as a float tensor of inputs (e.g. a few hundred "
                        f"training images); got {type(calibration_x).__name__}")
    if len(calibration_x) == 0:
        raise ValueError("static_quantize needs at least one calibration input to measure activation ranges")
    engine = select_engine()
    wrapped = _wrapper_class()(copy.deepcopy(model).cpu().eval())
    wrapped.qconfig = tq.get_default_qconfig(engine)
    with _quiet():
        prepared = tq.prepare(wrapped)
        with torch.no_grad():
            for start in range(0, len(calibration_x), batch_size):
                prepared(calibration_x[start:start + batch_size].cpu())
        return tq.convert(prepared)
