"""xpnet.functions.utils: the helpers every op shares (broadcast gradients, argument
checks, a convolution's output size)."""

import numpy
import pytest

from xpnet.functions.utils import (
    check_broadcast,
    check_ndim,
    normalize_axes,
    out_size,
    pair,
    sum_to,
)


@pytest.mark.parametrize("shape", [(2, 3), (1, 3), (3,), (2, 1), (1, 1), ()])
def test_sum_to_is_the_gradient_of_broadcasting(shape, rng):
    g = rng.standard_normal((4, 2, 3))
    x = rng.standard_normal(shape)
    # <g, broadcast(x)> = <sum_to(g), x> for every x: sum_to is broadcasting's adjoint
    lhs = (g * numpy.broadcast_to(x, g.shape)).sum()
    out = sum_to(g, shape)
    assert out.shape == shape
    numpy.testing.assert_allclose(lhs, (out * x).sum(), rtol=1e-12)


def test_sum_to_returns_the_array_itself_when_the_shapes_agree(rng):
    g = rng.standard_normal((2, 3))
    assert sum_to(g, (2, 3)) is g


def test_normalize_axes():
    assert normalize_axes(None, 3, "sum") == (0, 1, 2)
    assert normalize_axes(-1, 3, "sum") == (2,)
    assert normalize_axes((2, 0), 3, "sum") == (0, 2)
    with pytest.raises(ValueError, match=r"sum: axis 3 is out of range for an input with 3 axes"):
        normalize_axes(3, 3, "sum")
    with pytest.raises(ValueError, match=r"sum: repeated axis in \(1, -2\)"):
        normalize_axes((1, -2), 3, "sum")


def test_pair():
    assert pair(3, "stride", "Conv2d", 1) == (3, 3)
    assert pair([2, 5], "kernel_size", "Conv2d", 1) == (2, 5)
    with pytest.raises(TypeError, match=r"Conv2d: stride must be an int or a pair of ints, "
                                        r"got True"):
        pair(True, "stride", "Conv2d", 1)
    with pytest.raises(TypeError, match=r"got \(1, 2, 3\)"):
        pair((1, 2, 3), "stride", "Conv2d")
    with pytest.raises(ValueError, match=r"Conv2d: stride must be >= 1, got \(1, 0\)"):
        pair((1, 0), "stride", "Conv2d", 1)


def test_shape_checks_name_the_op_and_the_shapes():
    check_ndim(numpy.zeros((1, 2, 3, 4)), 4, "conv2d", "(N, C, H, W)")
    with pytest.raises(ValueError, match=r"conv2d: expected a 4-d input \(N, C, H, W\), "
                                         r"got shape \(2, 3\)"):
        check_ndim(numpy.zeros((2, 3)), 4, "conv2d", "(N, C, H, W)")
    check_broadcast("add", numpy.zeros((2, 1)), numpy.zeros(3))
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        check_broadcast("add", numpy.zeros((2, 3)), numpy.zeros(4))


@pytest.mark.parametrize("n,k,s,p,d", [(28, 5, 1, 2, 1), (227, 11, 4, 0, 1), (13, 3, 2, 1, 2),
                                        (7, 3, 1, 0, 1)])
def test_out_size_counts_the_windows(n, k, s, p, d):
    span = d * (k - 1) + 1  # the window's extent with dilation
    starts = range(-p, n + p - span + 1, s)  # every window inside the padded input
    assert out_size(n, k, s, p, d) == len(starts)
