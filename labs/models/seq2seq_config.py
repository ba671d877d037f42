"""The encoder-decoder's configuration, shared by both engines (no torch here), as ``gpt_config`` is for the GPT."""

from __future__ import annotations

from dataclasses import dataclass

from labs.models.gpt_config import GPTConfig

__all__ = ["Seq2SeqConfig"]


@dataclass(frozen=True)
class Seq2SeqConfig:
    """The sizes of a :class:`Seq2Seq`; ``n_layer`` blocks in the encoder and as many in the decoder."""

    src_vocab_size: int
    tgt_vocab_size: int
    src_block_size: int
    tgt_block_size: int
    n_layer: int = 1
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    bias: bool = True

    def block_config(self, causal: bool) -> GPTConfig:
        """The GPT configuration of one encoder (``causal=False``) or decoder block; it checks the sizes."""
        return GPTConfig(vocab_size=max(self.src_vocab_size, self.tgt_vocab_size),
                         block_size=max(self.src_block_size, self.tgt_block_size), n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout, bias=self.bias, causal=causal)
