"""``xpnet.onnx.export``: a model's eval-mode forward pass written as an ONNX graph."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy

import xpnet
from xpnet import backend
from xpnet.function import no_grad
from xpnet.nn.containers import Sequential
from xpnet.nn.module import Module
from xpnet.onnx.errors import ExportError
from xpnet.onnx.export_ops import EXPORTERS
from xpnet.onnx.graph import GraphBuilder
from xpnet.tensor import Tensor

__all__ = ["DEFAULT_OPSET", "export", "leaf_layers"]

#: The opset written unless told otherwise (onnxruntime runs 7 to 23 or more).
DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax over one axis, Pad, Clip and Slice taking tensors


def leaf_layers(model: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """The layers a forward pass applies, in order, nested Sequentials opened:
    ``(dotted name, layer)``."""
    if isinstance(model, Sequential):
        for name, child in model.named_children():
            yield from leaf_layers(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix, model


def _converter(layer: Module, name: str) -> Any:
    for cls in type(layer).__mro__:
        if cls in EXPORTERS:
            return EXPORTERS[cls]
    known = ", ".join(sorted({c.__name__ for c in EXPORTERS}))
    raise ExportError(f"export: layer {name or '(the model)'!r} ({type(layer).__name__}) has "
                      f"no ONNX form; exportable layers: {known}")


def _example(example_input: Any) -> numpy.ndarray:
    x = example_input.data if isinstance(example_input, Tensor) else example_input
    x = backend.to_numpy(x) if backend.is_array(x) else numpy.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(backend.DEFAULT_DTYPE)  # raw pixels, as the pre-processing casts them
    if x.ndim < 2 or len(x) < 1:
        raise ExportError(f"export: example_input must be a batch (N, ...) with N >= 1, got "
                          f"shape {x.shape}")
    return x


def _trace(model: Module, x: numpy.ndarray, g: GraphBuilder, input_name: str) -> tuple:
    """Convert layer after layer, each run once in eval mode for the shapes it sees."""
    name_in, value = input_name, Tensor(x)
    for name, layer in leaf_layers(model):
        convert = _converter(layer, name)
        if getattr(layer, "return_indices", False):
            raise ExportError(f"export: layer {name!r} ({type(layer).__name__} with "
                              "return_indices=True) returns its switches, which an inference "
                              "graph does not carry")
        try:
            out = layer(value)
        except (ValueError, TypeError) as e:
            raise ExportError(f"export: layer {name!r} ({type(layer).__name__}) fails on the "
                              f"example input of shape {value.shape}: {e}") from None
        if not isinstance(out, Tensor):
            raise ExportError(f"export: layer {name!r} ({type(layer).__name__}) returns "
                              f"{type(out).__name__}, not one tensor")
        name_in = convert(g, layer, name_in, name or "model", tuple(value.shape),
                          tuple(out.shape))
        value = out
    return name_in, value


def export(
    model: Module,
    example_input: Any,
    path: str | os.PathLike | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    input_name: str = "input",
    output_name: str = "output",
    doc_string: str = "",
) -> Any:
    """Write ``model``'s eval-mode forward pass as an ONNX graph.

    The model is traced layer by layer on ``example_input`` (nested Sequentials are
    opened; every layer must have a converter in :data:`xpnet.onnx.export_ops.EXPORTERS`),
    each layer written as standard ONNX operators with its weights as initialisers named
    like the state dict (``"3.weight"``). The batch axis is symbolic (``N``), every other
    axis fixed by the example. The graph is checked by ``onnx.checker`` (full check, with
    shape inference) before it is written; the file is written atomically.

    A run's model (:func:`xpnet.train.load_run`) starts with its fitted pre-processing, so
    its graph takes raw pixels (float32, as ``xpnet predict`` reads them).

    Args:
        model: an xpnet Module (a Sequential or one layer).
        example_input: one batch (N, ...) as the model takes it (array or Tensor); integer
            pixels are cast to float32.
        path: the ``.onnx`` file to write, or None to only return the model.
        opset: the ONNX opset (>= 13; dilated average and L2 pooling need 19 and 18).
        input_name, output_name: the graph's input and output names.
        doc_string: prepended to the graph's doc string (which lists what export chose,
            e.g. DropConnect's inference).

    Returns:
        The ``onnx.ModelProto``.

    Raises:
        ExportError: a layer with no ONNX form (the message names the layer and its type),
            an option that ONNX cannot express, or a graph that onnx.checker refuses.
        ImportError: the onnx package is missing.

    Example:
        >>> from xpnet.models import lenet5
        >>> export(lenet5(seed=0), numpy.zeros((1, 1, 28, 28), "float32"), "lenet.onnx")
        ...  # doctest: +SKIP
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ExportError(f"export: opset must be an int >= {MIN_OPSET}, got {opset!r}")
    if not isinstance(model, Module):
        raise ExportError(f"export: expected an xpnet Module, got {type(model).__name__}")
    x = _example(example_input)
    g = GraphBuilder(opset, x.dtype)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            last, y = _trace(model, x, g, input_name)
    finally:
        model.train(was_training)
    onnx = g.onnx
    g.nodes.append(onnx.helper.make_node("Identity", [last], [output_name], name=output_name))
    elem = onnx.helper.np_dtype_to_tensor_dtype(x.dtype)
    inputs = [onnx.helper.make_tensor_value_info(input_name, elem, ["N", *x.shape[1:]])]
    outputs = [onnx.helper.make_tensor_value_info(output_name, elem, ["N", *y.shape[1:]])]
    notes = [doc_string] if doc_string else []
    notes += [f"exported by xpnet {xpnet.__version__} from {type(model).__name__}; "
              "eval-mode forward pass (dropout is the identity)"] + g.notes
    graph = onnx.helper.make_graph(g.nodes, "xpnet", inputs, outputs, g.initializers,
                                   doc_string="\n".join(notes))
    opsets = [onnx.helper.make_opsetid("", opset)]
    # the oldest IR version that carries this opset: runtimes older than this onnx read it
    proto = onnx.helper.make_model(graph, producer_name="xpnet",
                                   producer_version=xpnet.__version__, opset_imports=opsets,
                                   ir_version=onnx.helper.find_min_ir_version_for(opsets))
    _check(onnx, proto, ["N", *y.shape[1:]])
    if path is not None:
        _write(proto.SerializeToString(), Path(path))
    return proto


def _check(onnx: Any, proto: Any, out_shape: list) -> None:
    """onnx.checker's full check, and the output shape that shape inference finds."""
    try:
        onnx.checker.check_model(proto, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"export: onnx.checker refuses the graph: {e}") from None
    dims = inferred.graph.output[0].type.tensor_type.shape.dim
    found = [d.dim_param or d.dim_value for d in dims]
    if found != out_shape:
        raise ExportError(f"export: shape inference gives the output {found}, the traced "
                          f"model {out_shape}")


def _write(blob: bytes, path: Path) -> None:
    """Write ``blob`` to ``path`` through a temporary file and a rename (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
