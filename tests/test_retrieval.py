"""Dense retrieval: a text's vector is the character-weighted mean of its windows' hidden
states, batching changes nothing, and cosine scores rank a document's own vector first."""

import numpy as np
import pytest
import torch

from labs.data.corpus import CharTokenizer
from labs.models.gpt import GPT, GPTConfig
from labs.retrieval import cosine_scores, embed_texts


def small():
    tok = CharTokenizer.fit("abcdefgh ?")
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=4, n_layer=1, n_head=2, n_embd=8)), tok


def test_a_texts_vector_is_the_character_weighted_mean_of_its_windows():
    model, tok = small()
    text = "abcdefgh ab"  # windows of 4, 4 and 3 characters
    with torch.no_grad():
        parts = [model.features(torch.tensor(tok.encode(w))[None])[0] for w in ("abcd", "efgh", " ab")]
    expected = torch.cat(parts).mean(0).double().numpy()
    np.testing.assert_allclose(embed_texts(model, tok, [text])[0], expected, rtol=1e-5, atol=1e-6)
    unknown = embed_texts(model, tok, ["abcz"])[0]  # 'z' is unknown: read as '?'
    np.testing.assert_allclose(unknown, embed_texts(model, tok, ["abc?"])[0])


def test_batching_changes_nothing_and_bad_input_is_refused():
    model, tok = small()
    texts = ["abc", "defgh", "hg fe", "a", "bbbbbbbbb"]
    np.testing.assert_allclose(embed_texts(model, tok, texts, batch_size=1), embed_texts(model, tok, texts), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="non-empty list of strings"):
        embed_texts(model, tok, "abc")
    with pytest.raises(ValueError, match="text 1 is empty"):
        embed_texts(model, tok, ["abc", ""])


def test_cosine_scores_rank_each_document_first_for_itself():
    docs = np.random.default_rng(0).standard_normal((20, 6)) + 5.0  # a large shared offset, removed by centring
    scores = cosine_scores(docs, docs)
    assert (scores.argmax(1) == np.arange(20)).all()
    np.testing.assert_allclose(np.diag(scores), 1.0)
    with pytest.raises(ValueError, match="with the same d"):
        cosine_scores(docs[:, :3], docs)
