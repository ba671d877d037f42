"""Adapt a pretrained GPT to a classification task, four ways, and measure what each costs.

    train = encode_task(train_texts, train_labels, tokenizer, block_size)   # (ids, lengths, labels)
    test = encode_task(test_texts, test_labels, tokenizer, block_size)
    result = train_classifier(backbone, (train, test), "lora", steps=200)
    result.accuracy, result.trainable_parameters, result.wall_time_s, result.train_flops

The modes are chapter 2's (:mod:`labs.concepts.transfer`) plus LoRA:

- ``"scratch"``: a fresh GPT of the backbone's configuration, every parameter trained;
- ``"frozen"``: the pretrained backbone fixed, only a new linear head trained (a linear
  probe: the features are computed once, then the head trains on them);
- ``"finetune"``: the pretrained backbone and a new head, every parameter trained;
- ``"lora"``: the backbone frozen, low-rank adapters on its projections
  (:func:`labs.models.lora.apply_lora`) and a new head trained.

Every mode gets the same steps, batches and head initialisation (one seed), so the
comparison is about what is trained. The caller's backbone is never changed: each mode
works on a copy. The classifier reads each text's last real character
(:class:`labs.models.gpt.GPTClassifier`), so padding does not matter.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from labs.models.gpt import GPT, GPTClassifier
from labs.models.lora import apply_lora, count_parameters
from labs.train import foreach_for

__all__ = ["MODES", "DEFAULT_LR", "FinetuneResult", "encode_task", "train_classifier", "accuracy",
           "SequentialResult", "sequential_finetune"]

MODES = ("scratch", "frozen", "finetune", "lora")
# Adam step sizes per mode: a lone head and small adapters take larger steps than a whole network
DEFAULT_LR = {"scratch": 1e-3, "frozen": 1e-2, "finetune": 5e-4, "lora": 3e-3}


@dataclass
class FinetuneResult:
    """What one :func:`train_classifier` run gives: the trained classifier and its measurements.

    ``train_flops`` is an estimate by the usual rule (Kaplan et al. 2020): a forward pass
    costs 2 FLOPs per weight of a matrix per token, the backward pass twice that, and
    only the parameters a mode trains need weight gradients (attention's own T^2 terms
    and the embeddings' lookups are left out).
    """

    mode: str
    accuracy: float
    trainable_parameters: int
    total_parameters: int
    wall_time_s: float
    train_flops: float
    steps: int
    losses: list = field(repr=False)
    model: GPTClassifier = field(repr=False)


def encode_task(texts, labels, tokenizer, block_size: int):
    """``(ids, lengths, labels)``: each text's first ``block_size`` tokens, right-padded with id 0
    to the longest kept length; ``lengths`` counts the real tokens; all int64 arrays."""
    if len(texts) != len(labels) or len(texts) == 0:
        raise ValueError(f"encode_task expects as many labels as texts, at least one; got {len(texts)} and {len(labels)}")
    rows = [tokenizer.encode(t)[:block_size] for t in texts]
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    if lengths.min() < 1:
        raise ValueError("encode_task: an empty text has no token to classify from; drop it first")
    ids = np.zeros((len(rows), int(lengths.max())), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
    return ids, lengths, np.asarray(labels, dtype=np.int64)


def _check_data(data):
    try:
        (train, test) = data
        parts = [tuple(np.asarray(a) for a in part) for part in (train, test)]
        for ids, lengths, labels in parts:
            if ids.ndim != 2 or lengths.shape != labels.shape or labels.shape != (ids.shape[0],):
                raise ValueError
    except (TypeError, ValueError):
        raise ValueError("train_classifier expects data = (train, test), each (ids (N, T), lengths (N,), labels (N,)) "
                         "as encode_task returns") from None
    return parts


def _matmul_weights(model) -> int:
    """The weights that multiply every token: the Linear layers (LoRA's bases included), not the embeddings or the unused LM head."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


@torch.no_grad()
def accuracy(model: GPTClassifier, ids, lengths, labels, batch_size: int = 256) -> float:
    """The fraction of ``labels`` that ``model`` predicts, in eval mode (the mode is restored)."""
    was_training, device = model.training, model.head.weight.device
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        chunk = slice(start, start + batch_size)
        logits = model(torch.as_tensor(ids[chunk], device=device), lengths[chunk])
        correct += int((logits.argmax(-1).cpu().numpy() == labels[chunk]).sum())
    model.train(was_training)
    return correct / len(labels)


def train_classifier(backbone: GPT, data, mode: str, *, steps: int = 200, batch_size: int = 32, lr: float | None = None,
                     rank: int = 4, alpha: float | None = None, seed: int = 0, clip_grad_norm: float = 1.0,
                     pool: str = "last") -> FinetuneResult:
    """Train a :class:`GPTClassifier` on ``data = (train, test)`` in ``mode``; return a :class:`FinetuneResult`.

    ``steps`` Adam steps on batches of ``batch_size`` examples drawn with ``seed`` (the
    whole training set when it is smaller); ``lr`` defaults to :data:`DEFAULT_LR`;
    ``rank`` and ``alpha`` are LoRA's; ``pool`` is :class:`GPTClassifier`'s ("last" real
    token, or "mean" of the real tokens). Accuracy is measured on ``test``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} (chapter 2's names, plus 'lora'); got {mode!r}")
    if not isinstance(backbone, GPT):
        raise TypeError(f"train_classifier expects a labs.models.gpt.GPT backbone; got {type(backbone).__name__}")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"train_classifier: {name} must be an int >= 1; got {value!r}")
    (x, n, y), (x_test, n_test, y_test) = _check_data(data)
    num_classes = int(max(y.max(), y_test.max())) + 1
    lr = DEFAULT_LR[mode] if lr is None else float(lr)
    device = backbone.transformer.wte.weight.device

    start = time.perf_counter()
    torch.manual_seed(seed)
    body = GPT(backbone.config).to(device) if mode == "scratch" else copy.deepcopy(backbone)
    body = body.to(backbone.transformer.wte.weight.dtype)
    torch.manual_seed(seed)  # the same head in every mode
    model = GPTClassifier(body, max(num_classes, 2), pool=pool)
    if mode == "frozen":
        body.requires_grad_(False)
    elif mode == "lora":
        apply_lora(body, rank=rank, alpha=alpha)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=lr, foreach=foreach_for(trainable))  # the same numbers, less overhead
    generator = np.random.default_rng(seed)
    features = None
    if mode == "frozen":  # a linear probe: the frozen features once, in eval mode
        body.eval()
        with torch.no_grad():
            features = torch.cat([model.pooled(torch.as_tensor(x[i:i + 256], device=device), n[i:i + 256])
                                  for i in range(0, len(y), 256)])
    model.train()
    if mode == "frozen":
        body.eval()  # no dropout in a frozen backbone
    losses = []
    for _ in range(steps):
        batch = generator.choice(len(y), size=min(batch_size, len(y)), replace=False)
        target = torch.as_tensor(y[batch], device=device)
        if features is not None:
            logits = model.head(features[torch.as_tensor(batch, device=device)])
        else:
            logits = model(torch.as_tensor(x[batch], device=device), n[batch])
        loss = F.cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, clip_grad_norm)
        optimizer.step()
        losses.append(loss.item())
    wall = time.perf_counter() - start

    weights, tokens = _matmul_weights(body.transformer), steps * min(batch_size, len(y)) * x.shape[1]
    head = model.head.weight.numel()
    flops = {  # forward 2, backward 4 (2 for the activations' gradients, 2 for the weights')
        "scratch": 6.0 * (weights + head) * tokens,
        "finetune": 6.0 * (weights + head) * tokens,
        "lora": (4.0 * weights + 6.0 * (count_parameters(body, trainable_only=True) + head)) * tokens,
        "frozen": 2.0 * weights * x.size + 6.0 * head * steps * min(batch_size, len(y)),
    }[mode]
    return FinetuneResult(mode=mode, accuracy=accuracy(model, x_test, n_test, y_test),
                          trainable_parameters=count_parameters(model, trainable_only=True),
                          total_parameters=count_parameters(model), wall_time_s=wall, train_flops=flops,
                          steps=steps, losses=losses, model=model)


@dataclass
class SequentialResult:
    """What :func:`sequential_finetune` measured after each stage (stage 0 is the untouched backbone).

    ``accuracy[i][j]`` is task ``j``'s test accuracy after training stage ``i`` (``None``
    before task ``j`` has a trained head); ``lm_bits[i]`` the backbone's pretraining loss,
    bits per character on ``lm_ids``, after stage ``i`` (empty without ``lm_ids``).
    ``forgetting(j)`` is task ``j``'s accuracy right after its own stage minus at the end.
    """

    accuracy: list
    lm_bits: list
    model: torch.nn.Module = field(repr=False)

    def forgetting(self, task: int) -> float:
        return self.accuracy[task + 1][task] - self.accuracy[-1][task]


def sequential_finetune(backbone: GPT, tasks, *, steps: int = 40, batch_size: int = 32, lr: float = DEFAULT_LR["finetune"],
                        replay: int = 0, seed: int = 0, pool: str = "mean", lm_ids=None,
                        clip_grad_norm: float = 1.0) -> SequentialResult:
    """Continual learning as sequential full fine-tuning: task 0, then task 1, ..., one shared backbone.

    ``tasks`` is a list of ``(train, test)`` pairs as :func:`train_classifier` takes them;
    each task gets its own linear head on the shared (copied) backbone, trained with the
    backbone for ``steps`` Adam steps in its stage. With ``replay = k`` every batch of a
    later stage also holds ``k`` examples drawn from each earlier task's training set,
    scored through that task's head (rehearsal, the simplest defence against forgetting).
    After every stage each task with a head is tested, and with ``lm_ids`` (a 1-D array of
    validation character ids) the backbone's bits per character are measured, so the
    forgetting of the pretraining objective is seen too.
    """
    from labs.char_gpt import gpt_bits_per_char

    if not isinstance(backbone, GPT):
        raise TypeError(f"sequential_finetune expects a labs.models.gpt.GPT backbone; got {type(backbone).__name__}")
    if not isinstance(tasks, (list, tuple)) or len(tasks) < 1:
        raise ValueError(f"sequential_finetune expects a non-empty list of (train, test) tasks; got {type(tasks).__name__}")
    for name, value, low in (("steps", steps, 1), ("batch_size", batch_size, 1), ("replay", replay, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"sequential_finetune: {name} must be an int >= {low}; got {value!r}")
    parts = [_check_data(task) for task in tasks]
    device = backbone.transformer.wte.weight.device
    torch.manual_seed(seed)
    body = copy.deepcopy(backbone)
    classifiers = [GPTClassifier(body, max(int(max(tr[2].max(), te[2].max())) + 1, 2), pool=pool) for tr, te in parts]
    generator = np.random.default_rng(seed)

    def measure():
        row = [accuracy(c, *te) if i < len(heads_ready) else None for i, (c, (_, te)) in enumerate(zip(classifiers, parts))]
        bits = [] if lm_ids is None else [gpt_bits_per_char(body.eval(), np.asarray(lm_ids), body.config.block_size)]
        body.train()
        return row, bits

    heads_ready: list = []
    first, bits = measure()
    accuracies, lm_bits = [first], list(bits)
    for stage in range(len(parts)):
        trainable = list(body.parameters()) + [p for c in classifiers[:stage + 1] for p in c.head.parameters()]
        optimizer = torch.optim.Adam(trainable, lr=float(lr), foreach=foreach_for(trainable))
        body.train()
        for _ in range(steps):
            loss = 0.0
            for earlier in range(stage + 1):  # this stage's task, then the rehearsed earlier ones
                (xe, ne, ye), _ = parts[earlier]
                size = min(batch_size if earlier == stage else replay, len(ye))
                if size == 0:
                    continue
                batch = generator.choice(len(ye), size=size, replace=False)
                logits = classifiers[earlier](torch.as_tensor(xe[batch], device=device), ne[batch])
                loss = loss + F.cross_entropy(logits, torch.as_tensor(ye[batch], device=device)) * (size / batch_size)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, clip_grad_norm)
            optimizer.step()
        heads_ready.append(stage)
        row, bits = measure()
        accuracies.append(row)
        lm_bits.extend(bits)
    return SequentialResult(accuracy=accuracies, lm_bits=lm_bits, model=torch.nn.ModuleList(classifiers))
