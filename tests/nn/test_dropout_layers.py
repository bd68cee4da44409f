"""Dropout, Dropout2d and DropConnectLinear layers: modes, rng handling, gradients."""

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet.testing import check_op


# ------------------------------------------------------------------------ Dropout
def test_dropout_train_and_eval():
    drop = nn.Dropout(0.5, rng=numpy.random.default_rng(0))
    x = Tensor(numpy.ones((50, 40)))
    a, b = drop(x).data, drop(x).data
    assert set(numpy.unique(a).tolist()) == {0.0, 2.0}
    assert (a != b).any()  # a new mask per call
    assert drop.eval()(x) is x
    assert drop.train()(x) is not x


def test_dropout_rng_default_and_reproducible():
    assert isinstance(nn.Dropout().rng, numpy.random.Generator)
    x = Tensor(numpy.ones((8, 8)))
    a = nn.Dropout(0.3, rng=numpy.random.default_rng(4))(x).data
    b = nn.Dropout(0.3, rng=numpy.random.default_rng(4))(x).data
    numpy.testing.assert_array_equal(a, b)


def test_dropout2d_layer_drops_maps():
    drop = nn.Dropout2d(0.5, rng=numpy.random.default_rng(1))
    y = drop(Tensor(numpy.ones((4, 6, 3, 3)))).data.reshape(24, 9)
    assert (y.min(axis=1) == y.max(axis=1)).all()
    assert repr(drop) == "Dropout2d(p=0.5)"


@pytest.mark.parametrize("cls", [nn.Dropout, nn.Dropout2d])
def test_dropout_layer_errors(cls):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        cls(1.0)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        cls(0.5, rng=numpy.random.RandomState(0))


def test_dropout_has_no_parameters():
    assert list(nn.Dropout().parameters()) == []


# -------------------------------------------------------------- DropConnectLinear
def _mask_from(state, shape, p):
    """Redraw the mask the layer drew from a generator in ``state``."""
    rng = numpy.random.default_rng()
    rng.bit_generator.state = state
    return rng.random(shape, dtype=numpy.float32) >= numpy.float32(p)


def test_dropconnect_layer_parameters():
    layer = nn.DropConnectLinear(7, 3, rng=numpy.random.default_rng(0))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.shape == (3, 7) and layer.bias.shape == (3,)
    assert layer.weight.dtype == numpy.float32
    assert abs(layer.weight.data).max() <= 1 / numpy.sqrt(7)
    assert nn.DropConnectLinear(7, 3, bias=False).bias is None
    assert nn.DropConnectLinear(7, 3, dtype=numpy.float64).weight.dtype == numpy.float64


@pytest.mark.parametrize("per_example", [False, True])
def test_dropconnect_layer_gradient_in_training(per_example):
    """Resetting the rng before each pass gives the analytic and numerical passes one mask."""
    layer = nn.DropConnectLinear(4, 3, p=0.4, activation="tanh", per_example=per_example,
                                 rng=numpy.random.default_rng(0), dtype=numpy.float64)
    state = layer.rng.bit_generator.state
    x = numpy.random.default_rng(1).standard_normal((2, 4))
    w, b = layer.weight.data.copy(), layer.bias.data.copy()
    mask = _mask_from(state, (2,) * per_example + (3, 4), 0.4)

    def fn(x, w, b):
        layer.weight, layer.bias = w, b
        layer.rng.bit_generator.state = state
        return layer(x)

    def reference(x, w, b):
        if per_example:
            return numpy.tanh(numpy.einsum("noi,ni->no", w * mask, x) + b)
        return numpy.tanh(x @ (w * mask).T + b)

    check_op(fn, reference, x, w, b)


def test_dropconnect_layer_new_mask_per_call():
    layer = nn.DropConnectLinear(20, 10, rng=numpy.random.default_rng(0))
    x = Tensor(numpy.ones((2, 20), numpy.float32))
    assert (layer(x).data != layer(x).data).any()


@pytest.mark.parametrize("act", [None, "relu", "sigmoid", "tanh"])
def test_dropconnect_layer_eval_mean(act):
    layer = nn.DropConnectLinear(6, 4, p=0.3, activation=act, rng=numpy.random.default_rng(2),
                                 dtype=numpy.float64).eval()
    x = numpy.random.default_rng(3).standard_normal((5, 6))
    u = 0.7 * x @ layer.weight.data.T + layer.bias.data
    f = {None: lambda u: u, "relu": lambda u: numpy.maximum(u, 0), "tanh": numpy.tanh,
         "sigmoid": lambda u: 1 / (1 + numpy.exp(-u))}[act]
    numpy.testing.assert_allclose(layer(Tensor(x)).data, f(u), rtol=1e-12, atol=1e-15)
    numpy.testing.assert_array_equal(layer(Tensor(x)).data, layer(Tensor(x)).data)


def test_dropconnect_layer_gaussian_inference():
    layer = nn.DropConnectLinear(30, 4, activation="relu", inference="gaussian", samples=5000,
                                 rng=numpy.random.default_rng(0), dtype=numpy.float64).eval()
    x = Tensor(numpy.random.default_rng(1).standard_normal((3, 30)))
    y = layer(x)
    assert y.shape == (3, 4) and (y.data >= 0).all() and y.creator is None
    layer.activation = None  # linear units: the Gaussian mean is exactly the weight-scaling mean
    mean = 0.5 * x.data @ layer.weight.data.T + layer.bias.data
    numpy.testing.assert_allclose(layer(x).data, mean, rtol=1e-12)
    layer.train()
    assert layer(x).creator is not None  # training ignores the inference mode


def test_dropconnect_layer_training_applies_activation_without_rescaling():
    layer = nn.DropConnectLinear(5, 3, p=0.5, activation="relu", bias=False,
                                 rng=numpy.random.default_rng(5), dtype=numpy.float64)
    state = layer.rng.bit_generator.state
    x = numpy.random.default_rng(6).standard_normal((4, 5))
    mask = _mask_from(state, (3, 5), 0.5)
    y = layer(Tensor(x)).data
    numpy.testing.assert_allclose(y, numpy.maximum(x @ (layer.weight.data * mask).T, 0),
                                  rtol=1e-12)


def test_dropconnect_layer_errors():
    with pytest.raises(ValueError, match="activation must be one of"):
        nn.DropConnectLinear(3, 2, activation="softmax")
    with pytest.raises(ValueError, match="inference must be one of"):
        nn.DropConnectLinear(3, 2, inference="sample")
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        nn.DropConnectLinear(0, 2)
    with pytest.raises(ValueError, match="samples must be a positive int"):
        nn.DropConnectLinear(3, 2, samples=0)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        nn.DropConnectLinear(3, 2, p=1.0)
    layer = nn.DropConnectLinear(3, 2, rng=numpy.random.default_rng(0))
    with pytest.raises(ValueError, match=r"expected weight of shape \(out_features, 4\)"):
        layer(Tensor(numpy.ones((2, 4), numpy.float32)))


def test_dropconnect_layer_repr():
    layer = nn.DropConnectLinear(3, 2, p=0.25, activation="relu", inference="gaussian")
    assert repr(layer) == (
        "DropConnectLinear(in_features=3, out_features=2, p=0.25, bias=True, "
        "activation=relu, inference=gaussian, per_example=False)"
    )
