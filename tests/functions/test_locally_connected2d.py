"""locally_connected2d: forward against a naive loop, backward against numerics, every mode."""

import numpy
import pytest

from xpnet import Tensor
from xpnet import functions as F
from xpnet.testing import check_op, gradcheck


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_locally_connected2d(x, w, b=None, stride=1, padding=0):
    """Loops over (n, o, p, q): a different kernel w[p, q, o] at every output position."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    oH, oW, co, C, kh, kw = w.shape
    N = x.shape[0]
    xpad = numpy.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = numpy.zeros((N, co, oH, oW))
    for n in range(N):
        for o in range(co):
            for p in range(oH):
                for q in range(oW):
                    patch = xpad[n, :, p * sh : p * sh + kh, q * sw : q * sw + kw]
                    y[n, o, p, q] = (patch * w[p, q, o]).sum()
                    y[n, o, p, q] += 0 if b is None else b[o, p, q]
    return y


# (N, C, H, W), co, kernel, stride, padding, bias
MODES = {
    "base": ((2, 2, 5, 5), 3, 3, 1, 0, True),
    "pad1": ((2, 2, 4, 4), 2, 3, 1, 1, True),
    "stride2": ((2, 2, 7, 7), 2, 3, 2, 0, True),
    "stride2_pad1": ((2, 2, 6, 6), 2, 3, 2, 1, True),
    "non_square": ((2, 2, 6, 5), 2, (3, 2), (2, 1), (0, 1), True),
    "no_bias": ((2, 2, 5, 5), 3, 2, 1, 0, False),
    "kernel_equals_input": ((2, 2, 3, 3), 2, 3, 1, 0, True),
    "kernel_equals_padded_input": ((2, 1, 2, 2), 2, 4, 1, 1, True),
    "batch1": ((1, 3, 5, 5), 2, 3, 2, 1, True),
}


def _make(mode, seed=0):
    (N, C, H, W), co, k, s, p, bias = MODES[mode]
    (kh, kw), (sh, sw), (ph, pw) = _pair(k), _pair(s), _pair(p)
    oH, oW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((oH, oW, co, C, kh, kw))
    b = rng.standard_normal((co, oH, oW)) if bias else None
    return x, w, b, dict(stride=s, padding=p)


@pytest.mark.parametrize("mode", MODES)
def test_locally_connected2d(mode):
    x, w, b, kw = _make(mode)
    if b is None:
        check_op(lambda x, w: F.locally_connected2d(x, w, **kw),
                 lambda x, w: ref_locally_connected2d(x, w, **kw), x, w)
    else:
        check_op(lambda x, w, b: F.locally_connected2d(x, w, b, **kw),
                 lambda x, w, b: ref_locally_connected2d(x, w, b, **kw), x, w, b)


@pytest.mark.parametrize("wrt", [[0], [1], [2]], ids=["x", "w", "b"])
def test_partial_gradients(wrt):
    x, w, b, kw = _make("stride2_pad1")
    gradcheck(lambda x, w, b: F.locally_connected2d(x, w, b, **kw), x, w, b, wrt=wrt)


def test_shared_weights_reduce_to_conv2d():
    """With the same kernel at every position it is a convolution."""
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    k = rng.standard_normal((4, 3, 3, 3))
    w = numpy.broadcast_to(k, (4, 2, 4, 3, 3, 3)).copy()  # oH = 4, oW = 2
    y = F.locally_connected2d(x, w, stride=2, padding=(1, 0)).data
    numpy.testing.assert_allclose(y, F.conv2d(x, k, stride=2, padding=(1, 0)).data, rtol=1e-12)


def test_float32_stays_float32():
    x, w, b, kw = _make("stride2_pad1")
    X = Tensor(x.astype(numpy.float32), requires_grad=True)
    W = Tensor(w.astype(numpy.float32), requires_grad=True)
    B = Tensor(b.astype(numpy.float32), requires_grad=True)
    y = F.locally_connected2d(X, W, B, **kw)
    y.sum().backward()
    assert y.dtype == X.grad.dtype == W.grad.dtype == B.grad.dtype == numpy.float32


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape, kwargs, match",
    [
        ((2, 5, 5), (3, 3, 2, 2, 3, 3), None, {}, r"expected a 4-d input .* \(2, 5, 5\)"),
        ((1, 2, 5, 5), (3, 3, 2, 2, 3), None, {}, r"expected a 6-d weight"),
        ((1, 2, 5, 5), (3, 3, 2, 3, 3, 3), None, {}, r"expects C=3, input has C=2"),
        ((1, 2, 5, 5), (1, 1, 2, 2, 6, 6), None, {}, r"kernel \(6, 6\) is larger .* \(5, 5\)"),
        ((1, 2, 5, 5), (3, 3, 2, 2, 3, 3), None, {"stride": 2}, r"gives \(2, 2\)"),
        ((1, 2, 5, 5), (3, 3, 2, 2, 3, 3), (2,), {}, r"bias must have shape \(2, 3, 3\)"),
        ((1, 2, 5, 5), (3, 3, 2, 2, 3, 3), None, {"padding": -1}, r"padding must be >= 0"),
    ],
)
def test_errors(x_shape, w_shape, b_shape, kwargs, match):
    b = None if b_shape is None else numpy.zeros(b_shape)
    with pytest.raises(ValueError, match=match):
        F.locally_connected2d(numpy.zeros(x_shape), numpy.zeros(w_shape), b, **kwargs)
