"""The encoder-decoder: the readable cross-attention equals the fused kernel, the decoder
never reads the future, the encoder reads all of the source, greedy decoding agrees with
teacher forcing on its own output, and the date task encodes and decodes exactly."""

import datetime

import numpy as np
import pytest
import torch

from labs.data.dates import MONTHS, DateTask, date_pairs
from labs.models.seq2seq import Seq2Seq, Seq2SeqConfig, greedy_decode


def model(seed=0, **changes):
    torch.manual_seed(seed)
    config = Seq2SeqConfig(**(dict(src_vocab_size=11, tgt_vocab_size=9, src_block_size=6, tgt_block_size=7,
                                   n_layer=2, n_head=2, n_embd=8) | changes))
    m = Seq2Seq(config).double().eval()
    with torch.no_grad():  # larger weights than the 0.02 initialisation, so that attention is far from uniform
        for p in m.parameters():
            p.mul_(20.0)
    return m


def ids(B, T, vocab, seed):
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))


def test_the_readable_cross_attention_is_the_fused_kernel():
    m = model()
    block = m.decoder[0]
    x, memory = torch.randn(3, 5, 8, dtype=torch.float64), torch.randn(3, 6, 8, dtype=torch.float64)
    weights = block.cross.weights(x, memory)  # (B, nh, T, S)
    assert weights.shape == (3, 2, 5, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 5, dtype=torch.float64))
    _, _, v = block.cross._heads(x, memory)
    readable = block.cross.c_proj((weights @ v).transpose(1, 2).reshape(3, 5, 8))
    torch.testing.assert_close(block.cross(x, memory), readable, rtol=1e-12, atol=1e-12)
    maps = m.cross_attention_maps(ids(3, 6, 11, 0), ids(3, 5, 9, 1))
    assert maps.shape == (2, 3, 2, 5, 6)


def test_the_decoder_never_reads_later_target_tokens_and_always_reads_the_whole_source():
    m = model()
    src, tgt = ids(2, 6, 11, 0), ids(2, 7, 9, 1)
    logits = m(src, tgt)
    changed_tgt = tgt.clone()
    changed_tgt[:, 4] = (tgt[:, 4] + 1) % 9
    after = m(src, changed_tgt)
    torch.testing.assert_close(after[:, :4], logits[:, :4], rtol=0, atol=0)
    assert (after[:, 4:] - logits[:, 4:]).abs().max() > 1e-6
    changed_src = src.clone()
    changed_src[:, -1] = (src[:, -1] + 1) % 11
    moved = (m(changed_src, tgt) - logits).abs().amax(dim=(0, 2))  # (T,): every target position
    assert (moved > 1e-8).all()


def test_greedy_decoding_is_the_argmax_of_teacher_forcing_on_its_own_output():
    m = model(seed=3)
    src = ids(4, 6, 11, 2)
    out = greedy_decode(m, src, bos=1, max_new_tokens=7)
    assert out.shape == (4, 7)
    tgt_in = torch.cat([torch.ones(4, 1, dtype=torch.long), out[:, :-1]], dim=1)
    assert torch.equal(m(src, tgt_in).argmax(-1), out)
    with pytest.raises(ValueError, match="max_new_tokens must be an int from 1 to tgt_block_size=7"):
        greedy_decode(m, src, bos=1, max_new_tokens=8)


def test_bad_inputs_are_refused_with_the_fix():
    m = model()
    with pytest.raises(TypeError, match=r"integer tensor of shape \(B, length\)"):
        m(torch.zeros(6), ids(1, 3, 9, 0))
    with pytest.raises(IndexError, match=r"src ids must be in \[0, 11\)"):
        m(torch.full((1, 6), 11), ids(1, 3, 9, 0))
    with pytest.raises(ValueError, match="more than its block size 7"):
        m(ids(1, 6, 11, 0), ids(1, 8, 9, 0))
    with pytest.raises(ValueError, match="must be divisible by n_head"):
        Seq2Seq(Seq2SeqConfig(5, 5, 4, 4, n_head=3, n_embd=8))


def test_the_date_task_round_trips_and_train_and_test_never_share_a_date():
    task = DateTask()
    train = date_pairs(300, seed=0)
    test = date_pairs(100, seed=1, exclude=train)
    assert not {iso for iso, _ in train} & {iso for iso, _ in test}
    for iso, english in train[:50]:
        day = datetime.date.fromisoformat(iso)
        assert english == f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    src, tgt_in, tgt_out = task.encode(train)
    assert src.shape == (300, 10) and tgt_in.shape == tgt_out.shape == (300, task.tgt_block_size)
    assert (tgt_in[:, 0] == task.BOS).all()
    scored = tgt_out[:, :-1] >= 3  # a character: what tgt_out scores at t is what tgt_in reads at t + 1
    np.testing.assert_array_equal(tgt_in[:, 1:][scored], tgt_out[:, :-1][scored])
    assert [task.decode(row) for row in tgt_out] == [english for _, english in train]
    assert (tgt_out == task.EOS).sum(1).tolist() == [1] * 300
    with pytest.raises(ValueError, match="ISO dates such as"):
        task.encode([("7 march 1987", "x")])


def test_a_small_encoder_decoder_learns_to_reverse_digits():
    torch.manual_seed(0)
    m = Seq2Seq(Seq2SeqConfig(src_vocab_size=5, tgt_vocab_size=7, src_block_size=4, tgt_block_size=5, n_head=2, n_embd=32))
    opt = torch.optim.AdamW(m.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        src = torch.randint(0, 5, (64, 4), generator=g)
        target = src.flip(1) + 2  # ids 2..6; 1 is BOS
        tgt_in = torch.cat([torch.ones(64, 1, dtype=torch.long), target[:, :-1]], dim=1)
        loss = torch.nn.functional.cross_entropy(m(src, tgt_in).reshape(-1, 7), target.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    src = torch.randint(0, 5, (200, 4), generator=g)
    exact = (greedy_decode(m, src, bos=1, max_new_tokens=4) == src.flip(1) + 2).all(1).float().mean()
    assert exact > 0.9


def test_the_numpy_twin_matches_pytorch_forward_maps_decoding_and_gradients_in_float64():
    import labs.scratch as st
    from labs.scratch.models import seq2seq as numpy_seq2seq

    m = model()
    previous = st.get_default_dtype()
    st.set_default_dtype(st.float64)
    try:
        twin = numpy_seq2seq.Seq2Seq(m.config)
    finally:
        st.set_default_dtype(previous)
    assert list(twin.state_dict()) == list(m.state_dict())
    twin.load_state_dict(m.state_dict())
    src, tgt = ids(3, 6, 11, 0), ids(3, 7, 9, 1)
    s, t = st.tensor(src.numpy()), st.tensor(tgt.numpy())
    logits, twin_logits = m(src, tgt), twin(s, t)
    np.testing.assert_allclose(twin_logits.numpy(), logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(twin.cross_attention_maps(s, t).numpy(), m.cross_attention_maps(src, tgt).numpy(), atol=1e-12)
    np.testing.assert_array_equal(numpy_seq2seq.greedy_decode(twin, s, 1, 7).numpy(), greedy_decode(m, src, 1, 7).numpy())
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    (logits * weights).sum().backward()
    (twin_logits * st.tensor(weights.numpy())).sum().backward()
    twin_params = dict(twin.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(twin_params[name].grad.numpy(), p.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


def test_the_numpy_cross_attention_passes_a_central_difference_check():
    import labs.scratch as st
    from labs.scratch.models import seq2seq as numpy_seq2seq

    st.set_default_dtype(st.float64)
    try:
        st.manual_seed(0)
        cross = numpy_seq2seq.CrossAttention(Seq2SeqConfig(5, 5, 4, 4, n_head=2, n_embd=4).block_config(causal=True))
    finally:
        st.set_default_dtype(st.float32)
    rng = np.random.default_rng(0)
    x, memory = (st.tensor(rng.normal(size=shape), requires_grad=True) for shape in ((2, 3, 4), (2, 5, 4)))
    assert st.gradcheck(lambda x, memory: cross(x, memory), (x, memory)) is True
