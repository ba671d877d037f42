"""Recurrent layers: RNN, LSTM and GRU, with PyTorch's equations, weight names and gate order.

Each layer runs one whole sequence as a single autograd operation: the input projection
``x_t @ W_ih^T`` for every time step is one matrix product, then a Python loop over *time*
(the recurrence cannot be vectorised: step t needs h_{t-1}) does one small product
``h_{t-1} @ W_hh^T`` per step. The backward pass is **backpropagation through time**
written out by hand: the same loop run backwards, carrying dL/dh (and dL/dc for the LSTM)
from step t to step t-1, followed by one matrix product per weight matrix over all steps.

Equations (PyTorch's; ``*`` is element-wise, sigma the logistic function):

RNN   ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``  (or relu)

LSTM  gates in the order **i, f, g, o** (rows of ``weight_ih_l0`` are ``[W_ii; W_if; W_ig; W_io]``)::

    i = sigma(.), f = sigma(.), g = tanh(.), o = sigma(.)   of   x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

GRU   gates in the order **r, z, n**::

    r = sigma(x W_ir^T + b_ir + h W_hr^T + b_hr)
    z = sigma(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))     # r gates the *projected* h, bias included
    h_t = (1 - z) * n + z * h_{t-1}

The kernels below are pure NumPy on time-major arrays ``(T, B, features)``.
"""

from __future__ import annotations

import math

import numpy as np

from labs.scratch import functional as F
from labs.scratch.nn import init
from labs.scratch.nn.linear import _check_device, _empty_parameter, _float_dtype, _positive_int
from labs.scratch.nn.module import Module
from labs.scratch.tensor import Tensor, is_grad_enabled, stack

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "rnn_layer", "lstm_layer", "gru_layer"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # sigma(x) = (1 + tanh(x/2)) / 2: no overflow for large |x|, unlike 1 / (1 + exp(-x))
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _input_projection(x, w_ih, b_ih, b_hh):
    """x_t @ W_ih^T + biases for every step at once: (T, B, I) -> (T, B, G)."""
    t, b, i = x.shape
    proj = (x.reshape(t * b, i) @ w_ih.T).reshape(t, b, -1)
    if b_ih is not None:
        proj += b_ih
    if b_hh is not None:
        proj += b_hh
    return proj


def _weight_grads(x, h_prev, d_in, d_hid, need_w):
    """dW_ih, dW_hh, db_ih, db_hh from the per-step pre-activation gradients (all steps at once)."""
    t, b, _ = x.shape
    d_in2 = d_in.reshape(t * b, -1)
    d_hid2 = d_hid.reshape(t * b, -1)
    if not need_w:
        return None, None, None, None
    dw_ih = d_in2.T @ x.reshape(t * b, -1)
    dw_hh = d_hid2.T @ h_prev.reshape(t * b, -1)
    return dw_ih, dw_hh, d_in2.sum(axis=0), d_hid2.sum(axis=0)


# ----------------------------------------------------------------------------- plain RNN


def _rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    """Returns hs of shape (T + 1, B, H): hs[0] = h0, hs[t + 1] = h_t."""
    proj = _input_projection(x, w_ih, b_ih, b_hh)
    hs = np.empty((x.shape[0] + 1,) + h0.shape, dtype=x.dtype)
    hs[0] = h0
    w_hh_t = np.ascontiguousarray(w_hh.T)  # one transpose, not one per step
    for t in range(x.shape[0]):
        a = proj[t] + hs[t] @ w_hh_t
        hs[t + 1] = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
    return hs


def _rnn_backward(d_out, x, hs, w_ih, w_hh, nonlinearity="tanh", need_w=True):
    """BPTT. d_out: dL/dh_t for every step (T, B, H). Returns dx, dh0, dW_ih, dW_hh, db_ih, db_hh."""
    d_pre = np.empty_like(d_out)
    dh = np.zeros_like(hs[0])
    for t in range(x.shape[0] - 1, -1, -1):
        dh = dh + d_out[t]
        h = hs[t + 1]
        d_pre[t] = dh * (1.0 - h * h) if nonlinearity == "tanh" else dh * (h > 0)
        dh = d_pre[t] @ w_hh  # to h_{t-1}
    dx = (d_pre.reshape(-1, d_pre.shape[-1]) @ w_ih).reshape(x.shape)
    return (dx, dh) + _weight_grads(x, hs[:-1], d_pre, d_pre, need_w)


# ----------------------------------------------------------------------------- LSTM

# one tanh for all four gates: sigma(a) = 0.5 * tanh(a/2) + 0.5 for i, f, o; tanh(a) for g
def _lstm_gate_constants(hidden, dtype):
    scale = np.full(4 * hidden, 0.5, dtype=dtype)
    scale[2 * hidden : 3 * hidden] = 1.0
    shift = np.full(4 * hidden, 0.5, dtype=dtype)
    shift[2 * hidden : 3 * hidden] = 0.0
    return scale, shift


def _lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """Returns (hs, cs, acts, tanh_cs): hs, cs (T + 1, B, H) with the initial states first;
    acts the gate activations i, f, g, o of every step (T, B, 4H) and tanh_cs = tanh(c_t)
    (T, B, H), both kept for the backward pass."""
    steps, hidden = x.shape[0], h0.shape[-1]
    proj = _input_projection(x, w_ih, b_ih, b_hh)
    scale, shift = _lstm_gate_constants(hidden, x.dtype)
    hs = np.empty((steps + 1,) + h0.shape, dtype=x.dtype)
    cs = np.empty_like(hs)
    acts = np.empty_like(proj)
    tanh_cs = np.empty((steps,) + h0.shape, dtype=x.dtype)
    hs[0], cs[0] = h0, c0
    H = hidden
    # Scaling by 0.5 is exact in binary floating point, so folding the gates' scale into the
    # recurrent weights and the input projection once gives bit for bit the same pre-activations
    # as scaling them at every step, one whole-array pass per step fewer.
    w_hh_t = np.ascontiguousarray(w_hh.T * scale)  # one transpose, not one per step
    proj *= scale
    ig = np.empty_like(h0, dtype=x.dtype)  # i * g of the current step, reused (no temporary per step)
    for t in range(steps):
        act = acts[t]
        np.matmul(hs[t], w_hh_t, out=act)
        act += proj[t]
        np.tanh(act, out=act)
        act *= scale
        act += shift  # i, f, o squashed to (0, 1); g to (-1, 1)
        np.multiply(act[:, H : 2 * H], cs[t], out=cs[t + 1])
        np.multiply(act[:, :H], act[:, 2 * H : 3 * H], out=ig)
        cs[t + 1] += ig
        np.tanh(cs[t + 1], out=tanh_cs[t])
        np.multiply(act[:, 3 * H :], tanh_cs[t], out=hs[t + 1])
    return hs, cs, acts, tanh_cs


def _lstm_backward(d_hs, d_cs, x, hs, cs, acts, tanh_cs, w_ih, w_hh, need_w=True):
    """BPTT for the LSTM. d_hs, d_cs: dL/dh_t and dL/dc_t from outside, (T, B, H) each.
    Returns dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh."""
    steps, H = x.shape[0], hs.shape[-1]
    i, f, g, o = acts[..., :H], acts[..., H : 2 * H], acts[..., 2 * H : 3 * H], acts[..., 3 * H :]
    # Local derivatives that do not depend on the recurrence, for all steps at once:
    # d(pre-activation of each gate) = (dL/dc_t or dL/dh_t) * factor
    factor_i = g * i * (1.0 - i)  # c = f c' + i g, and sigma' = sigma (1 - sigma)
    factor_f = cs[:-1] * f * (1.0 - f)
    factor_g = i * (1.0 - g * g)  # tanh' = 1 - tanh^2
    factor_o = tanh_cs * o * (1.0 - o)  # h = o tanh(c)
    c_from_h = o * (1.0 - tanh_cs * tanh_cs)  # dh/dc through tanh(c)
    d_pre = np.empty_like(acts)
    # The state gradients and one temporary, updated in place: no new arrays inside the loop.
    dh = np.zeros_like(hs[0])
    dc = np.zeros_like(cs[0])
    tmp = np.empty_like(dc)
    for t in range(steps - 1, -1, -1):
        dh += d_hs[t]
        dc += d_cs[t]
        np.multiply(dh, c_from_h[t], out=tmp)
        dc += tmp
        np.multiply(dc, factor_i[t], out=d_pre[t, :, :H])
        np.multiply(dc, factor_f[t], out=d_pre[t, :, H : 2 * H])
        np.multiply(dc, factor_g[t], out=d_pre[t, :, 2 * H : 3 * H])
        np.multiply(dh, factor_o[t], out=d_pre[t, :, 3 * H :])
        dc *= f[t]  # to c_{t-1}
        np.matmul(d_pre[t], w_hh, out=dh)  # to h_{t-1}
    dx = (d_pre.reshape(-1, 4 * H) @ w_ih).reshape(x.shape)
    return (dx, dh, dc) + _weight_grads(x, hs[:-1], d_pre, d_pre, need_w)


# ----------------------------------------------------------------------------- GRU


def _gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh):
    """Returns (hs, acts, hn): hs (T + 1, B, H); acts = r, z, n per step (T, B, 3H);
    hn = h_{t-1} W_hn^T + b_hn per step (T, B, H), which the backward pass needs."""
    steps, H = x.shape[0], h0.shape[-1]
    gi = _input_projection(x, w_ih, b_ih, None)  # b_hh stays inside: r multiplies it
    hs = np.empty((steps + 1,) + h0.shape, dtype=x.dtype)
    acts = np.empty_like(gi)
    hn = np.empty((steps,) + h0.shape, dtype=x.dtype)
    hs[0] = h0
    w_hh_t = np.ascontiguousarray(w_hh.T)  # one transpose, not one per step
    for t in range(steps):
        gh = hs[t] @ w_hh_t
        if b_hh is not None:
            gh += b_hh
        rz = _sigmoid(gi[t, :, : 2 * H] + gh[:, : 2 * H])
        r, z = rz[:, :H], rz[:, H:]
        n = np.tanh(gi[t, :, 2 * H :] + r * gh[:, 2 * H :])
        acts[t, :, : 2 * H], acts[t, :, 2 * H :] = rz, n
        hn[t] = gh[:, 2 * H :]
        hs[t + 1] = n + z * (hs[t] - n)  # = (1 - z) * n + z * h_{t-1}
    return hs, acts, hn


def _gru_backward(d_hs, x, hs, acts, hn, w_ih, w_hh, need_w=True):
    """BPTT for the GRU. Returns dx, dh0, dW_ih, dW_hh, db_ih, db_hh."""
    steps, H = x.shape[0], hs.shape[-1]
    r, z, n = acts[..., :H], acts[..., H : 2 * H], acts[..., 2 * H :]
    # local derivatives for all steps at once (they do not depend on the recurrence)
    factor_n = (1.0 - z) * (1.0 - n * n)  # h = (1 - z) n + z h', tanh' = 1 - tanh^2
    factor_z = (hs[:-1] - n) * z * (1.0 - z)
    factor_r = hn * r * (1.0 - r)  # n = tanh(. + r * hn)
    d_in = np.empty_like(acts)  # gradient of x W_ih^T + b_ih, gates r, z, n
    d_hid = np.empty_like(acts)  # gradient of h W_hh^T + b_hh, gates r, z, n
    dh = np.zeros_like(hs[0])
    for t in range(steps - 1, -1, -1):
        dh = dh + d_hs[t]
        dn = dh * factor_n[t]
        np.multiply(dn, factor_r[t], out=d_in[t, :, :H])
        np.multiply(dh, factor_z[t], out=d_in[t, :, H : 2 * H])
        d_in[t, :, 2 * H :] = dn
        d_hid[t, :, : 2 * H] = d_in[t, :, : 2 * H]
        np.multiply(dn, r[t], out=d_hid[t, :, 2 * H :])
        dh = dh * z[t] + d_hid[t] @ w_hh  # to h_{t-1}: directly through z, and through W_hh
    dx = (d_in.reshape(-1, 3 * H) @ w_ih).reshape(x.shape)
    return (dx, dh) + _weight_grads(x, hs[:-1], d_in, d_hid, need_w)


# ----------------------------------------------------------------------------- autograd ops


def _wants_grad(*tensors) -> bool:
    return is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def rnn_layer(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity: str = "tanh") -> Tensor:
    """One RNN layer over a whole time-major sequence: input (T, B, I), hx (B, H) -> all h_t, (T, B, H)."""
    biases = tuple(b for b in (bias_ih, bias_hh) if b is not None)
    x, h0, w_ih, w_hh = input.data, hx.data, weight_ih.data, weight_hh.data
    hs = _rnn_forward(x, h0, w_ih, w_hh, None if bias_ih is None else bias_ih.data,
                      None if bias_hh is None else bias_hh.data, nonlinearity)
    need_w = _wants_grad(weight_ih, weight_hh, *biases)

    def backward(grad):
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _rnn_backward(grad, x, hs, w_ih, w_hh, nonlinearity, need_w)
        return (dx, dh0, dw_ih, dw_hh) + ((db_ih, db_hh) if biases else ())

    return Tensor.from_op(hs[1:], (input, hx, weight_ih, weight_hh) + biases, backward, "rnn_layer")


def lstm_layer(input, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Tensor:
    """One LSTM layer over a time-major sequence: input (T, B, I), hx and cx (B, H).

    Returns h_t and c_t of every step side by side, shape (T, B, 2H) (one autograd op has one
    output): ``out[..., :H]`` are the hidden states, ``out[..., H:]`` the cell states.
    """
    biases = tuple(b for b in (bias_ih, bias_hh) if b is not None)
    x, w_ih, w_hh = input.data, weight_ih.data, weight_hh.data
    hs, cs, acts, tanh_cs = _lstm_forward(x, hx.data, cx.data, w_ih, w_hh, None if bias_ih is None else bias_ih.data,
                                          None if bias_hh is None else bias_hh.data)
    H = hs.shape[-1]
    need_w = _wants_grad(weight_ih, weight_hh, *biases)

    def backward(grad):
        dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = _lstm_backward(
            grad[..., :H], grad[..., H:], x, hs, cs, acts, tanh_cs, w_ih, w_hh, need_w)
        return (dx, dh0, dc0, dw_ih, dw_hh) + ((db_ih, db_hh) if biases else ())

    packed = np.concatenate([hs[1:], cs[1:]], axis=-1)
    return Tensor.from_op(packed, (input, hx, cx, weight_ih, weight_hh) + biases, backward, "lstm_layer")


def gru_layer(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Tensor:
    """One GRU layer over a time-major sequence: input (T, B, I), hx (B, H) -> all h_t, (T, B, H)."""
    biases = tuple(b for b in (bias_ih, bias_hh) if b is not None)
    x, w_ih, w_hh = input.data, weight_ih.data, weight_hh.data
    hs, acts, hn = _gru_forward(x, hx.data, w_ih, w_hh, None if bias_ih is None else bias_ih.data,
                                None if bias_hh is None else bias_hh.data)
    need_w = _wants_grad(weight_ih, weight_hh, *biases)

    def backward(grad):
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _gru_backward(grad, x, hs, acts, hn, w_ih, w_hh, need_w)
        return (dx, dh0, dw_ih, dw_hh) + ((db_ih, db_hh) if biases else ())

    return Tensor.from_op(hs[1:], (input, hx, weight_ih, weight_hh) + biases, backward, "gru_layer")


# ----------------------------------------------------------------------------- modules

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _check_tensor(x, what: str, layer: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer} expects {what} to be a labs.scratch Tensor; got {type(x).__name__}")
    return x


class _RNNBase(Module):
    _mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        name = type(self).__name__
        _check_device(device, name)
        self.input_size = _positive_int(input_size, "input_size", name)
        self.hidden_size = _positive_int(hidden_size, "hidden_size", name)
        self.num_layers = _positive_int(num_layers, "num_layers", name)
        if bidirectional:
            raise ValueError(f"{name}: bidirectional=True is not implemented in the NumPy engine")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{name} expects dropout between 0 and 1; got {dropout!r}")
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), False
        dtype = _float_dtype(dtype, name)
        gates = _GATES[self._mode] * self.hidden_size
        for layer in range(self.num_layers):
            fan_in = self.input_size if layer == 0 else self.hidden_size
            # PyTorch's names and registration order: w_ih, w_hh, b_ih, b_hh per layer
            setattr(self, f"weight_ih_l{layer}", _empty_parameter((gates, fan_in), dtype))
            setattr(self, f"weight_hh_l{layer}", _empty_parameter((gates, self.hidden_size), dtype))
            if bias:
                setattr(self, f"bias_ih_l{layer}", _empty_parameter((gates,), dtype))
                setattr(self, f"bias_hh_l{layer}", _empty_parameter((gates,), dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch: every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound)

    def flatten_parameters(self) -> None:
        """No-op, for code written for PyTorch's cuDNN path."""

    def _layer_params(self, layer: int):
        get = self._parameters.get
        return (get(f"weight_ih_l{layer}"), get(f"weight_hh_l{layer}"), get(f"bias_ih_l{layer}"), get(f"bias_hh_l{layer}"))

    def _check_state(self, state, name: str, batch: int, unbatched: bool, dtype) -> Tensor:
        expected = (self.num_layers, self.hidden_size) if unbatched else (self.num_layers, batch, self.hidden_size)
        _check_tensor(state, name, type(self).__name__)
        if tuple(state.shape) != expected:
            raise ValueError(f"{type(self).__name__} expects {name} of shape {expected} (num_layers, batch, hidden_size); got {tuple(state.shape)}")
        if state.dtype != dtype:
            raise TypeError(f"{type(self).__name__}: {name} has dtype {state.dtype} but the input has {dtype}")
        return state.unsqueeze(1) if unbatched else state

    def forward(self, input, hx=None):
        name = type(self).__name__
        x = _check_tensor(input, "input", name)
        layout = "(batch, seq, input_size)" if self.batch_first else "(seq, batch, input_size)"
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}(input_size={self.input_size}) expects input of shape {layout} (or (seq, input_size) "
                f"unbatched); got {tuple(x.shape)}"
                + (": did you mean batch_first=True?" if x.ndim == 3 and not self.batch_first and x.shape[0] != x.shape[1] and x.shape[-1] == self.input_size else "")
            )
        if x.dtype != self.weight_ih_l0.dtype:
            raise TypeError(f"{name}: input has dtype {x.dtype} but the weights have {self.weight_ih_l0.dtype}: cast one of them (x.float(), model.double())")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.unsqueeze(1)  # (seq, 1, features)
        elif self.batch_first:
            x = x.transpose(0, 1)  # the kernels run time-major: (seq, batch, features)
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0 or batch == 0:
            raise ValueError(f"{name} got an empty {'sequence' if steps == 0 else 'batch'}: input shape {tuple(input.shape)}")
        if self._mode == "LSTM":
            if hx is None:
                h0 = c0 = None
            else:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"LSTM expects hx to be a tuple (h_0, c_0); got {type(hx).__name__}")
                h0 = self._check_state(hx[0], "h_0", batch, unbatched, x.dtype)
                c0 = self._check_state(hx[1], "c_0", batch, unbatched, x.dtype)
        else:
            h0 = None if hx is None else self._check_state(hx, "h_0", batch, unbatched, x.dtype)
            c0 = None
        zeros = Tensor(np.zeros((batch, self.hidden_size), dtype=x.dtype))
        H = self.hidden_size
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = F.dropout(x, self.dropout, True)  # PyTorch: on the outputs of every layer but the last
            params = self._layer_params(layer)
            h_init = zeros if h0 is None else h0[layer]
            if self._mode == "LSTM":
                packed = lstm_layer(x, h_init, zeros if c0 is None else c0[layer], *params)
                x = packed[..., :H]
                h_n.append(packed[-1, :, :H])
                c_n.append(packed[-1, :, H:])
            else:
                if self._mode == "GRU":
                    x = gru_layer(x, h_init, *params)
                else:
                    x = rnn_layer(x, h_init, *params, nonlinearity=self.nonlinearity)
                h_n.append(x[-1])
        output = x
        h_n = stack(h_n, dim=0)
        c_n = stack(c_n, dim=0) if c_n else None
        if unbatched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return (output, (h_n, c_n)) if self._mode == "LSTM" else (output, h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        return s


class RNN(_RNNBase):
    """Elman RNN, like ``torch.nn.RNN``: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    ``forward(input, h_0=None)`` returns ``(output, h_n)``: output holds the last layer's h_t
    for every step, ``(seq, batch, hidden)`` (``(batch, seq, hidden)`` with batch_first);
    h_n holds every layer's last state, ``(num_layers, batch, hidden)``.
    """

    _mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN expects nonlinearity 'tanh' or 'relu'; got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(_RNNBase):
    """Long short-term memory, like ``torch.nn.LSTM`` (gate order i, f, g, o).

    ``forward(input, (h_0, c_0)=None)`` returns ``(output, (h_n, c_n))``.
    """

    _mode = "LSTM"


class GRU(_RNNBase):
    """Gated recurrent unit, like ``torch.nn.GRU`` (gate order r, z, n).

    ``forward(input, h_0=None)`` returns ``(output, h_n)``.
    """

    _mode = "GRU"


# ------------------------------------------------------------------ single-step cells
# Readable versions built from ordinary tensor operations (autograd does the backward):
# one time step each, with the same names, shapes and results as torch.nn.*Cell. They
# also serve as an independent check of the fused layers above.


class _CellBase(Module):
    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        _check_device(device, type(self).__name__)
        super().__init__()
        name = type(self).__name__
        self.input_size = _positive_int(input_size, "input_size", name)
        self.hidden_size = _positive_int(hidden_size, "hidden_size", name)
        self.bias = bias
        dtype = _float_dtype(dtype, name)
        gates = self._gates * self.hidden_size
        self.weight_ih = _empty_parameter((gates, self.input_size), dtype)
        self.weight_hh = _empty_parameter((gates, self.hidden_size), dtype)
        self.bias_ih = _empty_parameter((gates,), dtype) if bias else None
        self.bias_hh = _empty_parameter((gates,), dtype) if bias else None
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound)

    def _inputs(self, input, hx):
        name = type(self).__name__
        x = _check_tensor(input, "input", name)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name} expects input of shape (batch, {self.input_size}) or ({self.input_size},); got {tuple(x.shape)}")
        unbatched = x.ndim == 1
        x = x.unsqueeze(0) if unbatched else x
        zeros = Tensor(np.zeros((x.shape[0], self.hidden_size), dtype=x.dtype))
        states = hx if isinstance(hx, (tuple, list)) else (hx,)
        fixed = []
        for s in states:
            if s is None:
                fixed.append(zeros)
                continue
            _check_tensor(s, "hx", name)
            s = s.unsqueeze(0) if unbatched else s
            if tuple(s.shape) != tuple(zeros.shape):
                raise ValueError(f"{name} expects a state of shape {tuple(zeros.shape)}; got {tuple(s.shape)}")
            fixed.append(s)
        return x, fixed, unbatched

    def _projections(self, x, h):
        return F.linear(x, self.weight_ih, self.bias_ih), F.linear(h, self.weight_hh, self.bias_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None,
                 dtype=None) -> None:
        _check_device(device, type(self).__name__)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell expects nonlinearity 'tanh' or 'relu'; got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), unbatched = self._inputs(input, hx)
        a_in, a_hid = self._projections(x, h)
        a = a_in + a_hid
        h_new = a.tanh() if self.nonlinearity == "tanh" else a.relu()
        return h_new.squeeze(0) if unbatched else h_new


class LSTMCell(_CellBase):
    """One LSTM step: returns ``(h', c')``."""

    _gates = 4

    def forward(self, input, hx=None):
        x, (h, c), unbatched = self._inputs(input, (None, None) if hx is None else hx)
        a_in, a_hid = self._projections(x, h)
        a = a_in + a_hid  # (batch, 4H): blocks i, f, g, o
        H = self.hidden_size
        i, f = a[:, :H].sigmoid(), a[:, H : 2 * H].sigmoid()
        g, o = a[:, 2 * H : 3 * H].tanh(), a[:, 3 * H :].sigmoid()
        c_new = f * c + i * g
        h_new = o * c_new.tanh()
        return (h_new.squeeze(0), c_new.squeeze(0)) if unbatched else (h_new, c_new)


class GRUCell(_CellBase):
    """One GRU step: returns ``h'``."""

    _gates = 3

    def forward(self, input, hx=None):
        x, (h,), unbatched = self._inputs(input, hx)
        a_in, a_hid = self._projections(x, h)  # (batch, 3H) each: blocks r, z, n
        H = self.hidden_size
        r = (a_in[:, :H] + a_hid[:, :H]).sigmoid()
        z = (a_in[:, H : 2 * H] + a_hid[:, H : 2 * H]).sigmoid()
        n = (a_in[:, 2 * H :] + r * a_hid[:, 2 * H :]).tanh()
        h_new = (1 - z) * n + z * h
        return h_new.squeeze(0) if unbatched else h_new
