"""Function: one differentiable op, with ``forward`` and ``backward`` on raw arrays.

A subclass writes the maths twice, side by side::

    class Exp(Function):
        def forward(self, x):
            xp = get_array_module(x)
            self.y = xp.exp(x)          # (same shape as x) saved for backward
            return self.y

        def backward(self, gy):
            return gy * self.y          # d exp(x)/dx = exp(x)

Calling an instance on Tensors (``Exp()(x)``) runs ``forward`` on their arrays, wraps the
results in new Tensors and, when a gradient is wanted, records the Function as their
creator so that :meth:`xpnet.Tensor.backward` can sweep the graph back. Each call uses a
fresh instance: the instance *is* the graph node and holds what ``backward`` needs.

``forward`` returns an array or a tuple of arrays. ``backward`` receives one gradient per
output (``None`` for an output nobody used) and returns one gradient per input, or None
for an input that needs none (``self.needs_input_grad[i]`` says which ones do, and is set
before ``forward`` runs, so forward can skip saving what backward will not need).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any

import numpy

from xpnet import backend


class _GradMode(threading.local):
    """Whether graphs are recorded; thread-local so loader threads cannot flip it."""

    enabled = True


_grad_mode = _GradMode()

_TENSOR: list[Any] = [None]  # xpnet.tensor.Tensor, bound on the first call (it imports this)


def _bind_tensor() -> Any:
    """xpnet.tensor.Tensor, imported once: an import statement in ``__call__`` costs
    0.7 us at every op."""
    from xpnet.tensor import Tensor  # noqa: PLC0415  (tensor imports function)

    _TENSOR[0] = Tensor
    return Tensor


class _GradModeScope(contextlib.ContextDecorator):
    """A block (or, as a decorator, each call of a function) run with graph recording
    set to ``enabled``, put back as it was on exit. A class rather than a
    ``contextlib.contextmanager`` generator, which costs more even empty (a ``with``
    block 0.64 against 0.98 us; the timeit commands in docs/benchmarks.md, fourth
    session); it counts in a small network's inference."""

    __slots__ = ("enabled", "saved")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _recreate_cm(self) -> _GradModeScope:  # a decorated call gets its own scope
        return _GradModeScope(self.enabled)

    def __enter__(self) -> None:
        self.saved = _grad_mode.enabled
        _grad_mode.enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        _grad_mode.enabled = self.saved


def no_grad() -> _GradModeScope:
    """Context manager (or decorator) in which no graph is recorded (inference,
    optimiser updates).

    Example:
        >>> with no_grad():
        ...     y = model(x)          # y.requires_grad is False, nothing is kept for backward
    """
    return _GradModeScope(False)


def enable_grad() -> _GradModeScope:
    """Context manager (or decorator) that turns graph recording back on inside
    :func:`no_grad`."""
    return _GradModeScope(True)


def is_grad_enabled() -> bool:
    """True when new ops record a graph."""
    return _grad_mode.enabled


class Function:
    """Base class of every differentiable op; see the module docstring.

    Attributes set by ``__call__`` when a graph is recorded:
        inputs: the input Tensors (dropped after backward unless the graph is retained).
        outputs: weak references to the output Tensors.
        needs_input_grad: one bool per input.
        generation: topological depth, used to order the backward sweep.
    """

    needs_input_grad: tuple[bool, ...] = ()
    generation = 0
    released = False

    def __call__(self, *inputs: Any) -> Any:
        tensor = _TENSOR[0] or _bind_tensor()
        tensors = [x if isinstance(x, tensor) else tensor(x) for x in inputs]
        record = False
        if _grad_mode.enabled:
            needs = tuple([t.requires_grad for t in tensors])
            record = True in needs
        self.needs_input_grad = needs if record else (False,) * len(tensors)
        ys = self.forward(*[t.data for t in tensors])
        if not isinstance(ys, tuple):  # one output, the common case, without the lists
            out = tensor(ys, requires_grad=record and ys.dtype.kind == "f")
            if record:
                self.inputs = tensors
                self.generation = out.generation = max(
                    [t.generation for t in tensors if t.requires_grad])
                out.generation += 1
                self.outputs = [weakref.ref(out)]
                out.creator = self
            return out
        # integer outputs (pooling switches, argmax) never carry a gradient
        outputs = [tensor(y, requires_grad=record and y.dtype.kind == "f") for y in ys]
        if record:
            self.inputs = tensors
            self.generation = max([t.generation for t in tensors if t.requires_grad])
            self.outputs = [weakref.ref(o) for o in outputs]
            for o in outputs:
                o.creator = self
                o.generation = self.generation + 1
        return tuple(outputs)

    def forward(self, *xs: Any) -> Any:
        """Compute the outputs from the input arrays; save what backward needs."""
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, *gys: Any) -> Any:
        """Return dE/dx for each input, given dE/dy for each output."""
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def release(self) -> None:
        """Drop inputs and saved arrays so their memory is freed after backward."""
        outputs = self.__dict__.get("outputs", [])
        self.__dict__.clear()
        self.outputs = outputs
        self.released = True

    @property
    def name(self) -> str:
        """The op's name, for error messages and graph dumps."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name} generation={self.generation}>"


def zeros_like_output(gy: Any, like: Any) -> Any:
    """Return ``gy`` or, when it is None (an unused output), zeros shaped like ``like``."""
    if gy is not None:
        return gy
    return backend.get_array_module(like).zeros_like(like)


def scalar_like(value: Any, like: Any) -> Any:
    """Turn a Python scalar into a 0-d array of ``like``'s dtype, on ``like``'s device."""
    xp = backend.get_array_module(like)
    dtype = like.dtype if like.dtype.kind == "f" else numpy.result_type(value)
    return xp.asarray(value, dtype=dtype)
