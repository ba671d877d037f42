"""Explanations of a model's output, each tied to the axiom or published method it follows.

    saliency = gradient_saliency(model, x, target)                      # Simonyan et al. 2014
    attr = integrated_gradients(model, x, target, baseline, steps=64)   # Sundararajan et al. 2017
    attr.sum() ~= score(x) - score(baseline)                            # completeness, asserted
    drop = occlusion_importance(score_fn, ids, fill_id)                 # leave-one-out perturbation
    coef = local_linear_surrogate(value_fn, n_features, rng)            # LIME, Ribeiro et al. 2016
    phi = exact_shapley(value_fn, n_features)                           # Shapley 1953; SHAP, Lundberg & Lee 2017
    phi.sum() == value_fn(all) - value_fn(none)                          # efficiency, asserted

The gradient methods take a PyTorch model that maps a batch ``x`` (N, ...) to scores
(N, classes) and explain one class ``target`` of one input (no batch axis). The
perturbation methods take any black box, ``value_fn(masks) -> scores``: ``masks`` is a
boolean (S, n_features) array, True where a feature keeps its value and False where it is
replaced by the baseline (:func:`masked_images` builds such a function for images cut into
patches). So one model can be explained by every method and the answers compared.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "gradient_saliency", "integrated_gradients", "ig_path", "completeness_gap", "occlusion_importance",
    "patch_masks", "masked_images", "all_coalitions", "exact_shapley", "shapley_kernel_weight",
    "local_linear_surrogate", "spearman",
]


def _check_single(name: str, x):
    import torch

    if not torch.is_tensor(x):
        raise TypeError(f"{name} expects x as a torch tensor (one input, no batch axis); got {type(x).__name__}: "
                        "use torch.as_tensor(x)")
    if not x.is_floating_point():
        raise TypeError(f"{name} needs a floating-point input to differentiate; got dtype {x.dtype}: use x.float()")
    return x


def _scores(model, batch, target: int):
    out = model(batch)
    if out.ndim != 2:
        raise ValueError(f"the model should return scores of shape (N, classes); got shape {tuple(out.shape)}")
    if not 0 <= target < out.shape[1]:
        raise ValueError(f"target must be a class index in [0, {out.shape[1]}); got {target}")
    return out[:, target]


def gradient_saliency(model, x, target: int):
    """The gradient of class ``target``'s score with respect to the input, ``d score / d x``.

    Its absolute value is the saliency map of Simonyan, Vedaldi and Zisserman (2014): which
    inputs change the score most for a small change. It says nothing about how much each
    input *contributed* (a saturated input has zero gradient however much it matters);
    :func:`integrated_gradients` answers that. Returns a tensor of ``x``'s shape.
    """
    import torch

    x = _check_single("gradient_saliency", x).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_scores(model, x[None], target).sum(), x)
    return grad


def ig_path(steps: int, rule: str = "trapezoid"):
    """The points ``alpha`` in [0, 1] and weights of the quadrature that integrated gradients uses.

    ``"trapezoid"``: ``steps`` points 0, 1/(steps-1), ..., 1, end weights halved (Captum's
    ``riemann_trapezoid``). ``"midpoint"``: ``steps`` cell centres, equal weights (Captum's
    ``riemann_middle``). The weights sum to 1, so a constant gradient integrates exactly.
    """
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be an int; got {type(steps).__name__}")
    if rule == "trapezoid":
        if steps < 2:
            raise ValueError(f"the trapezoid rule needs at least 2 points (both ends); got steps={steps}")
        alphas = np.linspace(0.0, 1.0, steps)
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
    elif rule == "midpoint":
        if steps < 1:
            raise ValueError(f"steps must be >= 1; got {steps}")
        alphas = (np.arange(steps) + 0.5) / steps
        weights = np.full(steps, 1.0 / steps)
    else:
        raise ValueError(f"rule must be 'trapezoid' or 'midpoint'; got {rule!r}")
    return alphas, weights


def integrated_gradients(model, x, target: int, baseline=None, steps: int = 64, rule: str = "trapezoid",
                         batch_size: int = 256):
    """Integrated gradients (Sundararajan, Taly and Yan 2017) of class ``target`` at ``x``.

    ``attr_i = (x_i - b_i) * integral_0^1 d score(b + a (x - b)) / d x_i  da``: the gradient
    averaged along the straight path from ``baseline`` ``b`` (default: zeros, a black image)
    to ``x``, times the distance travelled. By the fundamental theorem of calculus for path
    integrals the attributions sum to ``score(x) - score(b)`` (the *completeness* axiom);
    the quadrature with ``steps`` points makes that true up to an error that shrinks as
    ``steps`` grows (:func:`completeness_gap` measures it). Returns a tensor of ``x``'s shape.
    """
    import torch

    x = _check_single("integrated_gradients", x).detach()
    baseline = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    if baseline.shape != x.shape:
        raise ValueError(f"baseline must have x's shape {tuple(x.shape)}; got {tuple(baseline.shape)}")
    alphas, weights = ig_path(steps, rule)
    alphas = torch.as_tensor(alphas, dtype=x.dtype, device=x.device)
    weights = torch.as_tensor(weights, dtype=x.dtype, device=x.device)
    shape = (-1,) + (1,) * x.ndim
    total = torch.zeros_like(x)
    for start in range(0, steps, batch_size):  # bounded memory for many steps
        a = alphas[start:start + batch_size]
        points = (baseline + a.reshape(shape) * (x - baseline)).requires_grad_(True)  # (S, ...) along the path
        (grads,) = torch.autograd.grad(_scores(model, points, target).sum(), points)  # rows are independent
        total += (weights[start:start + batch_size].reshape(shape) * grads).sum(0)
    return (x - baseline) * total


def completeness_gap(model, x, target: int, attributions, baseline=None) -> float:
    """``|sum(attributions) - (score(x) - score(baseline))|``: zero for exact integrated gradients."""
    import torch

    baseline = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype)
    with torch.no_grad():
        s = _scores(model, torch.stack([x, baseline]), target)
    return float(abs(attributions.sum() - (s[0] - s[1])))


def occlusion_importance(score_fn, ids, fill) -> np.ndarray:
    """How much ``score_fn`` drops when each position of ``ids`` alone is replaced by ``fill``.

    ``score_fn(batch)`` maps a (B, T) integer array to B scores; the result ``drop[i] =
    score(ids) - score(ids with position i set to fill)`` is a leave-one-out perturbation
    test of what the model uses (Zeiler and Fergus 2014 slid a grey square over images the
    same way). Positions whose value already is ``fill`` get 0.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"occlusion_importance expects one sequence of ids, shape (T,); got shape {ids.shape}")
    batch = np.repeat(ids[None], len(ids) + 1, axis=0)  # row 0 intact, row i + 1 with position i occluded
    batch[np.arange(1, len(ids) + 1), np.arange(len(ids))] = fill
    scores = np.asarray(score_fn(batch), dtype=np.float64)
    if scores.shape != (len(ids) + 1,):
        raise ValueError(f"score_fn should return one score per row, shape ({len(ids) + 1},); got {scores.shape}")
    return scores[0] - scores[1:]


def patch_masks(image_shape, patch: int) -> np.ndarray:
    """Boolean (n_patches, H, W) masks that cut an (H, W) image into ``patch`` x ``patch`` squares."""
    h, w = image_shape
    if h % patch or w % patch:
        raise ValueError(f"an image of shape {(h, w)} does not split into {patch}x{patch} patches: "
                         f"pick a patch size that divides both sides")
    masks = []
    for r in range(0, h, patch):
        for c in range(0, w, patch):
            m = np.zeros((h, w), dtype=bool)
            m[r:r + patch, c:c + patch] = True
            masks.append(m)
    return np.stack(masks)


def masked_images(model, x, target: int, patches, baseline=None, batch_size: int = 4096):
    """A black box ``value_fn(masks) -> scores`` over image patches, for the perturbation methods.

    ``x`` is one image (C, H, W); ``patches`` the (n, H, W) masks of :func:`patch_masks`.
    A row of ``masks`` (S, n) keeps the patches marked True and sets the others to the
    baseline (default: zeros), then returns class ``target``'s score, in float64.
    """
    import torch

    x = torch.as_tensor(x)
    baseline = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype)
    patches = torch.as_tensor(np.asarray(patches, dtype=bool))

    def value_fn(masks):
        masks = torch.as_tensor(np.asarray(masks, dtype=bool))
        if masks.ndim != 2 or masks.shape[1] != len(patches):
            raise ValueError(f"masks should have shape (S, {len(patches)}); got {tuple(masks.shape)}")
        out = []
        with torch.no_grad():
            for start in range(0, len(masks), batch_size):
                m = masks[start:start + batch_size]
                pixels = (m.to(torch.int64) @ patches.reshape(len(patches), -1).to(torch.int64)).bool()  # (S, H*W)
                keep = pixels.reshape(len(m), 1, *patches.shape[1:])  # broadcast over channels
                out.append(_scores(model, torch.where(keep, x, baseline), target).double())
        return torch.cat(out).numpy()

    return value_fn


def all_coalitions(n_features: int) -> np.ndarray:
    """Every subset of ``n_features`` players as a boolean (2**n, n) array; row k is k's binary digits."""
    if not 1 <= n_features <= 20:
        raise ValueError(f"exact enumeration needs 1 <= n_features <= 20 (2**n evaluations); got {n_features}: "
                         "group the inputs into fewer features, or sample coalitions")
    k = np.arange(2 ** n_features)
    return ((k[:, None] >> np.arange(n_features)) & 1).astype(bool)


def exact_shapley(value_fn, n_features: int) -> np.ndarray:
    """Exact Shapley values of ``value_fn`` over ``n_features`` players, from all 2**n coalitions.

    ``phi_i = sum_{S not containing i} |S|! (n - |S| - 1)! / n! (v(S + i) - v(S))``
    (Shapley 1953); with ``v`` a model's output on masked inputs this is the quantity that
    SHAP (Lundberg and Lee 2017) estimates. Efficiency holds exactly:
    ``phi.sum() == v(all) - v(none)``.
    """
    masks = all_coalitions(n_features)
    values = np.asarray(value_fn(masks), dtype=np.float64)
    if values.shape != (len(masks),):
        raise ValueError(f"value_fn should return one value per coalition, shape ({len(masks)},); got {values.shape}")
    size = masks.sum(1)
    index = masks.astype(np.int64) @ (1 << np.arange(n_features))  # row -> its own number, so S + i is S | bit i
    weight = np.array([math.factorial(s) * math.factorial(n_features - s - 1) / math.factorial(n_features)
                       for s in range(n_features)])
    phi = np.zeros(n_features)
    for i in range(n_features):
        without = ~masks[:, i]
        gain = values[index[without] | (1 << i)] - values[without]
        phi[i] = np.sum(weight[size[without]] * gain)
    return phi


def shapley_kernel_weight(n_features: int, size) -> np.ndarray:
    """KernelSHAP's weight of a coalition of ``size`` players: (n-1) / (C(n, s) s (n - s))."""
    size = np.asarray(size)
    if np.any((size <= 0) | (size >= n_features)):
        raise ValueError("the empty and the full coalition have infinite weight: they are constraints, not rows")
    comb = np.array([math.comb(n_features, int(s)) for s in size.ravel()]).reshape(size.shape)
    return (n_features - 1) / (comb * size * (n_features - size))


def local_linear_surrogate(value_fn, n_features: int, rng=None, n_samples: int = 1000, kernel: str = "lime",
                           kernel_width: float = 0.25, ridge: float = 1e-6, masks=None) -> np.ndarray:
    """A weighted linear model of ``value_fn`` near "everything kept", fitted on random masks.

    LIME (Ribeiro, Singh and Guestrin 2016): sample binary masks (each feature kept with
    probability 1/2), weight each sample by its closeness to the full input,
    ``exp(-d**2 / kernel_width**2)`` with ``d`` the cosine distance between the mask and the
    all-ones mask, and fit ``v(mask) ~ c + coef . mask`` by weighted least squares (a tiny
    ridge keeps it solvable). Returns ``coef`` (n_features,).

    With ``kernel="shapley"`` the weights are KernelSHAP's (:func:`shapley_kernel_weight`)
    and the empty and full coalitions are imposed as constraints (intercept ``v(none)``,
    coefficients summing to ``v(all) - v(none)``); fitted on every coalition it returns the
    exact Shapley values (Lundberg and Lee 2017, Theorem 2). Pass ``masks`` to choose them.
    """
    if masks is None:
        rng = np.random.default_rng(0) if rng is None else rng
        masks = rng.random((n_samples, n_features)) < 0.5
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 2 or masks.shape[1] != n_features:
        raise ValueError(f"masks should have shape (S, {n_features}); got {masks.shape}")
    z = masks.astype(np.float64)
    if kernel == "lime":
        kept = z.sum(1)
        cosine = np.where(kept > 0, kept / np.sqrt(np.maximum(kept, 1) * n_features), 0.0)
        w = np.exp(-((1.0 - cosine) ** 2) / kernel_width ** 2)
        y = np.asarray(value_fn(masks), dtype=np.float64)
        design = np.hstack([np.ones((len(z), 1)), z])
        sw = np.sqrt(w)[:, None]
        gram = (design * sw).T @ (design * sw) + ridge * np.eye(n_features + 1)
        return np.linalg.solve(gram, (design * sw).T @ (np.sqrt(w) * y))[1:]
    if kernel != "shapley":
        raise ValueError(f"kernel must be 'lime' or 'shapley'; got {kernel!r}")
    ends = np.array([np.zeros(n_features, bool), np.ones(n_features, bool)])
    v_none, v_all = np.asarray(value_fn(ends), dtype=np.float64)
    size = z.sum(1)
    inner = (size > 0) & (size < n_features)
    z, y = z[inner], np.asarray(value_fn(masks[inner]), dtype=np.float64) - v_none
    w = shapley_kernel_weight(n_features, size[inner])
    # sum(coef) = total: eliminate the last coefficient, coef_n = total - sum(others)
    total = v_all - v_none
    a = z[:, :-1] - z[:, -1:]
    b = y - z[:, -1] * total
    sw = np.sqrt(w)[:, None]
    gram = (a * sw).T @ (a * sw) + ridge * np.eye(n_features - 1)
    head = np.linalg.solve(gram, (a * sw).T @ (np.sqrt(w) * b))
    return np.append(head, total - head.sum())


def spearman(a, b) -> float:
    """Spearman's rank correlation (ties get their average rank), computed by hand; scipy agrees."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"spearman needs two sequences of the same length >= 2; got {a.shape} and {b.shape}")

    def ranks(v):
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # ties: the mean of the ranks they span
            tied = v == value
            r[tied] = r[tied].mean()
        return r

    ra, rb = ranks(a) - ranks(a).mean(), ranks(b) - ranks(b).mean()
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    if denom == 0:
        raise ValueError("spearman is undefined when one sequence is constant")
    return float(ra @ rb) / denom

