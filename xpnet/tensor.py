"""Tensor: an array, its gradient, and the Function that created it.

Graphs are defined by running: every op on Tensors that need a gradient records its
:class:`~xpnet.function.Function` as the result's ``creator``. ``loss.backward()`` then
visits the Functions in decreasing ``generation`` (topological depth), so each node's
output gradient is complete before its own backward runs: back-propagation's
dE/dh_i = (sum_k dE/dh_k w_ki) f'(h_i), one layer after another, for any graph. The sweep
is a loop over a heap, not a recursion, so chains of any depth work.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

import numpy

from xpnet import backend
from xpnet.function import Function, scalar_like

_F = None  # xpnet.functions, bound on first use (it imports this module)


def _functions() -> Any:
    global _F
    if _F is None:
        from xpnet import functions  # noqa: PLC0415

        _F = functions
    return _F


def _as_data(value: Any, dtype: Any = None) -> Any:
    """Turn array-likes into arrays; Python floats become the default float dtype."""
    if isinstance(value, Tensor):
        value = value.data
    if backend.is_array(value):
        return value if dtype is None else value.astype(dtype, copy=False)
    if isinstance(value, numpy.generic):
        # NumPy turns 0-d results (full reductions, x[i]) into scalars: keep their dtype
        return numpy.asarray(value, dtype=dtype)
    array = numpy.asarray(value, dtype=dtype)
    if dtype is None and array.dtype == numpy.float64:
        array = array.astype(backend.DEFAULT_DTYPE)
    if array.dtype == object:
        raise TypeError(f"cannot make a Tensor from {type(value).__name__}")
    return array


class Tensor:
    """A NumPy or CuPy array that can carry a gradient.

    Args:
        data: an array (kept as it is, no copy), a nested list or a scalar (converted;
            Python floats become float32 like PyTorch's default).
        requires_grad: whether ``backward`` should compute ``grad`` for this Tensor.
        dtype: optional dtype to convert ``data`` to.

    Attributes:
        data: the array.
        grad: dE/d(data) after ``backward()``: an array of ``data``'s shape, or None.
            Gradients accumulate over several ``backward`` calls until set to None.
        creator: the Function that produced this Tensor, None for a leaf.

    Example:
        >>> x = Tensor([[1.0, 2.0]], requires_grad=True)
        >>> y = (x * x).sum()
        >>> y.backward()
        >>> x.grad
        array([[2., 4.]], dtype=float32)
    """

    __array_priority__ = 1000  # so that ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _as_data(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating Tensors can require a gradient, got {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad: Any = None
        self.creator: Function | None = None
        self.generation = 0
        self.name: str | None = None
        self._retain_grad = False
        self._grad_hooks: dict[int, Any] | None = None  # id -> hook(tensor), in order

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return self.data.ndim

    @property
    def dtype(self) -> numpy.dtype:
        """The array's dtype."""
        return self.data.dtype

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda:N"``."""
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        """True for Tensors not made by a recorded op (inputs and parameters)."""
        return self.creator is None

    def numel(self) -> int:
        """Number of elements."""
        return int(self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> float:
        """The value of a one-element Tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a one-element Tensor, got shape {self.shape}")
        return self.data.reshape(()).item()

    def numpy(self) -> numpy.ndarray:
        """The data as a NumPy array (copied from the GPU when needed)."""
        return backend.to_numpy(self.data)

    def detach(self) -> Tensor:
        """A new leaf Tensor sharing this data, cut from the graph."""
        return Tensor(self.data)

    def retain_grad(self) -> Tensor:
        """Keep ``grad`` on this non-leaf Tensor after backward (for inspection)."""
        self._retain_grad = True
        return self

    def to(self, device: str) -> Tensor:
        """This Tensor on ``device`` (itself when already there), as a new leaf otherwise."""
        moved = backend.to_device(self.data, device)
        if moved is self.data:
            return self
        return Tensor(moved, requires_grad=self.requires_grad)

    def astype(self, dtype: Any) -> Tensor:
        """A copy with another dtype, through a differentiable cast."""
        return _functions().astype(self, dtype)

    def __repr__(self) -> str:
        body = numpy.array2string(backend.to_numpy(self.data), separator=", ", threshold=20)
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.creator is not None:
            extra = f", creator={self.creator.name}"
        return f"Tensor({body}, dtype={self.dtype}{extra})"

    # ------------------------------------------------------------------- backward
    def backward(
        self, grad: Any = None, retain_graph: bool = False, check_finite: bool = False
    ) -> None:
        """Compute the gradient of this Tensor with respect to every leaf that needs one.

        Args:
            grad: dE/d(self); may be omitted for a one-element Tensor (taken as 1).
            retain_graph: keep the graph so that backward can run through it again.
            check_finite: raise ``FloatingPointError`` naming the op as soon as a
                gradient holds NaN or inf (slower: one check per op).

        Leaf gradients accumulate into ``.grad``; the graph's saved arrays are freed
        afterwards unless ``retain_graph``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a Tensor that does not require a gradient")
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward() without a gradient needs a one-element Tensor, got {self.shape}"
                )
            grad = xp.ones_like(self.data)
        else:
            grad = _as_data(grad, self.data.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(
                    f"backward(grad): grad has shape {grad.shape}, expected {self.shape}"
                )
        if self.creator is None:
            self._accumulate(grad)
            return
        _sweep(self, grad, retain_graph, check_finite)

    def _accumulate(self, g: Any) -> None:
        # out of place: g may be shared with another node's gradient
        self.grad = g if self.grad is None else self.grad + g
        if self._grad_hooks:
            for hook in tuple(self._grad_hooks.values()):
                hook(self)

    def register_post_accumulate_grad_hook(self, hook: Any) -> HookHandle:
        """Call ``hook(self)`` each time a backward sweep adds a gradient into ``grad``.

        A leaf used by k ops of a graph gets k calls per backward, the last one when
        ``grad`` holds the whole dE/d(leaf) of that sweep (PyTorch's hook of the same name
        fires once, after its engine summed the k parts). :mod:`xpnet.distributed` uses
        it to send a bucket of gradients while the rest of the backward still runs.

        Args:
            hook: a callable taking this Tensor; its return value is ignored.

        Returns:
            A :class:`HookHandle`; ``handle.remove()`` unregisters the hook.

        Example:
            >>> w = Tensor([1.0, 2.0], requires_grad=True)
            >>> h = w.register_post_accumulate_grad_hook(lambda t: print(t.grad))
            >>> (w * 3.0).sum().backward()
            [3. 3.]
            >>> h.remove()
        """
        if not callable(hook):
            raise TypeError(f"register_post_accumulate_grad_hook: expected a callable, "
                            f"got {type(hook).__name__}")
        if self._grad_hooks is None:
            self._grad_hooks = {}
        handle = HookHandle(self._grad_hooks)
        self._grad_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ operators
    def _operand(self, other: Any) -> Any:
        if isinstance(other, Tensor):
            return other
        if backend.is_array(other):
            return other
        return scalar_like(other, self.data)

    def __add__(self, other: Any) -> Tensor:
        return _functions().add(self, self._operand(other))

    def __radd__(self, other: Any) -> Tensor:
        return _functions().add(self._operand(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return _functions().sub(self, self._operand(other))

    def __rsub__(self, other: Any) -> Tensor:
        return _functions().sub(self._operand(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return _functions().mul(self, self._operand(other))

    def __rmul__(self, other: Any) -> Tensor:
        return _functions().mul(self._operand(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return _functions().div(self, self._operand(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return _functions().div(self._operand(other), self)

    def __neg__(self) -> Tensor:
        return _functions().neg(self)

    def __pow__(self, exponent: Any) -> Tensor:
        return _functions().pow(self, exponent)

    def __matmul__(self, other: Any) -> Tensor:
        return _functions().matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _functions().matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return _functions().getitem(self, index)

    # -------------------------------------------------------------- method forms
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes by default); see :func:`xpnet.functions.sum`."""
        return _functions().sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``; see :func:`xpnet.functions.mean`."""
        return _functions().mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis``; see :func:`xpnet.functions.max`."""
        return _functions().max(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        """Same data, new shape (one axis may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _functions().reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Permute axes (reversed when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _functions().transpose(self, axes or None)

    @property
    def T(self) -> Tensor:  # noqa: N802  (NumPy's name)
        """The transpose (all axes reversed)."""
        return _functions().transpose(self, None)

    def exp(self) -> Tensor:
        """Element-wise e^x."""
        return _functions().exp(self)

    def log(self) -> Tensor:
        """Element-wise natural logarithm."""
        return _functions().log(self)

    def flatten(self, start_axis: int = 1) -> Tensor:
        """Merge the axes from ``start_axis`` on into one (PyTorch's ``nn.Flatten``)."""
        return _functions().flatten(self, start_axis)


class HookHandle:
    """What :meth:`Tensor.register_post_accumulate_grad_hook` returns: ``remove()`` it."""

    _ids = itertools.count()

    def __init__(self, hooks: dict[int, Any]) -> None:
        self.id = next(HookHandle._ids)
        self._hooks = hooks

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        self._hooks.pop(self.id, None)


def _sweep(root: Tensor, grad: Any, retain_graph: bool, check_finite: bool) -> None:
    """Run every recorded backward reachable from ``root``, deepest generation first."""
    # id(non-leaf Tensor) -> (the Tensor, kept alive here; dE/d(it) summed so far)
    pending: dict[int, tuple[Tensor, Any]] = {id(root): (root, grad)}
    heap: list[tuple[int, int, Function]] = []
    queued: set[int] = set()
    order = itertools.count()

    def push(f: Function) -> None:
        if id(f) not in queued:
            if f.released:
                raise RuntimeError(
                    f"backward through {f.name} a second time: its saved arrays were freed "
                    "after the first backward (pass retain_graph=True to keep them)"
                )
            queued.add(id(f))
            heapq.heappush(heap, (-f.generation, next(order), f))

    push(root.creator)
    while heap:
        f = heapq.heappop(heap)[2]
        outputs = [ref() for ref in f.outputs]
        gys = []
        for out in outputs:
            gy = pending.pop(id(out), (None, None))[1] if out is not None else None
            if gy is not None and out._retain_grad:
                out.grad = gy
            gys.append(gy)
        gxs = f.backward(*gys)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        if len(gxs) != len(f.inputs):
            raise RuntimeError(
                f"{f.name}.backward returned {len(gxs)} gradients for {len(f.inputs)} inputs"
            )
        for x, gx, need in zip(f.inputs, gxs, f.needs_input_grad):
            if not need or gx is None:
                continue
            if gx.shape != x.data.shape:
                raise RuntimeError(
                    f"{f.name}.backward returned a gradient of shape {tuple(gx.shape)} "
                    f"for an input of shape {x.shape}"
                )
            if check_finite and not bool(backend.get_array_module(gx).isfinite(gx).all()):
                raise FloatingPointError(f"non-finite gradient leaving {f.name}.backward")
            if x.creator is None:
                x._accumulate(gx)
            else:
                key = id(x)
                pending[key] = (x, gx if key not in pending else pending[key][1] + gx)
                push(x.creator)
        if not retain_graph:
            f.release()
