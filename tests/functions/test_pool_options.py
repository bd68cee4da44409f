"""The pooling and convolution options added for interchange with PyTorch and ONNX:
dilation (max, average, L2 pooling), a padding per side (top, bottom, left, right) for
pooling and convolution, count_include_pad with them.

Forward against loops written here from the definitions, backward against central
differences in float64 (``check_op``), on every path (the NumPy views and, for the
undilated windows, the compiled kernels on NCHW planes and channels-last memory).
"""

import math

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet import functions as F
from xpnet.functions.pooling._window import geometry
from xpnet.testing import away_from, check_op, distinct

# (shape, kernel, stride, padding (top, bottom, left, right), dilation, ceil_mode)
MODES = {
    "dilation2": ((2, 2, 7, 8), 2, 1, (0, 0, 0, 0), 2, False),
    "dilation2_stride2_pad": ((1, 2, 9, 9), 3, 2, (1, 1, 1, 1), 2, False),
    "dilation_nonsquare_ceil": ((2, 1, 8, 9), (2, 3), (2, 1), (1, 1, 0, 1), (3, 2), True),
    "per_side_pad": ((2, 2, 6, 7), 3, 2, (1, 0, 0, 1), 1, False),
    "per_side_pad_ceil": ((1, 2, 6, 6), 3, 2, (0, 1, 1, 0), 1, True),
    "per_side_pad_stride1": ((2, 1, 5, 5), (2, 3), 1, (1, 0, 1, 0), 1, False),
}


def _sizes(n, k, s, p, q, d, ceil):
    """Output size, written from the definition: the windows that start inside the
    input or the leading padding and fit (floor) or reach past (ceil) the padded input."""
    extent = d * (k - 1) + 1
    f = math.ceil if ceil else math.floor
    out = f((n + p + q - extent) / s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _two(v):
    return v if isinstance(v, tuple) else (v, v)


def _windows(shape, kernel, stride, padding, dilation, ceil):
    """For every output (i, j): the tap positions (r, c) of its window, padded or not."""
    (kh, kw), (sh, sw), (dh, dw) = _two(kernel), _two(stride), _two(dilation)
    top, bottom, left, right = padding
    h, w = shape[2:]
    oh = _sizes(h, kh, sh, top, bottom, dh, ceil)
    ow = _sizes(w, kw, sw, left, right, dw, ceil)
    out = {}
    for i in range(oh):
        for j in range(ow):
            out[i, j] = [(i * sh - top + a * dh, j * sw - left + b * dw)
                         for a in range(kh) for b in range(kw)]
    return oh, ow, out, (h + bottom, w + right)


def reference(x, kind, kernel, stride, padding, dilation, ceil, include_pad=True):
    """Loops over the windows: max (padding is -inf), mean or root mean square (padding
    is 0; the divisor counts the taps inside the padded input, or inside the input)."""
    oh, ow, wins, (hend, wend) = _windows(x.shape, kernel, stride, padding, dilation, ceil)
    n, c, h, w = x.shape
    y = numpy.empty((n, c, oh, ow))
    for (i, j), taps in wins.items():
        inside = [(r, q) for r, q in taps if 0 <= r < h and 0 <= q < w]
        vals = numpy.stack([x[:, :, r, q] for r, q in inside], axis=-1)  # (N, C, taps)
        if kind == "max":
            y[:, :, i, j] = vals.max(axis=-1)
            continue
        bound = [(r, q) for r, q in taps if r < hend and q < wend]
        div = len(bound) if include_pad else len(inside)
        sq = vals * vals if kind == "l2" else vals
        mean = sq.sum(axis=-1) / div
        y[:, :, i, j] = numpy.sqrt(mean) if kind == "l2" else mean
    return y


def _op(kind, kernel, stride, padding, dilation, ceil, include_pad=True):
    if kind == "max":
        return lambda t: F.max_pool2d(t, kernel, stride, padding, ceil, dilation=dilation)
    if kind == "avg":
        return lambda t: F.avg_pool2d(t, kernel, stride, padding, ceil, include_pad,
                                      dilation=dilation)
    return lambda t: F.l2_pool2d(t, kernel, stride, padding, ceil, dilation=dilation)


@pytest.mark.parametrize("kind", ["max", "avg", "l2"])
@pytest.mark.parametrize("mode", list(MODES))
def test_forward_and_gradient(kind, mode, impl):
    shape, kernel, stride, padding, dilation, ceil = MODES[mode]
    x = distinct(shape, seed=3) if kind == "max" else away_from(shape, seed=3)
    check_op(_op(kind, kernel, stride, padding, dilation, ceil),
             lambda a: reference(a, kind, kernel, stride, padding, dilation, ceil), x)


@pytest.mark.parametrize("mode", ["per_side_pad", "per_side_pad_ceil", "dilation2_stride2_pad"])
def test_avg_without_padding_in_divisor(mode, impl):
    shape, kernel, stride, padding, dilation, ceil = MODES[mode]
    x = away_from(shape, seed=4)
    check_op(_op("avg", kernel, stride, padding, dilation, ceil, include_pad=False),
             lambda a: reference(a, "avg", kernel, stride, padding, dilation, ceil, False), x)


def test_max_switches_of_a_dilated_window_point_into_the_input():
    x = distinct((1, 2, 7, 7), seed=5)
    y, idx = F.max_pool2d(Tensor(x), 3, 2, (1, 0, 1, 0), return_indices=True, dilation=2)
    flat = x.reshape(1, 2, -1)
    numpy.testing.assert_array_equal(
        numpy.take_along_axis(flat, idx.data.reshape(1, 2, -1), axis=2).reshape(y.shape),
        y.data)


def test_equal_sides_give_the_same_bits_as_the_pair():
    x = Tensor(numpy.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype("float32"))
    for op in (F.max_pool2d, F.avg_pool2d, F.l2_pool2d):
        numpy.testing.assert_array_equal(op(x, 3, 2, (1, 1, 1, 1)).data, op(x, 3, 2, 1).data)
    w = Tensor(numpy.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype("float32"))
    numpy.testing.assert_array_equal(F.conv2d(x, w, padding=(1, 1, 2, 2)).data,
                                     F.conv2d(x, w, padding=(1, 2)).data)


def test_geometry_of_a_padding_per_side():
    g = geometry("max_pool2d", (1, 1, 6, 7), 3, 2, (1, 0, 0, 1), False, 1)
    assert (g.ph, g.qh, g.pw, g.qw, g.oh, g.ow) == (1, 0, 0, 1, 3, 3)
    g = geometry("max_pool2d", (1, 1, 9, 9), 3, 1, 0, False, 2)
    assert (g.oh, g.ow, g.dilated) == (5, 5, True)


@pytest.mark.parametrize("bad, message", [
    ({"padding": (2, 0, 0, 0)}, "at most half the kernel"),
    ({"padding": (1, 1, 1)}, "four ints"),
    ({"padding": (0, -1, 0, 0)}, ">= 0"),
    ({"dilation": 0}, "dilation must be >= 1"),
    ({"dilation": 4}, "dilated to"),
])
def test_bad_options_are_one_clear_error(bad, message):
    x = Tensor(numpy.zeros((1, 1, 6, 6)))
    args = {"padding": 0, "dilation": 1, **bad}
    with pytest.raises((ValueError, TypeError), match=message):
        F.max_pool2d(x, 3, 1, args["padding"], dilation=args["dilation"])


def test_layers_take_the_options():
    x = Tensor(away_from((1, 2, 8, 8), seed=6))
    for layer, kind in ((nn.MaxPool2d(3, 2, (1, 0, 1, 0), dilation=2), "max"),
                        (nn.AvgPool2d(2, 2, (1, 0, 0, 1), count_include_pad=False), "avg"),
                        (nn.L2Pool2d(2, 1, dilation=2), "l2")):
        pad = (1, 0, 1, 0) if kind == "max" else ((1, 0, 0, 1) if kind == "avg" else (0,) * 4)
        k, s, d = (3, 2, 2) if kind == "max" else ((2, 2, 1) if kind == "avg" else (2, 1, 2))
        numpy.testing.assert_allclose(
            layer(x).data, reference(x.data, kind, k, s, pad, d, False, kind != "avg"),
            rtol=1e-12)
    assert "dilation=2" in repr(nn.MaxPool2d(3, 2, dilation=2))
    with pytest.raises(ValueError, match="at most half"):
        nn.MaxPool2d(2, padding=(0, 2, 0, 0))


# ------------------------------------------------------------------ convolution
def conv_reference(x, w, b, stride, padding):
    """Loops: zero padding per side, then the cross-correlation with stride."""
    top, bottom, left, right = padding
    xp = numpy.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, o, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    oh = (xp.shape[2] - kh) // stride + 1
    ow = (xp.shape[3] - kw) // stride + 1
    y = numpy.empty((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = numpy.einsum("nchw,ochw->no", patch, w) + b
    return y


@pytest.mark.parametrize("stride, padding", [(1, (1, 0, 2, 1)), (2, (0, 2, 1, 0)),
                                             (1, (2, 2, 0, 1))])
def test_conv2d_padding_per_side(stride, padding):
    rng = numpy.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2)), \
        rng.standard_normal(4)
    check_op(lambda a, c, d: F.conv2d(a, c, d, stride, padding),
             lambda a, c, d: conv_reference(a, c, d, stride, padding), x, w, b)


def test_conv2d_layer_padding_per_side():
    layer = nn.Conv2d(2, 3, 3, padding=(1, 0, 0, 1), rng=numpy.random.default_rng(0),
                      dtype="float64")
    x = numpy.random.default_rng(1).standard_normal((1, 2, 5, 5))
    numpy.testing.assert_allclose(
        layer(Tensor(x)).data,
        conv_reference(x, layer.weight.data, layer.bias.data, 1, (1, 0, 0, 1)), rtol=1e-12)
    assert nn.Conv2d(2, 3, 3, padding=(1, 1, 2, 2)).padding == (1, 2)
