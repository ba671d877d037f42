"""Positional arguments mean the same thing here as in torch (issue 8, point 7).

A positional call ``F.avg_pool2d(x, 2, 2, 0, True)`` must not mean ``count_include_pad``
here and ``ceil_mode`` in torch. For every public function of ``labs.scratch``, its
``functional``, ``nn`` (constructors), ``nn.init``, ``nn.utils``, ``optim`` and ``Tensor``
methods that torch also has, the positional parameters must be a prefix of torch's, in
torch's order; anything extra must be keyword-only.
"""

from __future__ import annotations

import inspect
import re

import pytest
import torch
import torch.nn.functional as TF

import labs.scratch as S
import labs.scratch.functional as F

POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

# Same position, same meaning, another name in torch's docstring than in its code.
SYNONYMS = {"value": "other", "split_size": "split_size_or_sections"}
# torch's documented signature hides an overload that it still accepts positionally:
# x.var(1, False, True) and x.std(1, True) work in torch 2.x (dim, unbiased, keepdim).
OVERLOADS = {"Tensor.var": ["dim", "unbiased", "keepdim"], "Tensor.std": ["dim", "unbiased", "keepdim"]}


def _from_doc(obj) -> list[str] | None:
    """torch's builtins have no inspectable signature; their docstring starts with one."""
    match = re.search(r"^\s*\w+\(([^)]*)\)", obj.__doc__ or "", re.MULTILINE)
    if not match:
        return None
    names = []
    for part in match.group(1).split(","):
        name = part.split("=")[0].split(":")[0].strip().replace("\\", "")
        if not name:
            continue
        if name == "*":
            break
        names.append(name)
        if name.startswith("*"):
            break
    return names


def _positional(obj, read_doc: bool = True) -> list[str] | None:
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return _from_doc(obj)
    if (read_doc and any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params)
            and not any(p.kind in POSITIONAL for p in params)):
        return _from_doc(obj)  # a (*args, **kwargs) wrapper: the docstring says more
    names = []
    for p in params:
        if p.kind in POSITIONAL:
            names.append(p.name)
        elif p.kind == inspect.Parameter.VAR_POSITIONAL:
            names.append("*" + p.name)
            break
        else:
            break
    return names


def _ours(obj, drop_first: bool) -> list[str]:
    names = _positional(obj, read_doc=False)
    return names[1:] if drop_first else names


def _theirs(obj, drop_first: bool, from_doc_drops_self: bool) -> list[str] | None:
    names = _positional(obj)
    if names is None:
        return None
    if drop_first and names and names[0] in ("self", "input") and not from_doc_drops_self:
        return names[1:]
    if drop_first and names and names[0] == "self":
        return names[1:]
    return names


def _pairs():
    pairs = []
    for name in sorted(dir(F)):
        obj = getattr(F, name)
        if (not name.startswith("_") and inspect.isfunction(obj) and obj.__module__.startswith("labs.scratch")
                and hasattr(TF, name)):
            pairs.append((f"F.{name}", obj, getattr(TF, name), False))
    for name in S.__all__:
        obj = getattr(S, name)
        if inspect.isfunction(obj) and hasattr(torch, name):
            pairs.append((f"scratch.{name}", obj, getattr(torch, name), False))
    for module, ref, prefix in [(S.nn, torch.nn, "nn"), (S.optim, torch.optim, "optim"),
                                (S.optim.lr_scheduler, torch.optim.lr_scheduler, "lr_scheduler")]:
        for name in sorted(getattr(module, "__all__", dir(module))):
            obj = getattr(module, name)
            if inspect.isclass(obj) and hasattr(ref, name) and name != "Parameter":
                pairs.append((f"{prefix}.{name}", obj.__init__, getattr(ref, name).__init__, True))
    for module, ref, prefix in [(S.nn.init, torch.nn.init, "init"), (S.nn.utils, torch.nn.utils, "utils")]:
        for name in sorted(dir(module)):
            obj = getattr(module, name)
            if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == module.__name__ and hasattr(ref, name):
                pairs.append((f"{prefix}.{name}", obj, getattr(ref, name), False))
    for name in sorted(dir(S.Tensor)):
        obj = getattr(S.Tensor, name)
        if not name.startswith("_") and inspect.isfunction(obj) and hasattr(torch.Tensor, name):
            pairs.append((f"Tensor.{name}", obj, getattr(torch.Tensor, name), True))
    return pairs


PAIRS = _pairs()


def test_the_audit_covers_the_api():
    labels = {label for label, *_ in PAIRS}
    assert len(PAIRS) > 120
    assert {"F.avg_pool2d", "F.cross_entropy", "nn.Linear", "optim.AdamW", "Tensor.sum", "scratch.gather"} <= labels


@pytest.mark.parametrize("label,ours,theirs,method", PAIRS, ids=[p[0] for p in PAIRS])
def test_positional_arguments_follow_torch(label, ours, theirs, method):
    mine = _ours(ours, method)
    ref = OVERLOADS.get(label) or _theirs(theirs, method, from_doc_drops_self=True)
    if ref is None:
        pytest.skip(f"torch's {label} has no readable signature")
    if ref and ref[0] in ("self", "input") and method and (not mine or mine[0] != ref[0]):
        ref = ref[1:]  # a Tensor method whose torch docstring names its receiver
    if mine and mine[0] in ("input", "self") and method and (not ref or ref[0] != mine[0]):
        mine = mine[1:]  # our module-level op installed as a method: its first argument is the receiver
    ref = [SYNONYMS.get(n, n) for n in ref]
    mine = [SYNONYMS.get(n, n) for n in mine]
    stop = next((i for i, n in enumerate(ref) if n.startswith("*")), None)
    if stop is not None:  # torch takes *sizes there: compare up to it
        assert [n.lstrip("*") for n in mine[: stop + 1]][:stop] == ref[:stop], (label, mine, ref)
        return
    assert mine == ref[: len(mine)], f"{label}: positional arguments {mine}, torch's {ref}"
