"""An encoder-decoder Transformer ("Attention Is All You Need"), built from the GPT's blocks.

    model = Seq2Seq(Seq2SeqConfig(src_vocab_size=13, tgt_vocab_size=30, src_block_size=10, tgt_block_size=18))
    logits = model(src, tgt_in)                  # src (B, S), tgt_in (B, T) -> logits (B, T, tgt_vocab_size)
    out = greedy_decode(model, src, bos=1, max_new_tokens=17)   # (B, 17)
    maps = model.cross_attention_maps(src, tgt_in)   # (n_layer, B, n_head, T, S)

The encoder is a stack of :class:`labs.models.gpt.Block` with bidirectional attention
(``GPTConfig(causal=False)``): every source token reads every other. Each decoder block is
the GPT's block with one more sub-layer between the two: **cross-attention**, whose queries
come from the target tokens and whose keys and values come from the encoder's output, the
*memory*. So a target position reads the earlier target tokens (causal self-attention) and
the whole source (cross-attention), and the cross-attention weights show which source
positions each output token read: the alignment of a translation.

Source sequences of one batch have one length (the tasks here are fixed-length); the
target's padding comes after its end-of-sequence token, so the causal mask keeps it from
every position that is scored. The NumPy twin, ``labs/scratch/models/seq2seq.py``, is this
file line for line on ``labs.scratch``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from labs.models.gpt import MLP, Block, CausalSelfAttention, GPTConfig
from labs.models.seq2seq_config import Seq2SeqConfig

__all__ = ["Seq2SeqConfig", "Seq2Seq", "CrossAttention", "DecoderBlock", "greedy_decode"]


class CrossAttention(nn.Module):
    """Multi-head attention from the target (queries) to the encoder's memory (keys and values)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.q_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.kv_proj = nn.Linear(config.n_embd, 2 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.dropout = config.n_head, config.dropout

    def _heads(self, x, memory):
        B, T, C = x.shape
        S = memory.shape[1]
        hs = C // self.n_head
        q = self.q_proj(x).reshape(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k, v = self.kv_proj(memory).split(C, dim=2)
        k = k.reshape(B, S, self.n_head, hs).transpose(1, 2)  # (B, nh, S, hs)
        v = v.reshape(B, S, self.n_head, hs).transpose(1, 2)  # (B, nh, S, hs)
        return q, k, v

    def forward(self, x, memory):
        B, T, C = x.shape
        q, k, v = self._heads(x, memory)
        # no mask: every target position may read every source position
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C)))

    def weights(self, x, memory):
        """The readable path: softmax(q k^T / sqrt(hs)) over the source, (B, nh, T, S)."""
        q, k, _ = self._heads(x, memory)
        return F.softmax((q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1]), dim=-1)


class DecoderBlock(nn.Module):
    """The GPT block with cross-attention between self-attention and the MLP, each pre-LayerNorm and residual."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.cross = CrossAttention(config)
        self.ln_3 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, memory):
        x = x + self.attn(self.ln_1(x))  # the target so far
        x = x + self.cross(self.ln_2(x), memory)  # the whole source
        return x + self.mlp(self.ln_3(x))


class Seq2Seq(nn.Module):
    """``Seq2Seq(config)``: ``forward(src, tgt_in)`` -> logits (B, T, tgt_vocab_size); ``encode``, ``decode``."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(f"Seq2Seq expects a Seq2SeqConfig; got {type(config).__name__}")
        self.config = config
        encoder, decoder = config.block_config(causal=False), config.block_config(causal=True)
        self.src_wte = nn.Embedding(config.src_vocab_size, config.n_embd)
        self.src_wpe = nn.Embedding(config.src_block_size, config.n_embd)
        self.tgt_wte = nn.Embedding(config.tgt_vocab_size, config.n_embd)
        self.tgt_wpe = nn.Embedding(config.tgt_block_size, config.n_embd)
        self.encoder = nn.ModuleList([Block(encoder) for _ in range(config.n_layer)])
        self.ln_enc = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.decoder = nn.ModuleList([DecoderBlock(decoder) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.tgt_vocab_size, bias=False)
        self.lm_head.weight = self.tgt_wte.weight  # tied, as in the GPT
        for module in self.modules():  # nanoGPT's initialisation
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def _ids(self, idx, name: str, vocab: int, block: int):
        if not hasattr(idx, "ndim") or idx.ndim != 2 or "int" not in str(idx.dtype):  # ids, in either engine
            raise TypeError(f"Seq2Seq expects {name} as an integer tensor of shape (B, length); got "
                            f"{type(idx).__name__} of shape {tuple(getattr(idx, 'shape', ()))}")
        if idx.shape[1] > block:
            raise ValueError(f"Seq2Seq: {name} has {idx.shape[1]} positions, more than its block size {block}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= vocab):
            raise IndexError(f"Seq2Seq: {name} ids must be in [0, {vocab}); got {int(idx.min())} .. {int(idx.max())}")
        return idx.long()

    def encode(self, src):
        """The memory: the encoder's final hidden states, (B, S, n_embd)."""
        src = self._ids(src, "src", self.config.src_vocab_size, self.config.src_block_size)
        x = self.src_wte(src) + self.src_wpe(torch.arange(src.shape[1], device=src.device))
        for block in self.encoder:
            x = block(x)
        return self.ln_enc(x)

    def _embed_target(self, tgt):
        tgt = self._ids(tgt, "tgt", self.config.tgt_vocab_size, self.config.tgt_block_size)
        return self.tgt_wte(tgt) + self.tgt_wpe(torch.arange(tgt.shape[1], device=tgt.device))

    def decode(self, tgt_in, memory):
        """Logits of the next target token at every target position, (B, T, tgt_vocab_size)."""
        x = self._embed_target(tgt_in)
        for block in self.decoder:
            x = block(x, memory)
        return self.lm_head(self.ln_f(x))

    def forward(self, src, tgt_in):
        return self.decode(tgt_in, self.encode(src))

    @torch.no_grad()
    def cross_attention_maps(self, src, tgt_in):
        """Every decoder layer's cross-attention weights, (n_layer, B, n_head, T, S), in eval mode."""
        was_training = self.training
        self.eval()
        memory, x = self.encode(src), self._embed_target(tgt_in)
        maps = []
        for block in self.decoder:
            x = x + block.attn(block.ln_1(x))
            maps.append(block.cross.weights(block.ln_2(x), memory))
            x = x + block.cross(block.ln_2(x), memory)
            x = x + block.mlp(block.ln_3(x))
        self.train(was_training)
        return torch.stack(maps)


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src, bos: int, max_new_tokens: int):
    """The most probable token at each step, from ``bos``: (B, max_new_tokens) ids (the source is encoded once)."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= model.config.tgt_block_size:
        raise ValueError(f"greedy_decode: max_new_tokens must be an int from 1 to tgt_block_size="
                         f"{model.config.tgt_block_size}; got {max_new_tokens!r}")
    was_training = model.training
    model.eval()
    memory = model.encode(src)
    out = torch.full((src.shape[0], 1), int(bos), dtype=torch.long, device=memory.device)
    for _ in range(max_new_tokens):
        next_id = model.decode(out, memory)[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        out = torch.cat([out, next_id], dim=1)
    model.train(was_training)
    return out[:, 1:]
