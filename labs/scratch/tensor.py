"""The ``Tensor``: a NumPy array that remembers how it was made, so it can be differentiated.

Reverse-mode automatic differentiation in one file. Every operation does two things:

1. the **forward** computation on NumPy arrays, producing ``out.data``;
2. it records a **backward rule**: a function that, given the gradient of the final
   scalar with respect to ``out`` (``grad_out``, same shape as ``out``), returns the
   gradient with respect to each input (each shaped like that input).

``loss.backward()`` then visits the recorded graph from ``loss`` back to the leaves in
reverse topological order, calling each rule once and adding up the gradients that reach
a tensor along different paths (the multivariable chain rule). Leaves that were created
with ``requires_grad=True`` (the parameters) keep their gradient in ``.grad``.

The names and signatures follow PyTorch (``x.sum(dim=1, keepdim=True)``, ``x.max(dim=1)``
returning ``(values, indices)``, ``tensor(data, requires_grad=...)``), so a reader can put a
``torch`` program and this one side by side; the tests check that both give the same
numbers and the same gradients.

Two details matter everywhere:

- **Broadcasting.** ``a + b`` with ``a`` of shape (4, 3) and ``b`` of shape (3,) uses every
  element of ``b`` four times, so its gradient is the sum of four rows:
  :func:`unbroadcast` sums a gradient back to the shape of the input it belongs to.
- **dtype.** Python numbers become float32 (as in PyTorch); NumPy arrays keep their dtype,
  so ``tensor(np.zeros(3))`` is float64, which is what the float64 reference tests use.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Callable, Sequence

import numpy as np

__all__ = [
    "Tensor", "Parameter", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
    "cat", "stack", "where", "zeros", "ones", "zeros_like", "ones_like", "full", "eye",
    "arange", "linspace", "rand", "randn", "randint", "manual_seed", "get_generator",
    "unbroadcast", "float32", "float64", "int64", "int32", "int8", "bool_", "set_default_dtype", "get_default_dtype",
]

# dtype names as in torch (labs.scratch.float32 is np.float32).
float32, float64, int64, int32, int8, bool_ = np.float32, np.float64, np.int64, np.int32, np.int8, np.bool_

# --------------------------------------------------------------------------------------
# Global switches: gradient mode and the random generator
# --------------------------------------------------------------------------------------
_GRAD_ENABLED = True
_RNG = np.random.default_rng(0)
_DEFAULT_DTYPE = np.dtype(np.float32)


def set_default_dtype(d) -> None:
    """The floating dtype of Python floats, factories and new layers: float32 (default) or float64.

    As ``torch.set_default_dtype``: a float64 comparison against torch starts with
    ``set_default_dtype(float64)`` on both sides, and every layer built afterwards is float64.
    """
    global _DEFAULT_DTYPE
    try:
        dtype = np.dtype(d)
    except TypeError:
        raise TypeError(f"set_default_dtype expects float32 or float64; got {d!r}") from None
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype expects a floating dtype, float32 or float64; got {dtype}")
    _DEFAULT_DTYPE = dtype


def get_default_dtype() -> np.dtype:
    """The dtype that :func:`set_default_dtype` set (float32 unless changed)."""
    return _DEFAULT_DTYPE


def is_grad_enabled() -> bool:
    """True unless we are inside ``with no_grad():``."""
    return _GRAD_ENABLED


class no_grad:
    """Context manager (and decorator) that stops recording the graph.

    Inside it operations compute values only: nothing is remembered for ``backward``,
    which saves memory and time during evaluation and inside optimizer updates.
    """

    def __enter__(self):
        global _GRAD_ENABLED
        self._previous = _GRAD_ENABLED
        _GRAD_ENABLED = False
        return self

    def __exit__(self, *exc):
        global _GRAD_ENABLED
        _GRAD_ENABLED = self._previous
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Turn graph recording back on inside a ``no_grad`` block."""

    def __enter__(self):
        global _GRAD_ENABLED
        self._previous = _GRAD_ENABLED
        _GRAD_ENABLED = True
        return self


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator behind ``randn``, ``rand``, ``dropout`` and the layer initialisers."""
    global _RNG
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expects an int seed; got {type(seed).__name__} {seed!r}")
    _RNG = np.random.default_rng(int(seed))
    return _RNG


def get_generator() -> np.random.Generator:
    """The NumPy ``Generator`` that :func:`manual_seed` seeds (use it for any random draw)."""
    return _RNG


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the backward rule of broadcasting.

    Broadcasting (i) prepends axes and (ii) stretches axes of length 1. An input element
    that was reused along those axes receives the sum of the gradients of all its copies.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:  # (i) axes that broadcasting added in front
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:  # (ii) axes of length 1 that were stretched
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def scatter_add_rows(n_rows: int, index: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """An (n_rows, ...) array of zeros into which each ``rows[i]`` is added at row ``index[i]``.

    The backward rule of reading rows by index (an embedding lookup, ``x[ids]``): a row read
    twice receives both gradients. ``np.add.at(out, index, rows)`` computes exactly this,
    but with a row index into a 2-D array it takes NumPy's slow general path (2x to 8x
    slower here: benchmarks/, TransE and GPT). Its 1-D form has a fast path, so each row's
    elements get their own flat positions ``index * width + column`` and are added in one
    1-D ``np.add.at``: the same additions in the same order, so the same numbers, bit for bit.
    ``index`` is 1-D with values in [0, n_rows); ``rows`` has ``len(index)`` rows.
    """
    width = int(np.prod(rows.shape[1:], dtype=np.int64))  # numbers per row (trailing axes flattened)
    out = np.zeros(n_rows * width, dtype=rows.dtype)
    positions = (index.astype(np.int64)[:, None] * width + np.arange(width)).reshape(-1)
    np.add.at(out, positions, rows.reshape(-1))
    return out.reshape((n_rows,) + rows.shape[1:])


def _is_float(dtype) -> bool:
    return np.issubdtype(dtype, np.floating)


def _to_array(data, dtype=None) -> np.ndarray:
    """Turn ``data`` into an ndarray with PyTorch's dtype rules (copies, like torch.tensor)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=np.dtype(dtype))
    if isinstance(data, (np.ndarray, np.generic)):
        return np.array(data)  # keeps float64 / int32 / ... as torch.from_numpy does
    arr = np.array(data)
    if arr.dtype == np.float64:  # Python floats: the default dtype (float32 unless changed), as in torch
        return arr.astype(_DEFAULT_DTYPE)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(
            f"tensor() expects numbers, nested lists of numbers or an ndarray; got {type(data).__name__} "
            f"that NumPy turns into dtype {arr.dtype} (are the nested lists ragged, or do they hold strings?)"
        )
    return arr


def _normalize_dims(dim, ndim: int, op: str) -> tuple | None:
    """``dim`` (int, tuple, list or None) as a tuple of non-negative axes (None = all)."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints; got {type(d).__name__} {d!r}")
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise ValueError(
                f"{op}: dim {d} is out of range for a tensor with {ndim} dimension(s) "
                f"(valid: {-max(ndim, 1)} to {max(ndim, 1) - 1})"
            )
        out.append(int(d) % max(ndim, 1))
    return tuple(out) if ndim else None  # a 0-d tensor accepts dim=0 or -1, meaning "all" 


def _pick_dim(dim, axis):
    """PyTorch calls it ``dim``, NumPy ``axis``: accept either (not both)."""
    if axis is not None:
        if dim is not None:
            raise TypeError("pass dim= or axis= (the same thing), not both")
        return axis
    return dim


def _broadcast_error(op: str, a: np.ndarray, b: np.ndarray) -> ValueError:
    return ValueError(
        f"{op}: cannot broadcast shapes {a.shape} and {b.shape}: aligned from the right, each pair of "
        f"sizes must be equal or one of them 1. Try reshaping, e.g. x.reshape(-1, 1) or x[None, :]"
    )


class IndexOutOfRangeError(IndexError, ValueError):
    """An index outside a table: an IndexError as in torch, and a ValueError as it was here first."""


def _no_out(out, op: str) -> None:
    if out is not None:
        raise TypeError(f"{op}: out= is not supported; assign the result instead")


def _format_shape(shape) -> str:
    return str(tuple(shape))


# NumPy names a reader may try on a Tensor (p.grad is a Tensor now, as in torch), and torch's names.
_NUMPY_HABITS = {
    "copy": "use .clone() for a Tensor, or .numpy().copy() for a NumPy array",
    "astype": "use .to(dtype), .float() or .double()",
    "ravel": "use .flatten() or .reshape(-1)",
    "fill": "use .fill_(value)",
    "swapaxes": "use .transpose(dim0, dim1)",
    "nbytes": "use .numpy().nbytes",
}

_MinMax = namedtuple("return_types", ["values", "indices"])  # what torch.max(x, dim) returns


# --------------------------------------------------------------------------------------
# The Tensor
# --------------------------------------------------------------------------------------
class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    >>> x = tensor([2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()   # y = x0^2 + x1^2
    >>> y.backward()        # fills x.grad with dy/dx = 2x
    >>> x.grad
    tensor([4., 6.])

    Attributes
    ----------
    data : np.ndarray
        The values (float32 by default).
    grad : Tensor or None
        After ``loss.backward()``: d loss / d self, for leaves that require grad. As in
        torch it is a Tensor (no graph of its own), so ``p.grad.zero_()``, ``p.grad.norm()``
        and ``p.grad.data`` (the NumPy array) work; ``backward`` adds into it in place.
    requires_grad : bool
        Whether gradients should flow to (or through) this tensor.
    """

    __array_priority__ = 1000  # so that ndarray * Tensor calls Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = data if (isinstance(data, np.ndarray) and dtype is None) else _to_array(data, dtype)
        self._grad: Tensor | None = None
        self._version = 0
        self._parents: tuple = ()
        self._backward: Callable | None = None
        self._op = ""
        self._retain = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ---- how every operation is recorded ------------------------------------------------
    @staticmethod
    def from_op(data, parents: tuple, backward: Callable, name: str) -> "Tensor":
        """Wrap the result of an operation and, if needed, remember how to differentiate it.

        ``backward(grad_out)`` must return one gradient per parent (``None`` where a parent
        needs none), each shaped like that parent. The graph is recorded only when grad
        mode is on and some parent requires grad; otherwise the result is a plain tensor.
        This is also how operations outside this file (convolution, attention) plug in.
        A parent may be ``None`` (an optional input such as a missing bias).

        Example, a new operation ``cube`` with its backward rule d(x^3)/dx = 3x^2:

        >>> x = tensor([1.0, 2.0], requires_grad=True)
        >>> y = Tensor.from_op(x.data ** 3, (x,), lambda g: (3 * x.data ** 2 * g,), "cube")
        >>> y.sum().backward()
        >>> x.grad
        tensor([ 3., 12.])
        """
        out = Tensor.__new__(Tensor)
        out.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        out._grad = None
        out._version = 0
        out._retain = False
        out._op = name
        if _GRAD_ENABLED and any(p is not None and p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = parents
            out._backward = backward
            # the inputs' versions now: backward refuses to run if one was changed in place since
            out._saved_versions = tuple(-1 if p is None else p._version for p in parents)
        else:
            out.requires_grad = False
            out._parents = ()
            out._backward = None
        return out

    def _lift(self, other) -> "Tensor":
        """Turn a Python number or an ndarray into a constant Tensor (no gradient)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, np.generic) and other.ndim == 0 and other.dtype.kind in "biuf":
            other = other.item()  # a NumPy scalar acts like a Python number, as in torch
        if isinstance(other, (bool, int, float)):
            if _is_float(self.data.dtype):
                dtype = self.data.dtype  # 0.5 * float32 stays float32, as in torch
            elif isinstance(other, float):
                dtype = _DEFAULT_DTYPE
            else:
                dtype = None
            return Tensor(np.asarray(other, dtype=dtype))
        if isinstance(other, np.ndarray):
            return Tensor(other)
        if isinstance(other, (list, tuple)):
            return Tensor(_to_array(other))
        raise TypeError(f"cannot combine a Tensor with {type(other).__name__}; use a number, an ndarray or a Tensor")

    # ---- the gradient -----------------------------------------------------------------------
    @property
    def grad(self) -> "Tensor | None":
        """d loss / d self after ``backward()``: a Tensor (without a graph), or ``None``."""
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is None:
            self._grad = None
            return
        arr = value.data if isinstance(value, Tensor) else np.asarray(value)
        if arr.shape != self.data.shape:
            raise RuntimeError(
                f"assigned grad has shape {_format_shape(arr.shape)}, but the tensor has shape "
                f"{_format_shape(self.data.shape)}: a gradient is shaped like its tensor"
            )
        if not _is_float(arr.dtype):
            raise TypeError(f"assigned grad must be floating point; got dtype {arr.dtype}")
        self._grad = value if isinstance(value, Tensor) and not value.requires_grad else Tensor(arr)

    # ---- basic properties -----------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element; got shape {_format_shape(self.shape)}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied, as in torch)."""
        return self.data

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> "Tensor":
        """Same values, cut from the graph (shares memory, like torch)."""
        return Tensor(self.data)

    def clone(self) -> "Tensor":
        return Tensor.from_op(self.data.copy(), (self,), lambda g: (g,), "clone")

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not _is_float(self.data.dtype):
            raise TypeError(
                f"only floating-point tensors can require gradients; got dtype {self.data.dtype}. "
                f"Create it with dtype=float32 (or call .float() first)"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this intermediate tensor too (by default only leaves keep it)."""
        self._retain = True

    # ---- in-place operations (the trailing underscore, as in torch) -------------------------
    def _inplace(self, compute: Callable[["Tensor"], "Tensor"], name: str) -> "Tensor":
        """Overwrite ``self`` with ``compute(self)``, keeping the same array (and Python object).

        As in torch: a leaf that requires grad may be changed in place only inside
        ``no_grad()`` (an optimizer step); otherwise its gradient would describe values it no
        longer has. A computed tensor changed in place takes the new operation into its
        history, and the version counter makes ``backward`` refuse any earlier operation that
        saved the old values.
        """
        recording = _GRAD_ENABLED
        if recording and self.requires_grad and self._backward is None:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad (a parameter) is being changed in place outside "
                f"no_grad(); its gradient would describe values it no longer has. Wrap the update in "
                f"`with no_grad():` (as an optimizer step does), or use the out-of-place form"
            )
        if recording:
            old = Tensor.__new__(Tensor)
            old.__dict__.update(self.__dict__)
            old.data = self.data.copy()  # the values before the change, for the new op's backward rule
            old._grad = None
            out = compute(old)
        else:
            out = compute(Tensor(self.data))
        result = np.asarray(out.data)
        if result.shape != self.data.shape:
            raise RuntimeError(
                f"{name}: the result has shape {_format_shape(result.shape)}, which cannot be written into a "
                f"tensor of shape {_format_shape(self.data.shape)} in place (broadcasting may not grow it)"
            )
        if result.dtype != self.data.dtype and not np.can_cast(result.dtype, self.data.dtype, "same_kind"):
            raise RuntimeError(
                f"{name}: the result type {result.dtype} can't be cast to this tensor's dtype {self.data.dtype} "
                f"in place; convert first (x = x.float())"
            )
        self.data[...] = result
        self._version += 1
        if recording and out.requires_grad:
            self.requires_grad = True
            self._parents, self._backward, self._op = out._parents, out._backward, name
            self._saved_versions = out._saved_versions
        return self

    def add_(self, other, *, alpha=1):
        return self._inplace(lambda t: t + (other if alpha == 1 else other * alpha), "add_")

    def sub_(self, other, *, alpha=1):
        return self._inplace(lambda t: t - (other if alpha == 1 else other * alpha), "sub_")

    def mul_(self, other):
        return self._inplace(lambda t: t * other, "mul_")

    def div_(self, other):
        return self._inplace(lambda t: t / other, "div_")

    def clamp_(self, min=None, max=None):
        return self._inplace(lambda t: t.clamp(min, max), "clamp_")

    def masked_fill_(self, mask, value):
        return self._inplace(lambda t: t.masked_fill(mask, value), "masked_fill_")

    def fill_(self, value):
        value = value.item() if isinstance(value, Tensor) else value
        # the old values no longer matter: their gradient is 0 (torch keeps the tensor in the graph too)
        return self._inplace(lambda t: Tensor.from_op(np.full(t.shape, value, dtype=t.dtype), (t,),
                                                      lambda g: (np.zeros_like(g),), "fill_"), "fill_")

    def zero_(self):
        return self.fill_(0)

    def copy_(self, src):
        """Copy ``src``'s values (broadcast, cast to this dtype) into this tensor; gradient flows to ``src``."""
        src = self._lift(src)
        shape, dtype = self.shape, self.data.dtype

        def compute(t):
            try:
                values = np.broadcast_to(src.data, shape).astype(dtype)
            except ValueError:
                raise RuntimeError(f"copy_: source of shape {_format_shape(src.shape)} cannot broadcast to "
                                   f"{_format_shape(shape)}") from None
            return Tensor.from_op(values, (t, src), lambda g: (np.zeros_like(g), unbroadcast(g, src.shape)), "copy_")

        return self._inplace(compute, "copy_")

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype not in (np.float32, np.int64, np.bool_):
            extra += f", dtype={self.data.dtype}"
        if self._backward is not None:
            extra += f", grad_fn=<{self._op}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index; got dtype {self.data.dtype}")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        if self.data.ndim == 0 or self.data.size == 1 and spec:
            return format(self.item(), spec)
        return repr(self)

    def __array__(self, dtype=None, copy=None):  # lets np.asarray(t) and matplotlib read a Tensor
        return self.data if dtype is None else self.data.astype(dtype)

    __hash__ = object.__hash__  # tensors are dict keys by identity (as in torch), despite __eq__

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails: turn NumPy habits into a pointer to torch's name.
        hint = _NUMPY_HABITS.get(name)
        if hint is not None:
            raise AttributeError(f"'Tensor' object has no attribute {name!r} (that is NumPy's name): {hint}")
        raise AttributeError(f"'Tensor' object has no attribute {name!r}")

    # ---- the backward pass ----------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
        """Fill ``.grad`` of every leaf that requires grad with d self / d leaf.

        ``gradient`` is the gradient of some final scalar with respect to ``self``; it may be
        left out only when ``self`` holds a single number (then it is 1). The graph is kept
        after backward (``retain_graph`` is accepted and has no effect); ``create_graph`` (a
        graph of the backward pass, for second derivatives) and ``inputs`` are not implemented.
        """
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): higher-order gradients are not implemented here")
        if inputs is not None:
            raise NotImplementedError("backward(inputs=...) is not implemented; every leaf that requires grad gets .grad")
        grad = gradient
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran inside no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward() without a gradient needs a scalar (one-element) tensor; got shape "
                    f"{_format_shape(self.shape)}. Reduce it first (.sum() or .mean()), or pass "
                    f"gradient= an array of shape {_format_shape(self.shape)}"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward(gradient): gradient must have the shape of the tensor, {_format_shape(self.shape)}; "
                    f"got {_format_shape(grad.shape)}"
                )

        # 1. Topological order, iteratively (a recursive walk would overflow Python's stack
        #    on deep graphs such as an RNN unrolled over hundreds of steps).
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for parent in node._parents:
                if parent is not None and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))

        # 2. Walk it from the output back to the leaves, applying each backward rule once
        #    and summing the gradients that arrive at a tensor along different paths.
        grads = {id(self): grad}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None or node._retain:
                if g.dtype != node.data.dtype:
                    g = g.astype(node.data.dtype)
                if node._grad is None:
                    node._grad = Tensor(np.array(g, copy=True))  # own it: g may be a view shared with others
                else:
                    node._grad.data = node._grad.data + g  # accumulate (a fresh array: never a shared view)
                    node._grad._version += 1
                if node._backward is None:
                    continue
            _check_versions(node)
            parent_grads = node._backward(g)
            if not isinstance(parent_grads, (tuple, list)) or len(parent_grads) != len(node._parents):
                raise RuntimeError(
                    f"the backward rule of '{node._op}' must return a tuple with one gradient per input "
                    f"({len(node._parents)}); got {type(parent_grads).__name__}"
                    f"{f' of length {len(parent_grads)}' if isinstance(parent_grads, (tuple, list)) else ''}"
                )
            for parent, pg in zip(node._parents, parent_grads):
                if pg is None or parent is None or not parent.requires_grad:
                    continue
                if pg.shape != parent.data.shape:
                    raise RuntimeError(
                        f"the backward rule of '{node._op}' returned a gradient of shape "
                        f"{_format_shape(pg.shape)} for an input of shape {_format_shape(parent.shape)}; "
                        f"a backward rule must return one gradient per input, shaped like that input"
                    )
                if pg.dtype != parent.data.dtype:  # keep float32 graphs in float32 all the way back
                    pg = pg.astype(parent.data.dtype)
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg

    # ---- arithmetic (each forward next to its backward rule) ---------------------------------
    def _binary(self, other, forward, backward, name):
        other = self._lift(other)
        a, b = self.data, other.data
        try:
            out = forward(a, b)
        except ValueError as e:
            if "broadcast" in str(e):
                raise _broadcast_error(name, a, b) from None
            raise
        if out.dtype == np.float64 and a.dtype != np.float64 and b.dtype != np.float64:
            out = out.astype(np.float32)  # int op float32 (or int / int) is float32 in torch, float64 in NumPy
        return Tensor.from_op(out, (self, other), lambda g: backward(g, a, b, out), name)

    def __add__(self, other):
        # d(a+b)/da = 1, d(a+b)/db = 1
        return self._binary(
            other, np.add,
            lambda g, a, b, out: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)), "add",
        )

    __radd__ = __add__

    def __sub__(self, other):
        # d(a-b)/da = 1, d(a-b)/db = -1
        return self._binary(
            other, np.subtract,
            lambda g, a, b, out: (unbroadcast(g, a.shape), unbroadcast(-g, b.shape)), "sub",
        )

    def __rsub__(self, other):
        return self._lift(other).__sub__(self)

    def __mul__(self, other):
        # d(ab)/da = b, d(ab)/db = a
        return self._binary(
            other, np.multiply,
            lambda g, a, b, out: (unbroadcast(g * b, a.shape), unbroadcast(g * a, b.shape)), "mul",
        )

    __rmul__ = __mul__

    def __truediv__(self, other):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        return self._binary(
            other, np.true_divide,
            lambda g, a, b, out: (unbroadcast(g / b, a.shape), unbroadcast(-g * out / b, b.shape)), "div",
        )

    def __rtruediv__(self, other):
        return self._lift(other).__truediv__(self)

    def __neg__(self):
        return Tensor.from_op(-self.data, (self,), lambda g: (-g,), "neg")

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            # d(a^b)/da = b a^(b-1), taken as 0 where b = 0 (a^0 = 1 is flat even at a = 0, where
            # a^(b-1) is infinite); d(a^b)/db = a^b log(a), taken as 0 where a = 0 and b >= 0
            # (a^b stays 0 or 1 there). Both exceptions are torch's.
            def backward(g, a, b, out):
                with np.errstate(divide="ignore", invalid="ignore"):
                    ga = np.where(b == 0, 0, g * b * np.power(a, b - 1))
                    gb = np.where((a == 0) & (b >= 0), 0, g * out * np.log(a))
                return unbroadcast(ga.astype(g.dtype, copy=False), a.shape), unbroadcast(gb.astype(g.dtype, copy=False), b.shape)

            return self._binary(exponent, np.power, backward, "pow")
        if isinstance(exponent, np.generic):
            exponent = exponent.item()  # so float32 ** np.float64(2) stays float32
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"pow: exponent must be a number or a Tensor; got {type(exponent).__name__}")
        x = self.data
        out = np.power(x, exponent)

        def backward(g):
            # d(x^p)/dx = p x^(p-1); for p = 0 the function is constant, so 0 (not 0 * inf = NaN at x = 0)
            if exponent == 0:
                return (np.zeros_like(g),)
            with np.errstate(divide="ignore", invalid="ignore"):
                return (g * exponent * np.power(x, exponent - 1),)

        return Tensor.from_op(out, (self,), backward, "pow")

    def __rpow__(self, base):
        # d(c^x)/dx = c^x log(c)
        return self._lift(base).__pow__(self)

    def __matmul__(self, other):
        other = self._lift(other)
        a, b = self.data, other.data
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul needs tensors with at least 1 dimension; got shapes {a.shape} and {b.shape}")
        k_a = a.shape[-1]
        k_b = b.shape[-2] if b.ndim >= 2 else b.shape[0]
        if k_a != k_b:
            raise ValueError(
                f"matmul: shapes {_format_shape(a.shape)} and {_format_shape(b.shape)} do not line up: the last "
                f"axis of the first ({k_a}) must equal the {'second-to-last' if b.ndim >= 2 else 'only'} axis of "
                f"the second ({k_b}). Did you mean to transpose one of them (x.T or x.transpose(-2, -1))?"
            )
        try:
            if a.ndim > 2 and b.ndim == 2:  # (..., k) @ (k, m): one 2-D product (a stacked one can miss BLAS)
                out = (a.reshape(-1, k_a) @ b).reshape(*a.shape[:-1], b.shape[1])
            else:
                out = np.matmul(a, b)
        except ValueError:
            raise ValueError(
                f"matmul: the batch dimensions of {_format_shape(a.shape)} and {_format_shape(b.shape)} "
                f"(all but the last two) cannot be broadcast together"
            ) from None
        return Tensor.from_op(out, (self, other), lambda g: _matmul_backward(g, a, b), "matmul")

    def __rmatmul__(self, other):
        return self._lift(other).__matmul__(self)

    # ---- comparisons: results carry no gradient --------------------------------------------
    def _compare(self, other, fn):
        other_data = other.data if isinstance(other, Tensor) else other
        return Tensor(fn(self.data, other_data))

    def __lt__(self, other): return self._compare(other, np.less)
    def __le__(self, other): return self._compare(other, np.less_equal)
    def __gt__(self, other): return self._compare(other, np.greater)
    def __ge__(self, other): return self._compare(other, np.greater_equal)
    def __eq__(self, other): return self._compare(other, np.equal)  # noqa: E704
    def __ne__(self, other): return self._compare(other, np.not_equal)  # noqa: E704
    def __invert__(self): return Tensor(np.logical_not(self.data) if self.data.dtype == bool else ~self.data)
    def __and__(self, other): return self._compare(other, np.logical_and)
    def __or__(self, other): return self._compare(other, np.logical_or)

    def eq(self, other): return self == other
    def any(self, dim=None, keepdim: bool = False, *, axis=None, out=None):
        _no_out(out, "any")
        return Tensor(np.any(self.data, axis=_normalize_dims(_pick_dim(dim, axis), self.ndim, "any"), keepdims=keepdim))

    def all(self, dim=None, keepdim: bool = False, *, axis=None, out=None):
        _no_out(out, "all")
        return Tensor(np.all(self.data, axis=_normalize_dims(_pick_dim(dim, axis), self.ndim, "all"), keepdims=keepdim))

    # ---- elementwise functions ------------------------------------------------------------
    def exp(self):
        out = np.exp(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g * out,), "exp")  # d e^x = e^x

    def log(self):
        x = self.data
        return Tensor.from_op(np.log(x), (self,), lambda g: (g / x,), "log")  # d log x = 1/x

    def sqrt(self):
        out = np.sqrt(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g / (2 * out),), "sqrt")  # d sqrt x = 1/(2 sqrt x)

    def abs(self):
        x = self.data
        return Tensor.from_op(np.abs(x), (self,), lambda g: (g * np.sign(x),), "abs")  # 0 at 0, like torch

    def relu(self):
        x = self.data
        mask = x > 0
        return Tensor.from_op(x * mask, (self,), lambda g: (g * mask,), "relu")  # 1 where x > 0

    def sigmoid(self):
        # 1/(1+e^-x), computed with e^-|x| so that no exp overflows for large |x|
        x = self.data
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return Tensor.from_op(out, (self,), lambda g: (g * out * (1 - out),), "sigmoid")

    def tanh(self):
        out = np.tanh(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g * (1 - out * out),), "tanh")

    def clamp(self, min=None, max=None):
        """Clip to [min, max]; the gradient passes only where x was inside (ends included)."""
        if min is None and max is None:
            raise ValueError("clamp needs at least one of min= and max=")
        x = self.data
        out = np.clip(x, min, max)
        inside = np.ones(x.shape, dtype=bool)
        if min is not None:
            inside &= x >= min
        if max is not None:
            inside &= x <= max
        return Tensor.from_op(out, (self,), lambda g: (g * inside,), "clamp")

    clip = clamp

    def masked_fill(self, mask, value):
        """Replace entries where ``mask`` is True by ``value``; those entries get no gradient."""
        mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        if mask.dtype != bool:
            raise TypeError(
                f"masked_fill expects a boolean mask; got dtype {mask.dtype}. Build it with a comparison, e.g. x > 0"
            )
        try:
            keep = np.broadcast_to(~mask, self.shape)
        except ValueError:
            raise ValueError(
                f"masked_fill: mask of shape {_format_shape(mask.shape)} cannot broadcast to the tensor's shape "
                f"{_format_shape(self.shape)}"
            ) from None
        out = np.where(keep, self.data, np.asarray(value, dtype=self.data.dtype))
        return Tensor.from_op(out, (self,), lambda g: (g * keep,), "masked_fill")

    def to(self, dtype) -> "Tensor":
        """Cast; the gradient is cast back to the original dtype."""
        dtype = np.dtype(dtype)
        if dtype == self.data.dtype:
            return self
        src = self.data.dtype
        return Tensor.from_op(self.data.astype(dtype), (self,), lambda g: (g.astype(src),), "to")

    def float(self): return self.to(np.float32)
    def double(self): return self.to(np.float64)
    def long(self): return Tensor(self.data.astype(np.int64))
    def int(self): return Tensor(self.data.astype(np.int32))
    def bool(self): return Tensor(self.data.astype(bool))

    # ---- reductions ---------------------------------------------------------------------------
    def _reduce_backward_shape(self, g, dims, keepdim):
        """Give a reduced gradient back its reduced axes, so it broadcasts against the input."""
        if dims is None:
            return np.reshape(g, (1,) * self.data.ndim) if self.data.ndim else g
        return g if keepdim else np.expand_dims(g, dims)

    def sum(self, dim=None, keepdim: bool = False, *, axis=None, dtype=None, out=None):
        _no_out(out, "sum")
        if dtype is not None:  # np.sum(t, dtype=...) and torch's dtype= argument
            return self.to(dtype).sum(dim, keepdim, axis=axis)
        # every input element contributes once: its gradient is the output gradient, copied
        dims = _normalize_dims(_pick_dim(dim, axis), self.ndim, "sum")
        out = np.sum(self.data, axis=dims, keepdims=keepdim)
        shape = self.shape
        return Tensor.from_op(
            out, (self,),
            lambda g: (np.broadcast_to(self._reduce_backward_shape(g, dims, keepdim), shape),), "sum",
        )

    def mean(self, dim=None, keepdim: bool = False, *, axis=None, dtype=None, out=None):
        _no_out(out, "mean")
        if dtype is not None:  # np.mean(t, dtype=...) and torch's dtype= argument
            return self.to(dtype).mean(dim, keepdim, axis=axis)
        # like sum, divided by the number of elements averaged
        dims = _normalize_dims(_pick_dim(dim, axis), self.ndim, "mean")
        if self.data.size == 0:
            raise ValueError(f"mean of an empty tensor (shape {_format_shape(self.shape)}) is undefined")
        if not _is_float(self.data.dtype):
            raise TypeError(f"mean needs a floating-point tensor; got dtype {self.data.dtype}: call .float() first")
        out = np.mean(self.data, axis=dims, keepdims=keepdim)
        count = self.data.size // max(out.size, 1)
        shape = self.shape
        return Tensor.from_op(
            out, (self,),
            lambda g: (np.broadcast_to(self._reduce_backward_shape(g, dims, keepdim) / count, shape),), "mean",
        )

    def var(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None, ddof=None,
            dtype=None, out=None):
        """Variance with PyTorch's default Bessel correction (divide by N - 1).

        d var / d x_i = 2 (x_i - mean) / (N - correction). ``np.var(t)`` calls this with
        NumPy's ``ddof`` (0 by default), so it gives NumPy's answer.
        """
        _no_out(out, "var")
        if ddof is not None:
            correction = ddof if correction is None else correction
        if unbiased is not None and correction is not None:
            raise TypeError("pass unbiased= or correction=, not both")
        correction = (1 if unbiased is None or unbiased else 0) if correction is None else correction
        dims = _normalize_dims(_pick_dim(dim, axis), self.ndim, "var")
        x = self.data
        centered = x - x.mean(axis=dims, keepdims=True)
        n = x.size if dims is None else int(np.prod([x.shape[d] for d in dims]))
        denom = n - correction
        if denom <= 0:  # torch returns NaN here (with a warning); a silent NaN helps nobody
            raise ValueError(
                f"var over {n} element(s) with correction={correction} divides by N - correction = {denom}; "
                f"reduce over more elements or pass correction=0 (the biased variance)"
            )
        out = np.sum(centered * centered, axis=dims, keepdims=keepdim) / denom
        return Tensor.from_op(
            out, (self,),
            lambda g: (self._reduce_backward_shape(g, dims, keepdim) * (2.0 / denom) * centered,), "var",
        )

    def std(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None, ddof=None,
            dtype=None, out=None):
        _no_out(out, "std")
        if ddof is not None:  # np.std(t) passes NumPy's ddof
            correction = ddof if correction is None else correction
        return self.var(dim, unbiased, keepdim, correction=correction, axis=axis).sqrt()

    def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None):
        """The vector p-norm over ``dim`` (all entries by default): p = 2 ("fro"), 1 or inf.

        Backward of the 2-norm: x / ||x||, taken as 0 where the norm is 0 (torch's choice; the
        norm has no gradient at the origin, and 0/0 would be NaN).
        """
        if dtype is not None:
            return self.to(dtype).norm(p, dim, keepdim)
        if p == "fro":
            p = 2
        if p not in (1, 2, float("inf")):
            raise ValueError(f"norm: p must be 'fro', 2, 1 or inf here; got {p!r}")
        if not _is_float(self.data.dtype):
            raise TypeError(f"norm needs a floating-point tensor; got dtype {self.data.dtype}")
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p == float("inf"):
            return self.abs().amax(dim, keepdim)
        dims = _normalize_dims(dim, self.ndim, "norm")
        x = self.data
        full = np.sqrt(np.sum(x * x, axis=dims, keepdims=True))
        out = full if keepdim else (np.squeeze(full, dims) if dims is not None else full.reshape(()))

        def backward(g):
            gk = self._reduce_backward_shape(g, dims, keepdim) if not keepdim else g
            with np.errstate(invalid="ignore", divide="ignore"):
                return (np.where(full == 0, 0, gk * x / full).astype(x.dtype, copy=False),)

        return Tensor.from_op(out, (self,), backward, "norm")

    def _extreme(self, dim, keepdim, axis, name, arg_fn, amax: bool):
        if self.data.size == 0:
            raise ValueError(f"{name} of an empty tensor (shape {_format_shape(self.shape)}) is undefined")
        dim = _pick_dim(dim, axis)
        x = self.data
        if dim is None or amax:
            # full reduction (or amax/amin): ties share the gradient evenly, as in torch
            dims = _normalize_dims(dim, self.ndim, name)
            out = (np.max if arg_fn is np.argmax else np.min)(x, axis=dims, keepdims=keepdim)

            def backward(g):
                full = self._reduce_backward_shape(out, dims, keepdim)
                hit = (x == full).astype(x.dtype)
                share = hit / hit.sum(axis=dims, keepdims=True)
                return (share * self._reduce_backward_shape(g, dims, keepdim),)

            return Tensor.from_op(out, (self,), backward, name)
        # with a dim: values and the index of the first extreme; the gradient goes to that index
        (d,) = _normalize_dims(dim, self.ndim, name)
        idx = np.expand_dims(arg_fn(x, axis=d), d)
        values = np.take_along_axis(x, idx, axis=d)

        def backward(g):
            grad = np.zeros_like(x)
            np.put_along_axis(grad, idx, g if keepdim else np.expand_dims(g, d), axis=d)
            return (grad,)

        if not keepdim:
            values, idx_out = np.squeeze(values, d), np.squeeze(idx, d)
        else:
            idx_out = idx
        return _MinMax(Tensor.from_op(values, (self,), backward, name), Tensor(idx_out.astype(np.int64)))

    def max(self, dim=None, keepdim: bool = False, *, axis=None, dtype=None, out=None):
        _no_out(out, "max")
        if dtype is not None:  # np.max(t, dtype=...) and torch's dtype= argument
            return self.to(dtype).max(dim, keepdim, axis=axis)
        """``x.max()`` is a tensor; ``x.max(dim)`` is ``(values, indices)``, as in torch."""
        return self._extreme(dim, keepdim, axis, "max", np.argmax, amax=False)

    def min(self, dim=None, keepdim: bool = False, *, axis=None, dtype=None, out=None):
        _no_out(out, "min")
        if dtype is not None:  # np.min(t, dtype=...) and torch's dtype= argument
            return self.to(dtype).min(dim, keepdim, axis=axis)
        return self._extreme(dim, keepdim, axis, "min", np.argmin, amax=False)

    def amax(self, dim=None, keepdim: bool = False, *, axis=None, dtype=None, out=None):
        _no_out(out, "amax")
        if dtype is not None:  # np.amax(t, dtype=...) and torch's dtype= argument
            return self.to(dtype).amax(dim, keepdim, axis=axis)
        return self._extreme(dim, keepdim, axis, "amax", np.argmax, amax=True)

    def amin(self, dim=None, keepdim: bool = False, *, axis=None, dtype=None, out=None):
        _no_out(out, "amin")
        if dtype is not None:  # np.amin(t, dtype=...) and torch's dtype= argument
            return self.to(dtype).amin(dim, keepdim, axis=axis)
        return self._extreme(dim, keepdim, axis, "amin", np.argmin, amax=True)

    def argmax(self, dim=None, keepdim: bool = False, *, axis=None, out=None):
        _no_out(out, "argmax")
        dim = _pick_dim(dim, axis)
        out = np.argmax(self.data, axis=dim, keepdims=keepdim) if dim is not None else np.argmax(self.data)
        return Tensor(np.asarray(out, dtype=np.int64))

    def argmin(self, dim=None, keepdim: bool = False, *, axis=None, out=None):
        _no_out(out, "argmin")
        dim = _pick_dim(dim, axis)
        out = np.argmin(self.data, axis=dim, keepdims=keepdim) if dim is not None else np.argmin(self.data)
        return Tensor(np.asarray(out, dtype=np.int64))

    def softmax(self, dim):
        from labs.scratch.functional import softmax

        return softmax(self, dim)

    def log_softmax(self, dim):
        from labs.scratch.functional import log_softmax

        return log_softmax(self, dim)

    # ---- shape operations: the backward rule undoes the rearrangement ------------------------
    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        src = self.shape
        try:
            out = self.data.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot view {int(np.prod(src))} elements of shape {_format_shape(src)} as shape "
                f"{_format_shape(shape)}"
            ) from None
        return Tensor.from_op(out, (self,), lambda g: (g.reshape(src),), "reshape")

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        (s,) = _normalize_dims(start_dim, self.ndim, "flatten") or (0,)
        (e,) = _normalize_dims(end_dim, self.ndim, "flatten") or (0,)
        if s > e:
            raise ValueError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim}) for a "
                             f"tensor with {self.ndim} dimension(s)")
        if self.ndim == 0:
            return self.reshape(1)
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])

    def unsqueeze(self, dim: int):
        # the new axis can go anywhere in the result, which has ndim + 1 axes
        (dim,) = _normalize_dims(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dims = _normalize_dims(dim, self.ndim, "squeeze")
        if dims is None:  # a 0-d tensor: nothing to remove
            return self
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if not (i in dims and n == 1)))

    def expand(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        lead = len(shape) - self.ndim
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
        src = self.shape
        return Tensor.from_op(np.broadcast_to(self.data, shape), (self,), lambda g: (unbroadcast(g, src),), "expand")

    def transpose(self, dim0: int, dim1: int):
        out = np.swapaxes(self.data, dim0, dim1)
        return Tensor.from_op(out, (self,), lambda g: (np.swapaxes(g, dim0, dim1),), "transpose")

    def permute(self, *dims):
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        if sorted(d % max(self.ndim, 1) for d in dims) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} must be a reordering of 0..{self.ndim - 1}")
        inverse = np.argsort([d % self.ndim for d in dims])
        return Tensor.from_op(np.transpose(self.data, dims), (self,), lambda g: (np.transpose(g, inverse),), "permute")

    @property
    def T(self):
        return self.permute(tuple(range(self.ndim))[::-1]) if self.ndim > 1 else self

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def __getitem__(self, index):
        """Indexing and slicing; gradients go back to the positions that were read.

        Integer-array indices can read the same element twice (``x[[0, 0]]``), so their
        backward rule must *add* into those positions: ``np.add.at`` does that, whereas
        ``grad[index] += g`` would keep only one of the two contributions.
        """
        index = _clean_index(index)
        out = self.data[index]
        shape, dtype = self.shape, self.data.dtype
        fancy = _has_integer_array(index)
        # one integer array alone reads whole rows (negative ids count from the end, as in NumPy)
        rows_by_ids = isinstance(index, np.ndarray) and index.dtype.kind in "iu" and self.ndim >= 1

        def backward(g):
            if rows_by_ids:  # x[ids]: the common lookup, by the fast scatter-add
                return (scatter_add_rows(shape[0], index.reshape(-1) % shape[0], g.reshape((-1,) + shape[1:])),)
            grad = np.zeros(shape, dtype=dtype)
            if fancy:
                np.add.at(grad, index, g)
            else:  # slices, ints and boolean masks never select an element twice
                grad[index] = g
            return (grad,)

        return Tensor.from_op(out, (self,), backward, "index")

    def __setitem__(self, index, value):
        if self.requires_grad and _GRAD_ENABLED:
            raise RuntimeError(
                "in-place assignment into a tensor that requires grad would corrupt its gradient; "
                "build a new tensor (where, masked_fill, cat) or assign inside `with no_grad():`"
            )
        self.data[_clean_index(index)] = value.data if isinstance(value, Tensor) else value
        self._version += 1  # a graph that saved the old values must not use them


def _check_versions(node: "Tensor") -> None:
    """Refuse a backward rule whose saved inputs were changed in place after the forward pass."""
    for parent, saved in zip(node._parents, node._saved_versions):
        if parent is not None and parent._version != saved:
            raise RuntimeError(
                f"one of the tensors needed to differentiate '{node._op}' was modified by an in-place "
                f"operation after it was used (its version is {parent._version}, the graph saved version "
                f"{saved}); the gradient would be computed from the new values. Use the out-of-place form "
                f"(x = x + y instead of x += y, x.add(y) instead of x.add_(y)), or clone() before changing it"
            )


def _clean_index_item(item):
    if isinstance(item, Tensor):
        return item.data
    if isinstance(item, (list, range)):  # x[:, [0, 0]]: a list is an integer (or boolean) array index
        return np.asarray(item)
    return item


def _clean_index(index):
    """Tensors, lists and ranges inside an index become arrays, so the backward rule sees every
    integer-array index (x[:, [0, 0]] reads column 0 twice, and its gradient must count twice)."""
    if isinstance(index, tuple):
        return tuple(_clean_index_item(i) for i in index)
    return _clean_index_item(index)


def _has_integer_array(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, np.ndarray) and i.dtype.kind in "iu" for i in items)


def _matmul_backward(g, a, b):
    """d(a@b)/da = g @ b^T and d(a@b)/db = a^T @ g, with 1-D inputs and batch broadcasting."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a.ndim == 1 and b.ndim == 1:  # dot product: the output is a scalar
        g2 = np.reshape(g, (1, 1))
    elif a.ndim == 1:  # the vector was treated as a row, which the output drops
        g2 = np.expand_dims(g, -2)
    elif b.ndim == 1:  # the vector was treated as a column
        g2 = np.expand_dims(g, -1)
    else:
        g2 = g
    if b2.ndim == 2 and g2.ndim > 2:  # fold the batch into rows, as the forward pass does
        ga = (g2.reshape(-1, g2.shape[-1]) @ b2.T).reshape(*g2.shape[:-1], b2.shape[0])
    else:
        ga = g2 @ np.swapaxes(b2, -1, -2)
    if b2.ndim == 2 and a2.ndim > 2:
        # (B, T, k) @ (k, m): fold the batch into rows, one big matrix product
        gb = a2.reshape(-1, a2.shape[-1]).T @ g2.reshape(-1, g2.shape[-1])
    else:
        gb = np.swapaxes(a2, -1, -2) @ g2
    ga = unbroadcast(ga, a2.shape).reshape(a.shape)
    gb = unbroadcast(gb, b2.shape).reshape(b.shape)
    return ga, gb


# --------------------------------------------------------------------------------------
# Leaves and factory functions
# --------------------------------------------------------------------------------------
class Parameter(Tensor):
    """A tensor that a model learns: ``requires_grad=True`` by default."""

    def __init__(self, data, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data  # share the array, as torch.nn.Parameter shares storage
        elif not isinstance(data, np.ndarray):
            data = _to_array(data)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def tensor(data, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """Create a tensor, copying ``data`` (Python numbers give float32 or int64; ndarrays keep their dtype)."""
    return Tensor(_to_array(data, dtype), requires_grad=requires_grad)


def _size(shape) -> tuple:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_size(size), dtype=_DEFAULT_DTYPE if dtype is None else dtype), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_size(size), dtype=_DEFAULT_DTYPE if dtype is None else dtype), requires_grad=requires_grad)


def full(size, fill_value, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.full(tuple(size), fill_value, dtype=_DEFAULT_DTYPE if dtype is None else dtype), requires_grad=requires_grad)


def zeros_like(input, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(np.asarray(input), dtype=dtype), requires_grad=requires_grad)


def ones_like(input, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(np.asarray(input), dtype=dtype), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None) -> Tensor:
    return Tensor(np.eye(n, m, dtype=_DEFAULT_DTYPE if dtype is None else dtype))


def arange(start, end=None, step=1, *, dtype=None) -> Tensor:
    """Like torch.arange: int64 for integer arguments, float32 otherwise."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else _DEFAULT_DTYPE
    return Tensor(np.arange(start, end, step, dtype=dtype))


def linspace(start, end, steps: int, *, dtype=None) -> Tensor:
    return Tensor(np.linspace(start, end, steps, dtype=_DEFAULT_DTYPE if dtype is None else dtype))


def rand(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(_RNG.random(_size(size), dtype=_DEFAULT_DTYPE if dtype is None else dtype), requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(_RNG.standard_normal(_size(size), dtype=_DEFAULT_DTYPE if dtype is None else dtype), requires_grad=requires_grad)


def randint(low, high=None, size=(), *, dtype=np.int64) -> Tensor:
    if high is None:
        low, high = 0, low
    return Tensor(_RNG.integers(low, high, size=tuple(size), dtype=dtype))


# --------------------------------------------------------------------------------------
# Functions of several tensors
# --------------------------------------------------------------------------------------
def _as_tensors(items, op: str) -> list:
    items = list(items)
    if not items:
        raise ValueError(f"{op} expects a non-empty sequence of tensors; got an empty one")
    return [t if isinstance(t, Tensor) else Tensor(_to_array(t)) for t in items]


def cat(tensors: Sequence, dim: int = 0) -> Tensor:
    """Join along an existing axis; the gradient is cut back into the original pieces."""
    tensors = _as_tensors(tensors, "cat")
    arrays = [t.data for t in tensors]
    ndim = arrays[0].ndim
    (dim,) = _normalize_dims(dim, ndim, "cat")
    for i, a in enumerate(arrays):
        if a.ndim != ndim or a.shape[:dim] + a.shape[dim + 1:] != arrays[0].shape[:dim] + arrays[0].shape[dim + 1:]:
            raise ValueError(
                f"cat along dim {dim}: all shapes must match except on that axis; tensor 0 has shape "
                f"{_format_shape(arrays[0].shape)}, tensor {i} has shape {_format_shape(a.shape)}"
            )
    out = np.concatenate(arrays, axis=dim)
    cuts = np.cumsum([a.shape[dim] for a in arrays])[:-1]
    return Tensor.from_op(out, tuple(tensors), lambda g: tuple(np.split(g, cuts, axis=dim)), "cat")


def stack(tensors: Sequence, dim: int = 0) -> Tensor:
    """Join along a new axis; the gradient of piece i is slice i of the output gradient."""
    tensors = _as_tensors(tensors, "stack")
    arrays = [t.data for t in tensors]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape:
            raise ValueError(
                f"stack expects tensors of equal shape; tensor 0 has shape {_format_shape(arrays[0].shape)}, "
                f"tensor {i} has shape {_format_shape(a.shape)}"
            )
    (dim,) = _normalize_dims(dim, arrays[0].ndim + 1, "stack")
    out = np.stack(arrays, axis=dim)
    return Tensor.from_op(
        out, tuple(tensors),
        lambda g: tuple(np.take(g, i, axis=dim) for i in range(len(arrays))), "stack",
    )


def where(condition, input, other) -> Tensor:
    """``input`` where ``condition`` holds, else ``other``; each gets the gradient of its own picks."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
    if cond.dtype != bool:
        raise TypeError(
            f"where expects a boolean condition; got dtype {cond.dtype}. Build it with a comparison, e.g. x > 0"
        )
    x = input if isinstance(input, Tensor) else None
    y = other if isinstance(other, Tensor) else None
    if x is None and y is None:
        dtype = _DEFAULT_DTYPE
        x, y = Tensor(np.asarray(input, dtype)), Tensor(np.asarray(other, dtype))
    elif x is None:
        x = y._lift(input)
    elif y is None:
        y = x._lift(other)
    try:
        out = np.where(cond, x.data, y.data)
    except ValueError:
        raise ValueError(
            f"where: condition {_format_shape(cond.shape)}, input {_format_shape(x.shape)} and other "
            f"{_format_shape(y.shape)} cannot be broadcast together"
        ) from None
    xs, ys = x.shape, y.shape
    return Tensor.from_op(
        out, (x, y),
        lambda g: (unbroadcast(np.where(cond, g, 0), xs), unbroadcast(np.where(cond, 0, g), ys)), "where",
    )
