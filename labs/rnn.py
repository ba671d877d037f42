"""The recurrent update written out step by step, and the gradients that flow back through it.

Chapter 6 uses these functions to show, with numbers, what ``torch.nn.RNN`` computes and
why plain recurrent networks forget:

- :func:`rnn_step` and :func:`rnn_forward` are the Elman recurrence
  ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` in NumPy, with PyTorch's weight
  names and shapes (``weight_ih`` is (H, I), ``weight_hh`` is (H, H)), so the weights of a
  ``torch.nn.RNN`` can be copied in and the outputs compared;
- :func:`rnn_backward` is backpropagation through time (BPTT) for that recurrence;
- :func:`gru_cell_step` and :func:`lstm_cell_step` are the gated cells in PyTorch's gate
  order;
- :func:`hidden_state_grad_norms` measures ``||dL/dh_t||`` at every time step of a
  PyTorch cell, for the vanishing/exploding-gradient plots;
- :func:`clip_grad_norm` is the rule of ``torch.nn.utils.clip_grad_norm_`` in NumPy, and
  :func:`train_memory_task` is the experiment that shows why it is needed.

Every array is batch-first: inputs are (B, T, I), hidden states (B, T, H).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = [
    "rnn_step",
    "rnn_forward",
    "rnn_backward",
    "gru_cell_step",
    "lstm_cell_step",
    "recurrent_matrix",
    "spectral_radius",
    "hidden_state_grad_norms",
    "clip_grad_norm",
    "train_memory_task",
    "autograd_depth",
    "weights_from_torch",
]


def _as_float_array(value, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of numbers; got {type(value).__name__}") from err
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions; got shape {arr.shape}")
    return arr


def _check_rnn_shapes(x_shape, h_shape, weight_ih, weight_hh, where: str) -> None:
    hidden, inputs = weight_ih.shape
    if weight_hh.shape != (hidden, hidden):
        raise ValueError(
            f"{where}: weight_hh must have shape (H, H) = ({hidden}, {hidden}) to match weight_ih {weight_ih.shape}; "
            f"got {weight_hh.shape}"
        )
    if x_shape[-1] != inputs:
        raise ValueError(
            f"{where}: the input has {x_shape[-1]} features but weight_ih {weight_ih.shape} expects {inputs} "
            "(weight_ih is (hidden_size, input_size), as in torch.nn.RNN)"
        )
    if h_shape[-1] != hidden:
        raise ValueError(f"{where}: the hidden state has {h_shape[-1]} units but the weights have {hidden}")


def rnn_step(x_t, h_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of the tanh RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    ``x_t`` is (B, I) and ``h_prev`` is (B, H); returns ``h_t`` of shape (B, H). The new
    state depends on the *previous* state only, which is what makes the loop computable.
    PyTorch keeps two bias vectors; their sum is the single ``b`` of the textbook formula.
    """
    x_t = _as_float_array(x_t, "x_t", (1, 2))
    h_prev = _as_float_array(h_prev, "h_prev", (1, 2))
    weight_ih = _as_float_array(weight_ih, "weight_ih", 2)
    weight_hh = _as_float_array(weight_hh, "weight_hh", 2)
    _check_rnn_shapes(x_t.shape, h_prev.shape, weight_ih, weight_hh, "rnn_step")
    pre = x_t @ weight_ih.T + h_prev @ weight_hh.T
    if bias_ih is not None:
        pre = pre + np.asarray(bias_ih, dtype=np.float64)
    if bias_hh is not None:
        pre = pre + np.asarray(bias_hh, dtype=np.float64)
    return np.tanh(pre)


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Run :func:`rnn_step` over a batch-first sequence ``x`` of shape (B, T, I).

    Returns ``(hs, h_last)``: every hidden state, shape (B, T, H), and the last one, (B, H),
    the same pair that ``torch.nn.RNN(batch_first=True)`` returns (with a leading
    layer axis on ``h_last`` there).
    """
    x = _as_float_array(x, "x", 3)
    weight_ih = _as_float_array(weight_ih, "weight_ih", 2)
    weight_hh = _as_float_array(weight_hh, "weight_hh", 2)
    batch, steps, _ = x.shape
    h = np.zeros((batch, weight_hh.shape[0])) if h0 is None else _as_float_array(h0, "h0", 2)
    if h.shape[0] != batch:
        raise ValueError(f"rnn_forward: h0 has batch size {h.shape[0]} but x has {batch}; give h0 shape ({batch}, H)")
    _check_rnn_shapes(x.shape, h.shape, weight_ih, weight_hh, "rnn_forward")
    hs = np.empty((batch, steps, weight_hh.shape[0]))
    for t in range(steps):  # the loop is the model: step t needs the result of step t-1
        h = rnn_step(x[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)
        hs[:, t] = h
    return hs, h


def rnn_backward(x, h0, hs, weight_ih, weight_hh, grad_hs):
    """Backpropagation through time for :func:`rnn_forward`.

    ``grad_hs`` (B, T, H) is the gradient that the loss sends *directly* into each hidden
    state (for example through an output head at every step; zeros where a step has no
    loss). Walking backwards, the gradient reaching ``h_t`` is that direct part plus what
    flows back from ``h_{t+1}``:

        dL/dh_t = grad_hs[:, t] + (dL/dh_{t+1} * (1 - h_{t+1}^2)) W_hh

    Returns a dict with the gradients of ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh`` (equal: both biases enter the same sum), ``x``, ``h0`` and ``hs`` (the
    total ``dL/dh_t`` at every step, the quantity whose norm vanishes or explodes).
    """
    x = _as_float_array(x, "x", 3)
    hs = _as_float_array(hs, "hs", 3)
    grad_hs = _as_float_array(grad_hs, "grad_hs", 3)
    weight_ih = _as_float_array(weight_ih, "weight_ih", 2)
    weight_hh = _as_float_array(weight_hh, "weight_hh", 2)
    if grad_hs.shape != hs.shape:
        raise ValueError(f"rnn_backward: grad_hs must have the shape of hs {hs.shape}; got {grad_hs.shape}")
    batch, steps, hidden = hs.shape
    h0 = np.zeros((batch, hidden)) if h0 is None else _as_float_array(h0, "h0", 2)
    grads = {
        "weight_ih": np.zeros_like(weight_ih),
        "weight_hh": np.zeros_like(weight_hh),
        "bias": np.zeros(hidden),
        "x": np.zeros_like(x),
        "hs": np.zeros_like(hs),
    }
    from_later = np.zeros((batch, hidden))  # dL/dh_t arriving through h_{t+1}
    for t in reversed(range(steps)):
        grad_h = grad_hs[:, t] + from_later
        grads["hs"][:, t] = grad_h
        grad_pre = grad_h * (1.0 - hs[:, t] ** 2)  # tanh'(a) = 1 - tanh(a)^2
        h_prev = hs[:, t - 1] if t > 0 else h0
        grads["weight_ih"] += grad_pre.T @ x[:, t]
        grads["weight_hh"] += grad_pre.T @ h_prev
        grads["bias"] += grad_pre.sum(axis=0)
        grads["x"][:, t] = grad_pre @ weight_ih
        from_later = grad_pre @ weight_hh
    grads["h0"] = from_later
    grads["bias_ih"] = grads["bias"]
    grads["bias_hh"] = grads.pop("bias").copy()
    return grads


def _sigmoid(z):
    # sigmoid(z) = (1 + tanh(z / 2)) / 2: no exp, so nothing overflows for large |z|.
    return 0.5 * np.tanh(0.5 * z) + 0.5


def _gate_inputs(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, n_gates: int, where: str):
    x_t = _as_float_array(x_t, "x_t", 2)
    h_prev = _as_float_array(h_prev, "h_prev", 2)
    weight_ih = _as_float_array(weight_ih, "weight_ih", 2)
    weight_hh = _as_float_array(weight_hh, "weight_hh", 2)
    hidden = h_prev.shape[1]
    if weight_ih.shape != (n_gates * hidden, x_t.shape[1]) or weight_hh.shape != (n_gates * hidden, hidden):
        raise ValueError(
            f"{where}: with input size {x_t.shape[1]} and hidden size {hidden} expected weight_ih of shape "
            f"({n_gates * hidden}, {x_t.shape[1]}) and weight_hh of shape ({n_gates * hidden}, {hidden}) "
            f"({n_gates} gates stacked, as in torch.nn); got {weight_ih.shape} and {weight_hh.shape}"
        )
    gi = x_t @ weight_ih.T + (0.0 if bias_ih is None else np.asarray(bias_ih, dtype=np.float64))
    gh = h_prev @ weight_hh.T + (0.0 if bias_hh is None else np.asarray(bias_hh, dtype=np.float64))
    return gi, gh, h_prev


def lstm_cell_step(x_t, h_prev, c_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step in ``torch.nn.LSTMCell``'s gate order (input, forget, cell, output).

        i = sigmoid(.), f = sigmoid(.), g = tanh(.), o = sigmoid(.)
        c_t = f * c_{t-1} + i * g          (the cell state: an additive update)
        h_t = o * tanh(c_t)

    Returns ``(h_t, c_t)``, each (B, H).
    """
    gi, gh, h_prev = _gate_inputs(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, 4, "lstm_cell_step")
    c_prev = _as_float_array(c_prev, "c_prev", 2)
    i, f, g, o = np.split(gi + gh, 4, axis=1)
    c_t = _sigmoid(f) * c_prev + _sigmoid(i) * np.tanh(g)
    h_t = _sigmoid(o) * np.tanh(c_t)
    return h_t, c_t


def gru_cell_step(x_t, h_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step in ``torch.nn.GRUCell``'s gate order (reset, update, new).

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    The reset gate multiplies ``W_hn h + b_hn`` (bias included), which is PyTorch's
    convention and differs from some papers. Returns ``h_t`` (B, H).
    """
    gi, gh, h_prev = _gate_inputs(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, 3, "gru_cell_step")
    i_r, i_z, i_n = np.split(gi, 3, axis=1)
    h_r, h_z, h_n = np.split(gh, 3, axis=1)
    r = _sigmoid(i_r + h_r)
    z = _sigmoid(i_z + h_z)
    n = np.tanh(i_n + r * h_n)
    return (1.0 - z) * n + z * h_prev


def spectral_radius(matrix) -> float:
    """The largest absolute eigenvalue of a square matrix."""
    matrix = _as_float_array(matrix, "matrix", 2)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"spectral_radius needs a square matrix; got shape {matrix.shape}")
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def recurrent_matrix(hidden_size: int, radius: float, seed: int = 0) -> np.ndarray:
    """A random (H, H) recurrent weight: an orthogonal matrix times ``radius``.

    Every eigenvalue and every singular value of the result has size ``radius``, so the
    spectral radius is ``radius`` and ``||W_hh v|| = radius * ||v||`` for every ``v``:
    the cleanest setting for watching gradients shrink or grow by a fixed factor per step.
    """
    if not isinstance(hidden_size, (int, np.integer)) or hidden_size < 1:
        raise ValueError(f"hidden_size must be a positive int; got {hidden_size!r}")
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite number >= 0; got {radius!r}")
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((hidden_size, hidden_size)))
    q = q * np.sign(np.diag(r))  # makes the draw uniform over orthogonal matrices
    return radius * q


def hidden_state_grad_norms(cell, x, h0=None, readout=None) -> np.ndarray:
    """``||dL/dh_t||`` at every step ``t`` of a PyTorch cell run over ``x`` (B, T, I).

    ``cell`` is a ``torch.nn.RNNCell``, ``GRUCell`` or ``LSTMCell``. The loss reads only
    the last hidden state, ``L = sum_b readout . h_T[b]`` (a fixed unit vector, seeded, when
    ``readout`` is None), so ``dL/dh_T`` has norm 1 for every sequence and
    ``||dL/dh_t||`` says how much the last output can still learn from step ``t``.
    Returns an array of shape (T,): the mean over the batch of the per-sequence norms.
    """
    import torch

    if not isinstance(cell, (torch.nn.RNNCell, torch.nn.GRUCell, torch.nn.LSTMCell)):
        raise TypeError(
            f"hidden_state_grad_norms expects a torch.nn.RNNCell, GRUCell or LSTMCell; got {type(cell).__name__}"
        )
    x = torch.as_tensor(x, dtype=cell.weight_ih.dtype)
    if x.ndim != 3 or x.shape[2] != cell.input_size:
        raise ValueError(
            f"x must have shape (B, T, {cell.input_size}) for this cell; got {tuple(x.shape)}"
        )
    batch, steps, _ = x.shape
    hidden = cell.hidden_size
    if readout is None:
        gen = torch.Generator().manual_seed(0)
        readout = torch.randn(hidden, generator=gen, dtype=x.dtype)
    readout = torch.as_tensor(readout, dtype=x.dtype)
    readout = readout / readout.norm()
    h = torch.zeros(batch, hidden, dtype=x.dtype) if h0 is None else torch.as_tensor(h0, dtype=x.dtype)
    c = torch.zeros_like(h)
    states = []
    for t in range(steps):
        if isinstance(cell, torch.nn.LSTMCell):
            h, c = cell(x[:, t], (h, c))
        else:
            h = cell(x[:, t], h)
        h.retain_grad()  # keep dL/dh_t, which autograd would otherwise free
        states.append(h)
    loss = (h @ readout).sum()
    loss.backward()
    return np.array([s.grad.norm(dim=1).mean().item() for s in states])


def clip_grad_norm(grads: Sequence[np.ndarray], max_norm: float, eps: float = 1e-6):
    """The rule of ``torch.nn.utils.clip_grad_norm_``, in NumPy.

    The *global* norm is the 2-norm of all gradients stacked into one vector. If it is
    above ``max_norm`` every gradient is multiplied by ``max_norm / (norm + eps)``, so the
    update keeps its direction and gets length (just under) ``max_norm``; below it nothing
    changes. Returns ``(clipped, total_norm)``; the inputs are not modified.
    """
    if not np.isfinite(max_norm) or max_norm <= 0:
        raise ValueError(f"max_norm must be a positive number; got {max_norm!r}")
    if isinstance(grads, np.ndarray):
        raise TypeError("clip_grad_norm expects a list of gradient arrays (one per parameter); wrap one array as [g]")
    arrays = [np.asarray(g, dtype=np.float64) for g in grads]
    total_norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in arrays)))
    scale = min(1.0, max_norm / (total_norm + eps))
    return [g * scale for g in arrays], total_norm


def train_memory_task(radius: float, lr: float, steps: int, clip: float | None = None, seed: int = 0,
                      hidden_size: int = 32, seq_len: int = 40, batch_size: int = 64, remember: int = 5):
    """Train a tanh RNN with plain SGD on a task that needs a long memory; return its curves.

    Each sequence is ``seq_len`` steps of Gaussian noise; the target is the sum of its first
    ``remember`` inputs, read by a linear head from the *last* hidden state, so the useful
    gradient has to travel ``seq_len - remember`` steps back. ``weight_hh`` starts as
    :func:`recurrent_matrix` with spectral radius ``radius``. With ``clip`` set, the global
    gradient norm is clipped by ``torch.nn.utils.clip_grad_norm_`` before every step.

    Returns ``{"loss": (steps,), "grad_norm": (steps,), "diverged_at": int | None}``: the mean
    squared error of every step, the global gradient norm *before* clipping, and the first
    step whose loss or gradient norm was not finite (the weights overflowed). Training stops
    there, and the remaining entries are NaN. Seeded: the same call gives the same curves.
    The target's variance is ``remember``, so a loss near ``remember`` means nothing was
    learned.

    Why the divergence is reported rather than a late spike: unclipped SGD on this task is
    chaotic, so *when* a late spike happens depends on float rounding, i.e. on the CPU and
    the library version. A learning rate that blows up within the first few steps gives the
    same story on every machine.
    """
    import torch

    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be None or a positive max norm; got {clip!r}")
    torch.manual_seed(seed)
    model = torch.nn.RNN(1, hidden_size, batch_first=True)
    head = torch.nn.Linear(hidden_size, 1)
    with torch.no_grad():
        model.weight_hh_l0.copy_(torch.from_numpy(recurrent_matrix(hidden_size, radius, seed)))
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.SGD(params, lr=lr)
    data = torch.Generator().manual_seed(seed + 1)
    losses, norms = np.full(steps, np.nan), np.full(steps, np.nan)
    diverged_at = None
    for step in range(steps):
        x = torch.randn(batch_size, seq_len, 1, generator=data)
        target = x[:, :remember, 0].sum(dim=1)
        _, h_last = model(x)  # h_last: (1, B, H)
        loss = ((head(h_last[0]).squeeze(1) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        # max_norm=inf measures the norm without changing anything
        norms[step] = float(torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf")))
        losses[step] = loss.item()
        if not (np.isfinite(losses[step]) and np.isfinite(norms[step])):
            diverged_at = step  # the weights overflowed: nothing more to learn from this run
            break
        optimizer.step()
    return {"loss": losses, "grad_norm": norms, "diverged_at": diverged_at}


def autograd_depth(output) -> int:
    """The length of the longest chain of autograd operations from ``output`` back to a leaf.

    Operations on one chain must run one after another, so this is the number of sequential
    steps in the computation, however many processors are available. For an RNN unrolled
    with a cell it grows linearly with the sequence length; for a layer that treats every
    position independently it does not depend on the length at all. (A fused layer such as
    ``torch.nn.LSTM`` shows up as a single node: its loop over time is inside one kernel.)
    """
    root = getattr(output, "grad_fn", None)
    if root is None:
        if not hasattr(output, "grad_fn"):
            raise TypeError(f"autograd_depth expects a torch.Tensor; got {type(output).__name__}")
        return 0
    depth: dict = {}
    stack = [(root, False)]
    while stack:  # an explicit stack: a long sequence would overflow Python's recursion limit
        node, children_done = stack.pop()
        if node in depth:
            continue
        children = [child for child, _ in node.next_functions if child is not None]
        if children_done:
            depth[node] = 1 + max((depth[c] for c in children), default=0)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if c not in depth)
    return depth[root]


def weights_from_torch(module, layer: int = 0) -> dict[str, np.ndarray]:
    """The NumPy float64 copies of one layer's weights of a torch RNN/GRU/LSTM (or cell).

    Keys are PyTorch's without the layer suffix: ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``.
    """
    suffix = "" if not hasattr(module, "num_layers") else f"_l{layer}"
    out = {}
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        param = getattr(module, name + suffix, None)
        if param is not None:
            out[name] = param.detach().cpu().double().numpy().copy()
    return out
