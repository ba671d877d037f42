"""The chapter's comparison table: size on disk, parameters, latency and quality per variant.

Latency is measured the way a fair comparison needs: one thread (``torch.set_num_threads(1)``,
restored afterwards), in one process, *interleaved* (each round runs every variant once, in
a rotating order), so that a slow moment of a shared machine hits all variants alike rather
than whichever happened to run then. Median and 90th percentile over the rounds, after a
warm-up.

    rows = measure_latency({"dense": (model, x1, x32), ...}, rounds=30)
    print(format_table(rows))
"""

from __future__ import annotations

import os
import tempfile
import time

__all__ = ["file_size_bytes", "format_table", "measure_latency", "parameter_count"]


def file_size_bytes(model) -> int:
    """Bytes of ``torch.save(model.state_dict())`` written to a real file (what a checkpoint costs)."""
    import torch

    fd, path = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    try:
        torch.save(model.state_dict(), path)
        return os.path.getsize(path)
    finally:
        os.remove(path)


def parameter_count(model) -> int:
    """Stored weights and biases: float parameters, or the int8 weights of quantized layers."""
    count = sum(p.numel() for p in model.parameters())
    for module in model.modules():
        # quantized modules keep their weights in packed params, not nn.Parameters
        if hasattr(module, "_packed_params") or type(module).__module__.startswith("torch.ao.nn.quantized"):
            weight = getattr(module, "weight", None)
            weight = weight() if callable(weight) else weight
            bias = getattr(module, "bias", None)
            bias = bias() if callable(bias) else bias
            if weight is not None:
                count += weight.numel() + (bias.numel() if bias is not None else 0)
    return count


def measure_latency(variants: dict, rounds: int = 30, warmup: int = 3) -> dict:
    """``variants`` maps a name to ``(model, *inputs)``, one input per batch size (tensors).
    Returns ``{name: [(median_ms, p90_ms) per input]}``; every model runs in eval mode,
    without gradients, on one thread, interleaved with the others."""
    import numpy as np
    import torch

    if rounds < 2:
        raise ValueError(f"rounds must be at least 2 to give a spread; got {rounds}")
    names = list(variants)
    times = {name: [[] for _ in variants[name][1:]] for name in names}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for model, *_ in variants.values():
                model.eval()
            for r in range(warmup + rounds):
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    model, *inputs = variants[name]
                    for slot, x in enumerate(inputs):
                        start = time.perf_counter()
                        model(x)
                        elapsed = time.perf_counter() - start
                        if r >= warmup:
                            times[name][slot].append(1e3 * elapsed)
    finally:
        torch.set_num_threads(threads)
    return {name: [(float(np.median(t)), float(np.percentile(t, 90))) for t in slots] for name, slots in times.items()}


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (dicts) with ``columns`` in order; floats with 3 significant digits."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        if isinstance(v, int):
            return f"{v:,d}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
