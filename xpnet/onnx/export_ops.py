"""How each xpnet layer is written as ONNX operators: the literal table EXPORTERS.

A converter is ``convert(g, layer, x, name, x_shape, y_shape) -> output name``: ``g`` the
:class:`~xpnet.onnx.graph.GraphBuilder`, ``x`` the name of the layer's input in the graph,
``name`` the layer's dotted name in the model (its initialisers are named like its state
dict entries, ``"3.weight"``), and the shapes of one traced forward pass in eval mode.
The fitted pre-processing steps are in :mod:`xpnet.onnx.export_preprocessing`.

Conventions checked here, each against onnxruntime in ``tests/onnx``:

- Padding: ONNX ``pads`` are (top, left, bottom, right); xpnet's per side (top, bottom,
  left, right).
- Average pooling: PyTorch's divisor counts the padding (``count_include_pad``) but never
  the positions a ceil-mode window runs past the padded input; ONNX's
  ``count_include_pad=1`` leaves that case to the runtime. So the padding is written as
  a Pad node and AveragePool runs with ``count_include_pad=0`` on the padded map, whose
  divisor is exactly PyTorch's; a window that this makes start in the trailing padding
  (which PyTorch's ceil mode drops) is cut off by a Slice.
- L2 pooling: ``LpPool(p=2) / sqrt(kh kw)`` where every window lies inside the padded
  input, else x*x, AveragePool as above, Sqrt (see :func:`xpnet.functions.l2_pool2d`).
- LRN: xpnet, PyTorch and ONNX all divide alpha by the size (k + alpha/n sum a^2), so
  alpha is written as it is; an even size centres the window one channel differently in
  ONNX, so it is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy

from xpnet import backend, nn
from xpnet.functions.pooling._window import divisor, geometry, padding4
from xpnet.functions.utils import pair
from xpnet.models.multiclass_perceptron import MulticlassPerceptron
from xpnet.models.perceptron import Perceptron
from xpnet.onnx.errors import ExportError
from xpnet.onnx.export_preprocessing import PREPROCESSING_EXPORTERS
from xpnet.onnx.graph import GraphBuilder

__all__ = ["EXPORTERS"]

Converter = Callable[..., str]


def _array(p: Any) -> numpy.ndarray:
    return backend.to_numpy(p.data if hasattr(p, "data") else p)


def _pool_args(layer: Any) -> tuple[list[int], list[int], list[int], list[int]]:
    """kernel_shape, strides, ONNX pads (top, left, bottom, right), dilations."""
    kernel = list(pair(layer.kernel_size, "kernel_size", "export", 1))
    stride = list(pair(layer.stride, "stride", "export", 1))
    top, bottom, left, right = padding4(layer.padding, "export")
    dilation = list(pair(getattr(layer, "dilation", 1), "dilation", "export", 1))
    return kernel, stride, [top, left, bottom, right], dilation


def _dilations(g: GraphBuilder, dilation: list[int], since: int, op: str, name: str) -> dict:
    if dilation == [1, 1]:
        return {}
    if g.opset < since:
        raise ExportError(f"export: layer {name!r}: a dilated {op} needs opset >= {since} "
                          f"(--opset {since}), the graph is written for opset {g.opset}")
    return {"dilations": dilation}


# ----------------------------------------------------------------- weighted layers
def _conv(g: GraphBuilder, m: nn.Conv2d, x: str, name: str, xs: Any, ys: Any) -> str:
    top, bottom, left, right = padding4(m.padding, "export")
    inputs = [x, g.constant(_array(m.weight), f"{name}.weight")]
    if m.bias is not None:
        inputs.append(g.constant(_array(m.bias), f"{name}.bias"))
    return g.node("Conv", inputs, name, kernel_shape=list(m.kernel_size),
                  strides=list(m.stride), pads=[top, left, bottom, right],
                  dilations=list(m.dilation), group=m.groups)


def _dense(g: GraphBuilder, x: str, name: str, weight: Any, bias: Any, xs: Any,
           alpha: float = 1.0) -> str:
    """y = alpha x W^T + b: Gemm for a matrix input, MatMul (+ Add) otherwise."""
    w = g.constant(_array(weight), f"{name}.weight")
    if len(xs) == 2:
        inputs = [x, w] + ([g.constant(_array(bias), f"{name}.bias")] if bias is not None
                           else [])
        return g.node("Gemm", inputs, name, transB=1, alpha=float(alpha))
    wt = g.node("Transpose", [w], f"{name}.weight_t", perm=[1, 0])
    y = g.node("MatMul", [x, wt], f"{name}.matmul")
    if alpha != 1.0:
        y = g.node("Mul", [y, g.constant(alpha, f"{name}.alpha")], f"{name}.scaled")
    if bias is not None:
        y = g.node("Add", [y, g.constant(_array(bias), f"{name}.bias")], name)
    return y


def _linear(g: GraphBuilder, m: Any, x: str, name: str, xs: Any, ys: Any) -> str:
    return _dense(g, x, name, m.weight, m.bias, xs)


def _flat_linear(g: GraphBuilder, m: Any, x: str, name: str, xs: Any, ys: Any) -> str:
    """The perceptrons: flatten the examples, then the dense map (and Perceptron's step)."""
    if len(xs) != 2:
        x, xs = g.node("Flatten", [x], f"{name}.flatten", axis=1), (xs[0], -1)
    y = _dense(g, x, f"{name}.linear" if isinstance(m, Perceptron) else name, m.weight,
               m.bias, xs)
    return _step(g, m, y, name, ys, ys) if isinstance(m, Perceptron) else y


def _maxout_linear(g: GraphBuilder, m: nn.MaxoutLinear, x: str, name: str, xs: Any,
                   ys: Any) -> str:
    z = _dense(g, x, f"{name}.pieces", m.weight, m.bias, xs)  # (N, out * p)
    z = g.node("Reshape", [z, g.ints([0, m.out_features, m.pool_size], f"{name}.shape")],
               f"{name}.units")  # (N, out, p): unit i's pieces are rows i*p .. i*p + p - 1
    return g.reduce("ReduceMax", z, [2], name, keepdims=0)


def _dropconnect(g: GraphBuilder, m: nn.DropConnectLinear, x: str, name: str, xs: Any,
                 ys: Any) -> str:
    if m.inference == "gaussian":
        g.notes.append(f"layer {name} (DropConnectLinear) is exported with its mean-weight "
                       "inference a((1 - p) W v + b); the Gaussian-sampling inference it "
                       "was set to (Wan et al. 2013, Algorithm 2) is not exported")
    else:
        g.notes.append(f"layer {name} (DropConnectLinear): mean-weight inference "
                       "a((1 - p) W v + b); the Gaussian-sampling inference is not exported")
    y = _dense(g, x, f"{name}.linear" if m.activation else name, m.weight, m.bias, xs,
               alpha=1.0 - m.p)
    act = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}.get(m.activation)
    return g.node(act, [y], name) if act else y


def _locally_connected(g: GraphBuilder, m: nn.LocallyConnected2d, x: str, name: str,
                       xs: Any, ys: Any) -> str:
    """Unshared kernels as standard ops: a Conv with one-hot kernels lays out every patch
    (im2col, (N, K, oH, oW), K = C kh kw), then one batched MatMul per output position
    (L = oH oW positions, weights (L, K, O)), then the bias (O, oH, oW)."""
    c, (kh, kw), (oh, ow) = m.in_channels, m.kernel_size, m.output_size
    k, o, positions = c * kh * kw, m.out_channels, oh * ow
    eye = numpy.eye(k, dtype=g.dtype).reshape(k, c, kh, kw)  # picks input (c, i, j)
    ph, pw = m.padding
    cols = g.node("Conv", [x, g.constant(eye, f"{name}.patches_kernel")], f"{name}.patches",
                  kernel_shape=[kh, kw], strides=list(m.stride), pads=[ph, pw, ph, pw])
    cols = g.node("Reshape", [cols, g.ints([0, k, positions], f"{name}.cols_shape")],
                  f"{name}.cols")  # (N, K, L)
    cols = g.node("Transpose", [cols], f"{name}.cols_t", perm=[2, 0, 1])  # (L, N, K)
    w = _array(m.weight).reshape(positions, o, k).transpose(0, 2, 1)  # (L, K, O)
    y = g.node("MatMul", [cols, g.constant(w, f"{name}.weight_lko")], f"{name}.matmul")
    y = g.node("Transpose", [y], f"{name}.y_t", perm=[1, 2, 0])  # (N, O, L)
    y = g.node("Reshape", [y, g.ints([0, o, oh, ow], f"{name}.y_shape")],
               f"{name}.unbiased" if m.bias is not None else name)  # (N, O, oH, oW)
    if m.bias is not None:
        y = g.node("Add", [y, g.constant(_array(m.bias), f"{name}.bias")], name)
    return y


# ----------------------------------------------------------------------- pooling
def _max_pool(g: GraphBuilder, m: nn.MaxPool2d, x: str, name: str, xs: Any, ys: Any) -> str:
    if m.return_indices:
        raise ExportError(f"export: layer {name!r} (MaxPool2d with return_indices=True) "
                          "returns its switches, which an inference graph does not carry")
    kernel, stride, pads, dilation = _pool_args(m)
    y = g.node("MaxPool", [x], name, kernel_shape=kernel, strides=stride, pads=pads,
               ceil_mode=int(m.ceil_mode), **_dilations(g, dilation, 10, "MaxPool", name))
    return _cut(g, y, name, xs, ys, kernel, stride, pads, dilation, m.ceil_mode, padded=False)


def _cut(g: GraphBuilder, y: str, name: str, xs: Any, ys: Any, kernel: list[int],
         stride: list[int], pads: list[int], dilation: list[int], ceil: bool,
         padded: bool) -> str:
    """A Slice to xpnet's output size where ONNX's ceil-mode size keeps one window more:
    the spec's ceil((H + pads - D (K - 1) - 1) / S) + 1 keeps a last window that starts in
    the trailing padding (or, on an explicitly padded map, in what was padding), which
    PyTorch's rule drops; runtimes differ on it, the Slice makes every one agree."""
    if not ceil:
        return y
    sizes = []
    for axis in (0, 1):
        span = (xs[2 + axis] + pads[axis] + pads[axis + 2]
                - dilation[axis] * (kernel[axis] - 1) - 1)
        sizes.append(-(-span // stride[axis]) + 1)
    if tuple(sizes) == tuple(ys[2:]):
        return y
    return g.node("Slice", [y, g.ints([0, 0], f"{name}.starts"),
                            g.ints(list(ys[2:]), f"{name}.ends"),
                            g.ints([2, 3], f"{name}.axes")], f"{name}.cut")


def _mean_pool(g: GraphBuilder, x: str, name: str, xs: Any, ys: Any, m: Any,
               count_include_pad: bool) -> str:
    """The window mean with PyTorch's divisor: explicit zero padding when it counts, then
    AveragePool counting only what it is given (see the module docstring)."""
    kernel, stride, pads, dilation = _pool_args(m)
    extra = _dilations(g, dilation, 19, "AveragePool", name)
    if count_include_pad and any(pads):
        top, left, bottom, right = pads
        x = g.node("Pad", [x, g.ints([0, 0, top, left, 0, 0, bottom, right],
                                     f"{name}.pads")], f"{name}.padded")
        y = g.node("AveragePool", [x], name, kernel_shape=kernel, strides=stride,
                   ceil_mode=int(m.ceil_mode), count_include_pad=0, **extra)
        return _cut(g, y, name, xs, ys, kernel, stride, pads, dilation, m.ceil_mode, True)
    y = g.node("AveragePool", [x], name, kernel_shape=kernel, strides=stride, pads=pads,
               ceil_mode=int(m.ceil_mode), count_include_pad=0, **extra)
    return _cut(g, y, name, xs, ys, kernel, stride, pads, dilation, m.ceil_mode, False)


def _avg_pool(g: GraphBuilder, m: nn.AvgPool2d, x: str, name: str, xs: Any, ys: Any) -> str:
    return _mean_pool(g, x, name, xs, ys, m, m.count_include_pad)


def _l2_pool(g: GraphBuilder, m: nn.L2Pool2d, x: str, name: str, xs: Any, ys: Any) -> str:
    kernel, stride, pads, dilation = _pool_args(m)
    top, left, bottom, right = pads
    geo = geometry("export", xs, m.kernel_size, m.stride, (top, bottom, left, right),
                   m.ceil_mode, m.dilation)
    div = divisor(geo, True, numpy, numpy.float64)
    full = bool(numpy.all(div == kernel[0] * kernel[1]))
    if full and (g.opset >= 18 or (not m.ceil_mode and dilation == [1, 1])):
        extra = {"ceil_mode": int(m.ceil_mode)} if g.opset >= 18 else {}
        extra.update(_dilations(g, dilation, 18, "LpPool", name))
        y = g.node("LpPool", [x], f"{name}.lp", kernel_shape=kernel, strides=stride,
                   pads=pads, p=2, **extra)
        y = _cut(g, y, f"{name}.lp", xs, ys, kernel, stride, pads, dilation, m.ceil_mode,
                 False)
        scale = g.constant(1.0 / math.sqrt(kernel[0] * kernel[1]), f"{name}.scale")
        return g.node("Mul", [y, scale], name)  # sqrt(sum x^2) / sqrt(kh kw)
    sq = g.node("Mul", [x, x], f"{name}.square")
    mean = _mean_pool(g, sq, f"{name}.mean", xs, ys, m, True)
    return g.node("Sqrt", [mean], name)


# ------------------------------------------------------------ element-wise, shapes
def _unary(op: str) -> Converter:
    def convert(g: GraphBuilder, m: Any, x: str, name: str, xs: Any, ys: Any) -> str:
        return g.node(op, [x], name)
    return convert


def _step(g: GraphBuilder, m: Any, x: str, name: str, xs: Any, ys: Any) -> str:
    above = g.node("Greater", [x, g.constant(0.0, f"{name}.zero")], f"{name}.above")
    elem = g.onnx.helper.np_dtype_to_tensor_dtype(g.dtype)
    return g.node("Cast", [above], name, to=elem)  # 1 where x > 0, else 0


def _softmax(op: str) -> Converter:
    def convert(g: GraphBuilder, m: Any, x: str, name: str, xs: Any, ys: Any) -> str:
        return g.node(op, [x], name, axis=int(m.axis))
    return convert


def _flatten(g: GraphBuilder, m: nn.Flatten, x: str, name: str, xs: Any, ys: Any) -> str:
    axis = m.start_axis % len(xs)
    if axis == 1:
        return g.node("Flatten", [x], name, axis=1)
    return g.node("Reshape", [x, g.ints([0] * axis + [-1], f"{name}.shape")], name)


def _identity(g: GraphBuilder, m: Any, x: str, name: str, xs: Any, ys: Any) -> str:
    return x  # Dropout and Identity: nothing at inference


def _lrn(g: GraphBuilder, m: nn.LocalResponseNorm, x: str, name: str, xs: Any,
         ys: Any) -> str:
    if m.size % 2 == 0:
        raise ExportError(f"export: layer {name!r} (LocalResponseNorm size {m.size}): an even "
                          "window is centred one channel later in ONNX LRN than in xpnet and "
                          "PyTorch; only odd sizes are exported")
    return g.node("LRN", [x], name, size=m.size, alpha=m.alpha, beta=m.beta, bias=m.k)


def _maxout(g: GraphBuilder, m: nn.Maxout, x: str, name: str, xs: Any, ys: Any) -> str:
    shape = [0, xs[1] // m.pool_size, m.pool_size, *xs[2:]]  # (N, C/p, p, ...)
    z = g.node("Reshape", [x, g.ints(shape, f"{name}.shape")], f"{name}.groups")
    return g.reduce("ReduceMax", z, [2], name, keepdims=0)


#: Layer class -> converter (exact classes; subclasses are looked up by their bases).
EXPORTERS: dict[type, Converter] = {
    nn.Conv2d: _conv,
    nn.Linear: _linear,
    nn.MaxoutLinear: _maxout_linear,
    nn.DropConnectLinear: _dropconnect,
    nn.LocallyConnected2d: _locally_connected,
    MulticlassPerceptron: _flat_linear,
    Perceptron: _flat_linear,
    nn.MaxPool2d: _max_pool,
    nn.AvgPool2d: _avg_pool,
    nn.L2Pool2d: _l2_pool,
    nn.LocalResponseNorm: _lrn,
    nn.Maxout: _maxout,
    nn.ReLU: _unary("Relu"),
    nn.Sigmoid: _unary("Sigmoid"),
    nn.Tanh: _unary("Tanh"),
    nn.Step: _step,
    nn.Softmax: _softmax("Softmax"),
    nn.LogSoftmax: _softmax("LogSoftmax"),
    nn.Flatten: _flatten,
    nn.Identity: _identity,
    nn.Dropout: _identity,
    nn.Dropout2d: _identity,
    **PREPROCESSING_EXPORTERS,
}
