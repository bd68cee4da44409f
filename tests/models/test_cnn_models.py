"""The convolutional zoo: layer order, initialisation, argument errors, and one step of
training that lowers the loss for every small model."""

import numpy
import pytest

import xpnet
from xpnet import functions as F
from xpnet import nn, optim
from xpnet.models.alexnet import alexnet, alexnet_small
from xpnet.models.cifar import cifar_convnet
from xpnet.models.lenet import lenet5
from xpnet.models.regularized import dropconnect_mnist, locally_connected_net, maxout_mnist

SMALL = {
    "lenet5": (lambda: lenet5(seed=0), (1, 28, 28)),
    "cifar_convnet": (lambda: cifar_convnet(seed=0), (3, 32, 32)),
    "alexnet_small": (lambda: alexnet_small(seed=0), (3, 64, 64)),
    "maxout_mnist": (lambda: maxout_mnist(seed=0), (1, 28, 28)),
    "dropconnect_mnist": (lambda: dropconnect_mnist(hidden=64, seed=0), (1, 28, 28)),
    "locally_connected": (lambda: locally_connected_net(seed=0), (1, 28, 28)),
}


def kinds(net):
    return [type(m).__name__ for m in net]


def eval_loss(net, x, y):
    """The loss in inference mode (no dropout masks), so two calls are comparable."""
    net.eval()
    with xpnet.no_grad():
        value = F.softmax_cross_entropy(net(xpnet.Tensor(x)), y).item()
    net.train()
    return value


@pytest.mark.parametrize("name", list(SMALL))
def test_one_sgd_step_lowers_the_loss(name):
    build, shape = SMALL[name]
    net = build()
    rng = numpy.random.default_rng(1)
    x = rng.random((8, *shape), dtype=numpy.float32)
    y = rng.integers(0, 10, 8)
    before = eval_loss(net, x, y)
    opt = optim.SGD(net.parameters(), lr=0.01)
    net.eval()  # the step's gradient is that of the loss measured: no dropout masks
    loss = F.softmax_cross_entropy(net(xpnet.Tensor(x)), y)
    loss.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    assert any(numpy.abs(p.grad).max() > 0 for p in net.parameters())
    opt.step()
    after = eval_loss(net, x, y)
    assert after < before, (before, after)


@pytest.mark.parametrize("name", ["maxout_mnist", "dropconnect_mnist", "alexnet_small"])
def test_training_mode_draws_masks_inference_does_not(name):
    build, shape = SMALL[name]
    net = build()
    x = xpnet.Tensor(numpy.random.default_rng(2).random((4, *shape), dtype=numpy.float32))
    a, b = net(x).data, net(x).data
    assert not numpy.array_equal(a, b)  # a new mask per mini-batch
    net.eval()
    numpy.testing.assert_array_equal(net(x).data, net(x).data)


def test_lenet5_layers():
    assert kinds(lenet5(seed=0)) == ["Conv2d", "MaxPool2d", "ReLU", "Conv2d", "MaxPool2d",
                                     "ReLU", "Flatten", "Linear", "ReLU", "Linear", "ReLU",
                                     "Linear"]
    # with average pooling f does not commute with the pool, so it runs before it
    assert kinds(lenet5(activation="tanh", pool="avg", seed=0))[:6] == [
        "Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh", "AvgPool2d"]


def test_lenet5_max_after_pool_equals_pool_after_relu():
    # the reason for the order: max(relu(x)) == relu(max(x)) on every window
    net = lenet5(seed=0)
    x = xpnet.Tensor(numpy.random.default_rng(3).standard_normal((2, 1, 28, 28),
                                                                 dtype=numpy.float32))
    h = net[0](x)
    numpy.testing.assert_array_equal(net[2](net[1](h)).data, net[1](net[2](h)).data)


@pytest.mark.parametrize("kwargs,match", [
    ({"activation": "elu"}, "activation must be one of"),
    ({"pool": "l2"}, "pool must be one of"),
    ({"num_classes": 0}, "num_classes must be a positive int"),
    ({"rng": 3}, "rng must be a numpy.random.Generator"),
])
def test_lenet5_argument_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lenet5(**kwargs)


def test_cifar_convnet_layers_and_sizes():
    net = cifar_convnet(seed=0)
    assert kinds(net) == ["Conv2d", "MaxPool2d", "ReLU", "LocalResponseNorm", "Conv2d", "ReLU",
                          "AvgPool2d", "LocalResponseNorm", "Conv2d", "ReLU", "AvgPool2d",
                          "Flatten", "Linear"]
    x = xpnet.Tensor(numpy.zeros((1, 3, 32, 32), numpy.float32))
    sizes = []
    for m in net:
        x = m(x)
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            sizes.append(x.shape[2])
    assert sizes == [16, 8, 4]  # ceil mode, as cuda-convnet
    assert [m.ceil_mode for m in net if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))] == [True] * 3


def test_alexnet_paper_init_and_lrn_constants():
    net = alexnet(num_classes=10, input_size=64, width=0.25, fc=64, conv1_padding=2, seed=0)
    weighted = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    # section 5: N(0, 0.01) weights, biases 1 in conv2, conv4, conv5 and the hidden FC
    assert [float(m.bias.data[0]) for m in weighted] == [0, 1, 0, 1, 1, 1, 1, 0]
    conv1 = weighted[0].weight.data
    assert abs(conv1.std() - 0.01) < 0.001 and abs(conv1.mean()) < 0.001
    lrns = [m for m in net if isinstance(m, nn.LocalResponseNorm)]
    # paper k=2, n=5, alpha=1e-4, beta=0.75 in PyTorch's convention (alpha / n)
    assert [(m.size, m.alpha, m.beta, m.k) for m in lrns] == [(5, 5e-4, 0.75, 2.0)] * 2
    assert [m.p for m in net if isinstance(m, nn.Dropout)] == [0.5, 0.5]


def test_alexnet_single_tower_has_more_weights():
    two = alexnet_small(seed=0).num_parameters()
    one = alexnet(10, input_size=64, width=0.25, fc=1024, conv1_padding=2, groups=1,
                  init_scheme="default", seed=0).num_parameters()
    # conv2, conv4, conv5 each see all the maps instead of half
    assert one - two == 64 * 12 * 25 + 96 * 48 * 9 + 64 * 48 * 9


@pytest.mark.parametrize("kwargs,match", [
    ({"groups": 3}, "groups must be one of"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"init_scheme": "xavier"}, "init_scheme must be one of"),
    ({"input_size": 50, "conv1_padding": 0}, "input_size 50 is too small"),
])
def test_alexnet_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        alexnet(**kwargs)


def test_regularized_nets_shapes():
    assert kinds(maxout_mnist(seed=0)) == ["Flatten", "Dropout", "MaxoutLinear", "Dropout",
                                           "MaxoutLinear", "Dropout", "Linear"]
    assert maxout_mnist(hidden=10, pieces=3, seed=0)[2].weight.shape[0] == 30
    assert kinds(dropconnect_mnist(hidden=32, seed=0)) == [
        "Flatten", "Linear", "ReLU", "DropConnectLinear", "Linear"]
    lc = locally_connected_net(seed=0)
    assert lc[3].weight.shape == (10, 10, 16, 16, 3, 3)
