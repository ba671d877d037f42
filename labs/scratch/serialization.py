"""``save`` and ``load``: weights and optimizer state in a ``.npz`` file, without pickle.

``torch.save`` pickles, and unpickling a file runs whatever code it names, so a downloaded
checkpoint can do anything. Here the arrays go into an ``np.savez`` archive and the rest
of the structure (dict keys, lists, numbers, strings) into one JSON string stored next to
them; :func:`load` reads with ``allow_pickle=False``, so loading a file only ever creates
arrays, numbers and strings::

    scratch.save(model.state_dict(), "model.npz")
    model.load_state_dict(scratch.load("model.npz"))
    scratch.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": 100}, "ckpt.npz")
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from labs.scratch.tensor import Tensor

__all__ = ["load", "save"]

_STRUCTURE = "__structure__"  # the archive entry that holds the JSON skeleton


def _encode(obj, arrays: dict, where: str):
    """JSON-able skeleton of ``obj``; arrays are replaced by a reference into ``arrays``."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError(f"save: {where} is an object array, which would need pickle; store numbers only")
        name = f"a{len(arrays)}"
        arrays[name] = obj
        return {"array": name}
    if isinstance(obj, np.generic):
        return _encode(obj.item(), arrays, where)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int; {where} has a key of type {type(key).__name__}")
            items.append([key, _encode(value, arrays, f"{where}[{key!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {kind: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(
        f"save: {where} is a {type(obj).__name__}; only arrays/Tensors, numbers, strings, None and dicts, "
        f"lists or tuples of them can be saved without pickle (save model.state_dict(), not the model)"
    )


def _decode(node, archive):
    (kind, payload), = node.items()
    if kind == "array":
        return archive[payload]
    if kind == "value":
        return payload
    if kind == "dict":
        return {key: _decode(value, archive) for key, value in payload}
    if kind == "list":
        return [_decode(v, archive) for v in payload]
    if kind == "tuple":
        return tuple(_decode(v, archive) for v in payload)
    raise ValueError(f"load: unknown entry kind {kind!r} in the file's structure (not written by labs.scratch.save?)")


def save(obj, f) -> None:
    """Write ``obj`` (a ``state_dict``, an optimizer's ``state_dict``, or dicts/lists of them)
    to ``f``, a path or a binary file, as an ``.npz`` archive (a path gets no extra suffix)."""
    arrays: dict[str, np.ndarray] = {}
    skeleton = _encode(obj, arrays, "obj")
    arrays[_STRUCTURE] = np.array(json.dumps(skeleton))
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as handle:  # open it ourselves: np.savez would append ".npz" to the name
            np.savez(handle, **arrays)
    else:
        np.savez(f, **arrays)


def load(f):
    """Read what :func:`save` wrote. Arrays come back as NumPy arrays (``load_state_dict``
    takes them); no pickle is ever involved (``allow_pickle=False``)."""
    if isinstance(f, (bytes, bytearray)):
        f = io.BytesIO(f)
    with np.load(f, allow_pickle=False) as archive:
        if _STRUCTURE not in archive.files:
            raise ValueError(
                f"load: this .npz has no {_STRUCTURE!r} entry, so labs.scratch.save did not write it; "
                f"read a plain archive with np.load(path, allow_pickle=False)"
            )
        skeleton = json.loads(str(archive[_STRUCTURE]))
        arrays = {name: archive[name] for name in archive.files if name != _STRUCTURE}
    return _decode(skeleton, arrays)
