"""Matrix product of 1-D, 2-D and batched N-D operands, broadcast like ``numpy.matmul``."""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.utils import sum_to


def _product(xp: Any, a: Any, b: Any) -> Any:
    """``a @ b``; a stack of matrices times one matrix is folded into a single GEMM."""
    if b.ndim == 2 and a.ndim > 2:
        rows = a.reshape(-1, a.shape[-1])  # (prod(batch) * M, K)
        return (rows @ b).reshape(a.shape[:-1] + (b.shape[-1],))  # (*batch, M, P)
    return xp.asarray(xp.matmul(a, b))  # 1-D @ 1-D: NumPy gives a scalar; keep an array


def _swap(x: Any) -> Any:
    return x.swapaxes(-1, -2)  # (..., K, P) -> (..., P, K), a view


class MatMul(Function):
    """y = a @ b, summed over the inner axis: y[..., m, p] = sum_k a[..., m, k] b[..., k, p].

    A 1-D ``a`` of shape (K,) is a row (1, K) and a 1-D ``b`` a column (K, 1); the added axis
    is dropped from y. Batch axes broadcast. Gradients, in the 2-D view of each operand:
    dE/da = dE/dy @ b^T, dE/db = a^T @ dE/dy, then summed over the batch axes the operand
    was broadcast along.
    """

    def forward(self, a: Any, b: Any) -> Any:
        need_a, need_b = self.needs_input_grad
        self.a = a if need_b else None  # (*, M, K) or (K,): factor of dE/db
        self.b = b if need_a else None  # (*, K, P) or (K,): factor of dE/da
        self.a_meta, self.b_meta = (a.shape, a.dtype), (b.shape, b.dtype)
        return _product(backend.get_array_module(a, b), a, b)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        xp = backend.get_array_module(gy)
        (a_shape, a_dtype), (b_shape, b_dtype) = self.a_meta, self.b_meta
        # 2-D views: a row (1, K) for a 1-D a, a column (K, 1) for a 1-D b
        a2_shape = (1,) + a_shape if len(a_shape) == 1 else a_shape
        b2_shape = b_shape + (1,) if len(b_shape) == 1 else b_shape
        # shape arithmetic on tuples, host side
        batch = numpy.broadcast_shapes(a2_shape[:-2], b2_shape[:-2])
        gy = gy.reshape(batch + (a2_shape[-2], b2_shape[-1]))  # (*batch, M, P)
        ga = gb = None
        if self.needs_input_grad[0]:
            b2 = self.b.reshape(b2_shape)  # (*, K, P)
            ga = sum_to(_product(xp, gy, _swap(b2)), a2_shape)  # (*, M, K)
            ga = ga.reshape(a_shape).astype(a_dtype, copy=False)
        if self.needs_input_grad[1]:
            a2 = self.a.reshape(a2_shape)  # (*, M, K)
            if len(b2_shape) == 2 and len(a2_shape) > 2:
                # b was shared by the whole batch: one GEMM over all rows, no batched sum
                k, p = a2_shape[-1], b2_shape[-1]
                gb = a2.reshape(-1, k).T @ gy.reshape(-1, p)  # (K, P)
            else:
                gb = sum_to(xp.matmul(_swap(a2), gy), b2_shape)  # (*, K, P)
            gb = gb.reshape(b_shape).astype(b_dtype, copy=False)
        return ga, gb


def _check(a: Any, b: Any) -> None:
    from xpnet.tensor import Tensor  # noqa: PLC0415  (tensor imports functions lazily)

    for name, x in (("a", a), ("b", b)):
        if not (isinstance(x, Tensor) or backend.is_array(x)):
            raise TypeError(f"matmul: {name} must be a Tensor or an array, got {type(x).__name__}")
        if x.ndim == 0:
            raise ValueError(f"matmul: {name} must have at least 1 axis, got a 0-d operand")
    sa, sb = tuple(a.shape), tuple(b.shape)
    ka, kb = sa[-1], (sb[0] if len(sb) == 1 else sb[-2])
    if ka != kb:
        raise ValueError(f"matmul: cannot multiply {sa} by {sb}: inner sizes {ka} and {kb} differ")
    batch_a, batch_b = sa[:-2], sb[:-2]
    for x, y in zip(reversed(batch_a), reversed(batch_b), strict=False):
        if x != y and x != 1 and y != 1:
            raise ValueError(
                f"matmul: cannot multiply {sa} by {sb}: batch shapes {batch_a} and {batch_b} "
                "do not broadcast"
            )


def matmul(a: Any, b: Any) -> Any:
    """Matrix product ``a @ b`` with NumPy's rules for 1-D, 2-D and batched operands.

    y[..., m, p] = sum_k a[..., m, k] b[..., k, p];
    dE/da = dE/dy @ b^T and dE/db = a^T @ dE/dy (summed over broadcast batch axes).
    A 1-D ``a`` acts as a row vector and a 1-D ``b`` as a column vector; that axis is
    removed from the result (1-D @ 1-D is the dot product, a 0-d Tensor).

    Args:
        a: Tensor or array of shape (*Ba, M, K) or (K,).
        b: Tensor or array of shape (*Bb, K, P) or (K,).

    Returns:
        Tensor of shape (*broadcast(Ba, Bb), M, P), without M or P for a 1-D operand.

    Shape:
        (M, K) @ (K, P) -> (M, P); (B, M, K) @ (K, P) -> (B, M, P);
        (B, 1, M, K) @ (C, K, P) -> (B, C, M, P); (K,) @ (K, P) -> (P,); (K,) @ (K,) -> ().

    Raises:
        ValueError: the inner sizes differ, the batch shapes do not broadcast, or an
            operand is 0-d. TypeError: an operand is not a Tensor or an array.

    Example:
        >>> matmul(Tensor([[1.0, 2.0]]), Tensor([[3.0], [4.0]])).data
        array([[11.]], dtype=float32)
    """
    _check(a, b)
    return MatMul()(a, b)
