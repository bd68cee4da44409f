"""Saliency, guided back-propagation and the deconvnet, checked by hand and by each other."""

import copy

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet.viz.deconvnet import deconv_top_image, deconvnet
from xpnet.viz.saliency import (
    DeconvReLUFunction,
    GuidedReLUFunction,
    guided_backprop,
    input_gradient,
    saliency,
    saliency_image,
    saliency_map,
    unit_seed,
)
from xpnet.viz.top_inputs import top_inputs

pytestmark = pytest.mark.needs_data("mnist5k")


@pytest.fixture(scope="module")
def trained():
    """A small LeNet-like net trained a few SGD steps on MNIST-5k, and 200 test digits."""
    from xpnet import functions as F
    from xpnet import optim
    from xpnet.data import load_mnist5k

    rng = numpy.random.default_rng(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 5, padding=2, rng=rng), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(4, 6, 5, rng=rng), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(6 * 5 * 5, 10, rng=rng),
    )
    x, y, x_test, y_test = load_mnist5k(0)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(30):
        idx = rng.integers(0, len(x), 64)
        loss = F.softmax_cross_entropy(net(Tensor(x[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval(), x_test[:200], y_test[:200]


def test_guided_and_deconv_relu_rules():
    h = numpy.array([-1.0, 2.0, 3.0, -4.0])
    g = numpy.array([5.0, -6.0, 7.0, 8.0])
    for fn, want in ((GuidedReLUFunction, [0, 0, 7, 0]), (DeconvReLUFunction, [5, 0, 7, 8])):
        x = Tensor(h, requires_grad=True)
        y = fn()(x)
        numpy.testing.assert_array_equal(y.data, [0, 2, 3, 0])
        y.backward(g)
        numpy.testing.assert_array_equal(x.grad, want)


def test_unit_seed_positions():
    y = numpy.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    y[1, 2, 0, 1] = 99
    s = unit_seed(y, [0, 2], "max")
    assert s.sum() == 2 and s[0, 0, 1, 1] == 1 and s[1, 2, 0, 1] == 1
    s = unit_seed(y, 1, numpy.array([[0, 0], [1, 0]]))
    assert s[0, 1, 0, 0] == 1 and s[1, 1, 1, 0] == 1 and s.sum() == 2
    assert unit_seed(y, 1, None)[:, 1].sum() == 8
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        unit_seed(y, 3)


def test_saliency_is_the_class_score_gradient(trained):
    """Central differences of S_c in float64 (the net copied to float64); a little noise
    on the digit breaks the ties of max pooling over its flat black background."""
    net, x, y = trained
    net64 = copy.deepcopy(net).double()
    rng = numpy.random.default_rng(1)
    x0 = x[3:4].astype(numpy.float64) + 0.01 * rng.standard_normal((1, 1, 28, 28))
    g = saliency(net64, x0, int(y[3]))
    eps = 1e-6
    for flat in rng.choice(28 * 28, 12, replace=False):
        r, c = divmod(int(flat), 28)
        plus, minus = x0.copy(), x0.copy()
        plus[0, 0, r, c] += eps
        minus[0, 0, r, c] -= eps
        num = (net64(Tensor(plus)).data[0, y[3]] - net64(Tensor(minus)).data[0, y[3]]) / (2 * eps)
        assert g[0, 0, r, c] == pytest.approx(num, rel=1e-5, abs=1e-8)
    assert numpy.abs(g).max() > 0


def test_saliency_default_target_is_the_prediction(trained):
    net, x, _ = trained
    pred = net(Tensor(x[:5])).data.argmax(axis=1)
    numpy.testing.assert_array_equal(saliency(net, x[:5]), saliency(net, x[:5], pred))
    m = saliency_map(saliency(net, x[:5]))
    assert m.shape == (5, 28, 28) and (m >= 0).all()
    assert saliency_image(saliency(net, x[:2])).shape == (2, 28, 28, 3)
    assert saliency_image(saliency(net, x[:2]), signed=True).shape == (2, 28, 28, 3)


def test_guided_backprop_by_hand():
    """Linear-ReLU-Linear-ReLU-Linear: g <- (g W) masked by [h > 0][g > 0] at each ReLU."""
    rng = numpy.random.default_rng(3)
    net = nn.Sequential(nn.Linear(6, 5, rng=rng), nn.ReLU(), nn.Linear(5, 4, rng=rng),
                        nn.ReLU(), nn.Linear(4, 3, rng=rng)).double().eval()
    x = rng.standard_normal((2, 6))
    w1, b1 = net[0].weight.data, net[0].bias.data
    w2, b2 = net[2].weight.data, net[2].bias.data
    w3 = net[4].weight.data
    h1 = x @ w1.T + b1
    h2 = numpy.maximum(h1, 0) @ w2.T + b2
    target = numpy.array([2, 0])
    g = w3[target]  # (2, 4) dS/d(relu2 out)
    g = g * (h2 > 0) * (g > 0)
    g = g @ w2
    g = g * (h1 > 0) * (g > 0)
    want = g @ w1
    numpy.testing.assert_allclose(guided_backprop(net, x, target), want, rtol=1e-12)
    plain = w3[target] * (h2 > 0) @ w2 * (h1 > 0) @ w1
    numpy.testing.assert_allclose(saliency(net, x, target), plain, rtol=1e-12)


def test_deconvnet_by_hand_one_conv_one_pool():
    """conv 2x2 -> max pool 2 -> ReLU, projected back with loops over the definitions."""
    rng = numpy.random.default_rng(5)
    net = nn.Sequential(nn.Conv2d(1, 2, 2, rng=rng), nn.MaxPool2d(2), nn.ReLU()).double().eval()
    x = rng.standard_normal((1, 1, 5, 5))
    w, b = net[0].weight.data, net[0].bias.data
    conv = numpy.zeros((2, 4, 4))
    for o in range(2):
        for p in range(4):
            for q in range(4):
                conv[o, p, q] = (w[o, 0] * x[0, 0, p : p + 2, q : q + 2]).sum() + b[o]
    for ch in range(2):
        pooled = conv[ch].reshape(2, 2, 2, 2).max(axis=(1, 3))
        act = numpy.maximum(pooled, 0)
        i, j = numpy.unravel_index(act.argmax(), act.shape)
        r = numpy.zeros((2, 2))
        r[i, j] = act[i, j]  # keep the top activation, zero the rest
        r = numpy.maximum(r, 0)  # rectification
        un = numpy.zeros((4, 4))  # unpooling at the switches
        for a in range(2):
            for c in range(2):
                win = conv[ch, 2 * a : 2 * a + 2, 2 * c : 2 * c + 2]
                da, dc = numpy.unravel_index(win.argmax(), (2, 2))
                un[2 * a + da, 2 * c + dc] = r[a, c]
        rec = numpy.zeros((5, 5))  # transposed filter: each value spreads w[ch]
        for p in range(4):
            for q in range(4):
                rec[p : p + 2, q : q + 2] += un[p, q] * w[ch, 0]
        got = deconvnet(net, x, 2, ch)
        numpy.testing.assert_allclose(got[0, 0], rec, rtol=1e-12)
        if act.max() > 0:
            assert numpy.abs(got).max() > 0


@pytest.mark.parametrize("layer,position", [(0, "max"), (3, "max"), (5, (2, 1)), (5, None)])
def test_deconvnet_equals_backward_with_deconv_rule(trained, layer, position):
    net, x, _ = trained
    a = deconvnet(net, x[:6], layer, 3, position, value=1.0)
    b = input_gradient(net, x[:6], 3, "deconv", layer=layer, position=position)
    numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert numpy.abs(a).max() > 0


def test_deconvnet_from_a_class_and_scaling(trained):
    net, x, y = trained
    a = deconvnet(net, x[:4], -1, y[:4], None, value=1.0)
    b = input_gradient(net, x[:4], y[:4], "deconv")
    numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    one = deconvnet(net, x[:4], 5, 2, value=1.0)
    scaled = deconvnet(net, x[:4], 5, 2, value=2.5)
    numpy.testing.assert_allclose(scaled, 2.5 * one, rtol=1e-5, atol=1e-7)


def test_guided_differs_from_both_and_is_positive_at_input_layer(trained):
    net, x, y = trained
    g = guided_backprop(net, x[:4], y[:4])
    s = saliency(net, x[:4], y[:4])
    d = input_gradient(net, x[:4], y[:4], "deconv")
    assert not numpy.allclose(g, s) and not numpy.allclose(g, d)
    # below the first ReLU only the first conv's transposed filters act: a single-unit
    # guided map at conv1's own output is that unit's kernel, placed at the unit
    g0 = guided_backprop(net, x[:1], 2, layer=0, position=(10, 12))
    want = numpy.zeros((28, 28))
    want[8:13, 10:15] = net[0].weight.data[2, 0]
    numpy.testing.assert_allclose(g0[0, 0], want, rtol=1e-6)


def test_deconv_top_image_layout(trained):
    net, x, _ = trained
    top = top_inputs(net, x, 3, k=4)
    img = deconv_top_image(net, x, top, [0, 1, 2], scale=1)
    # 14x14 fields; left and right halves 4 tiles of 15 + 1, gap 4
    assert img.shape == (3 * 15 + 1, 2 * (4 * 15 + 1) + 4, 3)
    dense = top_inputs(net, x, 7, k=2)
    assert deconv_top_image(net, x, dense, [4], scale=1).shape == (30, 2 * 59 + 4, 3)


def test_deconvnet_overlapping_pooling_adds_at_shared_switches():
    """AlexNet-style 3x3 stride-2 pooling: windows sharing a maximum both send it back."""
    rng = numpy.random.default_rng(7)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=rng),
                        nn.MaxPool2d(3, stride=2, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(3 * 4 * 4, 5, rng=rng)).double().eval()
    x = rng.standard_normal((4, 2, 8, 8))
    a = deconvnet(net, x, -1, numpy.array([0, 1, 2, 4]), None, value=1.0)
    b = input_gradient(net, x, numpy.array([0, 1, 2, 4]), "deconv")
    numpy.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # a map whose single maximum is picked by all four windows around it
    pool_in = rng.random((1, 1, 5, 5))
    pool_in[0, 0, 1, 1] = 5.0  # in windows (0, 0), (0, 1), (1, 0), (1, 1) of the 3x3 output
    one = nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1))
    rec = deconvnet(one, pool_in, 0, 0, None, value=1.0)
    assert rec[0, 0, 1, 1] == 4.0 and rec.sum() == 9.0
