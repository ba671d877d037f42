"""Mixed-precision training: what float16 and bfloat16 can hold, and loss scaling.

Under ``torch.autocast`` the matrix products run in a 16-bit type while the weights, the
optimizer and the reductions stay in float32. float16 keeps 10 fraction bits but only 5
exponent bits: it overflows above 65504 and flushes numbers below about 6e-8 to zero,
which is where small gradients live. bfloat16 keeps float32's 8 exponent bits (the same
range) and only 7 fraction bits. Loss scaling (``torch.amp.GradScaler``) multiplies the
loss by a large factor before the backward pass, so the gradients are lifted out of
float16's underflow zone, then divides them again in float32 before the step; it skips
a step (and halves the factor) when a gradient overflowed to inf.

This is training-time arithmetic. Inference-time int8 quantization (chapter 11) is a
different thing: it stores trained weights in 8 bits to serve a model, and it does not
train one.
"""

from __future__ import annotations

import torch

__all__ = ["format_limits", "zero_gradient_fraction"]


def format_limits() -> dict[str, dict[str, float]]:
    """Largest finite value, smallest normal, smallest subnormal and machine epsilon of fp32, fp16, bf16."""
    out = {}
    for name, dtype in (("float32", torch.float32), ("float16", torch.float16), ("bfloat16", torch.bfloat16)):
        info = torch.finfo(dtype)
        out[name] = {"max": float(info.max), "tiny": float(info.tiny),
                     "subnormal": float(info.smallest_normal * info.eps), "eps": float(info.eps)}
    return out


def zero_gradient_fraction(model, loss_fn, x, y, dtype=torch.float16, scaler=None, device_type: str = "cpu") -> float:
    """Run one forward/backward under autocast(``dtype``); return the fraction of gradient entries that are exactly 0.

    ``dtype=None`` runs in full float32 (no autocast): the baseline, since some gradients
    are exactly zero anyway (the embedding rows of tokens absent from the batch).
    With a ``torch.amp.GradScaler`` the loss is scaled before backward and the gradients
    are unscaled (in float32) before they are read, as in a real training step. The
    model's gradients are left set, so the caller can inspect them.
    """
    model.zero_grad(set_to_none=True)
    with torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        loss = loss_fn(model(x), y)
    if scaler is None:
        loss.backward()
    else:
        scaler.scale(loss).backward()
        # unscale_ needs an optimizer: a throwaway SGD over the same parameters (it never steps)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        scaler.unscale_(opt)
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
    return float((grads == 0).double().mean())
