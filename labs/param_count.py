"""Counting parameters from an architecture, to check the numbers papers state.

Chapter 1 recounts three published sizes from the architectures their papers
describe: the 1989 zip-code network, LeNet-5 and the GPT family. The Transformer
count is checked against PyTorch's own layer in the chapter and in the tests.
"""

from __future__ import annotations

__all__ = ["lenet1989_parameter_counts", "lenet5_parameter_counts", "transformer_block_params", "gpt_params"]


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


def lenet1989_parameter_counts() -> dict[str, int]:
    """Per-layer free parameters of the zip-code network of LeCun et al. (1989), Sec. 3.

    Input 16x16. H1: 12 feature maps of 8x8, each unit reading a 5x5 patch with a
    kernel shared across its map, but with its own bias. H2: 12 maps of 4x4, each
    map reading 5x5 patches from 8 of H1's 12 maps (shared kernels, one bias per
    unit). H3: 30 units fully connected to H2. Output: 10 units fully connected to H3.
    """
    h1 = 12 * 5 * 5 + 12 * 8 * 8  # shared kernels + one bias per unit
    h2 = 12 * 8 * 5 * 5 + 12 * 4 * 4
    h3 = 30 * (12 * 4 * 4) + 30
    out = 10 * 30 + 10
    return {"H1": h1, "H2": h2, "H3": h3, "output": out}


def lenet5_parameter_counts() -> dict[str, int]:
    """Per-layer trainable parameters of LeNet-5 (LeCun et al., 1998, Sec. II-B).

    C1: 6 maps, 5x5 kernels on 1 input map, one bias per map. S2: sub-sampling,
    one coefficient and one bias per map. C3: 16 maps; the paper's connection
    table joins 6 of them to 3 input maps, 9 to 4, and 1 to all 6. S4: like S2
    with 16 maps. C5: 120 maps of 1x1, each reading 5x5 from all 16 maps. F6: 84
    units fully connected to C5. (The output layer of Euclidean RBF units has
    fixed, hand-designed weights, so it adds no trainable parameters.)
    """
    c1 = 6 * (5 * 5 * 1 + 1)
    s2 = 6 * 2
    c3 = (6 * 3 + 9 * 4 + 1 * 6) * 5 * 5 + 16
    s4 = 16 * 2
    c5 = 120 * (16 * 5 * 5 + 1)
    f6 = 84 * (120 + 1)
    return {"C1": c1, "S2": s2, "C3": c3, "S4": s4, "C5": c5, "F6": f6}


def transformer_block_params(d_model: int, d_ff: int | None = None) -> int:
    """Parameters of one Transformer block with biases: attention, MLP, two LayerNorms.

    attention: W_q, W_k, W_v, W_o, each d x d with a bias: 4d^2 + 4d
    MLP:       d x d_ff and d_ff x d with biases:         2 d d_ff + d_ff + d
    2 LayerNorms, each a scale and a shift:              4d
    With the usual d_ff = 4d this is 12 d^2 + 13 d. The number of heads does not
    matter: the heads split W_q, W_k and W_v, they do not add weights.
    """
    d = _positive_int("d_model", d_model)
    f = 4 * d if d_ff is None else _positive_int("d_ff", d_ff)
    return (4 * d * d + 4 * d) + (2 * d * f + f + d) + 4 * d


def gpt_params(n_layer: int, d_model: int, vocab_size: int, n_ctx: int, d_ff: int | None = None) -> int:
    """Parameters of a GPT-2-style decoder: embeddings, blocks and the final LayerNorm.

    token embedding V x d, learned position embedding n_ctx x d, ``n_layer``
    blocks, a final LayerNorm (2d). The output layer reuses the token embedding
    (weight tying), so it adds nothing.
    """
    n_layer = _positive_int("n_layer", n_layer)
    d = _positive_int("d_model", d_model)
    v = _positive_int("vocab_size", vocab_size)
    t = _positive_int("n_ctx", n_ctx)
    return v * d + t * d + n_layer * transformer_block_params(d, d_ff) + 2 * d
