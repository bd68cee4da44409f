"""Whole networks against PyTorch: the same weights copied into a torch.nn.Sequential give
the same logits, the same input gradient and the same parameter gradients (float64)."""

import numpy
import pytest

import xpnet
from xpnet import functions as F
from xpnet import nn
from xpnet.models.alexnet import alexnet
from xpnet.models.cifar import cifar_convnet
from xpnet.models.lenet import lenet5

torch = pytest.importorskip("torch")

RTOL = 1e-10


def to_torch(net: nn.Sequential) -> "torch.nn.Sequential":
    """A float64 torch copy of an xpnet Sequential of the zoo's layer types."""
    tnn = torch.nn
    simple = {nn.ReLU: tnn.ReLU, nn.Tanh: tnn.Tanh, nn.Sigmoid: tnn.Sigmoid,
              nn.Flatten: tnn.Flatten}
    layers = []
    for m in net:
        if isinstance(m, nn.Conv2d):
            t = tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                           m.dilation, m.groups, bias=m.bias is not None)
        elif isinstance(m, nn.Linear):
            t = tnn.Linear(m.weight.shape[1], m.weight.shape[0], bias=m.bias is not None)
        elif isinstance(m, nn.MaxPool2d):
            t = tnn.MaxPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode)
        elif isinstance(m, nn.AvgPool2d):
            t = tnn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode,
                              count_include_pad=m.count_include_pad)
        elif isinstance(m, nn.LocalResponseNorm):
            t = tnn.LocalResponseNorm(m.size, m.alpha, m.beta, m.k)
        elif isinstance(m, nn.Dropout):
            assert m.p == 0, "dropout draws different masks in torch: build with p=0"
            t = tnn.Identity()
        else:
            t = simple[type(m)]()
        t = t.double()
        if isinstance(t, (tnn.Conv2d, tnn.Linear)):
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(m.weight.data))
                if m.bias is not None:
                    t.bias.copy_(torch.from_numpy(m.bias.data))
        layers.append(t)
    return tnn.Sequential(*layers)


def assert_close(ours, theirs, what):
    theirs = theirs.detach().numpy()
    scale = numpy.abs(theirs).max()
    assert scale > 0, f"{what}: all zero, the comparison would prove nothing"
    err = numpy.abs(ours - theirs).max() / scale
    assert err < RTOL, f"{what}: max relative difference {err:.3g}"


NETS = {
    "lenet5": (lambda: lenet5(seed=0), (1, 28, 28)),
    "lenet5_tanh_avg": (lambda: lenet5(activation="tanh", pool="avg", seed=0), (1, 28, 28)),
    # the benchmark's AlexNet shape (24/64/96/96/64, FC 1024, LRN, groups=2), no dropout
    "alexnet_64": (lambda: alexnet(10, input_size=64, width=0.25, fc=1024, conv1_padding=2,
                                   dropout=0.0, init_scheme="default", seed=0), (3, 64, 64)),
    "cifar_convnet": (lambda: cifar_convnet(seed=0), (3, 32, 32)),
}


@pytest.mark.parametrize("name", list(NETS))
def test_logits_and_gradients_match_torch(name):
    build, shape = NETS[name]
    net = build().double()
    tnet = to_torch(net)
    rng = numpy.random.default_rng(5)
    x = rng.standard_normal((3, *shape))
    y = numpy.array([0, 3, 9])

    X = xpnet.Tensor(x, requires_grad=True)
    scores = net(X)
    loss = F.softmax_cross_entropy(scores, y)
    loss.backward()
    tx = torch.from_numpy(x).requires_grad_()
    tscores = tnet(tx)
    tloss = torch.nn.functional.cross_entropy(tscores, torch.from_numpy(y))
    tloss.backward()

    assert scores.dtype == numpy.float64
    assert_close(scores.data, tscores, "logits")
    assert abs(loss.item() - tloss.item()) <= RTOL * abs(tloss.item())
    assert_close(X.grad, tx.grad, "input gradient")
    ours = list(net.named_parameters())
    theirs = list(tnet.parameters())
    assert len(ours) == len(theirs)
    for (pname, p), tp in zip(ours, theirs, strict=True):
        assert p.shape == tuple(tp.shape), pname
        assert_close(p.grad, tp.grad, f"gradient of {pname}")
