"""GraphBuilder: the nodes, initialisers and names of an ONNX graph being written.

Every node and tensor goes through ``onnx.helper`` (the format's own library); the
builder only hands out unique names, keeps the opset in one place, and writes the
operators whose form changed between opsets (the Reduce* ``axes``) the right way.
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet.onnx.errors import require_onnx

__all__ = ["GraphBuilder"]


class GraphBuilder:
    """Collects the nodes of one graph.

    Args:
        opset: the ONNX opset of the default domain the graph is written for.
        dtype: the floating dtype of the graph's data (float32 or float64).

    Example:
        >>> g = GraphBuilder(17, numpy.float32)
        >>> y = g.node("Relu", ["input"], "relu")
        >>> y
        'relu'
    """

    def __init__(self, opset: int, dtype: Any) -> None:
        self.onnx = require_onnx()
        self.opset, self.dtype = int(opset), numpy.dtype(dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.notes: list[str] = []  # lines for the graph's doc string
        self._names: set[str] = set()

    def name(self, hint: str) -> str:
        """A tensor or node name not used yet, built from ``hint``."""
        base = hint.replace("/", ".") or "t"
        name, k = base, 1
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        """Add one node with a single output; returns the output's name."""
        out = self.name(hint)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def constant(self, value: Any, hint: str, dtype: Any = None) -> str:
        """An initialiser holding ``value`` (in the graph's float dtype unless ``dtype``)."""
        array = numpy.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(
            array.copy(order="C"), name))  # (ascontiguousarray would make a 0-d array 1-d)
        return name

    def ints(self, values: Any, hint: str) -> str:
        """An int64 initialiser (shapes, axes, pads)."""
        return self.constant(numpy.asarray(values, dtype=numpy.int64), hint, numpy.int64)

    def reduce(self, op: str, x: str, axes: list[int], hint: str, keepdims: int) -> str:
        """ReduceMax / ReduceMean over ``axes``: an attribute before opset 18, an input
        from 18 on (ReduceSum: from 13)."""
        since = 13 if op == "ReduceSum" else 18
        if self.opset >= since:
            return self.node(op, [x, self.ints(axes, hint + ".axes")], hint, keepdims=keepdims)
        return self.node(op, [x], hint, axes=list(axes), keepdims=keepdims)
