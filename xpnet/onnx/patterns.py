"""Sub-graphs that PyTorch's exporter writes for one layer, recognised as that layer.

``torch.onnx.export`` (the TorchScript path, ``dynamo=False``) writes
- ``LocalResponseNorm(n, alpha, beta, k)`` as x / (k + alpha * AveragePool_n(x*x padded
  over the channels)) ** beta, through Reshape/Pad/Squeeze: recognised as one LRN node
  (the average divides by n, so ``alpha`` is xpnet's and PyTorch's alpha);
- ``LPPool2d(2, k)`` as (Sign(a) Relu(Abs(a)) * kh kw) ** 0.5 with a = AveragePool(x^2):
  recognised as sqrt(kh kw) * l2_pool2d (an LpPool node with ``scale=kernel``).

A sub-graph that does not match is left as it is and runs as general operators. After
the rewrite the recognised nodes' inner values are dead and pruned.
"""

from __future__ import annotations

from typing import Any

import numpy

__all__ = ["recognise"]

#: Operators that only move a value between shapes, walked through when matching.
_SHAPE_OPS = ("Reshape", "Squeeze", "Unsqueeze", "Identity")


def _scalar(ctx: Any, name: str) -> float | None:
    value = ctx.constant(name)
    if value is None or value.size != 1:
        return None
    return float(numpy.asarray(value).reshape(()))


def _split_const(ctx: Any, node: Any) -> tuple[str, float] | None:
    """(the computed input, the scalar constant) of a binary node, or None."""
    a, b = node.inputs[:2]
    for x, c in ((a, b), (b, a)):
        value = _scalar(ctx, c)
        if value is not None and ctx.dynamic(x):
            return x, value
    return None


def _back(producers: dict[str, Any], name: str, through: tuple[str, ...]) -> Any:
    """The first producer of ``name`` that is not one of the ``through`` operators."""
    node = producers.get(name)
    while node is not None and node.op in through:
        node = producers.get(node.inputs[0])
    return node


def _square_of(ctx: Any, node: Any) -> str | None:
    """x when ``node`` computes x*x or x**2."""
    if node is None:
        return None
    if node.op == "Mul" and node.inputs[0] == node.inputs[1]:
        return node.inputs[0]
    if node.op == "Pow" and _scalar(ctx, node.inputs[1]) == 2.0:
        return node.inputs[0]
    return None


def _lrn(node: Any, producers: dict[str, Any], ctx: Any, make: Any) -> Any:
    if node.op != "Div":
        return None
    x, denom = node.inputs
    power = producers.get(denom)
    if power is None or power.op != "Pow" or _scalar(ctx, power.inputs[1]) is None:
        return None
    add = producers.get(power.inputs[0])
    add_parts = add is not None and add.op == "Add" and _split_const(ctx, add)
    scaled = add_parts and producers.get(add_parts[0])
    mul_parts = scaled is not None and scaled and scaled.op == "Mul" and _split_const(ctx, scaled)
    if not mul_parts:
        return None
    pool = _back(producers, mul_parts[0], _SHAPE_OPS)
    if pool is None or pool.op != "AveragePool":
        return None
    kernel, strides = list(pool.attrs.get("kernel_shape", [])), pool.attrs.get("strides")
    if len(kernel) < 2 or any(k != 1 for k in kernel[1:]) or (
            strides is not None and any(s != 1 for s in strides)):
        return None
    if _square_of(ctx, _back(producers, pool.inputs[0], (*_SHAPE_OPS, "Pad"))) != x:
        return None
    return make("LRN", [x], node, size=int(kernel[0]), alpha=mul_parts[1],
                beta=_scalar(ctx, power.inputs[1]), bias=add_parts[1])


def _lp_pool(node: Any, producers: dict[str, Any], ctx: Any, make: Any) -> Any:
    if node.op != "Pow" or _scalar(ctx, node.inputs[1]) != 0.5:
        return None
    mul = producers.get(node.inputs[0])
    parts = mul is not None and mul.op == "Mul" and _split_const(ctx, mul)
    signed = parts and producers.get(parts[0])
    if not signed or signed.op != "Mul":
        return None
    ops = {producers[n].op: producers[n] for n in signed.inputs if n in producers}
    if set(ops) != {"Sign", "Relu"}:
        return None
    absolute = producers.get(ops["Relu"].inputs[0])
    if absolute is None or absolute.op != "Abs" or \
            absolute.inputs[0] != ops["Sign"].inputs[0]:
        return None
    pool = producers.get(absolute.inputs[0])
    if pool is None or pool.op != "AveragePool" or len(pool.attrs["kernel_shape"]) != 2:
        return None
    kh, kw = pool.attrs["kernel_shape"]
    x = _square_of(ctx, producers.get(pool.inputs[0]))
    if x is None or parts[1] != kh * kw or any(pool.attrs.get("pads", [0])):
        return None
    return make("LpPool", [x], node, kernel_shape=[kh, kw],
                strides=list(pool.attrs.get("strides", [1, 1])),
                ceil_mode=int(pool.attrs.get("ceil_mode", 0)), p=2, scale="kernel")


def recognise(program: list[Any], ctx: Any, make: Any) -> list[Any]:
    """``program`` with each recognised sub-graph's last node replaced by the layer's node
    (``make(op, inputs, replaced_node, **attrs)`` builds it)."""
    producers = {out: node for node in program for out in node.outputs}
    out = []
    for node in program:
        found = _lrn(node, producers, ctx, make) or _lp_pool(node, producers, ctx, make)
        out.append(found or node)
    return out
