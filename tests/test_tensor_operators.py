"""Tensor's operators and method forms, which route to xpnet.functions."""

import numpy
import pytest

import xpnet
from xpnet.testing import check_op


def _normal(shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


BINARY = [
    ("+", lambda a, b: a + b),
    ("-", lambda a, b: a - b),
    ("*", lambda a, b: a * b),
    ("/", lambda a, b: a / b),
]


@pytest.mark.parametrize("name, op", BINARY)
def test_binary_operators_between_tensors(name, op):
    b = numpy.abs(_normal((3,), 1)) + 0.5  # a safe divisor
    check_op(op, op, _normal((2, 3), 0), b)


@pytest.mark.parametrize("name, op", BINARY)
def test_binary_operators_with_python_numbers_on_both_sides(name, op):
    x = numpy.abs(_normal((2, 3), 0)) + 0.5
    check_op(lambda t: op(t, 2.0), lambda a: op(a, 2.0), x)
    check_op(lambda t: op(2.0, t), lambda a: op(2.0, a), x)


@pytest.mark.parametrize("name, op", BINARY)
def test_binary_operators_with_numpy_arrays_on_both_sides(name, op):
    x = numpy.abs(_normal((2, 3), 0)) + 0.5
    c = numpy.abs(_normal((3,), 1)) + 0.5
    # Tensor.__array_priority__ makes ndarray <op> Tensor call the Tensor's reflected form
    right, left = op(xpnet.Tensor(x), c), op(c, xpnet.Tensor(x))
    assert isinstance(right, xpnet.Tensor) and isinstance(left, xpnet.Tensor)
    numpy.testing.assert_allclose(right.data, op(x, c), rtol=1e-14)
    numpy.testing.assert_allclose(left.data, op(c, x), rtol=1e-14)
    check_op(lambda t: op(c, t), lambda a: op(c, a), x)


@pytest.mark.parametrize("name, op", BINARY + [("**", lambda a, b: a**b)])
def test_python_scalars_keep_float32(name, op):
    x = xpnet.Tensor(numpy.full(3, 2.0, dtype=numpy.float32), requires_grad=True)
    y = op(x, 3.0)
    assert y.dtype == numpy.float32
    y.sum().backward()
    assert x.grad.dtype == numpy.float32
    if name != "**":
        assert op(3.0, x).dtype == numpy.float32


def test_negation_and_power():
    x = numpy.abs(_normal((2, 3))) + 0.5
    check_op(lambda t: -t, lambda a: -a, x)
    check_op(lambda t: t**3, lambda a: a**3, x)
    check_op(lambda t: t**0.5, lambda a: a**0.5, x)


def test_power_values_and_gradient():
    x = xpnet.Tensor(numpy.array([1.0, 2.0, 3.0]), requires_grad=True)
    (x**2).backward(numpy.ones(3))
    numpy.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])  # d/dx x^2 = 2x


@pytest.mark.parametrize("sa, sb", [((3, 4), (4, 2)), ((4,), (4, 2)), ((2, 3, 4), (4,))])
def test_matmul_operator(sa, sb):
    check_op(lambda a, b: a @ b, numpy.matmul, _normal(sa, 0), _normal(sb, 1))


def test_matmul_operator_with_numpy_arrays_on_both_sides():
    x, w = _normal((2, 3), 0), _normal((3, 4), 1)
    numpy.testing.assert_allclose((xpnet.Tensor(x) @ w).data, x @ w, rtol=1e-14)
    numpy.testing.assert_allclose((w.T @ xpnet.Tensor(x).T).data, w.T @ x.T, rtol=1e-14)
    check_op(lambda t: w.T @ t, lambda a: w.T @ a, _normal((3, 2), 2))


def test_getitem_operator():
    index = (numpy.array([0, 0, 1]), slice(1, None))
    check_op(lambda t: t[index], lambda a: a[index], _normal((2, 3)))
    check_op(lambda t: t[1], lambda a: a[1], _normal((2, 3)))


@pytest.mark.parametrize("method", ["sum", "mean", "max"])
def test_reduction_methods(method):
    x = numpy.random.default_rng(0).permutation(24).reshape(2, 3, 4) * 0.1
    check_op(lambda t: getattr(t, method)(), lambda a: getattr(a, method)(), x)
    check_op(lambda t: getattr(t, method)(axis=1), lambda a: getattr(a, method)(axis=1), x)
    check_op(
        lambda t: getattr(t, method)(axis=(0, -1), keepdims=True),
        lambda a: getattr(a, method)(axis=(0, -1), keepdims=True),
        x,
    )


def test_reshape_transpose_and_flatten_methods():
    x = _normal((2, 3, 4))
    check_op(lambda t: t.reshape(4, -1), lambda a: a.reshape(4, -1), x)
    check_op(lambda t: t.reshape((6, 4)), lambda a: a.reshape(6, 4), x)
    check_op(lambda t: t.T, lambda a: a.T, x)
    check_op(lambda t: t.transpose(1, 0, 2), lambda a: a.transpose(1, 0, 2), x)
    check_op(lambda t: t.transpose((2, 0, 1)), lambda a: a.transpose(2, 0, 1), x)
    check_op(lambda t: t.flatten(), lambda a: a.reshape(2, 12), x)
    check_op(lambda t: t.flatten(0), lambda a: a.reshape(24), x)


def test_exp_log_and_astype_methods():
    x = numpy.abs(_normal((2, 3))) + 0.5
    check_op(lambda t: t.exp(), numpy.exp, x)
    check_op(lambda t: t.log(), numpy.log, x)
    t = xpnet.Tensor(x, requires_grad=True)
    y = t.astype(numpy.float32)
    assert y.dtype == numpy.float32
    y.sum().backward()
    assert t.grad.dtype == numpy.float64


def test_an_expression_mixing_everything():
    # E = mean((x @ w + b - 1)^2 / 2): the squared error, through operators only
    x, w, b = _normal((4, 3), 0), _normal((3, 2), 1), _normal((2,), 2)

    def fn(x, w, b):
        return ((x @ w + b - 1.0) ** 2 / 2.0).mean()

    check_op(fn, lambda x, w, b: numpy.mean((x @ w + b - 1.0) ** 2 / 2.0), x, w, b)
