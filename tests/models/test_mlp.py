"""The MLP builder, and back-propagation solving XOR where the perceptron cannot."""

import numpy
import pytest

import xpnet
from xpnet import functions as F
from xpnet import nn, optim
from xpnet.models import mlp


def test_layers_and_shapes():
    net = mlp((784, 256, 10), rng=numpy.random.default_rng(0))
    assert [type(m).__name__ for m in net] == ["Flatten", "Linear", "ReLU", "Linear"]
    y = net(xpnet.Tensor(numpy.zeros((3, 1, 28, 28), numpy.float32)))
    assert y.shape == (3, 10) and y.dtype == numpy.float32
    assert net.num_parameters() == 784 * 256 + 256 + 256 * 10 + 10


def test_activation_choices():
    net = mlp((4, 3, 3, 2), activation="tanh", output_activation="sigmoid",
              rng=numpy.random.default_rng(0))
    kinds = [type(m) for m in net]
    assert kinds == [nn.Flatten, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear, nn.Sigmoid]


def test_seeded_builds_are_identical():
    a = mlp((5, 4, 2), rng=numpy.random.default_rng(3))
    b = mlp((5, 4, 2), rng=numpy.random.default_rng(3))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        numpy.testing.assert_array_equal(pa.data, pb.data)


def test_argument_errors():
    with pytest.raises(ValueError, match="at least 2 positive ints"):
        mlp((784,))
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp((4, 2), activation="softplus")
    with pytest.raises(ValueError, match="output_activation"):
        mlp((4, 2), output_activation="step")


def test_backprop_solves_xor():
    X = numpy.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=numpy.float32)
    d = numpy.array([[0], [1], [1], [0]], dtype=numpy.float32)
    net = mlp((2, 4, 1), activation="sigmoid", output_activation="sigmoid",
              rng=numpy.random.default_rng(0))
    opt = optim.SGD(net.parameters(), lr=2.0, momentum=0.9)
    for _ in range(500):
        opt.zero_grad()
        loss = F.squared_error(net(xpnet.Tensor(X)), xpnet.Tensor(d))
        loss.backward()
        opt.step()
    y = net(xpnet.Tensor(X)).data
    assert loss.item() < 0.05
    numpy.testing.assert_array_equal((y > 0.5).astype(numpy.float32), d)
