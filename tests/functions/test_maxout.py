"""maxout: the max over groups of consecutive channels, dense and conv, gradients, errors."""

import numpy
import pytest

from xpnet import Tensor
from xpnet import functions as F
from xpnet.testing import check_op, distinct


def reference(x, p, axis=1):
    """Loops over groups: output channel g = max of input channels g*p .. g*p + p - 1."""
    x = numpy.moveaxis(x, axis, 0)
    groups = [x[g * p : (g + 1) * p].max(axis=0) for g in range(x.shape[0] // p)]
    return numpy.moveaxis(numpy.stack(groups), 0, axis)


@pytest.mark.parametrize(
    ("shape", "pool_size", "axis"),
    [
        ((3, 6), 2, 1),  # dense
        ((3, 6), 3, 1),
        ((2, 6, 3, 3), 2, 1),  # conv
        ((1, 4, 2, 3), 4, 1),  # batch 1, one group
        ((2, 5), 1, 1),  # pool_size 1: identity
        ((2, 3, 6), 3, -1),  # last axis
    ],
)
def test_forward_and_gradient(shape, pool_size, axis):
    x = distinct(shape, seed=1)
    check_op(lambda t: F.maxout(t, pool_size, axis), lambda a: reference(a, pool_size, axis), x)


def test_grouping_is_consecutive_channels():
    x = Tensor(numpy.array([[1.0, 5.0, 3.0, 2.0, 0.0, 9.0]]))
    numpy.testing.assert_array_equal(F.maxout(x, 2).data, [[5.0, 3.0, 9.0]])
    numpy.testing.assert_array_equal(F.maxout(x, 3).data, [[5.0, 9.0]])


def test_error_flows_only_to_the_winning_piece_first_on_ties():
    x = Tensor(numpy.array([[2.0, 2.0, 1.0, 4.0]]), requires_grad=True)
    F.maxout(x, 2).backward(numpy.array([[10.0, 20.0]]))
    numpy.testing.assert_array_equal(x.grad, [[10.0, 0.0, 0.0, 20.0]])


def test_conv_maxout_is_per_position():
    x = distinct((2, 4, 3, 3), seed=2)
    y = F.maxout(Tensor(x), 2).data
    numpy.testing.assert_array_equal(y[:, 1], numpy.maximum(x[:, 2], x[:, 3]))


def test_float32_stays_float32():
    x = Tensor(distinct((2, 6, 2, 2)).astype(numpy.float32), requires_grad=True)
    y = F.maxout(x, 3)
    y.backward(numpy.ones(y.shape, numpy.float32))
    assert y.dtype == numpy.float32 and x.grad.dtype == numpy.float32


def test_errors():
    x = Tensor(numpy.zeros((2, 6)))
    with pytest.raises(ValueError, match="6 channels on axis 1 are not divisible by pool_size 4"):
        F.maxout(x, 4)
    with pytest.raises(ValueError, match="pool_size must be >= 1"):
        F.maxout(x, 0)
    with pytest.raises(TypeError, match="pool_size must be an int"):
        F.maxout(x, 2.0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        F.maxout(x, 2, axis=2)
    with pytest.raises(TypeError, match="floating"):
        F.maxout(numpy.zeros((2, 6), numpy.int64), 2)
