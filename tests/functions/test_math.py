"""Gradient checks and argument errors of the math ops (xpnet/functions/math)."""

import numpy
import pytest

import xpnet
from xpnet import functions as F
from xpnet.testing import away_from, check_op, distinct

BROADCAST_SHAPES = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((2, 1), (1, 3)),
    ((4, 1, 3), (2, 1)),
    ((), (2, 3)),
    ((2, 3), ()),
]


def _normal(shape, seed):
    return numpy.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------ element-wise binary
@pytest.mark.parametrize("sa, sb", BROADCAST_SHAPES)
def test_add(sa, sb):
    check_op(F.add, numpy.add, _normal(sa, 0), _normal(sb, 1))


@pytest.mark.parametrize("sa, sb", BROADCAST_SHAPES)
def test_sub(sa, sb):
    check_op(F.sub, numpy.subtract, _normal(sa, 0), _normal(sb, 1))


@pytest.mark.parametrize("sa, sb", BROADCAST_SHAPES)
def test_mul(sa, sb):
    check_op(F.mul, numpy.multiply, _normal(sa, 0), _normal(sb, 1))


@pytest.mark.parametrize("sa, sb", BROADCAST_SHAPES)
def test_div(sa, sb):
    # divisor kept away from 0, where 1/b^2 blows up the difference quotient
    b = away_from(sb, kinks=(0.0,), margin=0.5, seed=1)
    check_op(F.div, numpy.divide, _normal(sa, 0), b)


@pytest.mark.parametrize(
    "op, ref",
    [(F.add, numpy.add), (F.sub, numpy.subtract), (F.mul, numpy.multiply), (F.div, numpy.divide)],
)
def test_binary_ops_take_a_python_number_on_either_side(op, ref):
    x = away_from((2, 3), margin=0.5)
    check_op(lambda t: op(t, 2.5), lambda a: ref(a, 2.5), x)
    check_op(lambda t: op(2.5, t), lambda a: ref(2.5, a), x)


def test_binary_ops_take_raw_arrays_and_only_differentiate_tensors():
    x = xpnet.Tensor(numpy.ones((2, 3)), requires_grad=True)
    c = numpy.arange(3.0)
    F.mul(c, x).sum().backward()
    numpy.testing.assert_array_equal(x.grad, numpy.broadcast_to(c, (2, 3)))
    y = F.sub(numpy.ones(3), numpy.arange(3.0))  # two arrays: a constant result
    assert not y.requires_grad
    numpy.testing.assert_array_equal(y.data, [1.0, 0.0, -1.0])


def test_python_number_keeps_float32():
    x = xpnet.Tensor(numpy.ones(3, dtype=numpy.float32), requires_grad=True)
    for y in (F.add(x, 1.5), F.sub(2.0, x), F.mul(x, 0.1), F.div(1.0, x), F.pow(x, 2.0)):
        assert y.dtype == numpy.float32


def test_gradient_of_float32_tensor_with_float64_array_stays_float32():
    x = xpnet.Tensor(numpy.ones(3, dtype=numpy.float32), requires_grad=True)
    F.mul(x, numpy.full(3, 2.0)).sum().backward()  # the product is float64
    assert x.grad.dtype == numpy.float32
    numpy.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_mul_saves_only_the_other_input():
    a = xpnet.Tensor(numpy.ones(2), requires_grad=True)
    b = xpnet.Tensor(numpy.ones(2))
    node = F.mul(a, b).creator
    assert node.b is not None and node.a is None  # dE/da needs b only


@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div])
def test_binary_ops_name_shapes_that_do_not_broadcast(op):
    with pytest.raises(ValueError, match=rf"{op.__name__}: shapes \(2, 3\) and \(4,\)"):
        op(xpnet.Tensor(numpy.ones((2, 3))), xpnet.Tensor(numpy.ones(4)))


@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div])
def test_binary_ops_refuse_bad_operands(op):
    with pytest.raises(TypeError, match=f"{op.__name__}: b must be"):
        op(xpnet.Tensor(numpy.ones(2)), "a")
    with pytest.raises(TypeError, match="two numbers"):
        op(1.0, 2.0)


# ------------------------------------------------------------------------- unary
def test_neg():
    check_op(F.neg, numpy.negative, _normal((2, 3), 0))


@pytest.mark.parametrize("p", [2, 3, 0.5, -1.5, 1, 0])
def test_pow(p):
    x = numpy.abs(_normal((2, 3), 0)) + 0.5  # positive: fractional powers are defined
    check_op(lambda t: F.pow(t, p), lambda a: a**p, x)


def test_pow_integer_exponent_on_negative_base():
    check_op(lambda t: F.pow(t, 3), lambda a: a**3, _normal((3,), 0))


def test_pow_numpy_scalar_exponent_keeps_float32():
    x = xpnet.Tensor(numpy.ones(2, dtype=numpy.float32))
    assert F.pow(x, numpy.float64(2.0)).dtype == numpy.float32


@pytest.mark.parametrize("bad", [xpnet.Tensor(numpy.ones(2)), numpy.ones(2), "2", True])
def test_pow_refuses_non_number_exponents(bad):
    with pytest.raises(TypeError, match="pow: exponent must be a Python number"):
        F.pow(xpnet.Tensor(numpy.ones(2)), bad)


def test_exp():
    check_op(F.exp, numpy.exp, _normal((2, 3), 0))


def test_log():
    check_op(F.log, numpy.log, numpy.abs(_normal((2, 3), 0)) + 0.3)


# ------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((3, 4), (4, 2)),  # 2-D
    ((4,), (4,)),  # dot product, 0-d result
    ((4,), (4, 2)),  # row vector
    ((3, 4), (4,)),  # column vector
    ((2, 3, 4), (4, 2)),  # batch times a shared matrix (folded into one GEMM)
    ((3, 4), (2, 4, 5)),  # shared matrix times a batch
    ((2, 3, 4), (2, 4, 5)),  # batch times batch
    ((2, 1, 3, 4), (3, 4, 2)),  # broadcast batch axes
    ((2, 3, 4), (4,)),  # batch times a column
    ((4,), (2, 4, 3)),  # row times a batch
]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul(sa, sb):
    check_op(F.matmul, numpy.matmul, _normal(sa, 0), _normal(sb, 1))


def test_matmul_only_one_side_needs_a_gradient():
    a = xpnet.Tensor(_normal((2, 3, 4), 0))
    b = xpnet.Tensor(_normal((4, 2), 1), requires_grad=True)
    y = F.matmul(a, b)
    assert y.creator.b is None  # dE/db needs only a
    gy = _normal((2, 3, 2), 2)
    y.backward(gy)
    numpy.testing.assert_allclose(b.grad, numpy.einsum("bmk,bmp->kp", a.data, gy), rtol=1e-12)


def test_matmul_error_names_both_shapes_and_inner_sizes():
    msg = r"matmul: cannot multiply \(3, 4\) by \(5, 2\): inner sizes 4 and 5 differ"
    with pytest.raises(ValueError, match=msg):
        F.matmul(xpnet.Tensor(numpy.ones((3, 4))), xpnet.Tensor(numpy.ones((5, 2))))
    with pytest.raises(ValueError, match="inner sizes 4 and 3 differ"):
        F.matmul(numpy.ones(4), numpy.ones(3))


def test_matmul_errors_for_batches_scalars_and_numbers():
    with pytest.raises(ValueError, match=r"batch shapes \(2,\) and \(3,\) do not broadcast"):
        F.matmul(numpy.ones((2, 3, 4)), numpy.ones((3, 4, 5)))
    with pytest.raises(ValueError, match="matmul: b must have at least 1 axis"):
        F.matmul(numpy.ones(3), numpy.ones(()))
    with pytest.raises(TypeError, match="matmul: a must be a Tensor or an array, got float"):
        F.matmul(2.0, numpy.ones(3))


# ---------------------------------------------------------------------- reductions
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2), ()]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES)
def test_sum(axis, keepdims):
    check_op(
        lambda t: F.sum(t, axis=axis, keepdims=keepdims),
        lambda a: numpy.sum(a, axis=axis, keepdims=keepdims),
        _normal((2, 3, 4), 0),
    )


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES)
def test_mean(axis, keepdims):
    check_op(
        lambda t: F.mean(t, axis=axis, keepdims=keepdims),
        lambda a: numpy.mean(a, axis=axis, keepdims=keepdims),
        _normal((2, 3, 4), 0),
    )


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES)
def test_max(axis, keepdims):
    # distinct values: a tie would make the difference quotient straddle two slopes
    check_op(
        lambda t: F.max(t, axis=axis, keepdims=keepdims),
        lambda a: numpy.max(a, axis=axis, keepdims=keepdims),
        distinct((2, 3, 4), seed=0, gap=0.1),
    )


def test_reductions_of_a_0d_input():
    x = numpy.array(1.5)
    for op in (F.sum, F.mean, F.max):
        check_op(op, lambda a: a, x)


def test_reductions_take_numpy_integer_axes():
    x = xpnet.Tensor(numpy.arange(6.0).reshape(2, 3))
    numpy.testing.assert_array_equal(F.sum(x, axis=numpy.int64(1)).data, [3.0, 12.0])
    numpy.testing.assert_array_equal(F.max(x, axis=(numpy.int32(0),)).data, [3.0, 4.0, 5.0])


def test_max_gives_the_whole_gradient_to_the_first_maximum():
    x = xpnet.Tensor(numpy.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), requires_grad=True)
    F.max(x, axis=1).backward(numpy.array([10.0, 20.0]))
    numpy.testing.assert_array_equal(x.grad, [[0.0, 10.0, 0.0], [20.0, 0.0, 0.0]])


def test_max_over_several_axes_picks_the_first_in_c_order():
    x = xpnet.Tensor(numpy.full((2, 2, 2), 5.0), requires_grad=True)
    F.max(x, axis=(0, 2)).backward(numpy.array([1.0, 2.0]))
    expected = numpy.zeros((2, 2, 2))
    expected[0, 0, 0], expected[0, 1, 0] = 1.0, 2.0
    numpy.testing.assert_array_equal(x.grad, expected)


def test_mean_keeps_float32():
    x = xpnet.Tensor(numpy.ones((2, 3), dtype=numpy.float32), requires_grad=True)
    y = F.mean(x)
    y.backward()
    assert y.dtype == numpy.float32 and x.grad.dtype == numpy.float32
    numpy.testing.assert_allclose(x.grad, numpy.full((2, 3), 1 / 6))


@pytest.mark.parametrize("op", [F.sum, F.mean, F.max])
def test_reductions_name_bad_axes(op):
    x = xpnet.Tensor(numpy.ones((2, 3)))
    name = op.__name__
    with pytest.raises(ValueError, match=f"{name}: axis 2 is out of range"):
        op(x, axis=2)
    with pytest.raises(ValueError, match=f"{name}: axis -3 is out of range"):
        op(x, axis=(0, -3))
    with pytest.raises(ValueError, match=f"{name}: repeated axis"):
        op(x, axis=(1, -1))
    with pytest.raises(TypeError, match=f"{name}: axis must be None, an int or a tuple"):
        op(x, axis=1.0)
    with pytest.raises(TypeError, match=f"{name}: keepdims must be a bool"):
        op(x, axis=0, keepdims=1)


@pytest.mark.parametrize("op", [F.mean, F.max])
def test_mean_and_max_refuse_empty_axes(op):
    with pytest.raises(ValueError, match=f"{op.__name__}: cannot .* empty axis"):
        op(xpnet.Tensor(numpy.ones((0, 3))), axis=0)
