"""max_unpool2d: values back at their switches, the gather backward, round trips, errors."""

import numpy
import pytest

from xpnet import Tensor
from xpnet import functions as F
from xpnet.testing import check_op, distinct


def reference(x, indices, out_hw):
    """Loops: y[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j], zeros elsewhere."""
    n, c = x.shape[:2]
    y = numpy.zeros((n, c, out_hw[0] * out_hw[1]))
    for b in range(n):
        for ch in range(c):
            for v, k in zip(x[b, ch].ravel(), indices[b, ch].ravel()):
                y[b, ch, k] = v
    return y.reshape(n, c, *out_hw)


def _switches(shape, kernel, stride=None, padding=0, ceil=False, seed=0):
    """The pooled maps and switches of max_pool2d on distinct values."""
    x = distinct(shape, seed=seed)
    y, idx = F.max_pool2d(Tensor(x), kernel, stride, padding, ceil, return_indices=True)
    return x, y.data, idx.data


# (input shape of the pooling, kernel, stride, padding, ceil, output_size)
MODES = {
    "2x2s2": ((2, 3, 6, 6), 2, None, 0, False, None),
    "overlap_3x3s2": ((2, 2, 7, 7), 3, 2, 0, False, None),
    "pad1": ((1, 2, 5, 5), 3, 2, 1, False, None),
    "odd_size_output_size": ((2, 2, 5, 7), 2, 2, 0, False, (5, 7)),
    "nonsquare": ((1, 2, 6, 9), (2, 3), (2, 3), 0, False, None),
}


def _unique_switches(y, idx, out_hw, seed=0):
    """Switches with no position repeated in a plane (overlapping pools can repeat one,
    and then the forward keeps one write while the gather backward feeds both)."""
    rng = numpy.random.default_rng(seed)
    n, c = y.shape[:2]
    flat = [rng.permutation(out_hw[0] * out_hw[1])[: y[0, 0].size] for _ in range(n * c)]
    return numpy.stack(flat).reshape(idx.shape)


@pytest.mark.parametrize("mode", list(MODES))
def test_forward_and_gradient(mode):
    shape, kernel, stride, padding, ceil, output_size = MODES[mode]
    _, y, idx = _switches(shape, kernel, stride, padding, ceil)
    if (stride or kernel) != kernel or padding:
        idx = _unique_switches(y, idx, output_size or shape[2:])
    out = F.max_unpool2d(Tensor(y), idx, kernel, stride, padding, output_size).shape[2:]
    if output_size is not None:
        assert out == output_size
    check_op(
        lambda t, i: F.max_unpool2d(t, i, kernel, stride, padding, output_size),
        lambda a, i: reference(a, i, out),
        y,
        idx,
        wrt=[0],
    )


def test_round_trip_puts_each_max_back_at_its_position():
    x, y, idx = _switches((2, 3, 6, 6), 2)
    back = F.max_unpool2d(Tensor(y), Tensor(idx), 2).data
    is_max = back != 0
    assert is_max.sum() == y.size  # one value per window, all distinct and non-zero
    numpy.testing.assert_array_equal(back[is_max], x[is_max])
    # each 2x2 block of x has its maximum exactly where the unpooled value sits
    blocks = x.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5))
    numpy.testing.assert_array_equal(blocks, y)
    # pooling the unpooled map again gives back y where y > 0 (the zeros compete elsewhere)
    again = F.max_pool2d(Tensor(back), 2).data
    numpy.testing.assert_array_equal(again[y > 0], y[y > 0])


def test_overlapping_switches_write_the_shared_max_once():
    x = distinct((1, 1, 5, 5), seed=3)
    x[0, 0, 2, 2] = 100.0  # the max of all four 3x3/2 windows
    y, idx = F.max_pool2d(Tensor(x), 3, 2, return_indices=True)
    assert (idx.data == 12).all()
    back = F.max_unpool2d(y, idx, 3, 2).data
    assert back[0, 0, 2, 2] == 100.0 and numpy.count_nonzero(back) == 1


def test_backward_gathers():
    y = Tensor(numpy.array([[[[1.0, 2.0]]]]), requires_grad=True)
    idx = numpy.array([[[[3, 0]]]])
    out = F.max_unpool2d(y, idx, (2, 1))  # default output (2, 2)
    out.backward(numpy.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    numpy.testing.assert_array_equal(y.grad, [[[[40.0, 10.0]]]])
    y.grad = None
    F.max_unpool2d(y, numpy.array([[[[3, 3]]]]), (2, 1)).backward(numpy.ones((1, 1, 2, 2)))
    numpy.testing.assert_array_equal(y.grad, [[[[1.0, 1.0]]]])  # a repeated switch: both


def test_default_output_size_and_dtype():
    _, y, idx = _switches((1, 1, 8, 8), 2)
    out = F.max_unpool2d(Tensor(y.astype(numpy.float32)), idx, 2)
    assert out.shape == (1, 1, 8, 8) and out.dtype == numpy.float32


def test_errors():
    _, y, idx = _switches((1, 1, 4, 4), 2)
    x = Tensor(y)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\)"):
        F.max_unpool2d(x, idx + 16, 2)
    with pytest.raises(ValueError, match="indices have shape"):
        F.max_unpool2d(x, idx[:, :, :1], 2)
    with pytest.raises(TypeError, match="integer"):
        F.max_unpool2d(x, idx.astype(numpy.float64), 2)
    with pytest.raises(ValueError, match="output_size .* dim 0 must be strictly between 2 and 6"):
        F.max_unpool2d(x, idx, 2, output_size=(6, 4))
    with pytest.raises(TypeError, match="output_size"):
        F.max_unpool2d(x, idx, 2, output_size=(4,))
    with pytest.raises(ValueError, match="4-d input"):
        F.max_unpool2d(Tensor(y[0]), idx[0], 2)
