"""The fitted pre-processing steps as ONNX operators, at the front of an exported graph.

A run's model starts with its fitted steps (:mod:`xpnet.data.preprocessing`), so the
exported file takes raw pixels, as ``xpnet predict`` does. Each step's statistics are
written as initialisers named like its buffers (``"0.mean"``).
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import backend
from xpnet.data import preprocessing as pre
from xpnet.onnx.graph import GraphBuilder

__all__ = ["PREPROCESSING_EXPORTERS"]


def _buffer(g: GraphBuilder, step: Any, attr: str, name: str) -> str:
    return g.constant(backend.to_numpy(getattr(step, attr)), f"{name}.{attr}")


def _standardize(g: GraphBuilder, m: pre.Standardize, x: str, name: str, xs: Any,
                 ys: Any) -> str:
    centred = g.node("Sub", [x, _buffer(g, m, "mean", name)], f"{name}.centred")
    return g.node("Div", [centred, _buffer(g, m, "std", name)], name)  # (x - mu) / sigma


def _mean_image(g: GraphBuilder, m: pre.MeanImage, x: str, name: str, xs: Any,
                ys: Any) -> str:
    return g.node("Sub", [x, _buffer(g, m, "mean", name)], name)


def _unflatten(g: GraphBuilder, flat: str, name: str, xs: Any) -> str:
    """(N, D) back to one example's shape xs[1:], any batch size."""
    return g.node("Reshape", [flat, g.ints([-1, *xs[1:]], f"{name}.shape")], name)


def _gcn(g: GraphBuilder, m: pre.GlobalContrastNormalize, x: str, name: str, xs: Any,
         ys: Any) -> str:
    """y = s c / max(eps, sqrt(b + mean(c^2))), c = x - mean(x), over each example."""
    flat = g.node("Flatten", [x], f"{name}.flat", axis=1)  # (N, D)
    mean = g.reduce("ReduceMean", flat, [1], f"{name}.mean", keepdims=1)  # (N, 1)
    c = g.node("Sub", [flat, mean], f"{name}.centred")
    var = g.reduce("ReduceMean", g.node("Mul", [c, c], f"{name}.square"), [1],
                   f"{name}.var", keepdims=1)
    norm = g.node("Sqrt", [g.node("Add", [var, g.constant(m.sqrt_bias, f"{name}.sqrt_bias")],
                                  f"{name}.biased")], f"{name}.norm")
    d = g.node("Max", [norm, g.constant(m.eps, f"{name}.eps")], f"{name}.divisor")
    y = g.node("Mul", [g.node("Div", [c, d], f"{name}.unit"),
                       g.constant(m.scale, f"{name}.scale")], f"{name}.scaled")
    return _unflatten(g, y, name, xs)


def _zca(g: GraphBuilder, m: pre.ZCAWhitening, x: str, name: str, xs: Any, ys: Any) -> str:
    flat = g.node("Flatten", [x], f"{name}.flat", axis=1)  # (N, D)
    centred = g.node("Sub", [flat, _buffer(g, m, "mean", name)], f"{name}.centred")
    white = g.node("MatMul", [centred, _buffer(g, m, "whiten", name)], f"{name}.white")
    return _unflatten(g, white, name, xs)


def _clip(g: GraphBuilder, m: pre.Clip, x: str, name: str, xs: Any, ys: Any) -> str:
    low = g.constant(numpy.asarray(backend.to_numpy(m.low)).reshape(()), f"{name}.low")
    high = g.constant(numpy.asarray(backend.to_numpy(m.high)).reshape(()), f"{name}.high")
    return g.node("Clip", [x, low, high], name)


#: Pre-processing step class -> converter (see :mod:`xpnet.onnx.export_ops`).
PREPROCESSING_EXPORTERS: dict[type, Any] = {
    pre.Standardize: _standardize,
    pre.MeanImage: _mean_image,
    pre.GlobalContrastNormalize: _gcn,
    pre.ZCAWhitening: _zca,
    pre.Clip: _clip,
}
