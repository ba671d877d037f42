"""Optimizers with PyTorch's exact update rules: SGD (momentum, Nesterov), Adagrad, Adam, AdamW.

An optimizer holds ``param_groups`` (lists of parameters, each with its own ``lr`` and
hyper-parameters) and a ``state`` per parameter (momentum buffers, Adagrad's sums, Adam's moments). After
``loss.backward()`` has filled every ``p.grad``, ``step()`` updates ``p.data`` in place.

The order of operations follows ``torch.optim`` line for line (for example, Adam's bias
corrections are applied to the step size and to the square root of the second moment,
not to the moments themselves), so that several steps match PyTorch to float rounding;
``tests/test_scratch_optim.py`` checks this parameter for parameter.
"""

from __future__ import annotations

import math

import numpy as np

from labs.scratch.tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adagrad", "Adam", "AdamW", "lr_scheduler"]


class Optimizer:
    """Base class: groups the parameters and clears their gradients.

    ``params`` is an iterable of tensors, or of dicts ``{"params": [...], "lr": ...}`` to give
    groups different hyper-parameters (e.g. no weight decay on biases), as in torch.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}
        self.param_groups: list[dict] = []
        params = list(params) if not isinstance(params, Tensor) else None
        if params is None:
            raise TypeError(
                "params should be an iterable of Tensors (e.g. model.parameters()); got a single Tensor: wrap it in a list"
            )
        if not params:
            raise ValueError("optimizer got an empty parameter list: did the model define any Parameters?")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (the defaults fill the rest).

        As in torch: a parameter may sit in one group only (else ``step`` would update it
        twice); only leaf tensors can be optimized (a computed tensor is rebuilt on every
        forward pass, so updating it changes nothing); a parameter with
        ``requires_grad=False`` (a frozen layer) is accepted and skipped, since it never
        gets a gradient.
        """
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"a parameter group is a dict with a 'params' entry; got {type(group).__name__}")
        group = dict(group)
        ps = group["params"]
        if isinstance(ps, set):
            raise TypeError("optimizer parameters must be an ordered collection (a list), not a set: "
                            "the order decides the state_dict's numbering")
        group["params"] = [ps] if isinstance(ps, Tensor) else list(ps)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors; got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(
                    "can't optimize a non-leaf Tensor (one computed from others, e.g. w * 2): it is rebuilt on "
                    "every forward pass, so updating it would change nothing. Optimize the Parameter it comes from"
                )
            if id(p) in seen:
                raise ValueError(
                    "some parameters appear in more than one parameter group (or twice in one): step() would "
                    "update them twice. Put each parameter in exactly one group"
                )
            seen.add(id(p))
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def _all_params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, torch's layout.

        Parameters are numbered in group order, so the dict holds only arrays and numbers
        and can be saved with :func:`labs.scratch.save` (no pickle).
        """
        index = {id(p): i for i, p in enumerate(self._all_params())}
        state = {index[id(p)]: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        groups, start = [], 0
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` returned (for the same parameters, in the same groups)."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("load_state_dict expects the dict that Optimizer.state_dict() returns, with keys "
                             f"'state' and 'param_groups'; got {type(state_dict).__name__}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state has {len(saved_groups)} parameter groups; this optimizer has "
                             f"{len(self.param_groups)}")
        for i, (mine, theirs) in enumerate(zip(self.param_groups, saved_groups)):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(f"parameter group {i} has {len(mine['params'])} parameters here but "
                                 f"{len(theirs['params'])} in the loaded state")
        params = {i: p for theirs, mine in zip(saved_groups, self.param_groups)
                  for i, p in zip(theirs["params"], mine["params"])}
        state = {}
        for key, values in state_dict["state"].items():
            p = params.get(int(key))
            if p is None:
                raise ValueError(f"loaded state refers to parameter {key}, which no group lists")
            entry = {}
            for name, value in values.items():
                if hasattr(value, "detach") and not isinstance(value, np.ndarray):
                    value = value.detach().numpy()  # a torch (or engine) tensor from another optimizer
                if name == "step":
                    entry[name] = int(np.asarray(value))  # torch stores it as a float tensor
                    continue
                arr = np.array(value, dtype=p.data.dtype)  # a copy, in the parameter's dtype
                if arr.shape != p.data.shape:
                    raise ValueError(f"loaded state '{name}' of parameter {key} has shape {arr.shape}; the "
                                     f"parameter has shape {p.data.shape}")
                entry[name] = arr
            state[p] = entry
        self.state = state
        for mine, theirs in zip(self.param_groups, saved_groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = tuple(v) if k == "betas" else v

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the previous step (``backward`` adds into ``.grad``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def step(self) -> None:  # pragma: no cover - subclasses implement it
        raise NotImplementedError

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _check(name: str, value: float, low: float = 0.0, high: float | None = None) -> None:
    if not (value >= low and (high is None or value < high)):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"invalid {name}: expected {bound}; got {value}")


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, dampening, Nesterov and L2 weight decay.

    For each parameter, with g its gradient:

        g = g + weight_decay * p
        b = g                                  (first step)
        b = momentum * b + (1 - dampening) * g (later steps)
        g = g + momentum * b  if nesterov  else  b
        p = p - lr * g
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        _check("lr", lr)
        _check("momentum", momentum)
        _check("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def step(self) -> None:
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad.data
                if weight_decay != 0:
                    d_p = d_p + weight_decay * p.data
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = np.array(d_p, copy=True)
                    else:
                        buf *= momentum
                        buf += (1 - dampening) * d_p
                    d_p = d_p + momentum * buf if nesterov else buf
                p.data -= lr * d_p
                p._version += 1  # changed in place, as torch counts it


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011): each coordinate's step shrinks with the squares of its past gradients.

    With g the gradient and t the step number (from 1), per parameter:

        g = g + weight_decay * p
        lr_t = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g * g                        (starts at initial_accumulator_value)
        p = p - lr_t * g / (sqrt(sum) + eps)

    A coordinate that has seen large gradients moves less, one that has seen small ones more,
    and every step size only decreases: the sum never forgets (RMSprop and Adam replace it by a
    running mean). ``maximize=True`` climbs instead (g = -g first), as in torch.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False):
        _check("lr", lr)
        _check("lr_decay", lr_decay)
        _check("weight_decay", weight_decay)
        _check("initial_accumulator_value", initial_accumulator_value)
        _check("eps", eps)
        if not isinstance(maximize, bool):
            raise TypeError(f"maximize must be a bool; got {type(maximize).__name__} {maximize!r}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))
        # as torch: the sums exist from the start, so state_dict() right away already holds them
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group) -> dict:
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p.data, group["initial_accumulator_value"])
        return state

    def step(self) -> None:
        for group in self.param_groups:
            lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = -p.grad.data if maximize else p.grad.data
                state = self._init_state(p, group)  # a group added later starts its sums here
                state["step"] += 1
                if weight_decay != 0:
                    grad = grad + weight_decay * p.data
                clr = lr / (1 + (state["step"] - 1) * lr_decay)
                total = state["sum"]
                total += np.square(grad)
                step = np.sqrt(total)  # one scratch array, updated in place: sqrt(sum) + eps, g / it, lr_t * it
                step += eps
                np.divide(grad, step, out=step)
                step *= clr
                p.data -= step
                p._version += 1


class Adam(Optimizer):
    """Adam (Kingma & Ba), with ``weight_decay`` as an L2 term added to the gradient (torch's Adam).

    With g the gradient and t the step number (from 1):

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g          (first moment: a running mean of g)
        v = beta2 * v + (1 - beta2) * g * g      (second moment: a running mean of g^2)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The two ``1 - beta^t`` factors undo the bias of m and v towards their zero start.
    """

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        _check("lr", lr)
        _check("eps", eps)
        _check("beta1", betas[0], 0.0, 1.0)
        _check("beta2", betas[1], 0.0, 1.0)
        _check("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def step(self) -> None:
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.data
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(p.data)
                    state["exp_avg_sq"] = np.zeros_like(p.data)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(p.data)
                state["step"] += 1
                t = state["step"]
                if weight_decay != 0:
                    if self.decoupled:
                        p.data *= 1 - lr * weight_decay  # AdamW: shrink the weights directly
                    else:
                        grad = grad + weight_decay * p.data  # Adam: L2 penalty in the gradient
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                # Every update below writes into one scratch array (out=) instead of a fresh
                # temporary per operation: the same operations in the same order, so the same
                # numbers, with far less memory traffic on large tables.
                buf = np.subtract(grad, exp_avg)
                buf *= 1 - beta1
                exp_avg += buf  # torch's lerp: m + (1-b1)(g - m)
                exp_avg_sq *= beta2
                np.multiply(1 - beta2, grad, out=buf)
                buf *= grad
                exp_avg_sq += buf  # v + (1-b2) g g
                bias_correction1 = 1 - beta1 ** t
                bias_correction2 = 1 - beta2 ** t
                step_size = lr / bias_correction1
                if amsgrad:
                    np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                    second = state["max_exp_avg_sq"]
                else:
                    second = exp_avg_sq
                denom = np.sqrt(second, out=buf)
                denom /= math.sqrt(bias_correction2)
                denom += eps  # sqrt(v) / sqrt(1 - b2^t) + eps
                update = np.divide(exp_avg, denom, out=buf)
                update *= step_size
                p.data -= update
                p._version += 1


class AdamW(Adam):
    """Adam with *decoupled* weight decay (Loshchilov & Hutter): before the Adam step,
    p = p * (1 - lr * weight_decay). Unlike L2 in Adam, the decay is not divided by
    sqrt(v), so every weight shrinks at the same rate. Default weight_decay=0.01 as in torch.
    """

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


from labs.scratch import lr_scheduler  # noqa: E402  (optim.lr_scheduler.LambdaLR, as in torch)
