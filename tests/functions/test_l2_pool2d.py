"""l2_pool2d: y = sqrt(mean of x^2 over the window); gradients, the zero window, errors."""

import math

import numpy
import pytest

from xpnet import Tensor
from xpnet import functions as F
from xpnet.functions.pooling._window import geometry
from xpnet.functions.pooling.l2_pool2d import L2Pool2dFunction
from xpnet.testing import away_from, check_op

# (shape, kernel, stride, padding, ceil_mode)
MODES = {
    "2x2s2": ((2, 3, 6, 6), 2, None, 0, False),
    "overlap_3x3s2": ((2, 2, 7, 7), 3, 2, 0, False),
    "stride1_pad1": ((2, 2, 5, 5), 3, 1, 1, False),
    "pad1_ceil": ((2, 2, 6, 7), 3, 2, 1, True),
    "ceil_partial_window": ((1, 2, 5, 5), 2, 2, 0, True),
    "kernel_equals_input": ((2, 3, 4, 4), 4, None, 0, False),
    "batch1_nonsquare": ((1, 2, 5, 7), (2, 3), (1, 2), (1, 1), False),
}


def _size(n, k, s, p, ceil):
    f = math.ceil if ceil else math.floor
    out = f((n + 2 * p - k) / s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def reference(x, kernel, stride, padding, ceil):
    """Loops: sqrt of the window mean of x^2, padding counted as zeros, the window cut at
    H + P (avg_pool2d's divisor with count_include_pad)."""
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
            window = x[:, :, max(r0, 0) : min(r1, h), max(q0, 0) : min(q1, w)]
            y[:, :, i, j] = numpy.sqrt((window**2).sum(axis=(2, 3)) / div)
    return y


@pytest.mark.parametrize("mode", list(MODES))
def test_forward_and_gradient(mode, impl):
    shape, kernel, stride, padding, ceil = MODES[mode]
    g = geometry("l2_pool2d", shape, kernel, stride, padding, ceil)
    x = away_from(shape, seed=1)  # no window near y = 0, where sqrt has no derivative
    check_op(
        lambda t: L2Pool2dFunction(g)(t),
        lambda a: reference(a, kernel, stride, padding, ceil),
        x,
    )


def test_value_is_root_mean_square():
    x = Tensor(numpy.array([[[[3.0, 4.0], [0.0, 0.0]]]]))
    assert F.l2_pool2d(x, 2).data[0, 0, 0, 0] == 2.5  # sqrt((9 + 16) / 4)


def test_gradient_of_a_zero_window_is_zero(impl):
    x = numpy.ones((1, 1, 4, 4))
    x[0, 0, :2, :2] = 0.0  # window (0, 0) is all zeros: y = 0 there
    t = Tensor(x, requires_grad=True)
    g = geometry("l2_pool2d", x.shape, 2, 2, 0, False)
    y = L2Pool2dFunction(g)(t)
    y.backward(numpy.ones(y.shape))
    assert y.data[0, 0, 0, 0] == 0.0
    assert numpy.isfinite(t.grad).all()
    numpy.testing.assert_array_equal(t.grad[0, 0, :2, :2], 0.0)
    numpy.testing.assert_allclose(t.grad[0, 0, 2:, 2:], 0.25)  # x / (y D) = 1 / (1 * 4)


def test_float32_stays_float32(impl):
    x = Tensor(numpy.ones((2, 3, 6, 6), numpy.float32), requires_grad=True)
    y = L2Pool2dFunction(geometry("l2_pool2d", x.shape, 3, 2, 1, True))(x)
    y.backward(numpy.ones(y.shape, numpy.float32))
    assert y.dtype == numpy.float32 and x.grad.dtype == numpy.float32


def test_bad_arguments():
    x = Tensor(numpy.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="l2_pool2d: kernel .* larger than the padded input"):
        F.l2_pool2d(x, 6, padding=0)
    with pytest.raises(ValueError, match="l2_pool2d: padding must be at most half"):
        F.l2_pool2d(x, 2, padding=(0, 2))
    with pytest.raises(ValueError, match="4-d input"):
        F.l2_pool2d(Tensor(numpy.zeros((4, 4))), 2)
    with pytest.raises(TypeError, match="stride must be an int"):
        F.l2_pool2d(x, 2, stride="2")
