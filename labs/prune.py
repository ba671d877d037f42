"""Magnitude pruning with ``torch.nn.utils.prune``: unstructured (single weights) and
structured (whole output channels), and physically removing the pruned channels of a
:class:`labs.models.cnn2d.CNN2d` so that the smaller network is really smaller.

``torch.nn.utils.prune`` keeps the original tensor as ``weight_orig`` and multiplies it by a
0/1 ``weight_mask`` in a forward pre-hook, so a pruned model trains as usual (the mask keeps
pruned weights at zero) and ``make_pruning_permanent`` folds the mask in. A zeroed weight is
still stored and still multiplied: only removing rows and columns (``shrink_cnn2d``) makes
the arrays, the file and the matmuls smaller.

    pruned = prune_unstructured(model, 0.9)      # the 90 % smallest |w| over all layers -> 0
    pruned = prune_channels(model, 0.5)          # half the channels of each conv, by L1 norm
    small = shrink_cnn2d(pruned)                 # a CNN2d with those channels gone, same outputs
"""

from __future__ import annotations

import copy

__all__ = ["make_pruning_permanent", "matmul_times", "prunable_layers", "prune_channels", "prune_unstructured", "shrink_cnn2d",
           "weight_sparsity"]


def _check_amount(amount) -> float:
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0.0 <= amount < 1.0:
        raise ValueError(f"amount is the fraction of weights to prune, in [0, 1); got {amount!r}")
    return float(amount)


def prunable_layers(model) -> list:
    """The (module, "weight") pairs of every Conv2d and Linear layer, in order."""
    from torch import nn

    layers = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layer to prune")
    return layers


def prune_unstructured(model, amount: float):
    """A copy of ``model`` with the fraction ``amount`` of smallest-magnitude weights zeroed,
    ranked *globally* over all conv and Linear layers (a layer with small weights loses more)."""
    from torch.nn.utils import prune

    amount = _check_amount(amount)
    pruned = copy.deepcopy(model)
    prune.global_unstructured(prunable_layers(pruned), pruning_method=prune.L1Unstructured, amount=amount)
    return pruned


def prune_channels(model, amount: float):
    """A copy of ``model`` with the fraction ``amount`` of each conv layer's output channels
    zeroed, the channels with the smallest L1 norm. The bias of a pruned channel is zeroed
    too: then that channel's map is exactly 0 after ReLU and can be cut out (``shrink_cnn2d``)."""
    import torch
    from torch import nn
    from torch.nn.utils import prune

    amount = _check_amount(amount)
    pruned = copy.deepcopy(model)
    for module in pruned.modules():
        if isinstance(module, nn.Conv2d):
            prune.ln_structured(module, "weight", amount=amount, n=1, dim=0)
            if module.bias is not None:
                kept = module.weight_mask.flatten(1).amax(1)            # 1 for a kept output channel
                prune.custom_from_mask(module, "bias", kept.to(torch.bool))
    return pruned


def make_pruning_permanent(model):
    """Fold every mask into its tensor (``prune.remove``): plain parameters again, zeros included."""
    from torch.nn.utils import prune

    for module in model.modules():
        for name in [n[:-5] for n, _ in module.named_buffers(recurse=False) if n.endswith("_mask")]:
            prune.remove(module, name)
    return model


def weight_sparsity(model) -> float:
    """Fraction of exactly-zero entries over the conv and Linear weights (masks applied)."""
    zeros = total = 0
    for module, name in prunable_layers(model):
        w = getattr(module, name)
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros / total


def shrink_cnn2d(model):
    """A smaller CNN2d without the all-zero output channels of ``model``'s convolutions.

    A channel whose kernel and bias are zero outputs 0, stays 0 through ReLU and max-pooling,
    and contributes nothing to the next layer: dropping it, with the matching input slice of
    the next conv (or the matching columns of ``fc1``), leaves the outputs unchanged.
    """
    import torch

    from labs.models.cnn2d import CNN2d

    if not isinstance(model, CNN2d):
        raise TypeError(f"shrink_cnn2d knows CNN2d's layer layout; got {type(model).__name__}")
    if model.softmax_output:
        raise ValueError("shrink_cnn2d expects a CNN2d with softmax_output=False")
    convs = [model.conv1, model.conv2, model.conv3]
    keep = []
    for conv in convs:
        alive = conv.weight.detach().flatten(1).abs().sum(1) > 0
        if conv.bias is not None:
            alive |= conv.bias.detach() != 0
        if not alive.any():
            raise ValueError("every channel of a convolution is pruned: the network outputs a constant")
        keep.append(alive.nonzero().flatten())
    padding = model.conv1.padding[0]
    small = CNN2d(model.in_channels, model.fc2.out_features, model.image_size, channels=[len(k) for k in keep],
                  hidden=model.fc1.out_features, padding=padding)
    with torch.no_grad():
        previous = torch.arange(model.in_channels)
        for conv, new, kept in zip(convs, [small.conv1, small.conv2, small.conv3], keep):
            new.weight.copy_(conv.weight[kept][:, previous])
            new.bias.copy_(conv.bias[kept])
            previous = kept
        c3 = model.conv3.out_channels
        side2 = model.fc1.in_features // c3                              # spatial positions per channel
        columns = (keep[2][:, None] * side2 + torch.arange(side2)).flatten()   # flatten order is (C, H, W)
        small.fc1.weight.copy_(model.fc1.weight[:, columns])
        small.fc1.bias.copy_(model.fc1.bias)
        small.fc2.load_state_dict(model.fc2.state_dict())
    return small.eval()


def matmul_times(n: int = 512, batch: int = 64, sparsity: float = 0.9, rounds: int = 20, seed: int = 0) -> dict:
    """Best-of-``rounds`` milliseconds of ``W @ X`` (W: n x n, X: n x batch, float32, one thread)
    for the same sparsity reached three ways: zeros scattered in a dense W (unstructured
    pruning as stored), the same W in CSR sparse format, and a W with whole rows removed
    (structured pruning, an (n * (1 - sparsity)) x n dense matrix). Timed in alternation."""
    import time
    import warnings

    import torch

    amount = _check_amount(sparsity)
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n, n, generator=gen)
    x = torch.randn(n, batch, generator=gen)
    scattered = w * (torch.rand(n, n, generator=gen) >= amount)
    kept_rows = max(1, round(n * (1 - amount)))
    cases = {"dense": lambda: w @ x, "scattered zeros, dense kernel": lambda: scattered @ x}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
        csr = scattered.to_sparse_csr()
    cases["scattered zeros, CSR sparse kernel"] = lambda: csr @ x
    rows = w[:kept_rows].contiguous()
    cases["rows removed (structured)"] = lambda: rows @ x
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    best = {name: float("inf") for name in cases}
    try:
        for _ in range(rounds):
            for name, fn in cases.items():
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], 1e3 * (time.perf_counter() - start))
    finally:
        torch.set_num_threads(threads)
    return best
