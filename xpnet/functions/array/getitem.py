"""Indexing (basic and advanced), with a scatter-add backward."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function


def _may_repeat(index: tuple) -> bool:
    """True when some entry is an integer array: only those can pick a position twice."""
    return any(backend.is_array(i) and i.dtype.kind != "b" for i in index)


class GetItem(Function):
    """y = x[index].

    dE/dx = zeros of x's shape with dE/dy added at the indexed positions. Basic indices
    (ints, slices, None, Ellipsis) and boolean masks pick each position at most once, so a
    plain assignment suffices; integer arrays may repeat a position, so their gradients are
    scatter-added
    (``xp.add.at``): x[[0, 0]] gives x[0] twice the gradient.
    """

    def __init__(self, index: tuple) -> None:
        self.index = index

    def forward(self, x: Any) -> Any:
        self.x_shape, self.x_dtype = x.shape, x.dtype  # to build the gradient
        # x[i] of a 1-D array is a NumPy scalar; keep an array
        return backend.get_array_module(x).asarray(x[self.index])

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=self.x_dtype)
        if _may_repeat(self.index):
            xp.add.at(gx, self.index, gy)  # repeated positions accumulate
        else:
            gx[self.index] = gy
        return gx


def _normalize_index(index: Any, xp: Any) -> tuple:
    """A tuple index whose array-like entries (Tensors, lists) are arrays on x's device."""
    from xpnet.tensor import Tensor  # noqa: PLC0415  (tensor imports functions lazily)

    items = index if isinstance(index, tuple) else (index,)
    out = []
    for i in items:
        if isinstance(i, Tensor):
            i = i.data
        if isinstance(i, list) or (backend.is_array(i) and backend.get_array_module(i) is not xp):
            i = xp.asarray(i)
        if backend.is_array(i) and i.dtype.kind not in "iub":
            raise TypeError(f"getitem: index arrays must hold integers or booleans, got {i.dtype}")
        out.append(i)
    return tuple(out)


def getitem(x: Any, index: Any) -> Any:
    """``x[index]`` with NumPy's indexing rules, basic and advanced.

    y = x[index]; dE/dx[j] = sum of dE/dy[k] over every k that read x[j] (zero where
    nothing did), computed by scatter-add so that repeated integer indices accumulate.

    Args:
        x: Tensor or array.
        index: an int, slice, None, Ellipsis, integer or boolean array (or Tensor, or
            list), or a tuple of those, as for a NumPy array.

    Returns:
        Tensor ``x[index]`` (a view of x's data for basic indexing, a copy otherwise).

    Shape:
        x: (N, C); index ``(arange(N), t)`` with t: (N,) gives (N,), the classic
        pick of each row's target score.

    Raises:
        IndexError: the index does not fit ``x``'s shape (the message names the op).
        TypeError: an index array holds floats.

    Example:
        >>> getitem(Tensor([1.0, 2.0, 3.0]), [0, 0, 2]).data
        array([1., 1., 3.], dtype=float32)
    """
    data = getattr(x, "data", x)
    index = _normalize_index(index, backend.get_array_module(data))
    try:
        # forward runs before the node is recorded, so a bad index leaves no graph behind;
        # checking here instead would index twice
        return GetItem(index)(x)
    except IndexError as err:
        raise IndexError(f"getitem: bad index for shape {tuple(data.shape)}: {err}") from None
