"""Dense (fully-connected) connection y = x W^T + b, one fused op."""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import backend
from xpnet.cpu import dense
from xpnet.cpu.dense import matmul_pair, matmul_split
from xpnet.function import Function

__all__ = ["linear"]


class LinearFunction(Function):
    """y = x W^T + b over the last axis of x; leading axes are flattened into one.

    Gradients, with x and dE/dy flattened to (M, in) and (M, out):
    dE/dx = dE/dy W (M, in), dE/dW = (dE/dy)^T x (out, in), dE/db = sum_m dE/dy (out,).

    On the CPU each product is cut over xpnet's threads along its larger operand, with
    one BLAS thread each, like the convolutions; no slice's result is summed with
    another's: see :func:`xpnet.cpu.dense.matmul_split`. When both gradients are needed
    the threads share out the pair instead (dE/dx on half of them, dE/dW on the other
    half: :func:`xpnet.cpu.dense.matmul_pair`). For a small batch and many outputs the
    forward product runs as y^T = W x^T, by the register blocks for 8 to 64 examples (256
    when no gradient is needed; :func:`xpnet.cpu.dense.forward_blocks`, which also takes
    the backward pair of small layers: y is then the transposed view of y^T's memory;
    up to 256 in a training step with y written back in rows), else by BLAS
    (:func:`xpnet.cpu.dense.forward_as_w_xt`).
    """

    def forward(self, x: Any, weight: Any, bias: Any = None) -> Any:
        xp = backend.get_array_module(x)
        out_features, in_features = weight.shape
        lead = x.shape[:-1]
        x2 = x.reshape(-1, in_features)  # (M, in), M = prod(lead); a view when contiguous
        grad = any(self.needs_input_grad)
        y = dense.forward_blocks(x2, weight, bias, grad) if xp is numpy else None  # (M, out)
        if y is None:
            y = xp.empty((x2.shape[0], out_features), dtype=x2.dtype)  # (M, out)
            if not dense.forward_as_w_xt(x2, weight, bias, y):  # (W x^T)^T, BLAS prefers it
                matmul_split(x2, weight.T, y, xp)  # (M, out) GEMM, in slices over the threads
                if bias is not None:
                    y += bias  # in place on the fresh GEMM output: no second (M, out) buffer
        need_x, need_w = self.needs_input_grad[0], self.needs_input_grad[1]
        if need_w:
            self.x2 = x2  # (M, in) flattened input, for dE/dW
        if need_x:
            self.weight = weight  # (out, in), for dE/dx
        self.x_shape = x.shape
        return y.reshape(*lead, out_features)  # (..., out)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xp = backend.get_array_module(gy)
        gy2 = gy.reshape(-1, gy.shape[-1])  # (M, out)
        M, out_features = gy2.shape
        needs = self.needs_input_grad
        weight, x2 = getattr(self, "weight", None), getattr(self, "x2", None)
        both = None  # (dE/dx, dE/dW) by the register blocks, where they take them
        if xp is numpy and (needs[0] or needs[1]):
            both = dense.backward_blocks(gy2, weight, x2, needs[0], needs[1])
        if both is not None:
            gx, gw = both
        else:
            gx = xp.empty((M, weight.shape[1]), dtype=gy2.dtype) if needs[0] else None
            gw = (xp.empty((out_features, x2.shape[1]), dtype=gy2.dtype) if needs[1]
                  else None)  # (M, in) and (out, in)
            if needs[0] and needs[1]:  # one hand-off: the threads share out both products
                matmul_pair(gy2, weight, gx, gy2.T, x2, gw, xp)
            elif needs[0]:
                matmul_split(gy2, weight, gx, xp)
            elif needs[1]:
                matmul_split(gy2.T, x2, gw, xp)  # sliced, never summed over slices
        if gx is not None:
            gx = gx.reshape(self.x_shape)  # (..., in)
        if len(needs) == 2:
            return gx, gw
        gb = gy2.sum(axis=0) if needs[2] else None  # (out,)
        return gx, gw, gb


def _dtype(name: str, value: Any) -> Any:
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        raise TypeError(f"linear: {name} must be a Tensor or an array, got {type(value).__name__}")
    if dtype.kind != "f":
        raise TypeError(f"linear: {name} must be floating, got dtype {dtype}")
    return dtype


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """Dense layer y = x W^T + b: every output unit sees every input.

    In matrix form H = W X + b with the N examples as the columns of X (in, N); xpnet,
    like PyTorch, stacks them as rows, x (N, in), so the same maths reads transposed:
    y = (W x^T)^T + b = x W^T + b, shape (N, out). The whole batch is one matrix product
    (BLAS on the CPU, cuBLAS on the GPU), and the bias is added in place on its fresh
    output.

    Gradients (back-propagation's dE/dw_ij = x_j dE/dh_i, Rumelhart et al. 1986, for
    all examples at once):
    dE/dx = dE/dy W, dE/dW = (dE/dy)^T x, dE/db = sum_n dE/dy[n]; only those whose input
    needs a gradient are computed.

    Args:
        x: input, floating, shape (N, in) or (..., in).
        weight: W, shape (out, in), same dtype as x.
        bias: b, shape (out,), or None for no bias.

    Returns:
        Tensor of shape (..., out).

    Shape:
        x (*, in), W (out, in), b (out,) -> y (*, out).

    Raises:
        ValueError: when the shapes do not fit, naming them.
        TypeError: non-floating or mismatched dtypes.

    Example:
        >>> x = Tensor([[1.0, 2.0]])
        >>> W = Tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
        >>> linear(x, W, Tensor([0.0, 0.5, 1.0])).data
        array([[ 1. ,  3.5, -1. ]], dtype=float32)
    """
    dtypes = {_dtype("input", x), _dtype("weight", weight)}
    w_shape, x_shape = tuple(weight.shape), tuple(x.shape)
    if len(w_shape) != 2:
        raise ValueError(f"linear: weight must be 2-d (out, in), got shape {w_shape}")
    if len(x_shape) < 1:
        raise ValueError("linear: input must have at least 1 axis (..., in), got a scalar")
    if x_shape[-1] != w_shape[1]:
        raise ValueError(
            f"linear: input has {x_shape[-1]} features but weight expects {w_shape[1]} "
            f"(input shape {x_shape}, weight shape {w_shape})"
        )
    if bias is not None:
        dtypes.add(_dtype("bias", bias))
        if tuple(bias.shape) != (w_shape[0],):
            raise ValueError(
                f"linear: bias must have shape ({w_shape[0]},) to match weight shape "
                f"{w_shape}, got {tuple(bias.shape)}"
            )
    if len(dtypes) > 1:
        got = f"input {x.dtype}, weight {weight.dtype}" + (
            "" if bias is None else f", bias {bias.dtype}"
        )
        raise TypeError(f"linear: input, weight and bias must share one dtype, got {got}")
    if backend.get_array_module(x) is not backend.get_array_module(weight):
        raise ValueError("linear: input and weight are on different devices")
    fn = LinearFunction()
    return fn(x, weight) if bias is None else fn(x, weight, bias)
