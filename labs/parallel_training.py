"""Parallel training on ``torch.distributed``: the workers of Chapter 10b.

Every function whose name does not start with ``make_`` runs *inside* a process group, one copy
per rank, started by :func:`labs.distributed.launch`; each returns plain numbers (max
differences, byte counts, seconds) that the notebook and the tests assert on. All the
equalities are checked in float64, where "equal" means equal up to the rounding of a different
summation order (about 1e-15 relative), not a loose tolerance.

- :func:`ddp_matches_one_big_batch`: ``DistributedDataParallel`` on half a batch per rank gives
  the gradient of one process on the whole batch, and trains the same weights.
- :func:`communication_cost`: how long an ``all_reduce`` takes and how many bytes it moves, next
  to the compute of a training step (with and without DDP's gradient synchronisation).
- :func:`sharded_optimizers_match_ddp`: ZeRO stage 1 (``ZeroRedundancyOptimizer``), FSDP2
  (``fully_shard``) and a sharded Adam written on ``reduce_scatter`` / ``all_gather`` all train
  the same weights as DDP with Adam, while each rank keeps only part of the optimizer state.
- :func:`tensor_parallel_matches_dense`: column- and row-split linear layers (Megatron-LM) equal
  the unsplit layer, forward and backward.
- :func:`pipeline_matches_dense`: a two-stage GPipe pipeline with ``send`` / ``recv`` gives the
  gradients of the unsplit model.
- :func:`chapter_experiments`: all of the above in one launch (a process group takes seconds to
  start, so the chapter starts one).
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ColumnParallelLinear", "RowParallelLinear", "chapter_experiments", "communication_cost",
           "ddp_matches_one_big_batch", "make_batch", "make_mlp", "pipeline_matches_dense",
           "sharded_adam_step", "sharded_optimizers_match_ddp", "tensor_parallel_matches_dense"]


# ----------------------------------------------------------------------------- the shared problem


def make_mlp(sizes=(16, 32, 32, 4), seed: int = 0, dtype=torch.float64) -> nn.Sequential:
    """Linear-Tanh-...-Linear with the given widths, initialised from ``seed`` (same on every rank)."""
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers).to(dtype)


def make_batch(n: int, d_in: int, d_out: int, seed: int = 1, dtype=torch.float64):
    """A regression batch ``(x, y)`` of ``n`` rows, the same on every rank for the same seed."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=g, dtype=dtype)
    y = torch.randn(n, d_out, generator=g, dtype=dtype)
    return x, y


def _my_shard(t: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous share of the rows of ``t`` (equal shares: the batch must divide)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    if t.shape[0] % world:
        raise ValueError(f"the global batch of {t.shape[0]} rows must divide among {world} ranks")
    n = t.shape[0] // world
    return t[rank * n:(rank + 1) * n]


def _max_diff(a_params, b_params) -> float:
    return max(float((a - b).abs().max()) for a, b in zip(a_params, b_params))


def _tensor_bytes(obj) -> int:
    """Bytes of every tensor in a (nested) optimizer state; DTensors count their local shard."""
    if hasattr(obj, "to_local"):
        return obj.to_local().nbytes
    if isinstance(obj, torch.Tensor):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


# ----------------------------------------------------------------------------- data parallelism


def ddp_matches_one_big_batch(sizes=(16, 32, 32, 4), batch: int = 64, steps: int = 20, lr: float = 0.1) -> dict:
    """DDP gradients and DDP training against one process on the combined batch (float64).

    Each rank builds the model with a *different* seed on purpose: DDP broadcasts rank 0's
    weights when it wraps the model, so the replicas start equal anyway. The reference is the
    unwrapped model on the whole batch, computed on every rank.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.flop_counter import FlopCounterMode

    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = make_batch(batch, sizes[0], sizes[-1])
    reference = make_mlp(sizes, seed=0)
    replica = make_mlp(sizes, seed=0 if rank == 0 else 100 + rank)   # different on each rank ...
    ddp = DDP(replica)                                  # ... until DDP broadcasts rank 0's weights
    start_diff = _max_diff(ddp.module.parameters(), reference.parameters())

    with FlopCounterMode(display=False) as local_count:
        F.mse_loss(ddp(_my_shard(x)), _my_shard(y)).backward()   # DDP all-reduces (averages) grads here
    with FlopCounterMode(display=False) as full_count:
        F.mse_loss(reference(x), y).backward()
    grad_diff = _max_diff([p.grad for p in ddp.module.parameters()], [p.grad for p in reference.parameters()])
    grad_scale = max(float(p.grad.abs().max()) for p in reference.parameters())

    opt_ddp = torch.optim.SGD(ddp.parameters(), lr=lr)
    opt_ref = torch.optim.SGD(reference.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        for model, opt, xs, ys in ((ddp, opt_ddp, _my_shard(x), _my_shard(y)), (reference, opt_ref, x, y)):
            opt.zero_grad()
            loss = F.mse_loss(model(xs), ys)
            loss.backward()
            opt.step()
        losses.append(float(loss))
    return {"rank": rank, "world_size": world, "start_diff": start_diff, "grad_diff": grad_diff,
            "grad_scale": grad_scale, "weight_diff": _max_diff(ddp.module.parameters(), reference.parameters()),
            "losses": losses, "local_flops": local_count.get_total_flops(),
            "full_flops": full_count.get_total_flops(), "steps": steps}


def _timed(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, the ranks lined up by a barrier first."""
    times = []
    for _ in range(repeats):
        dist.barrier()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _loopback_bytes() -> int | None:
    """Bytes sent on the loopback interface so far (Linux /proc/net/dev), or None elsewhere."""
    try:
        with open("/proc/net/dev") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name.strip() in ("lo", "lo0"):
                    return int(rest.split()[8])          # the 9th field: transmitted bytes
    except OSError:
        return None
    return None


def communication_cost(sizes=(2 ** 10, 2 ** 14, 2 ** 17, 2 ** 20), repeats: int = 5,
                       model_sizes=(256, 512, 512, 256), batch: int = 64) -> dict:
    """Time ``all_reduce`` of float32 tensors of each size; count the loopback bytes of the largest;
    time one DDP training step with and without its gradient all-reduce (``no_sync``)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    rank, world = dist.get_rank(), dist.get_world_size()
    seconds = {}
    for n in sizes:
        t = torch.ones(n, dtype=torch.float32)
        dist.all_reduce(t)                                  # warm-up: connections, buffers
        seconds[n] = _timed(lambda t=t: dist.all_reduce(t), repeats)

    big = torch.ones(sizes[-1], dtype=torch.float32)
    dist.barrier()
    before = _loopback_bytes()
    for _ in range(repeats):
        dist.all_reduce(big)
    dist.barrier()
    after = _loopback_bytes()
    wire_bytes = None if before is None else (after - before) / repeats   # all ranks together, per call

    model = DDP(make_mlp(model_sizes, seed=0, dtype=torch.float32))
    x, y = make_batch(batch, model_sizes[0], model_sizes[-1], dtype=torch.float32)
    xs, ys = _my_shard(x), _my_shard(y)

    def step():
        model.zero_grad()
        F.mse_loss(model(xs), ys).backward()

    def step_no_sync():
        with model.no_sync():                            # the same step, gradients left unsynchronised
            step()

    step(), step_no_sync()
    n_params = sum(p.numel() for p in model.parameters())
    return {"rank": rank, "world_size": world, "allreduce_seconds": seconds, "loopback_bytes_per_call": wire_bytes,
            "largest": sizes[-1], "step_seconds": _timed(step, repeats),
            "step_no_sync_seconds": _timed(step_no_sync, repeats), "model_params": n_params,
            "grad_allreduce_seconds": _timed(lambda: dist.all_reduce(torch.ones(n_params)), repeats)}


# ----------------------------------------------------------------------------- sharding


def _reduce_scatter_sum(output: torch.Tensor, flat: torch.Tensor) -> str:
    """Sum ``flat`` over the ranks and keep this rank's slice in ``output``; return how it was done.

    Newer torch names the single-tensor collective ``reduce_scatter_single``; gloo in older
    releases had no reduce-scatter at all, and then an all-reduce followed by a slice does the
    same arithmetic while moving the whole vector back to every rank (twice the traffic of a
    reduce-scatter), which is said in the returned name rather than hidden.
    """
    fn = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    try:
        fn(output, flat)
        return fn.__name__
    except (RuntimeError, NotImplementedError):
        full = flat.clone()
        dist.all_reduce(full)
        rank, k = dist.get_rank(), output.numel()
        output.copy_(full[rank * k:(rank + 1) * k])
        return "all_reduce + slice (this backend has no reduce_scatter)"


def _all_gather_flat(output: torch.Tensor, shard: torch.Tensor) -> None:
    fn = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    fn(output, shard)


def sharded_adam_step(params, shard_param: torch.Tensor, optimizer: torch.optim.Optimizer) -> str:
    """One step of ZeRO-2 style sharded Adam after a *local* backward (no DDP).

    The gradients of all parameters, flattened and zero-padded to a multiple of the world size,
    are summed across ranks and scattered (each rank receives the sum of its own slice only),
    averaged, and stepped by this rank's Adam, whose state covers only that slice. The updated
    slices are then all-gathered into every rank's full copy of the weights.
    """
    world = dist.get_world_size()
    k = shard_param.numel()
    flat_grad = torch.zeros(k * world, dtype=shard_param.dtype)
    torch.cat([p.grad.reshape(-1) for p in params], out=flat_grad[:sum(p.numel() for p in params)])
    grad_shard = torch.empty(k, dtype=shard_param.dtype)
    how = _reduce_scatter_sum(grad_shard, flat_grad)
    shard_param.grad = grad_shard / world                # DDP's convention: the mean over ranks
    optimizer.step()
    flat = torch.empty(k * world, dtype=shard_param.dtype)
    _all_gather_flat(flat, shard_param.detach())
    offset = 0
    with torch.no_grad():
        for p in params:
            p.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()
    return how


def sharded_optimizers_match_ddp(sizes=(16, 32, 32, 4), batch: int = 64, steps: int = 10, lr: float = 0.01) -> dict:
    """DDP + Adam against ZeRO-1, FSDP2 and the hand-written sharded Adam, in float64.

    Returns each one's largest weight difference from DDP after ``steps`` steps, and the bytes
    of optimizer state (and, for FSDP, of parameters) that *this rank* holds.
    """
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel as DDP

    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = make_batch(batch, sizes[0], sizes[-1])
    xs, ys = _my_shard(x), _my_shard(y)

    def train(model, opt, after_backward=None):
        for _ in range(steps):
            opt.zero_grad()
            model.zero_grad()
            F.mse_loss(model(xs), ys).backward()
            (after_backward or opt.step)()
        return model

    ddp = DDP(make_mlp(sizes))
    opt = torch.optim.Adam(ddp.parameters(), lr=lr)
    train(ddp, opt)
    ddp_weights = [p.detach().clone() for p in ddp.module.parameters()]
    out = {"rank": rank, "world_size": world, "n_params": sum(p.numel() for p in ddp_weights),
           "ddp_state_bytes": _tensor_bytes(opt.state_dict()["state"]),
           "param_bytes": sum(p.nbytes for p in ddp_weights)}

    zero_model = DDP(make_mlp(sizes))
    zero = ZeroRedundancyOptimizer(zero_model.parameters(), optimizer_class=torch.optim.Adam, lr=lr)
    train(zero_model, zero)
    out["zero_diff"] = _max_diff(zero_model.module.parameters(), ddp_weights)
    out["zero_state_bytes"] = _tensor_bytes(zero.optim.state_dict()["state"])   # this rank's partition only

    model = make_mlp(sizes)
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    k = -(-n // world)                                       # ceil: pad so every rank gets k numbers
    flat = torch.zeros(k * world, dtype=torch.float64)
    flat[:n] = torch.cat([p.detach().reshape(-1) for p in params])
    shard = flat[rank * k:(rank + 1) * k].clone().requires_grad_(True)
    shard_opt = torch.optim.Adam([shard], lr=lr)
    hows = set()
    train(model, shard_opt, after_backward=lambda: hows.add(sharded_adam_step(params, shard, shard_opt)))
    out["manual_diff"] = _max_diff(model.parameters(), ddp_weights)
    out["manual_state_bytes"] = _tensor_bytes(shard_opt.state_dict()["state"])
    out["manual_collective"] = ", ".join(sorted(hows))

    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
    except ImportError as exc:                               # torch < 2.6 has no public FSDP2
        out["fsdp_error"] = f"{type(exc).__name__}: {exc}"
        return out
    try:
        mesh = init_device_mesh("cpu", (world,))
        fsdp_model = make_mlp(sizes)
        for layer in fsdp_model:
            if isinstance(layer, nn.Linear):
                fully_shard(layer, mesh=mesh)
        fully_shard(fsdp_model, mesh=mesh)
        fsdp_opt = torch.optim.Adam(fsdp_model.parameters(), lr=lr)
        train(fsdp_model, fsdp_opt)
        out["fsdp_diff"] = _max_diff([p.full_tensor() for p in fsdp_model.parameters()], ddp_weights)
        out["fsdp_state_bytes"] = _tensor_bytes(fsdp_opt.state_dict()["state"])
        out["fsdp_param_bytes"] = sum(p.to_local().nbytes for p in fsdp_model.parameters())
    except Exception as exc:  # noqa: BLE001 - reported, with its message, in the chapter
        out["fsdp_error"] = f"{type(exc).__name__}: {exc}"
    return out


# ----------------------------------------------------------------------------- tensor parallelism


class _CopyToRanks(torch.autograd.Function):
    """Megatron's *f*: identity forward; backward sums the input's gradient over the ranks
    (each rank's branch used the same input, so its gradient has a part from every rank)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class _SumOverRanks(torch.autograd.Function):
    """Megatron's *g*: all-reduce forward; identity backward (the sum's gradient reaches each
    partial product unchanged, and the loss after it is the same on every rank)."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad


class _GatherLastDim(torch.autograd.Function):
    """All-gather blocks along the last axis; backward keeps this rank's block of the gradient."""

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.k = x.shape[-1]
        return torch.cat(parts, dim=-1)

    @staticmethod
    def backward(ctx, grad):
        rank = dist.get_rank()
        return grad[..., rank * ctx.k:(rank + 1) * ctx.k].contiguous()


class ColumnParallelLinear(nn.Module):
    """This rank's block of output features of a linear layer: ``W[rows of rank]``, ``b[rank]``.

    ``gather=True`` all-gathers the blocks into the full output; in a Megatron MLP it stays
    ``False`` and the next (row-parallel) layer consumes the local block directly.
    """

    def __init__(self, full: nn.Linear, gather: bool = True):
        super().__init__()
        rank, world = dist.get_rank(), dist.get_world_size()
        if full.out_features % world:
            raise ValueError(f"out_features={full.out_features} must divide among {world} ranks")
        k = full.out_features // world
        self.weight = nn.Parameter(full.weight.detach()[rank * k:(rank + 1) * k].clone())
        self.bias = nn.Parameter(full.bias.detach()[rank * k:(rank + 1) * k].clone())
        self.gather = gather

    def forward(self, x):
        local = F.linear(_CopyToRanks.apply(x), self.weight, self.bias)     # (..., out / world)
        return _GatherLastDim.apply(local) if self.gather else local


class RowParallelLinear(nn.Module):
    """This rank's block of input features: ``W[:, columns of rank]``; the partial products are
    summed by an all-reduce, and the bias, held whole on every rank, is added once after it."""

    def __init__(self, full: nn.Linear, split_input: bool = True):
        super().__init__()
        rank, world = dist.get_rank(), dist.get_world_size()
        if full.in_features % world:
            raise ValueError(f"in_features={full.in_features} must divide among {world} ranks")
        k = full.in_features // world
        self.weight = nn.Parameter(full.weight.detach()[:, rank * k:(rank + 1) * k].clone())
        self.bias = nn.Parameter(full.bias.detach().clone())
        self.k, self.split_input = k, split_input

    def forward(self, x):
        rank = dist.get_rank()
        if self.split_input:                 # a replicated input: each rank reads its own columns
            x = _CopyToRanks.apply(x)[..., rank * self.k:(rank + 1) * self.k]
        return _SumOverRanks.apply(F.linear(x, self.weight)) + self.bias


def tensor_parallel_matches_dense(d_in: int = 16, d_hidden: int = 32, d_out: int = 8, batch: int = 5) -> dict:
    """Column-split, row-split and a Megatron MLP (column, GELU, row) against the dense layers."""
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    fc1 = nn.Linear(d_in, d_hidden).double()
    fc2 = nn.Linear(d_hidden, d_out).double()
    x = torch.randn(batch, d_in, dtype=torch.float64)
    x_tp = x.clone().requires_grad_(True)

    col = ColumnParallelLinear(fc1)
    row = RowParallelLinear(fc1)
    out = {"rank": rank, "world_size": world,
           "column_diff": float((col(x) - fc1(x)).abs().max()),
           "row_diff": float((row(x) - fc1(x)).abs().max())}

    # Megatron's MLP: split fc1 by columns and fc2 by rows; one all-reduce in the forward pass
    up, down = ColumnParallelLinear(fc1, gather=False), RowParallelLinear(fc2, split_input=False)
    y_tp = down(F.gelu(up(x_tp)))
    x.requires_grad_(True)
    y_dense = fc2(F.gelu(fc1(x)))
    out["mlp_diff"] = float((y_tp - y_dense).abs().max())
    (y_tp ** 2).sum().backward()
    (y_dense ** 2).sum().backward()
    k1, k2 = d_hidden // world, d_hidden // world
    out["mlp_grad_diff"] = max(
        float((up.weight.grad - fc1.weight.grad[rank * k1:(rank + 1) * k1]).abs().max()),
        float((up.bias.grad - fc1.bias.grad[rank * k1:(rank + 1) * k1]).abs().max()),
        float((down.weight.grad - fc2.weight.grad[:, rank * k2:(rank + 1) * k2]).abs().max()),
        float((down.bias.grad - fc2.bias.grad).abs().max()),
        float((x_tp.grad - x.grad).abs().max()))
    out["local_weight_fraction"] = (up.weight.numel() + down.weight.numel()) / (fc1.weight.numel() + fc2.weight.numel())
    return out


# ----------------------------------------------------------------------------- pipeline parallelism


def pipeline_matches_dense(sizes=(16, 32, 32, 32, 4), batch: int = 64, microbatches: int = 4) -> dict:
    """A GPipe pipeline over two ranks: all forwards, then all backwards, by ``send`` / ``recv``.

    Rank 0 holds the first half of the layers and rank 1 the second. Rank 0 sends each
    microbatch's activations forward; rank 1 computes the loss (the mean over the whole batch,
    so each microbatch's loss is divided by the number of microbatches), back-propagates and
    sends the gradient of each activation back. The gradients are compared with the unsplit
    model's on the whole batch, layer by layer.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    if world != 2:
        raise ValueError(f"this pipeline has two stages and needs world_size=2; got {world}")
    full = make_mlp(sizes)
    x, y = make_batch(batch, sizes[0], sizes[-1])
    F.mse_loss(full(x), y).backward()
    cut = len(full) // 2 + (len(full) // 2) % 2                 # an even index: after an activation
    stage = copy.deepcopy(full[:cut] if rank == 0 else full[cut:])
    stage.zero_grad()
    width = [m for m in full[:cut] if isinstance(m, nn.Linear)][-1].out_features   # what crosses the cut
    xs, ys = x.chunk(microbatches), y.chunk(microbatches)
    kept = []
    for i in range(microbatches):                                # fill: every forward
        if rank == 0:
            h = stage(xs[i])
            dist.send(h.detach(), dst=1)
            kept.append(h)
        else:
            h = torch.empty(xs[i].shape[0], width, dtype=torch.float64)
            dist.recv(h, src=0)
            h.requires_grad_(True)
            kept.append((h, F.mse_loss(stage(h), ys[i]) / microbatches))
    for i in reversed(range(microbatches)):                      # drain: every backward
        if rank == 1:
            h, loss = kept[i]
            loss.backward()
            dist.send(h.grad, dst=0)
        else:
            g = torch.empty_like(kept[i])
            dist.recv(g, src=1)
            kept[i].backward(g)
    reference = full[:cut] if rank == 0 else full[cut:]
    return {"rank": rank, "grad_diff": _max_diff([p.grad for p in stage.parameters()],
                                                 [p.grad for p in reference.parameters()]),
            "microbatches": microbatches, "activation_width": width}


# ----------------------------------------------------------------------------- one launch


def chapter_experiments(comm_repeats: int = 5) -> dict:
    """Every experiment of Chapter 10b in one process group (its start-up costs seconds)."""
    t0 = time.perf_counter()
    out = {"ddp": ddp_matches_one_big_batch(), "comm": communication_cost(repeats=comm_repeats),
           "sharding": sharded_optimizers_match_ddp(), "tensor": tensor_parallel_matches_dense(),
           "pipeline": pipeline_matches_dense()}
    out["seconds"] = time.perf_counter() - t0
    return out
