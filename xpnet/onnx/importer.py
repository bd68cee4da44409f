"""``xpnet.onnx.load``: an ONNX graph as an xpnet Module that evaluates and trains.

Loading runs in four steps:

1. The file's floating initialisers become Parameters (trainable, shared by every node
   that reads them), its other initialisers and Constant nodes constants.
2. One traced pass in NumPy on an example of the input's shape folds every node whose
   value does not depend on the input (and, where the input shape is fixed, every Shape
   of a computed value), and inlines each If whose condition folded.
3. :mod:`xpnet.onnx.patterns` recognises PyTorch's LocalResponseNorm and LPPool2d
   sub-graphs as one layer each; dead nodes are pruned.
4. Each remaining node becomes a layer (:mod:`xpnet.onnx.import_ops`): a chain is an
   :class:`~xpnet.nn.Sequential` of standard layers, any other graph an
   :class:`~xpnet.onnx.layers.OnnxGraph`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from xpnet.function import no_grad
from xpnet.nn.containers import Sequential
from xpnet.nn.module import Module, Parameter
from xpnet.onnx.errors import OnnxImportError, require_onnx
from xpnet.onnx.fold import FOLDABLE, evaluate
from xpnet.onnx.import_ops import IMPORTERS
from xpnet.onnx.layers import OnnxGraph, Reshape
from xpnet.onnx.patterns import recognise
from xpnet.tensor import Tensor

__all__ = ["load"]

_POOL = {"auto_pad", "kernel_shape", "strides", "pads", "dilations", "ceil_mode"}
#: The attributes each operator's import reads; any other one is refused by name.
ATTRIBUTES: dict[str, set[str]] = {
    "Conv": {"auto_pad", "kernel_shape", "strides", "pads", "dilations", "group"},
    "Gemm": {"alpha", "beta", "transA", "transB"},
    "MaxPool": _POOL | {"storage_order"}, "AveragePool": _POOL | {"count_include_pad"},
    "LpPool": _POOL | {"p"}, "LRN": {"alpha", "beta", "bias", "size"},
    "Softmax": {"axis"}, "LogSoftmax": {"axis"}, "Flatten": {"axis"},
    "Reshape": {"allowzero"}, "Transpose": {"perm"}, "Concat": {"axis"},
    "Pad": {"mode"}, "Squeeze": {"axes"}, "Unsqueeze": {"axes"}, "Dropout": {"seed", "ratio"},
    "ReduceMax": {"axes", "keepdims"}, "ReduceMean": {"axes", "keepdims"},
    "ReduceSum": {"keepdims", "noop_with_empty_axes"}, "Cast": {"to", "saturate"},
    "Clip": {"min", "max"},
}


@dataclass
class Node:
    """One ONNX node, its attributes decoded (strings as str)."""

    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    name: str

    @classmethod
    def of(cls, proto: Any, helper: Any) -> Node:
        attrs = {}
        for a in proto.attribute:
            value = helper.get_attribute_value(a)
            attrs[a.name] = value.decode() if isinstance(value, bytes) else value
        return cls(proto.op_type, list(proto.input), list(proto.output), attrs,
                   proto.name or (proto.output[0] if proto.output else proto.op_type))


@dataclass
class Context:
    """What the factories of :mod:`xpnet.onnx.import_ops` see while a graph loads."""

    source: str
    opset: int
    params: dict[str, Parameter]
    constants: dict[str, numpy.ndarray]
    batch: int | None
    values: dict[str, Any] = field(default_factory=dict)  # traced values, by name

    def fail(self, node: Node, what: str) -> None:
        """Raise the one-line error naming the node, its operator and ``what``."""
        raise OnnxImportError(f"{self.source}: node {node.name!r} (operator {node.op}): "
                              f"unsupported {what}")

    def dynamic(self, name: str) -> bool:
        """Whether the value is computed at run time from the input (not a constant and
        not one of the file's weights)."""
        return name not in self.constants and name not in self.params

    def constant(self, name: str) -> numpy.ndarray | None:
        return self.constants.get(name)

    def const(self, node: Node, index: int) -> numpy.ndarray:
        """Input ``index`` of ``node``, which must be a (folded) constant."""
        name = node.inputs[index]
        if name in self.params:  # a weight read as a fixed value (Clip's bounds)
            return self.params[name].data
        if name not in self.constants:
            self.fail(node, f"input {index} ({name!r}) computed at run time (it must be a "
                            "constant, or fold to one)")
        return self.constants[name]

    def param(self, node: Node, index: int) -> Parameter:
        """Input ``index`` as a weight of the file (a constant becomes a fixed Parameter)."""
        name = node.inputs[index]
        if name in self.params:
            return self.params[name]
        if name in self.constants:
            return Parameter(numpy.asarray(self.constants[name]))
        self.fail(node, f"input {index} ({name!r}) computed at run time (a weight must be "
                        "an initialiser)")
        raise AssertionError  # fail raised

    def operand(self, name: str) -> Any:
        """A fixed operand: the Parameter of a weight or the constant array."""
        return self.params.get(name, self.constants.get(name))

    def shape(self, name: str) -> tuple[int, ...]:
        value = self.values.get(name, self.constants.get(name))
        return tuple(value.shape)

    def reshape_to(self, node: Node) -> Module:
        """A Reshape to the shape ``node`` gives the traced value (Squeeze, Unsqueeze,
        Flatten to 2-D), the batch axis kept as it comes."""
        args = [self.values[n].data if n in self.values else self.constants.get(n)
                for n in node.inputs]
        shape = list(evaluate(node.op, node.attrs, args).shape)
        if shape and self.shape(node.inputs[0])[:1] == tuple(shape[:1]):
            shape[0] = 0
        return Reshape(shape)


def _source(path: Any) -> str:
    return str(path) if isinstance(path, (str, os.PathLike)) else "<ModelProto>"


def _check_attributes(node: Node, ctx: Context) -> None:
    allowed = ATTRIBUTES.get(node.op, set())
    for name in node.attrs:
        if name not in allowed:
            ctx.fail(node, f"attribute {name}={node.attrs[name]!r}")


def _example(graph_input: Any, input_shape: Any, source: str) -> numpy.ndarray:
    """A batch of the input's shape (symbolic axes: the batch 1, others from
    ``input_shape``), float, for the traced pass."""
    from onnx import helper  # noqa: PLC0415

    ttype = graph_input.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim]
    if input_shape is not None:
        dims = [dims[0] if dims else None, *input_shape]
    if any(d is None for d in dims[1:]) or not dims:
        raise OnnxImportError(f"{source}: input {graph_input.name!r} has the shape "
                              f"{dims}; give load(..., input_shape=(C, H, W))")
    dtype = helper.tensor_dtype_to_np_dtype(ttype.elem_type)
    if dtype.kind != "f":
        raise OnnxImportError(f"{source}: input {graph_input.name!r} is {dtype}, not floating")
    return numpy.random.default_rng(0).random([dims[0] or 1, *dims[1:]]).astype(dtype)


def _trace(nodes: list[Node], ctx: Context, fixed_shape: bool) -> list[Node]:
    """Fold what does not depend on the input, inline Ifs that folded, run the rest once
    (for the shapes); returns the nodes left for run time."""
    program = []
    for node in nodes:
        if node.op == "If":
            cond = ctx.constants.get(node.inputs[0])
            if cond is None:
                ctx.fail(node, "a condition computed from the input")
            branch = node.attrs["then_branch" if bool(cond.reshape(())) else "else_branch"]
            from onnx import helper  # noqa: PLC0415

            inner = [Node.of(n, helper) for n in branch.node]
            for out, res in zip(node.outputs, branch.output):
                inner.append(Node("Identity", [res.name], [out], {}, f"{node.name}/{out}"))
            program += _trace(inner, ctx, fixed_shape)
            continue
        ins = [n for n in node.inputs if n]
        static = all(n in ctx.constants for n in ins)
        if node.op == "Shape" and fixed_shape and ins[0] in ctx.values:
            static = True
        if node.op in FOLDABLE and static:
            args = [ctx.constants.get(n, ctx.values.get(n)) if n else None
                    for n in node.inputs]
            args = [a.data if isinstance(a, Tensor) else a for a in args]
            try:
                ctx.constants[node.outputs[0]] = evaluate(node.op, node.attrs, args)
            except (ValueError, KeyError, IndexError, TypeError) as e:
                ctx.fail(node, f"constant input ({e})")
            continue
        if node.op not in IMPORTERS:
            known = ", ".join(sorted(IMPORTERS))
            raise OnnxImportError(f"{ctx.source}: node {node.name!r} (operator {node.op}): "
                                  f"operator not supported; supported: {known}")
        _check_attributes(node, ctx)
        layer, reads = IMPORTERS[node.op](node, ctx)
        missing = [n for n in reads if n not in ctx.values]
        if missing:
            ctx.fail(node, f"input {missing[0]!r} (an output xpnet does not compute)")
        with no_grad():
            ctx.values[node.outputs[0]] = layer(*[ctx.values[n] for n in reads])
        program.append(node)
    return program


def _prune(program: list[Node], output: str) -> list[Node]:
    """The nodes the output needs, in order."""
    needed, keep = {output}, []
    for node in reversed(program):
        if node.outputs[0] in needed:
            keep.append(node)
            needed.update(n for n in node.inputs if n)
    return keep[::-1]


def _build(program: list[Node], ctx: Context, input_name: str, output: str) -> Module:
    layers, steps = [], []
    for node in program:
        layer, reads = IMPORTERS[node.op](node, ctx)
        layers.append(layer)
        steps.append((reads, node.outputs[0]))
    chain, previous = True, input_name
    for reads, out in steps:
        chain = chain and reads == [previous]
        previous = out
    if chain and previous == output:
        return Sequential(*layers)
    constants = {n: ctx.constants[n] for reads, _ in steps for n in reads
                 if n in ctx.constants}
    return OnnxGraph(layers, steps, constants, input_name, output)


def load(path: str | os.PathLike | Any, input_shape: tuple[int, ...] | None = None) -> Module:
    """Read an ONNX graph as an xpnet Module.

    The module evaluates (``model(Tensor(x))``), trains (every floating initialiser of
    the file is a Parameter) and, for a chain of standard layers, is an
    :class:`~xpnet.nn.Sequential` of Conv2d, Linear, MaxPool2d, ... that the visualisation
    tools walk. Operators: those :func:`xpnet.onnx.export` writes and what PyTorch's
    exporter writes for such networks (see :data:`xpnet.onnx.import_ops.IMPORTERS`); its
    LocalResponseNorm and LPPool2d sub-graphs are recognised, shape arithmetic folded.

    Args:
        path: an ``.onnx`` file, or an ``onnx.ModelProto``.
        input_shape: one example's shape (C, H, W), where the file leaves axes other
            than the batch symbolic.

    Returns:
        A Module in training mode, float as the file's weights.

    Raises:
        OnnxImportError: an operator, attribute or input that is not supported (one line
            naming the node, the operator and what), or a graph with other than one input
            and one output.
        FileNotFoundError: no such file.
        ImportError: the onnx package is missing.

    Example:
        >>> net = load("lenet.onnx")  # doctest: +SKIP
        >>> net(Tensor(images)).shape
        (16, 10)
    """
    onnx = require_onnx()
    source = _source(path)
    if isinstance(path, (str, os.PathLike)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            proto = onnx.load(str(path))
        except Exception as e:  # noqa: BLE001  (protobuf's errors have no common base)
            raise OnnxImportError(f"{source}: not an ONNX model ({type(e).__name__})") from None
    else:
        proto = path
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    other = sorted(set(opsets) - {"ai.onnx"})
    if other:
        raise OnnxImportError(f"{source}: operators of domain {other[0]!r} are not supported")
    graph = proto.graph
    arrays = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in arrays]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise OnnxImportError(f"{source}: the graph has {len(inputs)} inputs and "
                              f"{len(graph.output)} outputs; xpnet loads one of each")
    x = _example(inputs[0], input_shape, source)
    dims = inputs[0].type.tensor_type.shape.dim
    fixed = bool(dims) and all(d.HasField("dim_value") for d in dims)
    params = {n: Parameter(a.copy()) for n, a in arrays.items() if a.dtype.kind == "f"}
    ctx = Context(source, opsets.get("ai.onnx", 1), params,
                  {n: a for n, a in arrays.items() if a.dtype.kind != "f"},
                  len(x) if fixed else None)
    ctx.values.update({n: p for n, p in params.items()})
    ctx.values[inputs[0].name] = Tensor(x)
    nodes = [Node.of(n, onnx.helper) for n in graph.node]
    program = _trace(nodes, ctx, fixed)

    def make(op: str, reads: list[str], replaced: Node, **attrs: Any) -> Node:
        return Node(op, reads, list(replaced.outputs), attrs, f"{replaced.name} ({op})")

    output = graph.output[0].name
    program = _prune(recognise(program, ctx, make), output)
    if output in ctx.constants:
        raise OnnxImportError(f"{source}: the output {output!r} does not depend on the input")
    model = _build(program, ctx, inputs[0].name, output)
    return model.train()
