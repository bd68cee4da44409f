"""Constant folding: the ONNX operators that compute on constants and shapes, in NumPy.

PyTorch's exporter writes shape arithmetic around some layers (LocalResponseNorm: Shape,
Gather, Equal, If, ConstantOfShape, Concat, ...). When the file's input shape is fixed,
all of it depends only on constants; :func:`evaluate` computes it once, at load time, so
the network that remains is made of layers. The same function runs such a node at run
time when it cannot be folded (a shape that depends on the batch size).
"""

from __future__ import annotations

from typing import Any

import numpy

__all__ = ["FOLDABLE", "evaluate"]


def _tensor(value: Any) -> numpy.ndarray:
    from onnx import numpy_helper  # noqa: PLC0415

    return numpy_helper.to_array(value)


def _constant(attrs: dict[str, Any], inputs: list) -> numpy.ndarray:
    if "value" in attrs:
        return _tensor(attrs["value"])
    for key, dtype in (("value_float", numpy.float32), ("value_floats", numpy.float32),
                       ("value_int", numpy.int64), ("value_ints", numpy.int64)):
        if key in attrs:
            return numpy.asarray(attrs[key], dtype=dtype)
    raise ValueError("a Constant without value, value_float(s) or value_int(s)")


def _axes(attrs: dict[str, Any], inputs: list, index: int) -> list[int] | None:
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(inputs) > index and inputs[index] is not None:
        return [int(a) for a in inputs[index]]
    return None


def _unsqueeze(attrs: dict[str, Any], inputs: list) -> numpy.ndarray:
    x, axes = inputs[0], _axes(attrs, inputs, 1)
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = numpy.expand_dims(x, a)
    return x


def _squeeze(attrs: dict[str, Any], inputs: list) -> numpy.ndarray:
    axes = _axes(attrs, inputs, 1)
    x = inputs[0]
    return numpy.squeeze(x) if axes is None else numpy.squeeze(x, tuple(a % x.ndim for a in axes))


def _slice(attrs: dict[str, Any], inputs: list) -> numpy.ndarray:
    x, starts, ends = inputs[:3]
    axes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else range(len(starts))
    steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a) % x.ndim] = slice(int(s), int(e), int(st))
    return x[tuple(index)]


def _reshape(attrs: dict[str, Any], inputs: list) -> numpy.ndarray:
    x, shape = inputs[0], [int(s) for s in inputs[1]]
    shape = [x.shape[i] if s == 0 and not attrs.get("allowzero") else s
             for i, s in enumerate(shape)]
    return x.reshape(shape)


def _cast(attrs: dict[str, Any], inputs: list) -> numpy.ndarray:
    from onnx import helper  # noqa: PLC0415

    return inputs[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))


def _div(attrs: dict[str, Any], inputs: list) -> numpy.ndarray:
    a, b = inputs
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return (numpy.trunc(a / b)).astype(numpy.result_type(a, b))  # ONNX truncates
    return a / b


def _shape(attrs: dict[str, Any], inputs: list) -> numpy.ndarray:
    shape = numpy.asarray(inputs[0].shape, dtype=numpy.int64)
    return shape[attrs.get("start", 0):attrs.get("end", None)]


#: operator -> fn(attrs, input arrays) -> output array, for folding.
FOLDABLE: dict[str, Any] = {
    "Constant": _constant,
    "Identity": lambda a, i: i[0],
    "Shape": _shape,
    "Size": lambda a, i: numpy.asarray(i[0].size, dtype=numpy.int64),
    "Gather": lambda a, i: numpy.take(i[0], i[1], axis=a.get("axis", 0)),
    "Equal": lambda a, i: numpy.equal(i[0], i[1]),
    "Not": lambda a, i: numpy.logical_not(i[0]),
    "Greater": lambda a, i: numpy.greater(i[0], i[1]),
    "Less": lambda a, i: numpy.less(i[0], i[1]),
    "Where": lambda a, i: numpy.where(i[0], i[1], i[2]),
    "Concat": lambda a, i: numpy.concatenate([numpy.atleast_1d(v) for v in i],
                                             axis=a["axis"]),
    "ConstantOfShape": lambda a, i: numpy.full(
        [int(s) for s in i[0]], _tensor(a["value"]).reshape(()) if "value" in a else 0.0,
        dtype=_tensor(a["value"]).dtype if "value" in a else numpy.float32),
    "Cast": _cast,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Slice": _slice,
    "Reshape": _reshape,
    "Flatten": lambda a, i: i[0].reshape(int(numpy.prod(i[0].shape[:a.get("axis", 1)])), -1),
    "Transpose": lambda a, i: numpy.transpose(i[0], a.get("perm")),
    "Range": lambda a, i: numpy.arange(i[0], i[1], i[2]),
    "Add": lambda a, i: i[0] + i[1],
    "Sub": lambda a, i: i[0] - i[1],
    "Mul": lambda a, i: i[0] * i[1],
    "Div": _div,
    "Neg": lambda a, i: -i[0],
    "Abs": lambda a, i: numpy.abs(i[0]),
    "Sqrt": lambda a, i: numpy.sqrt(i[0]),
    "Pow": lambda a, i: numpy.power(i[0], i[1]).astype(i[0].dtype),
    "Max": lambda a, i: numpy.maximum(i[0], i[1]),
    "Min": lambda a, i: numpy.minimum(i[0], i[1]),
    "Expand": lambda a, i: i[0] * numpy.ones([int(s) for s in i[1]], dtype=i[0].dtype),
}


def evaluate(op: str, attrs: dict[str, Any], inputs: list) -> numpy.ndarray:
    """The output of a foldable operator on NumPy inputs (None for an omitted input)."""
    return numpy.asarray(FOLDABLE[op](attrs, inputs))
