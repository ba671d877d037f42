"""Speculative decoding: a small draft model proposes, the large target model verifies.

    result = speculative_generate(target, draft, prompt, max_new_tokens=40, gamma=4, temperature=1.0, seed=0)
    result.ids, result.acceptance_rate, result.target_calls

The algorithm of Leviathan, Kalman and Matias (2023) and of Chen et al. (2023). Each round:

1. the draft samples ``gamma`` tokens x_1 .. x_gamma one at a time, from its distributions q_i;
2. the target reads all of them in **one** forward pass and gives p_1 .. p_{gamma+1};
3. for i = 1, 2, ...: accept x_i with probability ``min(1, p_i(x_i) / q_i(x_i))``
   (:func:`acceptance_probability`); at the first rejection draw a replacement from the
   residual ``max(0, p_i - q_i)``, renormalised (:func:`residual_distribution`), and stop;
4. if all gamma were accepted, draw one bonus token from p_{gamma+1}.

Every token that comes out is distributed exactly as if the target had sampled it alone
(:func:`speculative_step_distribution` proves it for one step, in exact arithmetic; the tests
check whole sequences by sampling). What changes is the cost: one target pass yields between
1 and gamma + 1 tokens. At temperature 0 both distributions are one-hot, a draft token is kept
exactly when it is the target's argmax, and the output is the target's greedy text.

Both models are :class:`labs.models.gpt.GPT` with the same vocabulary, each with its own KV
cache; a rejection rolls a cache back by moving its ``length`` (the stale entries are
overwritten by the next call). The whole text must fit the context: prompt + new tokens <=
``block_size`` of both models (there is no sliding window, which would change what the
target conditions on). Randomness comes from one ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["DRAFT_RECIPE", "SpeculativeResult", "acceptance_probability", "residual_distribution", "speculative_step_distribution",
           "speculative_generate", "expected_tokens_per_round", "expected_speedup"]


def _draft_recipe():
    from labs.char_gpt import Recipe

    # Chapter 7's recipe with one layer, two heads and 48 channels, trained for 400 steps: about a
    # third of the target's parameters and a few seconds on one CPU core.
    return Recipe(n_layer=1, n_head=2, n_embd=48, steps=400, eval_every=400, val_chars=10_000)


DRAFT_RECIPE = _draft_recipe()


def _distribution(p, name: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"{name} must be a 1-D probability vector over the vocabulary; got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or not np.isclose(p.sum(), 1.0, atol=1e-6):
        raise ValueError(f"{name} must be non-negative and sum to 1; got sum {p.sum()!r}, min {p.min()!r}")
    return p


def acceptance_probability(p, q, token: int) -> float:
    """``min(1, p[token] / q[token])``: the chance that the draft's ``token`` is kept.

    ``q[token] > 0`` always holds for a token the draft sampled; a token the draft cannot
    produce has no acceptance probability and raises.
    """
    p, q = _distribution(p, "p (the target's distribution)"), _distribution(q, "q (the draft's distribution)")
    if p.shape != q.shape:
        raise ValueError(f"p and q must cover the same vocabulary; got {p.shape} and {q.shape}")
    if q[token] <= 0:
        raise ValueError(f"the draft gives token {token} probability 0, so it never proposes it")
    return float(min(1.0, p[token] / q[token]))


def residual_distribution(p, q) -> np.ndarray:
    """``max(0, p - q)`` renormalised: where a rejected draft token's replacement is drawn.

    It puts mass exactly where the target wants more than the draft offers. When p == q
    there is nothing to correct (and nothing is ever rejected): p itself is returned.
    """
    p, q = _distribution(p, "p (the target's distribution)"), _distribution(q, "q (the draft's distribution)")
    if p.shape != q.shape:
        raise ValueError(f"p and q must cover the same vocabulary; got {p.shape} and {q.shape}")
    r = np.maximum(p - q, 0.0)
    total = r.sum()
    return p.copy() if total <= 1e-12 else r / total


def speculative_step_distribution(p, q) -> np.ndarray:
    """The exact distribution of one speculative step's output token (no sampling).

    P(x) = q(x) min(1, p(x)/q(x))  [x proposed and kept]
         + (1 - beta) residual(x)    [something rejected, x drawn from the residual],
    with beta = sum_x min(p(x), q(x)) the chance of acceptance. It equals p: the identity
    the whole method rests on (tested with hypothesis).
    """
    p, q = _distribution(p, "p (the target's distribution)"), _distribution(q, "q (the draft's distribution)")
    kept = np.minimum(p, q)                       # q(x) * min(1, p(x) / q(x)), also where q(x) = 0
    beta = kept.sum()
    return kept + (1.0 - beta) * residual_distribution(p, q)


def expected_tokens_per_round(alpha: float, gamma: int) -> float:
    """Tokens one round yields when each draft token is kept with probability ``alpha``
    independently: 1 + alpha + ... + alpha**gamma = (1 - alpha**(gamma + 1)) / (1 - alpha)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha is a probability in [0, 1]; got {alpha!r}")
    if alpha == 1.0:
        return float(gamma + 1)
    return (1.0 - alpha ** (gamma + 1)) / (1.0 - alpha)


def expected_speedup(alpha: float, gamma: int, cost_ratio: float) -> float:
    """Leviathan et al.'s wall-clock factor: tokens per round over the round's cost, in units of
    one target pass, ``(1 - alpha**(gamma+1)) / ((1 - alpha) (gamma c + 1))`` with c = draft / target
    time per pass (a verification pass over gamma + 1 tokens is taken to cost one pass)."""
    if cost_ratio < 0:
        raise ValueError(f"cost_ratio is a time ratio >= 0; got {cost_ratio!r}")
    return expected_tokens_per_round(alpha, gamma) / (gamma * cost_ratio + 1.0)


@dataclass
class SpeculativeResult:
    """What :func:`speculative_generate` returns."""

    ids: np.ndarray          # (prompt + max_new_tokens,) int64: the prompt, then the new tokens
    proposed: int            # draft tokens proposed (those after a rejection are never tested)
    accepted: int            # draft tokens the target kept
    rejected: int            # acceptance tests failed (at most one per round)
    target_calls: int        # target forward passes
    draft_calls: int         # draft forward passes
    rounds: int
    prompt_len: int

    @property
    def acceptance_rate(self) -> float:
        """The estimate of alpha: kept over tested draft tokens (NaN if none was tested)."""
        tested = self.accepted + self.rejected
        return self.accepted / tested if tested else float("nan")

    @property
    def tokens_per_target_call(self) -> float:
        """New tokens per target pass: 1 for plain decoding, up to gamma + 1 here."""
        return (self.ids.size - self.prompt_len) / self.target_calls


def _check_models(target, draft, prompt_len: int, max_new_tokens: int, gamma: int):
    from labs.models.gpt import GPT

    for name, model in (("target", target), ("draft", draft)):
        if not isinstance(model, GPT):
            raise TypeError(f"speculative_generate: {name} must be a labs.models.gpt.GPT; got {type(model).__name__}")
        if not model.config.causal:
            raise ValueError(f"speculative_generate: the {name} must be causal (GPTConfig(causal=True))")
        if prompt_len + max_new_tokens > model.config.block_size:
            raise ValueError(f"speculative_generate: prompt ({prompt_len}) + max_new_tokens ({max_new_tokens}) exceeds the "
                             f"{name}'s block_size {model.config.block_size}; generate fewer tokens or use a shorter prompt")
    if target.config.vocab_size != draft.config.vocab_size:
        raise ValueError(f"speculative_generate: the draft's vocabulary ({draft.config.vocab_size}) must be the target's "
                         f"({target.config.vocab_size}): the acceptance test compares p(x) and q(x) token by token")
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Integral) or gamma < 1:
        raise ValueError(f"speculative_generate: gamma (draft tokens per round) must be an int >= 1; got {gamma!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) or max_new_tokens < 1:
        raise ValueError(f"speculative_generate: max_new_tokens must be an int >= 1; got {max_new_tokens!r}")


def _probs(logits_rows, temperature: float) -> np.ndarray:
    from labs.sampling import sampling_probs

    return sampling_probs(logits_rows.double().cpu().numpy(), temperature)  # (n, V) float64


def _draw(p: np.ndarray, rng: np.random.Generator) -> int:
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), p.size - 1))


def speculative_generate(target, draft, prompt, max_new_tokens: int, gamma: int = 4, temperature: float = 1.0,
                         seed: int = 0) -> SpeculativeResult:
    """Continue the 1-D ``prompt`` (token ids) by ``max_new_tokens`` tokens, distributed as the target's.

    ``gamma`` is the number of draft tokens per round (fewer in the last round, so that
    exactly ``max_new_tokens`` come out). ``temperature`` applies to both models (0: greedy,
    and the text equals :func:`labs.models.gpt.generate` at temperature 0).
    """
    import torch

    from labs.sampling import check_sampling_args

    temperature = check_sampling_args(temperature)[0]
    prompt = np.asarray(prompt)
    if prompt.ndim != 1 or prompt.size == 0 or not np.issubdtype(prompt.dtype, np.integer):
        raise ValueError(f"speculative_generate: prompt must be a non-empty 1-D array of token ids; got shape {prompt.shape}, "
                         f"dtype {prompt.dtype}")
    _check_models(target, draft, prompt.size, max_new_tokens, gamma)
    if prompt.min() < 0 or prompt.max() >= target.config.vocab_size:
        raise ValueError(f"speculative_generate: prompt ids must lie in [0, {target.config.vocab_size})")
    rng = np.random.default_rng(seed)
    out = [int(t) for t in prompt]
    end = len(out) + int(max_new_tokens)
    device_t, device_d = target.transformer.wte.weight.device, draft.transformer.wte.weight.device
    proposed = accepted = rejected = target_calls = draft_calls = rounds = 0
    was = target.training, draft.training
    target.eval(), draft.eval()
    try:
        with torch.no_grad():
            cache_t, cache_d = target.new_cache(1), draft.new_cache(1)
            while len(out) < end:
                rounds += 1
                g = min(int(gamma), end - len(out) - 1)   # the last round may propose fewer (even none)
                # 1. the draft proposes g tokens; each call feeds what its cache has not read yet
                drafts, qs = [], []
                for _ in range(g):
                    seen = out + drafts
                    new = torch.tensor([seen[cache_d.length:]], device=device_d)
                    q = _probs(draft(new, cache_d)[0, -1:], temperature)[0]
                    draft_calls += 1
                    drafts.append(_draw(q, rng))
                    qs.append(q)
                # 2. the target scores the unread text and all g drafts in one pass: g + 1 distributions
                seen = out + drafts
                new = torch.tensor([seen[cache_t.length:]], device=device_t)
                ps = _probs(target(new, cache_t)[0, -(g + 1):], temperature)
                target_calls += 1
                proposed += g
                # 3. keep each draft token with probability min(1, p/q); at the first rejection, resample
                for i, x in enumerate(drafts):
                    if rng.random() < min(1.0, ps[i][x] / qs[i][x]):
                        out.append(x)
                        accepted += 1
                    else:
                        out.append(_draw(residual_distribution(ps[i], qs[i]), rng))
                        rejected += 1
                        break
                else:
                    out.append(_draw(ps[g], rng))          # 4. all kept: a bonus token from the target
                # roll back: each cache keeps only tokens that are in `out` and precede its last token
                cache_t.length = min(cache_t.length, len(out) - 1)
                cache_d.length = min(cache_d.length, len(out) - 1)
    finally:
        target.train(was[0]), draft.train(was[1])
    return SpeculativeResult(np.asarray(out[:end], dtype=np.int64), proposed, accepted, rejected, target_calls, draft_calls,
                             rounds, int(prompt.size))
