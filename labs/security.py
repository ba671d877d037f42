"""Two attacks on a deployed model, measured: model extraction, and prompt injection in a toy.

**Model extraction** (Tramèr et al. 2016). A model behind an API is a black box: the attacker
sees neither its weights nor its architecture, only the labels it returns. That is enough to
copy it: send your own inputs, record the answers, train a model of your choice on them.
:func:`extract_model` does this and :func:`agreement` measures how often copy and victim
answer alike, on inputs neither was trained on. An uninterpretable model is no safer.

**Prompt injection** (Perez and Ribeiro 2022; Greshake et al. 2023). An application puts its
own instruction and a user's data into one prompt; a model that follows instructions cannot
tell whose they are. The toy here makes that measurable with a model small enough to train
in seconds: strings like ``[U]abcd=ABCD`` (upper-case the data) and ``[R]abcd=dcba`` (reverse
it), plus, as in real instruction data where people revise a request, some prompts whose later
instruction replaces the first (``[U][R]abcd=dcba``). :func:`injection_prompts` builds what
an application that always asks for ``[U]`` would send when the data itself start with ``[R]``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["extract_model", "agreement", "OPS", "LETTERS", "instruction_vocab", "instruction_examples",
           "injection_prompts", "apply_op", "encode", "decode", "answer_greedy"]


# --------------------------------------------------------------------------- model extraction


def extract_model(victim_labels, queries, student, *, steps: int, lr: float, seed: int = 0):
    """Train ``student`` (any torch classifier) on ``victim_labels(queries)``, the black box's answers.

    ``victim_labels`` maps a float tensor of inputs to integer labels (the API returns only its
    top class); the attacker never reads the victim's weights. Full-batch Adam; returns ``student``.
    """
    if len(queries) == 0:
        raise ValueError("extract_model needs at least one query")
    torch.manual_seed(seed)
    with torch.no_grad():
        answers = torch.as_tensor(victim_labels(queries)).long()
    if answers.shape != (len(queries),):
        raise ValueError(f"victim_labels must return one integer label per query, shape ({len(queries)},); "
                         f"got shape {tuple(answers.shape)}")
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    student.train()
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(student(queries), answers).backward()
        opt.step()
    student.eval()
    return student


def agreement(labels_a, labels_b) -> float:
    """The share of inputs on which two models give the same label."""
    a, b = np.asarray(labels_a), np.asarray(labels_b)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"agreement needs two 1-D label arrays of the same non-zero length; got {a.shape} and {b.shape}")
    return float(np.mean(a == b))


# --------------------------------------------------------------------------- the toy instruction task

OPS = {"U": "upper-case the data", "R": "reverse the data"}
LETTERS = "abcdef"


def instruction_vocab() -> str:
    """Every character the toy uses; the index of a character is its token id."""
    return "\n[]=" + "".join(OPS) + LETTERS + LETTERS.upper()


def apply_op(op: str, data: str) -> str:
    """What an instruction asks for: ``U`` upper-cases, ``R`` reverses."""
    if op == "U":
        return data.upper()
    if op == "R":
        return data[::-1]
    raise ValueError(f"unknown instruction {op!r}; the toy knows {sorted(OPS)}")


def instruction_examples(n: int, rng: np.random.Generator, length: int = 4, revised: float = 0.3) -> list[str]:
    """``n`` training strings ``[op]data=answer\\n``; a share ``revised`` are ``[op1][op2]data=op2(data)``."""
    out = []
    for _ in range(n):
        data = "".join(rng.choice(list(LETTERS), size=length))
        ops = [str(rng.choice(list(OPS)))]
        if rng.random() < revised:
            ops.append(str(rng.choice([o for o in OPS if o != ops[0]])))  # the request is changed
        out.append("".join(f"[{o}]" for o in ops) + f"{data}={apply_op(ops[-1], data)}\n")
    return out


def injection_prompts(n: int, rng: np.random.Generator, length: int = 4, app_op: str = "U",
                      injected_op: str = "R") -> tuple[list[str], list[str]]:
    """``(prompts, data)``: the application's ``[app_op]`` followed by data that begin with ``[injected_op]``."""
    datas = ["".join(rng.choice(list(LETTERS), size=length)) for _ in range(n)]
    return [f"[{app_op}][{injected_op}]{d}=" for d in datas], datas


def encode(texts: list[str]) -> np.ndarray:
    """Strings of equal length as an int64 array of token ids (B, T)."""
    vocab = instruction_vocab()
    if len({len(t) for t in texts}) != 1:
        raise ValueError("encode expects strings of one length (pad or bucket them first)")
    return np.array([[vocab.index(c) for c in t] for t in texts], dtype=np.int64)


def decode(ids) -> str:
    vocab = instruction_vocab()
    return "".join(vocab[int(i)] for i in ids)


def answer_greedy(model, prompts: list[str], length: int) -> list[str]:
    """The model's greedy continuation of each prompt, ``length`` characters (prompts of one length)."""
    idx = torch.from_numpy(encode(prompts))
    model.eval()
    with torch.no_grad():
        for _ in range(length):
            nxt = model(idx)[:, -1].argmax(dim=-1, keepdim=True)
            idx = torch.cat([idx, nxt], dim=1)
    return [decode(row[-length:]) for row in idx]
