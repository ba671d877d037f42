"""Chapter 13: the deep-learning frameworks, and one small model written in three of them.

``FRAMEWORKS`` is the landscape table of the chapter: who builds each framework today, its
state, and the reference that says so (a key of ``references.bib``). ``mlp_loss_and_grads``
computes the same two-layer network, its cross-entropy and its gradients with the course's
NumPy engine (:mod:`labs.scratch`), with PyTorch, or with JAX, from the same weights, so the
chapter and ``tests/test_frameworks.py`` can show that the three agree to rounding.

JAX is optional for ``import labs`` (``pip install 'labs[jax]'``): it is imported only when
the JAX version is asked for, and its absence is reported with the command that installs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ENGINES", "FRAMEWORKS", "Framework", "init_mlp", "installed_versions", "jax_loss", "mlp_loss_and_grads",
           "sgd_step"]

ENGINES = ("scratch", "torch", "jax")


@dataclass(frozen=True)
class Framework:
    name: str
    origin: str  # who started it
    steward: str  # who develops or governs it now
    first_release: int
    state: str  # "active" or what happened to it
    style: str  # how a program is written
    cite: str  # the key of references.bib that backs the row


FRAMEWORKS = (
    Framework("TensorFlow", "Google Brain", "Google", 2015, "active",
              "graphs traced from Python (tf.function); eager by default since 2.0", "abadi2016tensorflow"),
    Framework("PyTorch", "Facebook AI Research (now Meta)", "PyTorch Foundation (Linux Foundation), since 2022", 2016,
              "active", "eager tensors with a recorded autograd tape; torch.compile for graphs", "paszke2019pytorch"),
    Framework("Keras", "François Chollet", "Google (Keras team)", 2015,
              "active; Keras 3 (2023) runs on JAX, TensorFlow or PyTorch", "layers and model.fit on top of a back end",
              "keras3pypi"),
    Framework("JAX", "Google", "Google", 2018, "active",
              "pure functions transformed by grad, jit and vmap", "bradbury2018jax"),
    Framework("Theano", "MILA (Université de Montréal)", "none", 2007, "development stopped in 2017",
              "symbolic graphs compiled ahead of time", "bengio2017theano"),
    Framework("MXNet", "DMLC (CMU, University of Washington and others)", "none (Apache Attic)", 2015,
              "retired by Apache in 2023", "imperative NDArray and symbolic graphs (Gluon)", "apache2023mxnetattic"),
    Framework("Caffe", "Berkeley Vision and Learning Center (BVLC)", "none", 2013,
              "last release 1.0 (2017); Caffe2 merged into PyTorch in 2018", "networks declared in protobuf text files",
              "jia2014caffe"),
    Framework("Hugging Face transformers", "Hugging Face", "Hugging Face", 2018, "active",
              "pretrained models behind one from_pretrained API (PyTorch, and formerly TF and JAX)", "wolf2020transformers"),
)


def installed_versions(names=("torch", "jax", "transformers", "peft", "safetensors", "onnxruntime", "tensorflow", "keras")):
    """{distribution: version or None} for this environment: what the chapter actually ran with."""
    from importlib import metadata

    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def init_mlp(n_in: int = 4, n_hidden: int = 8, n_out: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """float64 weights in PyTorch's layout (``weight`` is out x in), shared by all three engines."""
    rng = np.random.default_rng(seed)
    return {
        "w1": rng.normal(0, 1 / np.sqrt(n_in), (n_hidden, n_in)),
        "b1": rng.normal(0, 0.1, n_hidden),
        "w2": rng.normal(0, 1 / np.sqrt(n_hidden), (n_out, n_hidden)),
        "b2": rng.normal(0, 0.1, n_out),
    }


def _check(params, x, y):
    missing = {"w1", "b1", "w2", "b2"} - set(params)
    if missing:
        raise KeyError(f"params needs w1, b1, w2, b2 (from init_mlp); missing {sorted(missing)}")
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    if x.ndim != 2 or x.shape[1] != params["w1"].shape[1]:
        raise ValueError(f"x must be (batch, {params['w1'].shape[1]}); got shape {x.shape}")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be {x.shape[0]} integer class labels; got shape {y.shape}, dtype {y.dtype}")
    n_out = params["w2"].shape[0]
    if y.size and (y.min() < 0 or y.max() >= n_out):
        raise ValueError(f"class labels must lie in [0, {n_out}); got {y.min()}..{y.max()}")
    return x, y


def _scratch(params, x, y):
    import labs.scratch as S
    import labs.scratch.nn.functional as F

    p = {k: S.tensor(v, requires_grad=True) for k, v in params.items()}
    h = F.relu(F.linear(S.tensor(x), p["w1"], p["b1"]))
    loss = F.cross_entropy(F.linear(h, p["w2"], p["b2"]), S.tensor(y))
    loss.backward()
    return float(loss.item()), {k: np.asarray(t.grad.data) for k, t in p.items()}


def _torch(params, x, y):
    import torch
    import torch.nn.functional as F

    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = F.relu(F.linear(torch.tensor(x), p["w1"], p["b1"]))
    loss = F.cross_entropy(F.linear(h, p["w2"], p["b2"]), torch.tensor(y))
    loss.backward()
    return float(loss.item()), {k: t.grad.numpy() for k, t in p.items()}


def _import_jax():
    try:
        import jax
    except ImportError as err:  # a plain `pip install labs`: JAX is an extra
        raise ImportError("the JAX version needs JAX: pip install 'labs[jax]' (or pip install jax)") from err
    jax.config.update("jax_enable_x64", True)  # float64, so the three engines can agree to rounding
    return jax


def jax_loss(params, x, y):
    """The network's mean cross-entropy as a pure JAX function of its weights (what jax.grad and jax.jit take)."""
    jax = _import_jax()
    jnp = jax.numpy
    h = jax.nn.relu(x @ params["w1"].T + params["b1"])
    logits = h @ params["w2"].T + params["b2"]
    log_probs = logits - jax.scipy.special.logsumexp(logits, axis=1, keepdims=True)
    return -jnp.mean(jnp.take_along_axis(log_probs, jnp.asarray(y)[:, None], axis=1))


def _jax(params, x, y):
    # a pure function of its arguments: JAX differentiates functions, not a recorded tape
    jnp = _import_jax().numpy
    p = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}
    loss, grads = _import_jax().value_and_grad(jax_loss)(p, jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y))
    return float(loss), {k: np.asarray(g) for k, g in grads.items()}


def mlp_loss_and_grads(engine: str, params: dict, x, y) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy of relu(x W1^T + b1) W2^T + b2 against labels ``y``, and its gradient
    with respect to every weight, computed by ``engine`` ("scratch", "torch" or "jax")."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; got {engine!r}")
    x, y = _check(params, x, y)
    return {"scratch": _scratch, "torch": _torch, "jax": _jax}[engine](params, x, y)


def sgd_step(engine: str, params: dict, x, y, lr: float) -> dict[str, np.ndarray]:
    """One plain SGD step, ``w - lr * grad``, with the gradient of ``engine``."""
    _, grads = mlp_loss_and_grads(engine, params, x, y)
    return {k: params[k] - lr * grads[k] for k in params}
