"""PyTorch state dicts through safetensors files, both ways.

xpnet's parameter and buffer names are PyTorch's (a Sequential's layers are ``"0"``,
``"1"``, ... and their tensors ``"3.weight"``, ``"3.bias"``; a layer's attributes are
named as in ``torch.nn``), and its tensors have PyTorch's layouts (Conv2d (O, C/g, kh, kw),
Linear (out, in)). So a model built the same way on both sides (the same layers in the
same order, counting the parameter-free ones) exchanges its state dict as it is:

- ``save_state_dict(model, "w.safetensors")`` then, in PyTorch,
  ``twin.load_state_dict(safetensors.torch.load_file("w.safetensors"))``;
- in PyTorch, ``safetensors.torch.save_file(twin.state_dict(), "w.safetensors")`` then
  ``load_state_dict(model, "w.safetensors")``.

safetensors is the format (a JSON header and raw little-endian tensors, no code runs on
loading); xpnet writes and reads it with its own :mod:`xpnet.train.safetensors`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy

from xpnet import backend
from xpnet.nn.module import Module
from xpnet.train import safetensors as st

__all__ = ["StateDictError", "load_state_dict", "save_state_dict"]


class StateDictError(ValueError):
    """A state dict that does not fit the model: the message lists the keys."""


def save_state_dict(model: Module, path: str | os.PathLike,
                    metadata: dict[str, str] | None = None) -> Path:
    """Write ``model.state_dict()`` (parameters and buffers, PyTorch's names) to a
    safetensors file, atomically (a temporary file renamed over ``path``).

    Args:
        model: an xpnet Module.
        path: the ``.safetensors`` file.
        metadata: optional str -> str pairs stored in the header.

    Returns:
        The path written.

    Example:
        >>> save_state_dict(lenet5(seed=0), "lenet.safetensors")  # doctest: +SKIP
    """
    from xpnet.onnx.exporter import _write  # noqa: PLC0415  (the atomic write)

    tensors = {name: numpy.ascontiguousarray(backend.to_numpy(a))
               for name, a in model.state_dict().items()}
    path = Path(path)
    _write(st.serialize(tensors, {"format": "pt", **(metadata or {})}), path)
    return path


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in a.shape)


def load_state_dict(model: Module, path: str | os.PathLike, strict: bool = True) -> Module:
    """Load a safetensors state dict (PyTorch's names, e.g. written by
    ``safetensors.torch.save_file(net.state_dict(), path)``) into ``model``.

    Every name and shape is checked before anything is copied: a mismatch is one
    :class:`StateDictError` listing the missing keys, the unexpected ones and the shapes
    that differ. Tensors are cast to the model's dtype and device.

    Args:
        model: the xpnet Module built like the network that saved the file.
        path: the ``.safetensors`` file.
        strict: refuse missing and unexpected keys (shapes are always checked).

    Returns:
        ``model``.

    Raises:
        StateDictError: names or shapes that do not fit.
        CheckpointError: a damaged file.
        FileNotFoundError: no such file.
    """
    state = st.load_file(path)
    own = model.state_dict()
    declared = set(model._declared_buffers())  # buffers not fitted yet take any shape
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own) - declared)
    shapes = [f"{k} {_shape(state[k])} in the file, {_shape(own[k])} in the model"
              for k in sorted(set(state) & set(own)) if _shape(state[k]) != _shape(own[k])]
    problems = ([f"missing keys {missing}"] if strict and missing else []) + \
               ([f"unexpected keys {unexpected}"] if strict and unexpected else []) + \
               ([f"shapes differ: {'; '.join(shapes)}"] if shapes else [])
    if problems:
        raise StateDictError(f"load_state_dict {os.fspath(path)}: " + "; ".join(problems))
    model.load_state_dict({k: v for k, v in state.items() if k in own or k in declared},
                          strict=False)
    return model
