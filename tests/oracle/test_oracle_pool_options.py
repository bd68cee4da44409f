"""Dilated max pooling and paddings per side against PyTorch, float64, rtol 1e-10.

PyTorch's max_pool2d takes a dilation; a padding per side it has only as an explicit
``F.pad`` before the op (-inf for max, zeros for the average and the convolution), which
is what xpnet's per-side padding means (outside ceil mode). Both xpnet paths are compared
(the NumPy views and the compiled kernels, which take the undilated windows).
"""

import numpy
import pytest

from xpnet import Tensor
from xpnet import functions as F
from xpnet.testing import away_from, distinct

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RTOL = 1e-10


def _both(fn, tfn, x, *more):
    """(xpnet y, dE/dx), (torch y, dE/dx) with the same output gradient."""
    gy = None
    ts = [Tensor(a, requires_grad=True) for a in (x, *more)]
    y = fn(*ts)
    gy = numpy.random.default_rng(0).standard_normal(y.shape)
    y.backward(gy)
    tt = [torch.tensor(a, requires_grad=True) for a in (x, *more)]
    ty = tfn(*tt)
    ty.backward(torch.tensor(gy))
    return (y.data, [t.grad for t in ts]), (ty.detach().numpy(), [t.grad.numpy() for t in tt])


def _close(ours, theirs):
    numpy.testing.assert_allclose(ours[0], theirs[0], rtol=RTOL, atol=1e-12)
    for a, b in zip(ours[1], theirs[1]):
        numpy.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("shape, k, s, p, d, ceil", [
    ((2, 2, 9, 9), 3, 1, 0, 2, False),
    ((2, 3, 10, 11), 3, 2, 1, 2, False),
    ((1, 2, 9, 8), (2, 3), (2, 1), (1, 1), (3, 2), True),
    ((1, 1, 12, 12), 2, 3, 1, 4, True),
])
def test_dilated_max_pool(shape, k, s, p, d, ceil, impl):
    x = distinct(shape, seed=1)
    ours, theirs = _both(lambda t: F.max_pool2d(t, k, s, p, ceil, dilation=d),
                         lambda t: TF.max_pool2d(t, k, s, p, d, ceil), x)
    _close(ours, theirs)
    _, idx = F.max_pool2d(Tensor(x), k, s, p, ceil, True, dilation=d)
    _, tidx = TF.max_pool2d(torch.tensor(x), k, s, p, d, ceil, return_indices=True)
    numpy.testing.assert_array_equal(idx.data, tidx.numpy())


@pytest.mark.parametrize("pads", [(1, 0, 0, 1), (0, 1, 1, 1), (1, 1, 0, 0)])
def test_max_pool_padding_per_side(pads, impl):
    top, bottom, left, right = pads
    x = distinct((2, 2, 7, 8), seed=2)
    ours, theirs = _both(
        lambda t: F.max_pool2d(t, 3, 2, pads),
        lambda t: TF.max_pool2d(TF.pad(t, (left, right, top, bottom), value=-numpy.inf), 3, 2),
        x)
    _close(ours, theirs)


@pytest.mark.parametrize("pads", [(1, 0, 0, 1), (0, 1, 1, 1)])
def test_avg_pool_padding_per_side_counts_the_padding(pads, impl):
    top, bottom, left, right = pads
    x = away_from((2, 2, 7, 8), seed=3)
    ours, theirs = _both(lambda t: F.avg_pool2d(t, 3, 2, pads, count_include_pad=True),
                         lambda t: TF.avg_pool2d(TF.pad(t, (left, right, top, bottom)), 3, 2),
                         x)
    _close(ours, theirs)


@pytest.mark.parametrize("p, ceil", [(1, False), (1, True), ((1, 0), True)])
def test_avg_pool_count_include_pad_false(p, ceil, impl):
    x = away_from((2, 2, 7, 6), seed=4)
    ours, theirs = _both(
        lambda t: F.avg_pool2d(t, 3, 2, p, ceil, count_include_pad=False),
        lambda t: TF.avg_pool2d(t, 3, 2, p, ceil, count_include_pad=False), x)
    _close(ours, theirs)


@pytest.mark.parametrize("stride, pads, dilation", [(1, (1, 0, 2, 1), 1), (2, (0, 2, 1, 0), 1),
                                                    (1, (2, 1, 1, 2), 2)])
def test_conv2d_padding_per_side(stride, pads, dilation):
    top, bottom, left, right = pads
    rng = numpy.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2)), \
        rng.standard_normal(6)
    ours, theirs = _both(
        lambda a, c, e: F.conv2d(a, c, e, stride, pads, dilation, groups=2),
        lambda a, c, e: TF.conv2d(TF.pad(a, (left, right, top, bottom)), c, e, stride, 0,
                                  dilation, groups=2),
        x, w, b)
    _close(ours, theirs)
