"""The layers an imported ONNX graph is made of, where ``xpnet.nn`` has no equivalent.

Each is a small Module over xpnet ops, so an imported network evaluates and trains with
the ordinary autograd: the graph's operators that are not a standard layer (an element-
wise operation with a constant, a reshape, a transpose, ...), and :class:`OnnxGraph`,
which runs a graph that is not a chain. A constant operand is kept as a buffer (it moves
with ``to(device)``); a weight of the file is a Parameter, shared by every layer that
reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy

from xpnet import backend
from xpnet import functions as F
from xpnet.functions.pooling._window import divisor, geometry
from xpnet.nn.containers import ModuleList
from xpnet.nn.module import Module, Parameter
from xpnet.tensor import Tensor

__all__ = ["Binary", "Elementwise", "Gemm", "OnnxGraph", "Reshape", "ScaledL2Pool",
           "Transpose", "Unary"]


def _abs(x: Any) -> Any:
    return F.add(F.relu(x), F.relu(F.neg(x)))  # |x|, slope +-1 (0 at 0)


def _sign(x: Any) -> Any:
    xp = backend.get_array_module(x.data)
    return Tensor(xp.sign(x.data))  # piecewise constant: no gradient


#: ONNX unary operators on a Tensor, written with xpnet ops.
UNARY: dict[str, Callable[[Any], Any]] = {
    "Relu": F.relu, "Sigmoid": F.sigmoid, "Tanh": F.tanh, "Exp": F.exp, "Log": F.log,
    "Neg": F.neg, "Abs": _abs, "Sign": _sign, "Identity": lambda x: x,
    "Sqrt": lambda x: F.pow(x, 0.5), "Reciprocal": lambda x: F.pow(x, -1.0),
}

#: ONNX binary operators on two Tensors (or a Tensor and an array).
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "Add": F.add, "Sub": F.sub, "Mul": F.mul, "Div": F.div, "MatMul": F.matmul,
    "Max": lambda a, b: F.add(F.relu(F.sub(a, b)), b),  # max(a, b) = relu(a - b) + b
    "Min": lambda a, b: F.sub(a, F.relu(F.sub(a, b))),  # min(a, b) = a - relu(a - b)
}


class Unary(Module):
    """One element-wise ONNX operator (``Abs``, ``Sqrt``, ...) on its input.

    Args:
        op: a key of :data:`UNARY`.

    Shape:
        (*) -> (*).
    """

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: Any) -> Any:
        return UNARY[self.op](x)

    def extra_repr(self) -> str:
        return self.op


class Elementwise(Module):
    """``op(x, c)`` (or ``op(c, x)`` with ``swap``) with a fixed operand c: a constant
    of the file (a buffer) or one of its weights (a Parameter, trained).

    Args:
        op: a key of :data:`BINARY` (or ``"Pow"``, whose exponent is a constant scalar).
        other: the array or Parameter c, broadcast against x as NumPy does.
        swap: c is the first operand.

    Shape:
        x (*) and c broadcast -> their broadcast shape.
    """

    def __init__(self, op: str, other: Any, swap: bool = False) -> None:
        super().__init__()
        self.op, self.swap = op, bool(swap)
        if isinstance(other, Parameter):
            self.other = other
        else:
            self.register_buffer("other", numpy.asarray(other))

    def forward(self, x: Any) -> Any:
        c = self.other
        if self.op == "Pow":
            return F.pow(x, float(numpy.asarray(backend.to_numpy(c)).reshape(())))
        if not isinstance(c, Tensor):
            xp = backend.get_array_module(x.data)
            c = xp.asarray(c, dtype=x.dtype) if c.dtype.kind == "f" else xp.asarray(c)
        a, b = (c, x) if self.swap else (x, c)
        return BINARY[self.op](a, b)

    def extra_repr(self) -> str:
        return f"{self.op}, {'c, x' if self.swap else 'x, c'}, c{tuple(self.other.shape)}"


class Binary(Module):
    """``op(a, b)`` of two computed tensors (a graph that is not a chain).

    Args:
        op: a key of :data:`BINARY`, or ``"Pow"`` (b a scalar tensor).
    """

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def forward(self, a: Any, b: Any) -> Any:
        if self.op == "Pow":
            return F.pow(a, float(backend.to_numpy(getattr(b, "data", b)).reshape(())))
        return BINARY[self.op](a, b)

    def extra_repr(self) -> str:
        return self.op


class Gemm(Module):
    """ONNX Gemm on a matrix input: y = alpha x op(B) + beta C, op(B) = B^T with
    ``trans_b`` (PyTorch's and xpnet's Linear: B is (out, in)).

    Args:
        weight: the Parameter B.
        bias: the Parameter C, or None.
        trans_b: whether B is stored (out, in).
        alpha, beta: the scales.

    Shape:
        (N, in) -> (N, out).
    """

    def __init__(self, weight: Parameter, bias: Parameter | None, trans_b: bool,
                 alpha: float = 1.0, beta: float = 1.0) -> None:
        super().__init__()
        self.weight, self.bias = weight, bias
        self.trans_b, self.alpha, self.beta = bool(trans_b), float(alpha), float(beta)

    def forward(self, x: Any) -> Any:
        w = self.weight if self.trans_b else F.transpose(self.weight)
        y = F.linear(x, w)
        if self.alpha != 1.0:
            y = F.mul(y, numpy.asarray(self.alpha, dtype=y.dtype))
        if self.bias is not None:
            b = self.bias if self.beta == 1.0 else F.mul(
                self.bias, numpy.asarray(self.beta, dtype=y.dtype))
            y = F.add(y, b)
        return y

    def extra_repr(self) -> str:
        return f"weight{tuple(self.weight.shape)}, alpha={self.alpha}, beta={self.beta}"


class Reshape(Module):
    """ONNX Reshape: a 0 keeps that axis of the input, -1 takes what is left.

    Args:
        shape: the target shape (ints).
    """

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: Any) -> Any:
        target = tuple(x.shape[i] if s == 0 else s for i, s in enumerate(self.shape))
        return F.reshape(x, target)

    def extra_repr(self) -> str:
        return str(self.shape)


class Transpose(Module):
    """ONNX Transpose: the axes in the order ``perm``."""

    def __init__(self, perm: Sequence[int] | None) -> None:
        super().__init__()
        self.perm = None if perm is None else tuple(int(p) for p in perm)

    def forward(self, x: Any) -> Any:
        return F.transpose(x, self.perm)

    def extra_repr(self) -> str:
        return str(self.perm)


class ScaledL2Pool(Module):
    """sqrt(D) * l2_pool2d(x): ONNX LpPool with p = 2, and PyTorch's LPPool2d(2, k) whose
    export divides nothing, as sqrt(sum of x^2 over each window) (see
    :func:`xpnet.functions.l2_pool2d`; D is its divisor map, kh kw for full windows).

    Args:
        kernel_size, stride, padding, ceil_mode, dilation: those of the pool.
        kernel_scale: scale by sqrt(kh kw) everywhere instead (PyTorch's LPPool2d, which
            multiplies its average by kh kw also where a ceil-mode window is partial).
    """

    def __init__(self, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
                 dilation: Any = 1, kernel_scale: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.dilation = bool(ceil_mode), dilation
        self.kernel_scale = bool(kernel_scale)

    def forward(self, x: Any) -> Any:
        y = F.l2_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                        self.dilation)
        if self.kernel_scale:
            kh, kw = self.kernel_size
            return F.mul(y, numpy.asarray(numpy.sqrt(kh * kw), dtype=y.dtype))
        g = geometry("LpPool", x.shape, self.kernel_size, self.stride, self.padding,
                     self.ceil_mode, self.dilation)
        xp = backend.get_array_module(y.data)
        return F.mul(y, xp.sqrt(divisor(g, True, xp, y.dtype)))  # (oh, ow) broadcast

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode}")


class OnnxGraph(Module):
    """An imported graph that is not a chain: its layers run in the file's order, each
    reading the values it names (the input, earlier outputs or the graph's constants).

    Args:
        layers: one Module per step.
        steps: for each layer, (input names, output name).
        constants: name -> array, the folded constants the steps read.
        input_name, output_name: the graph's input and output.

    Attributes:
        layers: a :class:`~xpnet.nn.ModuleList` (state dict names ``layers.K.weight``).
    """

    def __init__(self, layers: Sequence[Module], steps: Sequence[tuple[list[str], str]],
                 constants: dict[str, Any], input_name: str, output_name: str) -> None:
        super().__init__()
        self.layers = ModuleList(layers)
        self.steps = [(list(ins), out) for ins, out in steps]
        self.constants = dict(constants)
        self.input_name, self.output_name = input_name, output_name

    def forward(self, x: Any) -> Any:
        env: dict[str, Any] = {self.input_name: x}
        for layer, (ins, out) in zip(self.layers, self.steps):
            env[out] = layer(*[env[n] if n in env else self.constants[n] for n in ins])
        return env[self.output_name]
