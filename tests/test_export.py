"""Exported models compute what the eager model computes (ONNX Runtime and torch.export), weight
files round-trip exactly, and a pickled checkpoint can run code where weights_only=True cannot."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch

from labs import export
from labs.export import GPTLogits, RunsOnLoad, batch_axis, export_tolerance, load_weights, save_weights
from labs.models.gpt import GPT, GPTConfig


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=20, block_size=12, n_layer=2, n_head=2, n_embd=16)).eval()


def ids(batch, seed=0):
    return torch.randint(0, 20, (batch, 12), generator=torch.Generator().manual_seed(seed))


def test_the_wrapper_is_the_same_forward(gpt):
    with torch.no_grad():
        assert torch.equal(GPTLogits(gpt)(ids(3)), gpt(ids(3)))


def test_onnx_runtime_matches_eager_within_the_derived_tolerance(gpt, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "gpt.onnx"
    torch.onnx.export(GPTLogits(gpt).eval(), (ids(4),), str(path), dynamo=True, input_names=["ids"],
                      output_names=["logits"], dynamic_shapes=batch_axis(), external_data=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 4, 7):                                          # the batch axis stayed dynamic
        x = ids(batch, seed=batch)
        with torch.no_grad():
            eager = gpt(x).numpy()
        got = session.run(None, {"ids": x.numpy()})[0]
        assert got.shape == eager.shape
        np.testing.assert_allclose(got, eager, rtol=0, atol=export_tolerance(gpt, x))


def test_torch_export_matches_eager_and_round_trips(gpt, tmp_path):
    program = torch.export.export(GPTLogits(gpt).eval(), (ids(4),), dynamic_shapes=batch_axis())
    torch.export.save(program, str(tmp_path / "gpt.pt2"))
    loaded = torch.export.load(str(tmp_path / "gpt.pt2")).module()
    with torch.no_grad():
        for batch in (1, 5):
            x = ids(batch, seed=10 + batch)
            torch.testing.assert_close(loaded(x), gpt(x), rtol=0, atol=export_tolerance(gpt, x))


def test_the_tolerance_is_float32_scale(gpt):
    tol = export_tolerance(gpt, ids(2))
    assert torch.finfo(torch.float32).eps <= tol < 1e-4


def test_safetensors_round_trip_is_exact_and_keeps_the_tie(gpt, tmp_path):
    path = save_weights(gpt, tmp_path / "gpt.safetensors")
    fresh = load_weights(GPT(gpt.config), path)
    for (name, a), (_, b) in zip(gpt.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), name
    assert fresh.lm_head.weight.data_ptr() == fresh.transformer.wte.weight.data_ptr()
    with pytest.raises(RuntimeError):
        load_weights(GPT(GPTConfig(vocab_size=20, block_size=12, n_layer=1, n_head=2, n_embd=16)), path)


def test_a_pickle_runs_code_on_load_and_weights_only_refuses_it(gpt):
    export.LOAD_LOG.clear()
    buffer = io.BytesIO()
    torch.save({"state_dict": gpt.state_dict(), "extra": RunsOnLoad("ran")}, buffer)
    assert export.LOAD_LOG == []                                      # saving runs nothing
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buffer, weights_only=True)
    assert export.LOAD_LOG == []
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert export.LOAD_LOG == ["ran"] and loaded["extra"] == "ran"    # the payload's function ran, and replaced the object
    buffer = io.BytesIO()
    torch.save(gpt.state_dict(), buffer)                              # plain tensors load fine with weights_only=True
    buffer.seek(0)
    assert set(torch.load(buffer, weights_only=True)) == set(gpt.state_dict())
