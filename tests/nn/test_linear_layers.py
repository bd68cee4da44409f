"""Linear, Identity, Flatten and the activation modules."""

import math

import numpy
import pytest

import xpnet
from xpnet import functions as F
from xpnet import init, nn


def test_linear_default_init_is_pytorch_uniform():
    layer = nn.Linear(400, 300, rng=numpy.random.default_rng(0))
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.data, layer.bias.data
    assert w.shape == (300, 400) and b.shape == (300,)
    assert w.dtype == numpy.float32 and b.dtype == numpy.float32
    assert w.min() >= -bound and w.max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # U(-a, a): std a / sqrt(3)
    assert b.min() >= -bound and b.max() <= bound


def test_linear_same_seed_same_weights():
    a = nn.Linear(5, 3, rng=numpy.random.default_rng(7))
    b = nn.Linear(5, 3, rng=numpy.random.default_rng(7))
    numpy.testing.assert_array_equal(a.weight.data, b.weight.data)
    c = nn.Linear(5, 3, rng=numpy.random.default_rng(8))
    assert not numpy.array_equal(a.weight.data, c.weight.data)


def test_linear_custom_initialisers():
    layer = nn.Linear(
        1000, 200, rng=numpy.random.default_rng(0),
        init=lambda s, r: init.normal(s, 0.01, r), bias_init=1.0,
    )
    assert abs(layer.weight.data.std() - 0.01) < 0.0005
    numpy.testing.assert_array_equal(layer.bias.data, numpy.ones(200, numpy.float32))
    layer = nn.Linear(8, 4, rng=numpy.random.default_rng(0), init=init.he_normal, bias_init=0)
    assert not layer.bias.data.any()


def test_linear_float64_and_no_bias():
    layer = nn.Linear(4, 2, bias=False, dtype=numpy.float64, rng=numpy.random.default_rng(0))
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.dtype == numpy.float64
    assert repr(layer) == "Linear(in_features=4, out_features=2, bias=False)"


def test_linear_forward_backward_match_the_formulas():
    rng = numpy.random.default_rng(1)
    layer = nn.Linear(5, 3, rng=rng, dtype=numpy.float64)
    x_data = rng.standard_normal((4, 5))
    x = xpnet.Tensor(x_data, requires_grad=True)
    y = layer(x)
    W, b = layer.weight.data, layer.bias.data
    numpy.testing.assert_allclose(y.data, x_data @ W.T + b, rtol=1e-12)
    gy = rng.standard_normal((4, 3))
    y.backward(gy)
    numpy.testing.assert_allclose(layer.weight.grad, gy.T @ x_data, rtol=1e-12)
    numpy.testing.assert_allclose(layer.bias.grad, gy.sum(axis=0), rtol=1e-12)
    numpy.testing.assert_allclose(x.grad, gy @ W, rtol=1e-12)


def test_linear_argument_errors():
    with pytest.raises(ValueError, match="Linear: in_features must be a positive int"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(3, 2.5)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        nn.Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match=r"returned shape \(2, 3\), expected \(3, 2\)"):
        nn.Linear(2, 3, init=lambda s, r: numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match="linear"):
        nn.Linear(3, 2)(xpnet.Tensor(numpy.zeros((4, 5), numpy.float32)))


def test_identity_and_flatten():
    x = xpnet.Tensor(numpy.arange(24, dtype=numpy.float32).reshape(2, 3, 2, 2))
    assert nn.Identity()(x) is x
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(start_axis=2)(x).shape == (2, 3, 4)
    assert repr(nn.Flatten()) == "Flatten(start_axis=1)"
    with pytest.raises(TypeError, match="Flatten"):
        nn.Flatten(1.0)


@pytest.mark.parametrize(
    "module, fn",
    [
        (nn.ReLU(), F.relu),
        (nn.Sigmoid(), F.sigmoid),
        (nn.Tanh(), F.tanh),
        (nn.Step(), F.step),
        (nn.Softmax(axis=1), lambda x: F.softmax(x, axis=1)),
        (nn.LogSoftmax(axis=1), lambda x: F.log_softmax(x, axis=1)),
        (nn.Softmax(axis=0), lambda x: F.softmax(x, axis=0)),
    ],
)
def test_activation_modules_apply_their_function(module, fn):
    x = xpnet.Tensor(numpy.random.default_rng(0).standard_normal((3, 4)))
    numpy.testing.assert_array_equal(module(x).data, fn(x).data)


def test_activation_values_and_repr():
    x = xpnet.Tensor(numpy.array([[-1.0, 0.5, 2.0]]))
    numpy.testing.assert_allclose(nn.ReLU()(x).data, [[0.0, 0.5, 2.0]])
    numpy.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + numpy.exp(-x.data)))
    numpy.testing.assert_allclose(nn.Step()(x).data, [[0.0, 1.0, 1.0]])
    numpy.testing.assert_allclose(nn.Softmax()(x).data.sum(), 1.0)
    assert repr(nn.LogSoftmax()) == "LogSoftmax(axis=1)"
    assert repr(nn.ReLU()) == "ReLU()"
