"""LoRA in both engines: exact at the start, only A and B learn, merging changes nothing,
the NumPy twin matches PyTorch in float64, and ours equals Hugging Face's ``peft``."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hst
import pytest
import torch

import labs.scratch as st
from labs.models import gpt as torch_gpt
from labs.models import lora as torch_lora
from labs.scratch.models import gpt as numpy_gpt
from labs.scratch.models import lora as numpy_lora


def config(**changes):
    return torch_gpt.GPTConfig(**(dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8) | changes))


def gpt(seed=0, **changes):
    torch.manual_seed(seed)
    return torch_gpt.GPT(config(**changes)).double()


def ids(B, T, seed=0):
    return torch.randint(0, 13, (B, T), generator=torch.Generator().manual_seed(seed))


def randomise_b(model, seed=1):
    """B starts at zero; give it values so the tests see the low-rank path at work."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lora_B"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def test_lora_starts_out_bitwise_equal_to_the_base_model():
    model = gpt()
    x = ids(3, 8)
    before = model(x).detach()
    names = torch_lora.apply_lora(model, rank=2)
    assert names == [f"transformer.h.{i}.{t}" for i in range(2) for t in torch_lora.GPT_TARGETS]
    assert torch.equal(model(x), before)


def test_the_layer_is_kaiming_a_zero_b_and_its_scaling_is_alpha_over_rank():
    torch.manual_seed(0)
    layer = torch_lora.LoRALinear(torch.nn.Linear(50, 30), rank=8, alpha=16)
    assert layer.lora_A.shape == (8, 50) and layer.lora_B.shape == (30, 8)
    assert layer.scaling == 2.0 and torch_lora.LoRALinear(torch.nn.Linear(4, 4), rank=3).scaling == 1.0
    assert torch.count_nonzero(layer.lora_B) == 0
    bound = 1 / np.sqrt(50)  # kaiming_uniform(a=sqrt(5)) on fan_in 50
    assert layer.lora_A.abs().max() <= bound and layer.lora_A.abs().max() > 0.9 * bound
    x = torch.randn(5, 50)
    with torch.no_grad():
        layer.lora_B.normal_()
    expected = layer.base(x) + 2.0 * x @ layer.lora_A.T @ layer.lora_B.T
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.delta_weight(), 2.0 * layer.lora_B @ layer.lora_A)


def test_only_a_and_b_change_in_training_and_a_head_outside_still_trains():
    classifier = torch_gpt.GPTClassifier(gpt(), num_classes=3)
    torch_lora.apply_lora(classifier.backbone, rank=2)
    trainable = {n for n, p in classifier.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in classifier.named_parameters() if "lora_" in n or n.startswith("head.")}
    rank, n_layer = 2, 2  # rank * (in + out) per projection: c_attn 8->24, c_proj 8->8, c_fc 8->32, c_proj 32->8
    lora_count = n_layer * rank * sum(i + o for i, o in ((8, 24), (8, 8), (8, 32), (32, 8)))
    assert torch_lora.count_parameters(classifier.backbone, trainable_only=True) == lora_count
    before = {n: p.detach().clone() for n, p in classifier.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in classifier.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)
    for step in range(3):
        loss = torch.nn.functional.cross_entropy(classifier(ids(4, 8, seed=step)), torch.tensor([0, 1, 2, 0]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    changed = {n for n, p in classifier.named_parameters() if not torch.equal(p, before[n])}
    assert changed == trainable


def test_merged_equals_unmerged_and_has_the_original_keys():
    model = gpt()
    keys = list(model.state_dict())
    torch_lora.apply_lora(model, rank=3, alpha=6)
    randomise_b(model)
    x = ids(2, 8)
    with torch.no_grad():
        unmerged = model(x)
        merged_names = torch_lora.merge_lora(model)
        merged = model(x)
    assert len(merged_names) == 8 and list(model.state_dict()) == keys
    torch.testing.assert_close(merged, unmerged, rtol=1e-12, atol=1e-12)
    assert torch_lora.count_parameters(model) == torch_gpt.parameter_count(model.config)


def test_bad_calls_say_what_was_expected():
    with pytest.raises(ValueError, match="rank must be >= 1"):
        torch_lora.apply_lora(gpt(), rank=0)
    with pytest.raises(ValueError, match="rank must be >= 1"):
        numpy_lora.apply_lora(numpy_gpt.GPT(config()), rank=-1)
    with pytest.raises(ValueError, match="alpha"):
        torch_lora.LoRALinear(torch.nn.Linear(3, 3), rank=2, alpha=float("nan"))
    with pytest.raises(ValueError, match="no sub-module"):
        torch_lora.apply_lora(gpt(), targets=("q_proj",))
    with pytest.raises(ValueError, match="tied"):
        torch_lora.apply_lora(gpt(), targets=("lm_head",))
    model = gpt()
    torch_lora.apply_lora(model)
    with pytest.raises(ValueError, match="already has LoRA"):
        torch_lora.apply_lora(model)


def twin_pair(seed=0, rank=2, alpha=5):
    model = gpt(seed)
    twin = numpy_gpt.GPT(model.config, dtype=np.float64)
    torch_lora.apply_lora(model, rank=rank, alpha=alpha)
    numpy_lora.apply_lora(twin, rank=rank, alpha=alpha)
    randomise_b(model)
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict())
    return model, twin


def test_the_numpy_twin_matches_torch_forward_and_gradients_in_float64():
    model, twin = twin_pair()
    x, y = ids(2, 8, seed=3), ids(2, 8, seed=4)
    loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 13), y.reshape(-1))
    loss.backward()
    twin_loss = st.nn.functional.cross_entropy(twin(x.numpy()).reshape(-1, 13), st.tensor(y.numpy().reshape(-1)))
    twin_loss.backward()
    np.testing.assert_allclose(twin_loss.item(), loss.item(), rtol=1e-12)
    grads = {n: p.grad for n, p in twin.named_parameters() if p.requires_grad}
    assert set(grads) == {n for n, p in model.named_parameters() if p.requires_grad}
    for name, p in model.named_parameters():
        if p.requires_grad:
            np.testing.assert_allclose(grads[name].data, p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    assert numpy_lora.count_parameters(twin, trainable_only=True) == torch_lora.count_parameters(model, trainable_only=True)
    with torch.no_grad():
        torch_lora.merge_lora(model)
    numpy_lora.merge_lora(twin)
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(twin.state_dict()[key], value.numpy(), rtol=1e-12, atol=1e-14, err_msg=key)


def test_the_numpy_layer_starts_exact_and_is_kaiming_a_zero_b():
    st.manual_seed(0)
    layer = numpy_lora.LoRALinear(st.nn.Linear(50, 30), rank=4)
    assert np.count_nonzero(layer.lora_B.data) == 0 and 0 < np.abs(layer.lora_A.data).max() <= 1 / np.sqrt(50)
    x = st.tensor(np.random.default_rng(0).normal(size=(3, 50)).astype(np.float32))
    np.testing.assert_array_equal(layer(x).data, layer.base(x).data)
    assert not layer.base.weight.requires_grad and layer.lora_A.requires_grad


@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers deprecates a name peft still calls
def test_our_lora_equals_hugging_faces_peft_on_gpt2():
    peft = pytest.importorskip("peft")
    pytest.importorskip("transformers")
    from tests.test_gpt2 import hf_model, ours_from

    hf = hf_model()
    model, twin = ours_from(hf)
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 17, (2, 10), generator=g)
    with torch.no_grad():
        base_logits = hf(x).logits
    rank, alpha = 2, 3
    lora_config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, fan_in_fan_out=True,
                                  target_modules=["c_attn", "c_proj", "c_fc"])
    peft_model = peft.get_peft_model(hf, lora_config).eval()
    torch_lora.apply_lora(model, rank=rank, alpha=alpha)
    numpy_lora.apply_lora(twin, rank=rank, alpha=alpha)
    for i in range(hf.config.n_layer):
        for ours, theirs in (("attn.c_attn", "attn.c_attn"), ("attn.c_proj", "attn.c_proj"),
                             ("mlp.c_fc", "mlp.c_fc"), ("mlp.c_proj", "mlp.c_proj")):
            hf_layer = peft_model.base_model.model.transformer.h[i].get_submodule(theirs)
            layer = model.transformer.h[i].get_submodule(ours)
            assert layer.scaling == hf_layer.scaling["default"]
            with torch.no_grad():
                hf_layer.lora_B["default"].weight.normal_(generator=g)  # a nonzero B, so the adapters matter
                layer.lora_A.copy_(hf_layer.lora_A["default"].weight)
                layer.lora_B.copy_(hf_layer.lora_B["default"].weight)
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = peft_model(x).logits
        torch.testing.assert_close(model(x), expected, rtol=1e-10, atol=1e-10)
    assert (expected - base_logits).abs().max() > 1e-2  # the adapters changed the output
    np.testing.assert_allclose(twin(x.numpy()).data, expected.numpy(), rtol=1e-10, atol=1e-10)
    with torch.no_grad():  # PEFT's merge and ours fold the same update
        merged = peft_model.merge_and_unload()(x).logits
        torch_lora.merge_lora(model)
        torch.testing.assert_close(model(x), merged, rtol=1e-10, atol=1e-10)


def test_the_numpy_layers_gradients_pass_a_central_difference_check():
    st.manual_seed(1)
    layer = numpy_lora.LoRALinear(st.nn.Linear(5, 4, dtype=np.float64), rank=2, alpha=3)
    rng = np.random.default_rng(0)

    def fn(x, A, B):  # the layer with A and B swapped for gradcheck's float64 copies
        layer._parameters["lora_A"], layer._parameters["lora_B"] = A, B
        return layer(x)

    x, A, B = (st.tensor(rng.normal(size=shape), requires_grad=True) for shape in ((3, 5), (2, 5), (4, 2)))
    assert st.gradcheck(fn, (x, A, B)) is True


@settings(max_examples=25, deadline=None)
@given(rank=hst.integers(1, 6), alpha=hst.one_of(hst.none(), hst.floats(0.5, 32)),
       dims=hst.tuples(hst.integers(1, 9), hst.integers(1, 9)), seed=hst.integers(0, 2**16))
def test_any_rank_and_alpha_merge_exactly_and_match_the_twin(rank, alpha, dims, seed):
    torch.manual_seed(seed)
    layer = torch_lora.LoRALinear(torch.nn.Linear(*dims).double(), rank=rank, alpha=alpha)
    with torch.no_grad():
        layer.lora_B.normal_()
    twin = numpy_lora.LoRALinear(st.nn.Linear(*dims, dtype=np.float64), rank=rank, alpha=alpha)
    twin.load_state_dict(layer.state_dict())
    x = torch.randn(3, dims[0], dtype=torch.float64)
    with torch.no_grad():
        out = layer(x)
        merged = torch.nn.functional.linear(x, layer.base.weight + layer.delta_weight(), layer.base.bias)
    assert layer.scaling == (rank if alpha is None else alpha) / rank
    torch.testing.assert_close(merged, out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(twin(st.tensor(x.numpy())).data, out.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(twin.delta_weight().data, layer.delta_weight().detach().numpy(), rtol=1e-12, atol=1e-14)
