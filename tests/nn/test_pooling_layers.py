"""Pooling and maxout layers: they call their ops with their arguments; repr; MaxoutLinear."""

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet import functions as F
from xpnet.testing import check_op, distinct


def test_max_pool_layer_matches_op_and_returns_indices():
    x = Tensor(distinct((2, 3, 7, 7), seed=1))
    layer = nn.MaxPool2d(3, 2, 1, ceil_mode=True, return_indices=True)
    y, idx = layer(x)
    y_ref, idx_ref = F.max_pool2d(x, 3, 2, 1, True, True)
    numpy.testing.assert_array_equal(y.data, y_ref.data)
    numpy.testing.assert_array_equal(idx.data, idx_ref.data)
    assert layer.num_parameters() == 0


def test_avg_and_l2_layers_match_ops():
    x = Tensor(distinct((2, 3, 6, 6), seed=2))
    numpy.testing.assert_array_equal(
        nn.AvgPool2d(3, 2, 1, count_include_pad=False)(x).data,
        F.avg_pool2d(x, 3, 2, 1, count_include_pad=False).data,
    )
    numpy.testing.assert_array_equal(
        nn.L2Pool2d(2, 1, ceil_mode=True)(x).data, F.l2_pool2d(x, 2, 1, ceil_mode=True).data
    )


def test_unpool_layer_round_trip():
    x = Tensor(distinct((1, 2, 5, 5), seed=3))
    y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    back = nn.MaxUnpool2d(2)(y, idx, output_size=x.shape)
    assert back.shape == x.shape
    numpy.testing.assert_array_equal(back.data[back.data != 0], x.data[back.data != 0])


def test_stride_defaults_to_kernel():
    assert nn.MaxPool2d(3).stride == 3
    assert nn.AvgPool2d((2, 3)).stride == (2, 3)


def test_repr_like_pytorch():
    assert repr(nn.MaxPool2d(3, 2)) == (
        "MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)"
    )
    assert repr(nn.AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(nn.L2Pool2d(2, 1)) == (
        "L2Pool2d(kernel_size=2, stride=1, padding=0, ceil_mode=False)"
    )
    assert repr(nn.MaxUnpool2d(2)) == "MaxUnpool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(nn.Maxout(3)) == "Maxout(pool_size=3)"
    assert repr(nn.MaxoutLinear(4, 3, 2, rng=numpy.random.default_rng(0))) == (
        "MaxoutLinear(in_features=4, out_features=3, pool_size=2, bias=True)"
    )


def test_layer_argument_errors_at_construction():
    with pytest.raises(ValueError, match="MaxPool2d: padding must be at most half"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(TypeError, match="AvgPool2d: kernel_size must be an int"):
        nn.AvgPool2d("3")
    with pytest.raises(TypeError, match="ceil_mode must be a bool"):
        nn.L2Pool2d(2, ceil_mode="no")
    with pytest.raises(ValueError, match="Maxout: pool_size must be >= 1"):
        nn.Maxout(0)
    with pytest.raises(TypeError, match="MaxoutLinear: rng"):
        nn.MaxoutLinear(4, 3, 2, rng=0)


def test_maxout_layer():
    x = Tensor(distinct((2, 6, 2, 2), seed=4))
    numpy.testing.assert_array_equal(nn.Maxout(3)(x).data, F.maxout(x, 3).data)


def test_maxout_linear_is_linear_then_max_over_pieces():
    layer = nn.MaxoutLinear(5, 3, 4, rng=numpy.random.default_rng(0))
    assert layer.weight.shape == (12, 5) and layer.bias.shape == (12,)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.dtype == numpy.float32
    x = numpy.random.default_rng(1).standard_normal((6, 5)).astype(numpy.float32)
    z = x @ layer.weight.data.T + layer.bias.data  # (6, 12): unit i owns pieces 4i .. 4i + 3
    expected = z.reshape(6, 3, 4).max(axis=2)
    numpy.testing.assert_allclose(layer(Tensor(x)).data, expected, rtol=1e-6)


def test_maxout_linear_same_seed_same_weights_and_no_bias():
    a = nn.MaxoutLinear(4, 2, 3, rng=numpy.random.default_rng(7))
    b = nn.MaxoutLinear(4, 2, 3, rng=numpy.random.default_rng(7))
    numpy.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert numpy.abs(a.weight.data).max() <= 0.5  # U(-1/sqrt(4), 1/sqrt(4))
    assert nn.MaxoutLinear(4, 2, 3, bias=False, rng=numpy.random.default_rng(0)).bias is None


def test_maxout_linear_gradients():
    layer = nn.MaxoutLinear(3, 2, 2, rng=numpy.random.default_rng(2))
    w = layer.weight.data.astype(numpy.float64)
    b = layer.bias.data.astype(numpy.float64)
    x = numpy.random.default_rng(3).standard_normal((4, 3))

    def fn(xt, wt, bt):
        return F.maxout(F.linear(xt, wt, bt), 2, axis=-1)

    check_op(fn, lambda a, ww, bb: (a @ ww.T + bb).reshape(4, 2, 2).max(axis=2), x, w, b)
    y = layer(Tensor(x.astype(numpy.float32)))
    y.backward(numpy.ones(y.shape, numpy.float32))
    assert layer.weight.grad.shape == (4, 3)
    # each example sends its error to one piece of each unit: 4 examples x 2 units
    assert layer.bias.grad.sum() == pytest.approx(8.0)
