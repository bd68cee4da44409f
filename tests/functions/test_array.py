"""Gradient checks and argument errors of the array ops (xpnet/functions/array)."""

import numpy
import pytest

import xpnet
from xpnet import functions as F
from xpnet.testing import check_op


def _normal(shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------------ reshape
@pytest.mark.parametrize(
    "shape_in, shape",
    [
        ((2, 3, 4), (6, 4)),
        ((2, 3, 4), (-1,)),
        ((2, 3, 4), (4, -1, 2)),
        ((6,), 6),
        ((1,), ()),
        ((2, 3), [3, 2]),
    ],
)
def test_reshape(shape_in, shape):
    check_op(lambda t: F.reshape(t, shape), lambda a: a.reshape(shape), _normal(shape_in))


def test_reshape_returns_a_view_and_its_gradient_a_reshape():
    x = xpnet.Tensor(_normal((2, 6)), requires_grad=True)
    y = F.reshape(x, (3, 4))
    assert numpy.shares_memory(y.data, x.data)
    y.backward(numpy.arange(12.0).reshape(3, 4))
    numpy.testing.assert_array_equal(x.grad, numpy.arange(12.0).reshape(2, 6))


def test_flatten_of_a_channels_last_map_gives_its_gradient_back_channels_last():
    """A conv2d-style map (an NCHW view of NHWC memory): the flattened values are C-order
    NCHW, and dE/dx has the input's memory layout, with the values of dE/dy reshaped."""
    nhwc = _normal((2, 4, 5, 3))  # (N, H, W, C) memory
    x = xpnet.Tensor(nhwc.transpose(0, 3, 1, 2), requires_grad=True)  # (N, C, H, W) view
    y = F.flatten(x)
    numpy.testing.assert_array_equal(y.data, numpy.ascontiguousarray(x.data).reshape(2, -1))
    gy = numpy.arange(2 * 60.0).reshape(2, 60)
    y.backward(gy)
    assert x.grad.strides == x.data.strides  # channels-last, like x
    numpy.testing.assert_array_equal(x.grad, gy.reshape(2, 3, 4, 5))
    # the gradient check perturbs contiguous inputs: build the channels-last view inside
    check_op(lambda t: F.flatten(F.transpose(t, (0, 3, 1, 2))),
             lambda a: a.transpose(0, 3, 1, 2).reshape(2, -1), nhwc)


def test_reshape_errors():
    x = xpnet.Tensor(numpy.ones((2, 3)))
    with pytest.raises(
        ValueError,
        match=r"reshape: cannot reshape \(2, 3\) \(6 elements\) into "
        r"\(4, 2\) \(8 elements\)",
    ):
        F.reshape(x, (4, 2))
    with pytest.raises(
        ValueError,
        match=r"reshape: cannot reshape \(2, 3\) \(6 elements\) into "
        r"\(4, -1\)",
    ):
        F.reshape(x, (4, -1))
    with pytest.raises(ValueError, match="one -1"):
        F.reshape(x, (-1, -1))
    with pytest.raises(TypeError, match="reshape: shape must be an int or a tuple of ints"):
        F.reshape(x, (2.0, 3))


# ---------------------------------------------------------------------- transpose
@pytest.mark.parametrize("axes", [None, (1, 0, 2), (2, 0, 1), (-1, 0, 1), (0, 1, 2)])
def test_transpose(axes):
    check_op(lambda t: F.transpose(t, axes), lambda a: numpy.transpose(a, axes), _normal((2, 3, 4)))


def test_transpose_errors():
    x = xpnet.Tensor(numpy.ones((2, 3)))
    with pytest.raises(ValueError, match=r"transpose: axes \(0,\) is not a permutation"):
        F.transpose(x, (0,))
    with pytest.raises(ValueError, match=r"transpose: axes \(0, -2\) repeats an axis"):
        F.transpose(x, (0, -2))
    with pytest.raises(ValueError, match="not a permutation"):
        F.transpose(x, (0, 2))
    with pytest.raises(TypeError, match="transpose: axes must be None or a tuple of ints"):
        F.transpose(x, "01")


# ------------------------------------------------------------------------ getitem
INDICES = [
    1,
    -1,
    slice(1, 3),
    (slice(None), 2),
    (Ellipsis, slice(None, None, -2)),
    (None, 0),
    numpy.array([2, 0, 2, 2]),  # repeated rows: gradients must add up
    [0, 0],
    (numpy.array([0, 1, 1]), numpy.array([3, 0, 0])),  # repeated (row, column) pairs
    (slice(None), numpy.array([[1, 1], [0, 3]])),
    numpy.array([True, False, True]),
    (numpy.array([0, 2]), slice(1, 3)),
]


@pytest.mark.parametrize("index", INDICES)
def test_getitem(index):
    check_op(lambda t: F.getitem(t, index), lambda a: a[index], _normal((3, 4)))


def test_getitem_boolean_mask_of_the_whole_array():
    x = _normal((3, 4))
    mask = x > 0
    check_op(lambda t: F.getitem(t, mask), lambda a: a[mask], x)


def test_getitem_repeated_index_accumulates():
    x = xpnet.Tensor(numpy.zeros(3), requires_grad=True)
    F.getitem(x, numpy.array([1, 1, 1, 2])).backward(numpy.array([1.0, 2.0, 3.0, 4.0]))
    numpy.testing.assert_array_equal(x.grad, [0.0, 6.0, 4.0])


def test_getitem_accepts_a_tensor_index_and_gives_an_array_for_one_element():
    x = xpnet.Tensor(numpy.arange(4.0), requires_grad=True)
    y = F.getitem(x, xpnet.Tensor(numpy.array([3, 0])))
    numpy.testing.assert_array_equal(y.data, [3.0, 0.0])
    one = F.getitem(x, 2)
    assert isinstance(one.data, numpy.ndarray) and one.dtype == numpy.float64


def test_getitem_errors():
    x = xpnet.Tensor(numpy.ones((2, 3)))
    with pytest.raises(IndexError, match=r"getitem: bad index for shape \(2, 3\)"):
        F.getitem(x, 5)
    with pytest.raises(IndexError, match="getitem: bad index"):
        F.getitem(x, (0, 0, 0))
    with pytest.raises(TypeError, match="getitem: index arrays must hold integers"):
        F.getitem(x, numpy.array([0.0]))


# ------------------------------------------------------------------------- concat
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    shapes = [(1, 3), (2, 3), (3, 3)] if axis == 0 else [(2, 1), (2, 3), (2, 2)]
    arrays = [_normal(s, seed) for seed, s in enumerate(shapes)]
    check_op(lambda *ts: F.concat(ts, axis=axis), lambda *a: numpy.concatenate(a, axis), *arrays)


def test_concat_with_a_constant_part():
    x = xpnet.Tensor(numpy.ones((2, 2)), requires_grad=True)
    y = F.concat([numpy.zeros((1, 2)), x], axis=0)
    y.backward(numpy.arange(6.0).reshape(3, 2))
    numpy.testing.assert_array_equal(x.grad, [[2.0, 3.0], [4.0, 5.0]])


def test_concat_errors():
    a, b = xpnet.Tensor(numpy.ones((2, 3))), xpnet.Tensor(numpy.ones((2, 4)))
    with pytest.raises(
        ValueError,
        match=r"concat: xs\[1\] has shape \(2, 4\), expected \(2, 3\) "
        "except on axis 0",
    ):
        F.concat([a, b], axis=0)
    with pytest.raises(ValueError, match="concat: axis 2 is out of range"):
        F.concat([a, b], axis=2)
    with pytest.raises(ValueError, match="concat: xs is empty"):
        F.concat([])
    with pytest.raises(TypeError, match="concat: xs must be a list or tuple of Tensors"):
        F.concat(a)
    with pytest.raises(TypeError, match=r"concat: xs\[0\] must be a Tensor or an array"):
        F.concat([1.0, a])


# ------------------------------------------------------------------- broadcast_to
@pytest.mark.parametrize(
    "shape_in, shape",
    [((3,), (2, 3)), ((2, 1), (2, 4)), ((1, 3, 1), (2, 3, 2)), ((), (2,)), ((2, 3), (2, 3))],
)
def test_broadcast_to(shape_in, shape):
    check_op(
        lambda t: F.broadcast_to(t, shape),
        lambda a: numpy.broadcast_to(a, shape),
        _normal(shape_in),
    )


def test_broadcast_to_errors():
    x = xpnet.Tensor(numpy.ones((2, 3)))
    msg = r"broadcast_to: cannot broadcast shape \(2, 3\) to \(3, 3\)"
    with pytest.raises(ValueError, match=msg):
        F.broadcast_to(x, (3, 3))
    with pytest.raises(ValueError, match="cannot broadcast"):
        F.broadcast_to(x, (3,))
    with pytest.raises(TypeError, match="broadcast_to: shape must be a tuple of ints"):
        F.broadcast_to(x, (2, -3))


# ------------------------------------------------------------------------ flatten
@pytest.mark.parametrize("start_axis", [0, 1, 2, -1, -2])
def test_flatten(start_axis):
    def reference(a):
        return a.reshape(a.shape[: start_axis % 4] + (-1,))

    check_op(lambda t: F.flatten(t, start_axis), reference, _normal((2, 3, 2, 2)))


def test_flatten_default_merges_all_but_the_batch_axis():
    assert F.flatten(xpnet.Tensor(numpy.ones((5, 3, 4, 2)))).shape == (5, 24)
    assert F.flatten(xpnet.Tensor(numpy.ones((0, 3, 4)))).shape == (0, 12)


def test_flatten_errors():
    with pytest.raises(ValueError, match=r"flatten: start_axis 1 is out of range .* \(4,\)"):
        F.flatten(xpnet.Tensor(numpy.ones(4)))
    with pytest.raises(TypeError, match="flatten: start_axis must be an int"):
        F.flatten(xpnet.Tensor(numpy.ones((2, 2))), 1.0)


# ------------------------------------------------------------------------- astype
def test_astype_round_trip_is_gradient_checked():
    # float64 -> float64 is the identity; the float32 cast is checked below
    check_op(lambda t: F.astype(t, numpy.float64), lambda a: a, _normal((2, 3)))


def test_astype_gradient_is_cast_back():
    x = xpnet.Tensor(numpy.ones(3, dtype=numpy.float64), requires_grad=True)
    y = F.astype(x, numpy.float32)
    assert y.dtype == numpy.float32 and y.requires_grad
    y.backward(numpy.array([1.0, 2.0, 3.0], dtype=numpy.float32))
    assert x.grad.dtype == numpy.float64
    numpy.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])


def test_astype_to_int_is_cut_from_the_graph():
    x = xpnet.Tensor(numpy.array([1.7, -2.2]), requires_grad=True)
    y = F.astype(x, "int64")
    assert y.dtype == numpy.int64 and not y.requires_grad
    numpy.testing.assert_array_equal(y.data, [1, -2])


def test_astype_errors():
    with pytest.raises(TypeError, match="astype: expected a dtype"):
        F.astype(xpnet.Tensor(numpy.ones(2)), "no-such-type")
    with pytest.raises(TypeError, match="astype: expected a dtype, got None"):
        F.astype(xpnet.Tensor(numpy.ones(2)), None)


# ---------------------------------------------------------------------------- pad
PADS = [(1, 2), (0, 1), (2, 0, 1, 1), (1, 1, 0, 0, 1, 0), ()]


@pytest.mark.parametrize("widths", PADS)
@pytest.mark.parametrize("value", [0.0, -1.5])
def test_pad(widths, value):
    def reference(a):
        pairs = [(0, 0)] * a.ndim
        for k in range(len(widths) // 2):  # F.pad's order: last axis first
            pairs[a.ndim - 1 - k] = (widths[2 * k], widths[2 * k + 1])
        return numpy.pad(a, pairs, constant_values=value)

    check_op(lambda t: F.pad(t, widths, value), reference, _normal((2, 2, 3)))


def test_pad_on_the_last_two_axes_matches_an_explicit_result():
    y = F.pad(xpnet.Tensor(numpy.array([[1.0, 2.0]])), (1, 0, 0, 1), value=9.0)
    numpy.testing.assert_array_equal(y.data, [[9.0, 1.0, 2.0], [9.0, 9.0, 9.0]])


def test_pad_errors():
    x = xpnet.Tensor(numpy.ones((2, 3)))
    msg = r"pad: pad must hold \(before, after\) pairs for at most 2"
    with pytest.raises(ValueError, match=msg):
        F.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match="at most 2 axes"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="pad: widths must be >= 0"):
        F.pad(x, (-1, 1))
    with pytest.raises(TypeError, match="pad: pad must be a tuple of ints"):
        F.pad(x, 1)
    with pytest.raises(TypeError, match="pad: value must be a real number"):
        F.pad(x, (1, 1), value="0")
