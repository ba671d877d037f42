"""labs.distributed and labs.parallel_training: real gloo process groups of 2 processes.

One launch runs every chapter experiment (a process group costs seconds to start); the
others check the launcher's promises: a busy port is refused before anything starts, a
failing rank stops the others, a timeout kills everything, and no process survives.
"""

from __future__ import annotations

import os
import socket
import time

import pytest
import torch.distributed as dist

from labs.distributed import (DistributedRunError, DistributedTimeout, PortBusyError, free_port, launch,
                              require_free_port)
from labs.parallel_training import chapter_experiments

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="this torch has no gloo backend")

EXACT = 1e-12        # float64, a different order of summation: rounding only


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# Workers must be importable by name from a fresh process: module-level functions here.
def fail_on_rank_one():
    if dist.get_rank() == 1:
        raise RuntimeError("rank one broke on purpose")
    dist.barrier()                      # rank 0 waits for a peer that never comes


def sleep_forever():
    time.sleep(600)


def rank_and_size(offset):
    return dist.get_rank() + offset, dist.get_world_size()


def sharded_adam_without_reduce_scatter():
    """The hand-written sharded Adam on a backend with no reduce-scatter (as gloo was)."""
    from labs.parallel_training import sharded_optimizers_match_ddp

    def unsupported(*args, **kwargs):
        raise RuntimeError("ProcessGroupGloo does not support reduce_scatter")

    for name in ("reduce_scatter_single", "reduce_scatter_tensor"):
        if hasattr(dist, name):
            setattr(dist, name, unsupported)
    out = sharded_optimizers_match_ddp(steps=3)
    return out["manual_diff"], out["manual_collective"]


def everything_in_one_group(comm_repeats, offset):
    """One launch for the tests too (each costs seconds): the chapter's experiments, the launcher's
    arguments echoed back, then (last, as it breaks the collectives it replaces) the fallback."""
    return {**chapter_experiments(comm_repeats), "echo": rank_and_size(offset),
            "fallback": sharded_adam_without_reduce_scatter()}


@pytest.fixture(scope="module")
def experiments():
    return launch(everything_in_one_group, world_size=2, args=(2, 10), timeout=300)


def test_launch_returns_each_rank_result_in_order(experiments):
    assert [r["echo"] for r in experiments] == [(10, 2), (11, 2)]


def test_ddp_gradients_and_training_equal_one_process_on_the_whole_batch(experiments):
    for r in experiments:
        ddp = r["ddp"]
        assert ddp["start_diff"] == 0.0                          # DDP broadcast rank 0's weights
        assert ddp["grad_diff"] <= EXACT * ddp["grad_scale"]
        assert ddp["weight_diff"] <= EXACT
        assert ddp["losses"][-1] < ddp["losses"][0]               # it did train
        assert 2 * ddp["local_flops"] == ddp["full_flops"]        # the work is split, not saved
    assert experiments[0]["ddp"]["losses"] == experiments[1]["ddp"]["losses"]


def test_sharded_optimizers_train_what_ddp_trains_with_part_of_the_state(experiments):
    states = []
    for r in experiments:
        s = r["sharding"]
        assert "fsdp_error" not in s, s.get("fsdp_error")
        for key in ("zero_diff", "manual_diff", "fsdp_diff"):
            assert s[key] <= EXACT, (key, s[key])
        # Adam keeps two numbers per parameter (and a step count); a shard keeps about half
        assert s["ddp_state_bytes"] >= 2 * s["param_bytes"]
        assert s["manual_state_bytes"] < 0.55 * s["ddp_state_bytes"]
        assert s["fsdp_state_bytes"] < 0.55 * s["ddp_state_bytes"]
        assert s["fsdp_param_bytes"] <= 0.51 * s["param_bytes"]
        states.append(s["zero_state_bytes"])
    # ZeRO-1 partitions whole tensors: the two ranks' shares add up to the unsharded state
    assert abs(sum(states) - experiments[0]["sharding"]["ddp_state_bytes"]) <= 64


def test_tensor_and_pipeline_parallel_layers_equal_the_dense_ones(experiments):
    for r in experiments:
        t = r["tensor"]
        for key in ("column_diff", "row_diff", "mlp_diff", "mlp_grad_diff"):
            assert t[key] <= EXACT, (key, t[key])
        assert t["local_weight_fraction"] == 0.5
        assert r["pipeline"]["grad_diff"] <= EXACT


def test_communication_is_measured_and_the_loopback_carries_the_ring_bytes(experiments):
    comm = experiments[0]["comm"]
    assert all(s > 0 for s in comm["allreduce_seconds"].values())
    if comm["loopback_bytes_per_call"] is not None:     # Linux: /proc/net/dev
        ring = 2 * 2 * (2 - 1) / 2 * comm["largest"] * 4    # both workers' sends, float32
        # other programs' loopback traffic can only add; TCP headers add a few per cent
        assert 0.99 * ring <= comm["loopback_bytes_per_call"] <= 2 * ring


def test_a_busy_port_is_refused_before_anything_starts():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(PortBusyError, match=f"port {port} .* already in use.*port=None"):
            launch(rank_and_size, world_size=2, args=(0,), port=port, timeout=30)
        assert time.monotonic() - start < 2
        with pytest.raises(PortBusyError):
            require_free_port(port)
    assert require_free_port(free_port()) > 0


def test_a_failing_rank_stops_the_others_and_says_why():
    with pytest.raises(DistributedRunError, match=r"rank 1 of 2 failed(.|\n)*rank one broke on purpose") as info:
        launch(fail_on_rank_one, world_size=2, timeout=120)
    assert not any(_alive(pid) for pid in info.value.pids)


def test_a_timeout_kills_every_process():
    start = time.monotonic()
    with pytest.raises(DistributedTimeout, match=r"timeout of 6 s; ranks \[0, 1\]") as info:
        launch(sleep_forever, world_size=2, timeout=6)
    assert time.monotonic() - start < 20
    assert not any(_alive(pid) for pid in info.value.pids)


def _as_if_defined_in_a_notebook():
    return 0


_as_if_defined_in_a_notebook.__module__ = "__main__"      # what a Jupyter cell's function reports


@pytest.mark.parametrize("worker", [lambda: 0, _as_if_defined_in_a_notebook])
def test_a_worker_that_a_fresh_process_cannot_import_is_refused(worker):
    with pytest.raises(ValueError, match="module-level function of an importable module"):
        launch(worker)


@pytest.mark.parametrize("kwargs, match", [({"world_size": 0}, "world_size"), ({"timeout": -1}, "timeout"),
                                            ({"port": 70000}, "port")])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        launch(rank_and_size, args=(0,), **kwargs)


def test_the_sharded_adam_falls_back_to_all_reduce_and_says_so(experiments):
    for diff, how in (r["fallback"] for r in experiments):
        assert diff <= EXACT
        assert how.startswith("all_reduce + slice")
