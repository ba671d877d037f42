"""labs.flops and labs.memory against PyTorch's own counters, on our GPT."""

import contextlib

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint

from labs.flops import attention_flop_share, count_flops, gpt_forward_flops, gpt_training_flops, matmul_params
from labs.memory import SavedTensorMeter, block_activation_floats, gpt_activation_bytes, training_state_bytes
from labs.models.gpt import GPT, GPTConfig


def _model(**kw):
    torch.manual_seed(0)
    base = dict(vocab_size=37, block_size=32, n_layer=2, n_head=4, n_embd=24)
    return GPT(GPTConfig(**(base | kw)))


@settings(max_examples=6, deadline=None)
@given(n_layer=st.integers(1, 3), heads=st.sampled_from([1, 2, 4]), width=st.sampled_from([8, 16, 24]),
       B=st.integers(1, 3), T=st.integers(1, 17))
def test_forward_and_training_flops_match_flop_counter(n_layer, heads, width, B, T):
    model = _model(n_layer=n_layer, n_head=heads, n_embd=width)
    idx = torch.randint(0, 37, (B, T))
    counted, _ = count_flops(model, idx)
    assert counted == gpt_forward_flops(model.config, B, T)
    counted, _ = count_flops(lambda: model(idx).square().mean().backward())
    assert counted == gpt_training_flops(model.config, B, T)


def test_fused_cpu_attention_is_invisible_to_the_counter():
    """The reason count_flops switches to the math path: without it the attention term is lost."""
    model, idx = _model(), torch.randint(0, 37, (2, 16))
    fused, _ = count_flops(model, idx, math_attention=False)
    assert fused == 2 * 2 * 16 * matmul_params(model.config)


def test_attention_share_grows_with_context():
    config = _model().config
    assert 0 < attention_flop_share(config, 4) < attention_flop_share(config, 32) < 1


def test_flops_reject_bad_sizes():
    config = _model().config
    with pytest.raises(ValueError, match="block_size"):
        gpt_forward_flops(config, 1, 64)
    with pytest.raises(ValueError, match="batch_size"):
        gpt_forward_flops(config, 0, 4)


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"position": "sinusoidal"}, {"tie_weights": False}])
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("loss", [True, False])
def test_activation_formula_matches_saved_tensors(kw, fused, loss):
    model = _model(**kw)
    B, T = (2, 19) if fused else (1, 13)
    idx, tgt = torch.randint(0, 37, (B, T)), torch.randint(0, 37, (B, T))
    backend = contextlib.nullcontext() if fused else sdpa_kernel(SDPBackend.MATH)
    with backend, SavedTensorMeter(model) as meter:
        out = model(idx)
        if loss:
            out = F.cross_entropy(out.reshape(-1, 37), tgt.reshape(-1))
    assert meter.nbytes == gpt_activation_bytes(model.config, B, T, fused_attention=fused, loss=loss)


def test_block_formula_and_checkpointing():
    model = _model()
    block, (B, T, C) = model.transformer.h[0], (3, 20, 24)
    x = torch.randn(B, T, C, requires_grad=True)
    with SavedTensorMeter(model) as meter:
        block(x)
    assert meter.nbytes == 4 * block_activation_floats(model.config, B, T)
    with SavedTensorMeter(model) as meter:
        checkpoint(block, x, use_reentrant=False)
    assert meter.nbytes == 4 * B * T * C  # only the input is kept
    # recomputation gives the same gradients
    g1 = torch.autograd.grad(block(x).square().sum(), x)[0]
    g2 = torch.autograd.grad(checkpoint(block, x, use_reentrant=False).square().sum(), x)[0]
    torch.testing.assert_close(g1, g2)


def test_training_state_matches_adam():
    model = _model()
    state = training_state_bytes(model, "adam")
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randint(0, 37, (1, 8))).sum().backward()
    opt.step()
    moments = sum(t.numel() * t.element_size() for s in opt.state.values() for k, t in s.items() if k != "step")
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters())
    assert state["optimizer"] == moments and state["gradients"] == grads
    assert state["total"] == 4 * state["weights"]
    with pytest.raises(ValueError, match="optimizer"):
        training_state_bytes(model, "lamb")


def test_checkpointed_blocks_keep_only_block_inputs_and_recompute_one_forward():
    from labs.memory import checkpointed_blocks

    model = _model(n_layer=3)
    B, T, C = 2, 16, 24
    idx = torch.randint(0, 37, (B, T))
    def loss():
        return F.cross_entropy(model(idx).reshape(-1, 37), idx.reshape(-1))
    with SavedTensorMeter(model) as plain:
        loss().backward()
    g_plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with checkpointed_blocks(model), SavedTensorMeter(model) as ckpt:
        loss().backward()
    torch.testing.assert_close([p.grad for p in model.parameters()], g_plain)
    blocks_saved = 3 * 4 * block_activation_floats(model.config, B, T)
    assert plain.nbytes - ckpt.nbytes == blocks_saved - 3 * 4 * B * T * C  # each block keeps its input only
    # the recomputation does not run under count_flops' math-attention switch, so count the products
    # of the fused path in both runs: the attention products are invisible to the counter in both
    base, _ = count_flops(lambda: loss().backward(), math_attention=False)
    with checkpointed_blocks(model):
        recomputed, _ = count_flops(lambda: loss().backward(), math_attention=False)
    # the blocks' weight products once more, except each block's last (MLP c_proj, 4 C^2): non-reentrant
    # checkpointing stops recomputing once it has every tensor the backward needs
    assert recomputed - base == 2 * B * T * 8 * 3 * C * C
    assert "forward" not in vars(model.transformer.h[0])  # restored
