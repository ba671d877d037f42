"""train_classifier in its four modes on a tiny GPT: each learns an easy task, trains exactly
the parameters its mode says, leaves the caller's backbone alone, and refuses bad calls."""

import numpy as np
import pytest
import torch

from labs.data.corpus import CharTokenizer
from labs.finetune import MODES, encode_task, train_classifier
from labs.models import gpt as torch_gpt
from labs.models.lora import GPT_TARGETS


def backbone(seed=0):
    torch.manual_seed(seed)
    return torch_gpt.GPT(torch_gpt.GPTConfig(vocab_size=12, block_size=16, n_layer=1, n_head=2, n_embd=16))


def easy_task(n, seed):
    """Class c draws its tokens from its own third of the vocabulary; lengths vary, padding is 0."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    lengths = rng.integers(3, 17, n)
    ids = np.zeros((n, 16), dtype=np.int64)
    for i in range(n):
        ids[i, :lengths[i]] = rng.integers(4 * labels[i], 4 * labels[i] + 4, lengths[i])
    return ids, lengths, labels


DATA = (easy_task(96, seed=0), easy_task(60, seed=1))


@pytest.fixture(scope="module")
def adapted_backbone():
    """A backbone whose features know the task: the one a fine-tuning run leaves."""
    return train_classifier(backbone(), DATA, "finetune", steps=100).model.backbone


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_learns_an_easy_task_and_trains_what_it_says(mode, adapted_backbone):
    # a linear probe is only as good as the features: on random ones it is weaker (below)
    model = adapted_backbone if mode == "frozen" else backbone()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_classifier(model, DATA, mode, steps=100, batch_size=32, rank=2)
    assert result.mode == mode and result.steps == 100 and len(result.losses) == 100
    assert result.accuracy >= 0.9, result
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5])
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the caller's copy is untouched
    head = 16 * 3 + 3
    trainable = {n for n, p in result.model.named_parameters() if p.requires_grad}
    lora = 2 * (16 + 48) + 2 * (16 + 16) + 2 * (16 + 64) + 2 * (64 + 16)  # rank * (in + out), one block
    expected = {"frozen": head, "lora": head + lora}.get(mode, result.total_parameters)
    assert result.trainable_parameters == expected
    if mode == "lora":
        assert trainable == {n for n in trainable if "lora_" in n or n.startswith("head.")}
        assert sum(1 for n in trainable if n.endswith("lora_A")) == len(GPT_TARGETS)
    assert result.wall_time_s > 0 and result.train_flops > 0


def test_a_probe_of_random_features_is_above_chance_and_below_a_probe_of_trained_ones(adapted_backbone):
    random_probe = train_classifier(backbone(), DATA, "frozen", steps=100).accuracy
    trained_probe = train_classifier(adapted_backbone, DATA, "frozen", steps=100).accuracy
    assert 0.5 < random_probe < trained_probe


def test_the_flop_estimates_order_the_modes():
    flops = {mode: train_classifier(backbone(), DATA, mode, steps=2, rank=2).train_flops for mode in MODES}
    assert flops["frozen"] < flops["lora"] < flops["finetune"] == flops["scratch"]


def test_same_seed_same_run_and_the_scratch_mode_ignores_the_weights():
    a = train_classifier(backbone(0), DATA, "finetune", steps=5, seed=3)
    b = train_classifier(backbone(0), DATA, "finetune", steps=5, seed=3)
    assert a.losses == b.losses and a.accuracy == b.accuracy
    c = train_classifier(backbone(0), DATA, "scratch", steps=5, seed=3)
    d = train_classifier(backbone(1), DATA, "scratch", steps=5, seed=3)
    assert c.losses == d.losses  # a fresh GPT from the seed: the pretrained weights play no part


def test_encode_task_pads_on_the_right_and_counts_real_tokens():
    tokenizer = CharTokenizer.fit("abcdef")
    ids, lengths, labels = encode_task(["abc", "f", "abcdefabcdef"], [0, 1, 0], tokenizer, block_size=8)
    assert ids.shape == (3, 8) and lengths.tolist() == [3, 1, 8] and labels.dtype == np.int64
    assert ids[0].tolist() == [0, 1, 2, 0, 0, 0, 0, 0] and ids[2].tolist() == [0, 1, 2, 3, 4, 5, 0, 1]
    with pytest.raises(ValueError, match="as many labels"):
        encode_task(["a"], [0, 1], tokenizer, 8)


def test_bad_calls_are_refused_clearly():
    with pytest.raises(ValueError, match="chapter 2"):
        train_classifier(backbone(), DATA, "linear_probe")
    with pytest.raises(ValueError, match="data = \\(train, test\\)"):
        train_classifier(backbone(), DATA[0], "frozen")
    with pytest.raises(ValueError, match="steps"):
        train_classifier(backbone(), DATA, "frozen", steps=0)
    with pytest.raises(TypeError, match="GPT backbone"):
        train_classifier(torch.nn.Linear(2, 2), DATA, "frozen")


def test_mean_pooling_reaches_the_classifier_and_learns():
    result = train_classifier(backbone(), DATA, "lora", steps=100, rank=2, pool="mean")
    assert result.model.pool == "mean" and result.accuracy >= 0.9


def test_sequential_finetune_measures_every_stage_and_rehearses_only_with_replay():
    from labs.finetune import sequential_finetune

    body = backbone()
    weights = {k: v.clone() for k, v in body.state_dict().items()}
    flipped = tuple((ids, lengths, (labels + 1) % 3) for ids, lengths, labels in DATA)  # task B: the labels rotated
    lm_ids = np.random.default_rng(0).integers(0, 12, 200)
    runs = {}
    for replay in (0, 4):
        runs[replay] = r = sequential_finetune(body, [DATA, flipped], steps=60, replay=replay, lm_ids=lm_ids)
        assert r.accuracy[0] == [None, None] and r.accuracy[1][1] is None           # no head before its stage
        assert r.accuracy[1][0] > 0.9 and r.accuracy[2][1] > 0.9                     # each stage learns its task
        assert len(r.lm_bits) == 3 and all(np.isfinite(r.lm_bits))
        assert r.lm_bits[1] != r.lm_bits[0]                                          # the shared backbone moved
        assert r.forgetting(0) == r.accuracy[1][0] - r.accuracy[2][0]
    assert all(torch.equal(v, body.state_dict()[k]) for k, v in weights.items())   # the caller's backbone is untouched
    # without replay task A's head is not trained in stage 2; with replay it is
    same_stage_1 = sequential_finetune(body, [DATA], steps=60, lm_ids=lm_ids).model[0].head.weight
    assert torch.equal(runs[0].model[0].head.weight, same_stage_1)
    assert not torch.equal(runs[4].model[0].head.weight, same_stage_1)


def test_sequential_finetune_refuses_bad_calls():
    from labs.finetune import sequential_finetune

    with pytest.raises(ValueError, match="non-empty list"):
        sequential_finetune(backbone(), [])
    with pytest.raises(ValueError, match="replay must be an int >= 0"):
        sequential_finetune(backbone(), [DATA], replay=-1)
    with pytest.raises(TypeError, match="GPT backbone"):
        sequential_finetune(torch.nn.Linear(2, 2), [DATA])
