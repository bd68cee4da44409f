"""How each ONNX operator becomes an xpnet layer: the literal table IMPORTERS.

A factory is ``make(node, ctx) -> (layer, inputs)``: the Module that computes the node's
output and the names of the computed values it reads, in order (constants and weights
are taken into the layer). ``ctx`` (:class:`xpnet.onnx.importer.Context`) knows the
folded constants, the file's weights as Parameters, the shapes one traced pass found, and
raises :class:`~xpnet.onnx.errors.OnnxImportError` naming the node, operator and
attribute that are not supported. Standard operators map onto the standard layers
(Conv onto ``nn.Conv2d``, Gemm onto ``nn.Linear``, ...), so the visualisations find them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy

from xpnet import functions as F
from xpnet import nn
from xpnet.nn.module import Module
from xpnet.onnx.layers import (
    BINARY,
    UNARY,
    Binary,
    Elementwise,
    Gemm,
    Reshape,
    ScaledL2Pool,
    Transpose,
    Unary,
)

__all__ = ["IMPORTERS"]


class Lambda(Module):
    """A layer made of one xpnet call ``fn(x)`` (Pad, Slice, Concat, Clip, Reduce*)."""

    def __init__(self, label: str, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.label, self.fn = label, fn

    def forward(self, *xs: Any) -> Any:
        return self.fn(*xs)

    def extra_repr(self) -> str:
        return self.label


class PoolND(Module):
    """A 1-D or 3-D pool run as the 2-D one: (N, C, L) as (N, C, L, 1), and
    (N, C, D, H, W) with a 1x1 window on (H, W) as (N, C, D, H*W)."""

    def __init__(self, pool: Module, rank: int) -> None:
        super().__init__()
        self.pool, self.rank = pool, rank

    def forward(self, x: Any) -> Any:
        n, c = x.shape[:2]
        if self.rank == 3:
            y = self.pool(F.reshape(x, (*x.shape, 1)))  # (N, C, L, 1)
            return F.reshape(y, y.shape[:3])
        d, h, w = x.shape[2:]
        y = self.pool(F.reshape(x, (n, c, d, h * w)))  # (N, C, D, H*W)
        return F.reshape(y, (n, c, y.shape[2], h, w))


def _pads(node: Any, ctx: Any, rank: int = 2) -> tuple[int, ...]:
    """ONNX ``pads`` (begins, then ends) as xpnet's (top, bottom, left, right)."""
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "VALID"):
        ctx.fail(node, f"attribute auto_pad={auto!r} (only NOTSET and VALID)")
    pads = list(node.attrs.get("pads", [0] * 2 * rank))
    if rank == 2:
        return pads[0], pads[2], pads[1], pads[3]
    return tuple(pads)


def _conv(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    w = ctx.param(node, 1)
    if w.ndim != 4:
        ctx.fail(node, f"a {w.ndim - 2}-D convolution (only 2-D)")
    b = ctx.param(node, 2) if len(node.inputs) > 2 and node.inputs[2] else None
    groups = int(node.attrs.get("group", 1))
    kernel = tuple(node.attrs.get("kernel_shape", w.shape[2:]))
    layer = nn.Conv2d(w.shape[1] * groups, w.shape[0], kernel,
                      stride=tuple(node.attrs.get("strides", (1, 1))),
                      padding=_pads(node, ctx), dilation=tuple(node.attrs.get("dilations",
                                                                              (1, 1))),
                      groups=groups, bias=b is not None, init=lambda s, r: numpy.zeros(s),
                      dtype=w.dtype)
    layer.weight, layer.bias = w, b  # the file's weights, shared and trainable
    return layer, [node.inputs[0]]


def _gemm(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    if node.attrs.get("transA", 0):
        ctx.fail(node, "attribute transA=1")
    w = ctx.param(node, 1)
    b = ctx.param(node, 2) if len(node.inputs) > 2 and node.inputs[2] else None
    trans_b, alpha, beta = (node.attrs.get("transB", 0), node.attrs.get("alpha", 1.0),
                            node.attrs.get("beta", 1.0))
    if trans_b and alpha == 1.0 and beta == 1.0 and (b is None or b.shape == (w.shape[0],)):
        layer = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype)
        layer.weight, layer.bias = w, b
        return layer, [node.inputs[0]]
    return Gemm(w, b, bool(trans_b), alpha, beta), [node.inputs[0]]


def _binary(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    a, b = node.inputs[:2]
    if ctx.dynamic(a) and ctx.dynamic(b):
        return Binary(node.op), [a, b]
    if ctx.dynamic(a):
        return Elementwise(node.op, ctx.operand(b)), [a]
    if node.op == "Pow":
        ctx.fail(node, "a computed exponent with a constant base")
    return Elementwise(node.op, ctx.operand(a), swap=True), [b]


def _unary(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    return Unary(node.op), [node.inputs[0]]


def _layer(factory: Callable[[], Module]) -> Callable[[Any, Any], tuple[Module, list[str]]]:
    return lambda node, ctx: (factory(), [node.inputs[0]])


def _softmax(cls: type) -> Callable[[Any, Any], tuple[Module, list[str]]]:
    def make(node: Any, ctx: Any) -> tuple[Module, list[str]]:
        axis = int(node.attrs.get("axis", -1 if ctx.opset >= 13 else 1))
        if ctx.opset < 13 and axis % len(ctx.shape(node.inputs[0])) != \
                len(ctx.shape(node.inputs[0])) - 1:
            ctx.fail(node, f"attribute axis={axis} before opset 13 (coerced to 2-D)")
        return cls(axis), [node.inputs[0]]
    return make


def _pool(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    if len(node.outputs) > 1 and node.outputs[1]:
        ctx.fail(node, "output Indices")
    kernel = list(node.attrs["kernel_shape"])
    rank = len(kernel)
    strides = list(node.attrs.get("strides", [1] * rank))
    dil = list(node.attrs.get("dilations", [1] * rank))
    pads = list(_pads(node, ctx, rank if rank != 2 else 2))
    ceil = bool(node.attrs.get("ceil_mode", 0))
    if rank == 1:
        kernel, strides, dil = [kernel[0], 1], [strides[0], 1], [dil[0], 1]
        pads = [pads[0], pads[1], 0, 0]
    elif rank == 3:
        trivial = all(k == 1 and s == 1 and d == 1 for k, s, d in
                      zip(kernel[1:], strides[1:], dil[1:])) and not any(
            pads[i] for i in (1, 2, 4, 5))
        if not trivial:
            ctx.fail(node, f"attribute kernel_shape={kernel} (a 3-D window other than "
                           "(k, 1, 1))")
        kernel, strides, dil = [kernel[0], 1], [strides[0], 1], [dil[0], 1]
        pads = [pads[0], pads[3], 0, 0]
    elif rank != 2:
        ctx.fail(node, f"attribute kernel_shape={kernel}")
    pool = _pool_layer(node, ctx, tuple(kernel), tuple(strides), tuple(pads), ceil,
                       tuple(dil))
    return (pool if rank == 2 else PoolND(pool, rank + 2)), [node.inputs[0]]


def _pool_layer(node: Any, ctx: Any, k: tuple, s: tuple, pads: tuple, ceil: bool,
                d: tuple) -> Module:
    if pads[0] == pads[1] and pads[2] == pads[3]:
        pads = (pads[0], pads[2])  # equal sides: the pair, as a layer is usually written
    if node.op == "MaxPool":
        return nn.MaxPool2d(k, s, pads, ceil, dilation=d)
    if node.op == "AveragePool":
        return nn.AvgPool2d(k, s, pads, ceil, bool(node.attrs.get("count_include_pad", 0)),
                            dilation=d)
    if node.attrs.get("p", 2) != 2:
        ctx.fail(node, f"attribute p={node.attrs['p']} (LpPool with p = 2 only)")
    return ScaledL2Pool(k, s, pads, ceil, d, kernel_scale=node.attrs.get("scale") == "kernel")


def _lrn(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    size = int(node.attrs["size"])
    if size % 2 == 0:
        ctx.fail(node, f"attribute size={size} (an even window is centred differently "
                       "from xpnet's; odd sizes only)")
    return nn.LocalResponseNorm(size, node.attrs.get("alpha", 1e-4),
                                node.attrs.get("beta", 0.75),
                                node.attrs.get("bias", 1.0)), [node.inputs[0]]


def _flatten(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    axis = int(node.attrs.get("axis", 1))
    rank = len(ctx.shape(node.inputs[0]))
    if axis % rank == 1:
        return nn.Flatten(), [node.inputs[0]]
    return ctx.reshape_to(node), [node.inputs[0]]


def _reshape(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    if node.attrs.get("allowzero", 0):
        ctx.fail(node, "attribute allowzero=1")
    shape = [int(s) for s in ctx.const(node, 1)]
    in_shape = ctx.shape(node.inputs[0])
    if ctx.batch is not None and shape and shape[0] == ctx.batch == in_shape[0]:
        shape[0] = 0  # the batch size the file was traced with: keep any batch instead
    if len(in_shape) > 1 and shape in ([0, -1], [0, int(numpy.prod(in_shape[1:]))]):
        return nn.Flatten(), [node.inputs[0]]
    return Reshape(shape), [node.inputs[0]]


def _pad(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    mode = node.attrs.get("mode", "constant")
    if mode != "constant":
        ctx.fail(node, f"attribute mode={mode!r} (constant only)")
    pads = [int(p) for p in ctx.const(node, 1)]
    value = float(ctx.const(node, 2)) if len(node.inputs) > 2 and node.inputs[2] else 0.0
    if len(node.inputs) > 3 and node.inputs[3]:
        ctx.fail(node, "input axes")
    rank = len(pads) // 2
    if min(pads) < 0:
        ctx.fail(node, "negative pads (cropping)")
    flat = [w for a in reversed(range(rank)) for w in (pads[a], pads[a + rank])]
    return Lambda(f"Pad {pads}", lambda x: F.pad(x, flat, value)), [node.inputs[0]]


def _reduce(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        axes = [int(a) for a in ctx.const(node, 1)]
    keep = bool(node.attrs.get("keepdims", 1))
    fn = {"ReduceMax": F.max, "ReduceMean": F.mean, "ReduceSum": F.sum}[node.op]
    axes = None if axes is None else tuple(axes)
    return Lambda(f"{node.op} {axes}", lambda x: fn(x, axes, keep)), [node.inputs[0]]


def _shape_op(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    """Squeeze, Unsqueeze, Flatten to 2-D: a reshape to the traced output's shape."""
    return ctx.reshape_to(node), [node.inputs[0]]


def _transpose(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    return Transpose(node.attrs.get("perm")), [node.inputs[0]]


def _concat(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    axis = int(node.attrs["axis"])
    if not all(ctx.dynamic(n) for n in node.inputs):
        consts = {i: ctx.operand(n) for i, n in enumerate(node.inputs) if not ctx.dynamic(n)}
        order = [n for n in node.inputs if ctx.dynamic(n)]

        def fn(*xs: Any) -> Any:
            it = iter(xs)
            return F.concat([consts[i] if i in consts else next(it)
                             for i in range(len(node.inputs))], axis)
        return Lambda(f"Concat axis={axis}", fn), order
    return Lambda(f"Concat axis={axis}", lambda *xs: F.concat(list(xs), axis)), \
        list(node.inputs)


def _slice(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    rank = len(ctx.shape(node.inputs[0]))
    starts, ends = ctx.const(node, 1), ctx.const(node, 2)
    axes = ctx.const(node, 3) if len(node.inputs) > 3 and node.inputs[3] else range(len(starts))
    steps = ctx.const(node, 4) if len(node.inputs) > 4 and node.inputs[4] else [1] * len(starts)
    index = [slice(None)] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        big = numpy.iinfo(numpy.int64)
        e = None if e >= big.max or e <= big.min else int(e)
        index[int(a) % rank] = slice(int(s), e, int(st))
    key = tuple(index)
    return Lambda(f"Slice {key}", lambda x: F.getitem(x, key)), [node.inputs[0]]


def _clip(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    low = ctx.const(node, 1) if len(node.inputs) > 1 and node.inputs[1] else \
        node.attrs.get("min")
    high = ctx.const(node, 2) if len(node.inputs) > 2 and node.inputs[2] else \
        node.attrs.get("max")
    low, high = (None if b is None else numpy.asarray(b).reshape(()) for b in (low, high))
    return Lambda("Clip", lambda x: F.clip(x, low, high)), [node.inputs[0]]


def _greater(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    if ctx.dynamic(node.inputs[1]):
        ctx.fail(node, "a computed right operand")
    c = ctx.operand(node.inputs[1])
    return Lambda("Greater", lambda x: F.step(F.sub(x, c.astype(x.dtype)))), [node.inputs[0]]


def _cast(node: Any, ctx: Any) -> tuple[Module, list[str]]:
    return Lambda("Cast", lambda x: x), [node.inputs[0]]  # the data stays floating


#: ONNX operator -> factory (what ``torch.onnx.export`` writes for such networks, and
#: what :func:`xpnet.onnx.export` writes).
IMPORTERS: dict[str, Callable[[Any, Any], tuple[Module, list[str]]]] = {
    "Conv": _conv,
    "Gemm": _gemm,
    **{op: _binary for op in (*BINARY, "Pow")},
    **{op: _unary for op in UNARY},
    "Relu": _layer(nn.ReLU),
    "Sigmoid": _layer(nn.Sigmoid),
    "Tanh": _layer(nn.Tanh),
    "Identity": _layer(nn.Identity),
    "Dropout": _layer(nn.Identity),
    "Softmax": _softmax(nn.Softmax),
    "LogSoftmax": _softmax(nn.LogSoftmax),
    "MaxPool": _pool,
    "AveragePool": _pool,
    "LpPool": _pool,
    "LRN": _lrn,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _shape_op,
    "Unsqueeze": _shape_op,
    "Transpose": _transpose,
    "Pad": _pad,
    "ReduceMax": _reduce,
    "ReduceMean": _reduce,
    "ReduceSum": _reduce,
    "Concat": _concat,
    "Slice": _slice,
    "Clip": _clip,
    "Greater": _greater,
    "Cast": _cast,
}
