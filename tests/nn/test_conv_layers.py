"""Conv2d, ConvTranspose2d and LocallyConnected2d layers: parameters, init, repr, torch weights."""

import math

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet import functions as F


def test_conv2d_parameters_and_init():
    conv = nn.Conv2d(4, 6, (3, 5), groups=2, rng=numpy.random.default_rng(0))
    names = [name for name, _ in conv.named_parameters()]
    assert names == ["weight", "bias"]
    assert conv.weight.shape == (6, 2, 3, 5) and conv.bias.shape == (6,)
    assert conv.weight.dtype == conv.bias.dtype == numpy.float32
    bound = 1 / math.sqrt(2 * 3 * 5)  # PyTorch: fan_in = C/g kh kw
    for p in (conv.weight.data, conv.bias.data):
        assert numpy.abs(p).max() <= bound
        assert numpy.abs(p).max() > 0.8 * bound  # really drawn over the whole range
    assert nn.Conv2d(4, 6, 3, bias=False).bias is None


def test_conv2d_rng_reproducible_and_init_hook():
    a = nn.Conv2d(3, 8, 3, rng=numpy.random.default_rng(5))
    b = nn.Conv2d(3, 8, 3, rng=numpy.random.default_rng(5))
    assert numpy.array_equal(a.weight.data, b.weight.data)
    c = nn.Conv2d(3, 8, 3, init=lambda s, r: numpy.full(s, 0.5), dtype=numpy.float64)
    assert c.weight.dtype == numpy.float64 and (c.weight.data == 0.5).all()
    with pytest.raises(ValueError, match=r"Conv2d: the weight initialiser returned shape \(2,\)"):
        nn.Conv2d(3, 8, 3, init=lambda s, r: numpy.zeros(2))


def test_conv2d_forward_is_functional():
    conv = nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=1, groups=2,
                     rng=numpy.random.default_rng(0))
    x = numpy.random.default_rng(1).standard_normal((3, 2, 7, 7), dtype=numpy.float32)
    y = conv(Tensor(x))
    ref = F.conv2d(x, conv.weight.data, conv.bias.data, 2, 1, 1, 2)
    assert y.shape == (3, 4, 4, 4)
    numpy.testing.assert_array_equal(y.data, ref.data)


def test_reprs_match_pytorch():
    assert repr(nn.Conv2d(1, 6, 5)) == "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))"
    assert repr(nn.Conv2d(3, 8, (3, 5), stride=2, padding=1, dilation=2, groups=1,
                          bias=False)) == (
        "Conv2d(3, 8, kernel_size=(3, 5), stride=(2, 2), padding=(1, 1), dilation=(2, 2), "
        "bias=False)"
    )
    assert repr(nn.Conv2d(48, 128, 5, padding=2, groups=2)) == (
        "Conv2d(48, 128, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), groups=2)"
    )
    assert repr(nn.ConvTranspose2d(4, 8, 3, stride=2, output_padding=1, groups=2)) == (
        "ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1), "
        "groups=2)"
    )
    assert repr(nn.LocallyConnected2d(3, 8, 12, 3, stride=2, padding=1, bias=False)) == (
        "LocallyConnected2d(3, 8, input_size=(12, 12), kernel_size=(3, 3), stride=(2, 2), "
        "padding=(1, 1), bias=False)"
    )


@pytest.mark.parametrize(
    "args, match",
    [
        ((3, 8, 3), None),
        ((3, 8, 0), "kernel_size must be >= 1"),
        ((0, 8, 3), "in_channels must be a positive int"),
        ((3, 8, 3, 1, 0, 1, 2), "in_channels=3 is not divisible by groups=2"),
        ((4, 6, 3, 1, 0, 1, 4), "out_channels=6 is not divisible by groups=4"),
    ],
)
def test_conv2d_argument_errors(args, match):
    if match is None:
        nn.Conv2d(*args)
        return
    with pytest.raises(ValueError, match=match):
        nn.Conv2d(*args)


def test_conv_transpose2d_layer():
    up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                            rng=numpy.random.default_rng(0))
    assert up.weight.shape == (4, 3, 3, 3) and up.bias.shape == (6,)
    assert numpy.abs(up.weight.data).max() <= 1 / math.sqrt(3 * 9)  # fan_in = C_out/g kh kw
    y = up(Tensor(numpy.ones((2, 4, 5, 5), numpy.float32)))
    assert y.shape == (2, 6, 10, 10) and y.dtype == numpy.float32


def test_locally_connected2d_layer():
    lc = nn.LocallyConnected2d(3, 4, (7, 6), (3, 2), stride=2, padding=(1, 0),
                               rng=numpy.random.default_rng(0))
    assert lc.output_size == (4, 3)
    assert [n for n, _ in lc.named_parameters()] == ["weight", "bias"]
    assert lc.weight.shape == (4, 3, 4, 3, 3, 2) and lc.bias.shape == (4, 4, 3)
    assert numpy.abs(lc.weight.data).max() <= 1 / math.sqrt(3 * 3 * 2)
    x = numpy.random.default_rng(1).standard_normal((2, 3, 7, 6), dtype=numpy.float32)
    y = lc(Tensor(x, requires_grad=True))
    ref = F.locally_connected2d(x, lc.weight.data, lc.bias.data, 2, (1, 0))
    numpy.testing.assert_array_equal(y.data, ref.data)
    y.sum().backward()
    assert lc.weight.grad.shape == lc.weight.shape
    with pytest.raises(ValueError, match="LocallyConnected2d: kernel"):
        nn.LocallyConnected2d(3, 4, 4, 7)


def test_load_state_dict_from_torch_conv2d():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tconv = torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    conv = nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    conv.load_state_dict({k: v.detach().numpy() for k, v in tconv.state_dict().items()})
    x = numpy.random.default_rng(0).standard_normal((3, 4, 9, 8), dtype=numpy.float32)
    want = tconv(torch.from_numpy(x)).detach().numpy()
    numpy.testing.assert_allclose(conv(Tensor(x)).data, want, rtol=1e-5, atol=1e-6)


def test_load_state_dict_from_torch_conv_transpose2d():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tup = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    up.load_state_dict({k: v.detach().numpy() for k, v in tup.state_dict().items()})
    x = numpy.random.default_rng(0).standard_normal((2, 4, 5, 5), dtype=numpy.float32)
    want = tup(torch.from_numpy(x)).detach().numpy()
    numpy.testing.assert_allclose(up(Tensor(x)).data, want, rtol=1e-5, atol=1e-6)
