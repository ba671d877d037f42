"""``Module``: the base class of every layer, with PyTorch's bookkeeping.

A module is an object that owns parameters (``Parameter``), buffers (fixed arrays that are
part of its state but not learned) and sub-modules. Assigning one of those to an attribute
registers it, which is all ``parameters()``, ``state_dict()`` and ``train()`` need to walk
the tree. The keys of ``state_dict()`` are the attribute paths (``"0.weight"``,
``"out_proj.bias"``), exactly PyTorch's, so weights can be copied between the two:

    scratch_model.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in scratch_model.state_dict().items()})
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Iterator

import numpy as np

from labs.scratch.tensor import Parameter, Tensor

__all__ = ["Module", "Sequential", "ModuleList", "Identity"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _as_array(value, key: str) -> np.ndarray:
    """A NumPy array from a NumPy array, a labs.scratch Tensor or a torch tensor."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, without importing torch
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as error:  # pragma: no cover - exotic inputs
        raise TypeError(f"load_state_dict: the value for {key!r} must be an array or tensor; got {type(value).__name__}") from error


def _indent(text: str, spaces: int = 2) -> str:
    lines = text.split("\n")
    return lines[0] + "".join("\n" + " " * spaces + line for line in lines[1:])


class Module:
    """Base class for layers and models; subclasses define ``__init__`` and ``forward``.

    Mirrors ``torch.nn.Module``: ``parameters()``, ``named_parameters()``, ``children()``,
    ``modules()``, ``train()``/``eval()`` and the ``training`` flag, ``zero_grad()``,
    ``state_dict()``/``load_state_dict()``, ``to(dtype)``/``float()``/``double()``, and
    calling the module runs ``forward``. ``state_dict()`` returns NumPy arrays (copies).
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ---------------------------------------------------------------
    def _registries(self):
        try:
            return self.__dict__["_parameters"], self.__dict__["_buffers"], self.__dict__["_modules"]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() at the start of __init__, before assigning "
                f"parameters or sub-modules"
            ) from None

    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        modules = self.__dict__.get("_modules")
        buffers = self.__dict__.get("_buffers")
        if isinstance(value, (Parameter, Module)):
            params, buffers, modules = self._registries()
            for registry in (params, buffers, modules):
                registry.pop(name, None)
            self.__dict__.pop(name, None)
            (params if isinstance(value, Parameter) else modules)[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to parameter {type(self).__name__}.{name} "
                    f"(expected a Parameter or None): wrap it as nn.Parameter(...), or change .data in place"
                )
            params[name] = None  # e.g. ``self.bias = None`` keeps the slot, as in torch
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to sub-module {type(self).__name__}.{name} (expected a Module or None)")
            modules[name] = None
        elif buffers is not None and name in buffers:
            buffers[name] = None if value is None else (value if isinstance(value, Tensor) else Tensor(np.asarray(value)))
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # only called when normal lookup fails: look in the registries
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                del entries[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter expects a Parameter or None for {name!r}; got {type(param).__name__}")
        self._registries()[0][name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """A non-learned array that belongs to the module's state (and to ``state_dict`` if persistent)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(np.asarray(tensor))
        self._registries()[1][name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module expects a Module for {name!r}; got {type(module).__name__}")
        self._registries()[2][name] = module

    register_module = add_module

    # ---- running ----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(): define forward(self, ...) in the subclass")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- walking the tree ---------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs, each shared parameter once, in registration order."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def get_submodule(self, target: str) -> "Module":
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no sub-module {part!r} (looking for {target!r})")
            module = module._modules[part]
        return module

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every sub-module, then on this one (e.g. custom initialisation)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active); ``train(False)`` is ``eval()``. Returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode) expects a bool; got {type(mode).__name__} {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode (dropout off). Returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the last backward pass (PyTorch's default: set them to None)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad = np.zeros_like(param.data)

    # ---- dtype --------------------------------------------------------------------------
    def to(self, dtype) -> "Module":
        """Cast every floating-point parameter and buffer to ``dtype`` in place (e.g. ``np.float64``)."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"Module.to expects a floating-point dtype such as float32 or float64; got {dtype}")
        for module in self.modules():
            for registry in (module._parameters, module._buffers):
                for value in registry.values():
                    if value is not None and np.issubdtype(value.data.dtype, np.floating):
                        value.data = value.data.astype(dtype)
                        if value.grad is not None:
                            value.grad = value.grad.data.astype(dtype)
        return self

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    # ---- state --------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> "OrderedDict[str, np.ndarray]":
        """Every parameter and persistent buffer by its dotted name, PyTorch's keys and order.

        Values are NumPy copies (``keep_vars=True`` returns the Parameter objects instead).
        """
        if destination is None:
            destination = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.data.copy()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent:
                destination[prefix + name] = buf if keep_vars else buf.data.copy()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def _state_slots(self):
        """name -> the Tensor whose .data a state_dict entry fills (duplicates included)."""
        return self.state_dict(keep_vars=True)

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters and buffers, matching PyTorch's keys.

        Values may be NumPy arrays, labs.scratch Tensors or torch tensors. Shapes must match;
        with ``strict=True`` (the default) the keys must match exactly as well. Nothing is
        copied unless everything checks out. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict expects a mapping from names to arrays; got {type(state_dict).__name__}")
        slots = self._state_slots()
        missing = [key for key in slots if key not in state_dict]
        unexpected = [key for key in state_dict if key not in slots]
        name = type(self).__name__
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise ValueError(
                f"load_state_dict for {name}: {'; '.join(parts)}. Expected exactly the keys of "
                f"model.state_dict(): {list(slots)}; pass strict=False to load the keys that match"
            )
        arrays = {}
        for key, target in slots.items():
            if key not in state_dict:
                continue
            value = _as_array(state_dict[key], key)
            if value.shape != target.data.shape:
                raise ValueError(
                    f"load_state_dict for {name}: {key!r} has shape {tuple(value.shape)} but the model "
                    f"expects {tuple(target.data.shape)}: was the model built with the same sizes?"
                )
            arrays[key] = value
        for key, value in arrays.items():
            slots[key].data[...] = value  # in place: optimizers keep pointing at the same arrays
        return IncompatibleKeys(missing, unexpected)

    # ---- printing -----------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of ``repr``; layers override it."""
        return ""

    def __repr__(self) -> str:
        lines = [extra for extra in [self.extra_repr()] if extra]
        lines = lines[0].split("\n") if lines else []
        for key, module in self._modules.items():
            lines.append(f"({key}): " + _indent(repr(module), 2))
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        body = "\n  ".join(lines)
        return f"{type(self).__name__}(\n  {body}\n)"


class Sequential(Module):
    """Run sub-modules one after the other: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``.

    Keys are ``"0"``, ``"1"``, ... (or the names of an ``OrderedDict``), as in PyTorch.
    """

    def __init__(self, *args) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self._check(module, key)
                self.add_module(key, module)
        else:
            for index, module in enumerate(args):
                self._check(module, index)
                self.add_module(str(index), module)

    @staticmethod
    def _check(module, where) -> None:
        if not isinstance(module, Module):
            raise TypeError(
                f"Sequential expects Modules; entry {where!r} is a {type(module).__name__}: "
                f"wrap functions in a Module (e.g. nn.ReLU() rather than F.relu)"
            )

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        keys = list(self._modules)
        if not -len(keys) <= index < len(keys):
            raise IndexError(f"Sequential index {index} is out of range for {len(keys)} modules")
        return self._modules[keys[index]]

    def append(self, module: Module) -> "Sequential":
        self._check(module, len(self))
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules whose parameters are registered (keys ``"0"``, ``"1"``, ...)."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        for module in modules or []:
            self.append(module)

    def append(self, module: Module) -> "ModuleList":
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList expects Modules; got {type(module).__name__}")
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        for module in modules:
            self.append(module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        keys = list(self._modules)
        if not -len(keys) <= index < len(keys):
            raise IndexError(f"ModuleList index {index} is out of range for {len(keys)} modules")
        return self._modules[keys[index]]

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(): iterate over it in the parent module's forward")


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):
        return input
