"""The NumPy twin of :mod:`labs.models.lora`, on ``labs.scratch``: LoRA, line for line.

    names = apply_lora(model, rank=4)         # wraps GPT's attention and MLP projections
    count_parameters(model, trainable_only=True)   # only the lora_A and lora_B matrices
    ...train...
    merge_lora(model)                         # W <- W + scaling * B A, back to the plain keys

A frozen ``nn.Linear`` computes ``x W^T + b``. :class:`LoRALinear` adds
``scaling * x A^T B^T`` with ``A`` (rank x in) and ``B`` (out x rank): the update
``scaling * B A`` of W has rank at most ``rank``, and costs ``rank * (in + out)`` numbers
instead of ``in * out``. As in Hugging Face's PEFT, ``A`` starts Kaiming-uniform and ``B``
at zero, so the wrapped model starts out computing exactly what the base computed, and
``scaling = alpha / rank`` (``alpha`` defaults to ``rank``, so scaling 1).

Same classes and functions as the PyTorch file, so a diff shows only what differs between
the engines; the tests check forward passes and gradients against PyTorch in float64.
"""

from __future__ import annotations

import math

import numpy as np

import labs.scratch as st
from labs.scratch import F, nn

__all__ = ["LoRALinear", "apply_lora", "merge_lora", "count_parameters", "GPT_TARGETS"]

# GPT's four projections per block (nanoGPT's and GPT-2's names); the tied head is left alone
GPT_TARGETS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


def _check_rank(rank, alpha):
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise TypeError(f"LoRA: rank must be an int >= 1; got {type(rank).__name__} {rank!r}")
    if rank < 1:
        raise ValueError(f"LoRA: rank must be >= 1 (the number of columns of B and rows of A); got {rank}")
    if alpha is None:
        return float(rank)  # scaling 1, PEFT's advice when alpha is not tuned
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"LoRA: alpha must be a positive finite number (or None for alpha = rank); got {alpha!r}")
    return float(alpha)


class LoRALinear(nn.Module):
    """``base(x) + scaling * x A^T B^T`` around a frozen ``nn.Linear`` ``base``.

    ``lora_A`` (rank, in_features) is Kaiming-uniform with a = sqrt(5), as PEFT and
    ``nn.Linear`` initialise; ``lora_B`` (out_features, rank) is zero. ``scaling`` is
    ``alpha / rank``. ``base`` keeps its own parameters (frozen here), so its state-dict
    keys are those of the wrapped Linear with ``base.`` in front.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float | None = None):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear; got {type(base).__name__}")
        self.alpha = _check_rank(rank, alpha)
        self.rank, self.scaling = rank, self.alpha / rank
        self.base = base.requires_grad_(False)
        weight = base.weight
        self.lora_A = nn.Parameter(np.empty((rank, base.in_features), dtype=weight.dtype))
        self.lora_B = nn.Parameter(np.zeros((base.out_features, rank), dtype=weight.dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # PEFT's choice; B = 0 makes the start exact

    def forward(self, x):
        return self.base(x) + self.scaling * F.linear(F.linear(x, self.lora_A), self.lora_B)  # (x A^T) B^T: never forms B A

    def delta_weight(self):
        """The update of the base's weight, ``scaling * B A``: (out_features, in_features)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha:g}, scaling={self.scaling:g}"


def _matches(name: str, targets) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def _replace(module, name: str, new) -> None:
    parent, _, child = name.rpartition(".")
    setattr(module.get_submodule(parent), child, new)


def apply_lora(module, rank: int = 4, alpha: float | None = None, targets=GPT_TARGETS) -> list[str]:
    """Wrap every ``nn.Linear`` of ``module`` whose name ends with one of ``targets`` in a
    :class:`LoRALinear`; freeze every other parameter of ``module``. Returns the wrapped names.

    Only ``module``'s own parameters are frozen, so a head outside it (a classifier around a
    backbone) still trains. A weight shared with another parameter (GPT's head tied to the
    token embedding) is refused: merging would change the embedding too.
    """
    _check_rank(rank, alpha)
    if isinstance(targets, str):
        targets = (targets,)
    names = [name for name, m in module.named_modules() if name and _matches(name, targets)]
    if not names:
        raise ValueError(f"apply_lora: no sub-module of {type(module).__name__} is named like {tuple(targets)}; "
                         f"its Linears are {[n for n, m in module.named_modules() if isinstance(m, nn.Linear)][:8]}")
    owners = {}
    for owner, m in module.named_modules(remove_duplicate=False):
        for p in m.parameters(recurse=False):
            owners.setdefault(id(p), set()).add(owner)
    for name in names:
        found = module.get_submodule(name)
        if isinstance(found, LoRALinear):
            raise ValueError(f"apply_lora: {name!r} already has LoRA; merge_lora(module) first to stack another")
        if not isinstance(found, nn.Linear):
            raise TypeError(f"apply_lora: {name!r} is a {type(found).__name__}, not an nn.Linear")
        if len(owners[id(found.weight)]) > 1:
            raise ValueError(f"apply_lora: {name!r}'s weight is shared with {sorted(owners[id(found.weight)] - {name})} "
                             "(tied): merging would change those too; leave it out of targets")
    module.requires_grad_(False)
    for name in names:
        _replace(module, name, LoRALinear(module.get_submodule(name), rank, alpha))
    return names


@st.no_grad()
def merge_lora(module) -> list[str]:
    """Fold every :class:`LoRALinear` of ``module`` into its base in place (W <- W + scaling * B A)
    and put the base back where the wrapper was, so the state dict has the original keys.

    The merged Linears stay frozen (``requires_grad_(True)`` to train them). Returns the merged names.
    """
    names = [name for name, m in module.named_modules() if isinstance(m, LoRALinear)]
    if isinstance(module, LoRALinear):
        raise TypeError("merge_lora: pass the module that holds the LoRALinear; use layer.base after "
                        "layer.base.weight.add_(layer.delta_weight()) for a single layer")
    for name in names:
        layer = module.get_submodule(name)
        layer.base.weight.add_(layer.delta_weight().to(layer.base.weight.dtype))
        _replace(module, name, layer.base)
    return names


def count_parameters(module, trainable_only: bool = False) -> int:
    """The number of parameters of ``module`` (a tied weight once); only trainable ones if asked."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
