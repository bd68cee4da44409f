"""avg_pool2d: forward vs a loop reference with PyTorch's divisor rule, gradients, errors.

Every mode runs on the NumPy/CuPy views path and, where numba is installed, the kernel.
"""

import math

import numpy
import pytest

from xpnet import Tensor, cpu
from xpnet import functions as F
from xpnet.functions.pooling._window import geometry
from xpnet.functions.pooling.avg_pool2d import AvgPool2dFunction
from xpnet.testing import check_op

# (shape, kernel, stride, padding, ceil_mode)
MODES = {
    "lenet_2x2s2": ((2, 3, 6, 6), 2, None, 0, False),
    "overlap_3x3s2": ((2, 2, 7, 7), 3, 2, 0, False),
    "stride1_pad1": ((2, 2, 5, 5), 3, 1, 1, False),
    "pad1_ceil": ((2, 2, 6, 7), 3, 2, 1, True),
    "ceil_partial_window": ((1, 2, 5, 5), 2, 2, 0, True),
    "ceil_past_padding": ((1, 1, 6, 6), 3, 2, 1, True),
    "kernel_equals_input": ((2, 3, 4, 4), 4, None, 0, False),
    "batch1_nonsquare": ((1, 2, 5, 7), (2, 3), (1, 2), (1, 1), False),
}


def _size(n, k, s, p, ceil):
    f = math.ceil if ceil else math.floor
    out = f((n + 2 * p - k) / s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def reference(x, kernel, stride, padding, ceil, count_include_pad):
    """Loops with PyTorch's divisor: the window cut at H + P (and at [0, H) without pad)."""
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    sh, sw = (kh, kw) if stride is None else stride if isinstance(stride, tuple) else (stride,) * 2
    ph, pw = padding if isinstance(padding, tuple) else (padding, padding)
    n, c, h, w = x.shape
    oh, ow = _size(h, kh, sh, ph, ceil), _size(w, kw, sw, pw, ceil)
    y = numpy.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, q0 = i * sh - ph, j * sw - pw
            r1, q1 = min(r0 + kh, h + ph), min(q0 + kw, w + pw)
            div = (r1 - r0) * (q1 - q0)
            r0, q0, r1, q1 = max(r0, 0), max(q0, 0), min(r1, h), min(q1, w)
            if not count_include_pad:
                div = (r1 - r0) * (q1 - q0)
            y[:, :, i, j] = x[:, :, r0:r1, q0:q1].sum(axis=(2, 3)) / div
    return y


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("mode", list(MODES))
def test_forward_and_gradient(mode, count_include_pad, impl):
    shape, kernel, stride, padding, ceil = MODES[mode]
    g = geometry("avg_pool2d", shape, kernel, stride, padding, ceil)
    x = numpy.random.default_rng(1).standard_normal(shape)
    check_op(
        lambda t: AvgPool2dFunction(g, count_include_pad)(t),
        lambda a: reference(a, kernel, stride, padding, ceil, count_include_pad),
        x,
    )


def test_public_function_matches_reference():
    x = numpy.random.default_rng(2).standard_normal((2, 3, 7, 6))
    y = F.avg_pool2d(Tensor(x), 3, 2, 1, ceil_mode=True, count_include_pad=False)
    numpy.testing.assert_allclose(y.data, reference(x, 3, 2, 1, True, False), rtol=1e-12)


def test_padding_counts_as_zero_by_default():
    x = Tensor(numpy.ones((1, 1, 2, 2)))
    y = F.avg_pool2d(x, 2, 1, padding=1).data[0, 0]
    numpy.testing.assert_array_equal(y, numpy.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)
    y = F.avg_pool2d(x, 2, 1, padding=1, count_include_pad=False).data[0, 0]
    numpy.testing.assert_array_equal(y, numpy.ones((3, 3)))


def test_float32_stays_float32(impl):
    x = Tensor(numpy.ones((2, 3, 7, 7), numpy.float32), requires_grad=True)
    g = geometry("avg_pool2d", x.shape, 3, 2, 1, True)
    y = AvgPool2dFunction(g, True)(x)
    y.backward(numpy.ones(y.shape, numpy.float32))
    assert y.dtype == numpy.float32 and x.grad.dtype == numpy.float32


@pytest.mark.parametrize("split", [False, True])
def test_numba_matches_views_on_a_batch(split):
    pytest.importorskip("xpnet.cpu.pooling.kernels")
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((4, 5, 13, 11)).astype(numpy.float32)
    gy = rng.standard_normal((4, 5, 7, 6)).astype(numpy.float32)
    g = geometry("avg_pool2d", x.shape, 3, 2, 1, True)
    out = []
    for engines in ({"compiled": False}, {"layout": "nchw"}, {"layout": "nhwc"}):
        t = Tensor(x, requires_grad=True)
        with cpu.engines(**engines, threads=2 if split else 1,
                         split="always" if split else "auto"):
            y = AvgPool2dFunction(g, False)(t)
            y.backward(gy)
        out.append((y.data, t.grad))
    for compiled in out[1:]:
        for a, b in zip(out[0], compiled):
            numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(out[1], out[2]):  # both compiled layouts add in the same order
        numpy.testing.assert_array_equal(a, b)


def test_channels_last_gradient_stays_channels_last():
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(4)
    x = rng.standard_normal((2, 6, 8, 8)).astype(numpy.float32)
    x_cl = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    t = Tensor(x_cl, requires_grad=True)
    y = F.avg_pool2d(t, 3, 2, 1)
    assert y.data.transpose(0, 2, 3, 1).flags.c_contiguous
    numpy.testing.assert_array_equal(y.data, F.avg_pool2d(Tensor(x), 3, 2, 1).data)
    gy = numpy.ascontiguousarray(rng.standard_normal(y.shape).astype(numpy.float32)
                                 .transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y.backward(gy)
    assert t.grad.transpose(0, 2, 3, 1).flags.c_contiguous


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kernel_size": (2, 6)}, ValueError, "larger than the padded input"),
        ({"kernel_size": 2, "padding": 2}, ValueError, "at most half the kernel"),
        ({"kernel_size": (2, -1)}, ValueError, "kernel_size must be >= 1"),
        ({"kernel_size": 2, "padding": -1}, ValueError, "padding must be >= 0"),
        ({"kernel_size": [2, 2, 2]}, TypeError, "pair of ints"),
        ({"kernel_size": 2, "count_include_pad": None}, TypeError, "count_include_pad"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        F.avg_pool2d(Tensor(numpy.zeros((1, 1, 4, 4))), **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="avg_pool2d: expected a 4-d input"):
        F.avg_pool2d(Tensor(numpy.zeros((1, 4, 4))), 2)
    with pytest.raises(TypeError, match="floating"):
        F.avg_pool2d(numpy.zeros((1, 1, 4, 4), dtype=numpy.int32), 2)
