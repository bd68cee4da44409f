"""Layer walking, feature maps and filter pictures."""

import numpy
import pytest

from xpnet import Tensor, nn, no_grad
from xpnet.data.preprocessing import Pipeline, Standardize
from xpnet.viz.feature_maps import (
    feature_maps,
    feature_maps_image,
    layer_list,
    resolve_layer,
    run_layers,
)
from xpnet.viz.filters import conv_layers, filters_image


def _net(rng, c_in=1):
    return nn.Sequential(
        nn.Conv2d(c_in, 4, 3, padding=1, rng=rng), nn.MaxPool2d(2), nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 5, 3, rng=rng), nn.ReLU()),
        nn.Flatten(), nn.Linear(5 * 2 * 2, 3, rng=rng),
    ).eval()


def test_layer_list_expands_nested_sequentials(rng):
    names = [n for n, _ in layer_list(_net(rng))]
    assert names == ["0", "1", "2", "3.0", "3.1", "4", "5"]
    assert resolve_layer(_net(rng), "3.0") == (3, "3.0")
    assert resolve_layer(_net(rng), -1) == (6, "5")
    assert resolve_layer(_net(rng), "4") == (5, "4")
    with pytest.raises(ValueError, match=r"no layer 'conv9'.*3\.0\(Conv2d\)"):
        resolve_layer(_net(rng), "conv9")
    with pytest.raises(ValueError, match="no layer 7"):
        resolve_layer(_net(rng), 7)


def test_feature_maps_equal_the_partial_forward(rng):
    net = _net(rng)
    x = rng.standard_normal((2, 1, 8, 8)).astype(numpy.float32)
    maps = feature_maps(net, x, "3.1")
    with no_grad():
        h = net[2](net[1](net[0](Tensor(x))))
        want = net[3](h).data
    assert maps.shape == (2, 5, 2, 2)
    numpy.testing.assert_array_equal(maps, want)
    numpy.testing.assert_array_equal(feature_maps(net, x, -1), net(Tensor(x)).data)
    # a model that carries its pre-processing takes raw inputs: its first layer runs first
    steps = Pipeline([Standardize(per_channel=False)]).fit(x)
    wrapped = nn.Sequential(*steps, *net)
    numpy.testing.assert_allclose(feature_maps(wrapped, x, 1),
                                  feature_maps(net, steps.transform(x), 0), rtol=1e-6)


def test_run_layers_replaces_relu_and_reports_outputs(rng):
    net = _net(rng)
    x = Tensor(rng.standard_normal((1, 1, 8, 8)).astype(numpy.float32))
    seen = []
    y = run_layers(layer_list(net), x, 2, relu=lambda h: h * 0.0,
                   on_output=lambda i, m, out: seen.append((i, type(m).__name__)))
    assert seen == [(0, "Conv2d"), (1, "MaxPool2d"), (2, "ReLU")]
    assert (y.data == 0).all()


def test_feature_maps_image_shape():
    img = feature_maps_image(numpy.random.default_rng(0).random((6, 4, 4)), ncol=3, scale=2)
    assert img.shape == (2 * (2 * 5 + 1), 2 * (3 * 5 + 1), 3)
    assert feature_maps_image(numpy.arange(5.0), scale=1).shape == (3, 7, 3)


def test_filters_first_layer_grey_and_normalised(rng):
    net = _net(rng)
    assert conv_layers(net) == [0, 3]
    img = filters_image(net, scale=1)
    assert img.shape == (2 * 4 + 1, 2 * 4 + 1, 3)  # 4 kernels 3x3 in a 2x2 grid
    w = net[0].weight.data[1, 0]
    tile = img[1:4, 5:8, 0]
    numpy.testing.assert_allclose(tile, (w - w.min()) / (w.max() - w.min()), rtol=1e-6)
    assert tile.min() == 0 and tile.max() == 1


def test_filters_rgb_in_colour(rng):
    net = _net(rng, c_in=3)
    img = filters_image(net, scale=1)
    w = net[0].weight.data[0]  # (3, 3, 3) one RGB kernel, one min/max over all colours
    want = ((w - w.min()) / (w.max() - w.min())).transpose(1, 2, 0)
    numpy.testing.assert_allclose(img[1:4, 1:4], want, rtol=1e-6)


def test_filters_deeper_layer_per_input_channel(rng):
    net = _net(rng)
    img = filters_image(net, "3.0", scale=1)
    assert img.shape == (5 * 4 + 1, 4 * 4 + 1, 3)  # 5 filters x 4 input channels
    w = net[3][0].weight.data[2, 1]
    numpy.testing.assert_allclose(img[9:12, 5:8, 1], (w - w.min()) / (w.max() - w.min()),
                                  rtol=1e-6)
    with pytest.raises(ValueError, match=r"is a ReLU, not a Conv2d.*\[0, 3\]"):
        filters_image(net, 2)
    with pytest.raises(ValueError, match="no Conv2d"):
        filters_image(nn.Sequential(nn.Flatten(), nn.Linear(4, 2, rng=rng)))


def test_filters_of_a_dense_first_layer_are_its_rows_as_images(rng):
    from xpnet.viz.filters import dense_image_layer

    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4, rng=rng), nn.Sigmoid(),
                        nn.Linear(4, 3, rng=rng))
    assert dense_image_layer(net, (1, 3, 4)) == 1
    assert dense_image_layer(net, (1, 4, 4)) is None  # 16 pixels: not this layer's input
    assert dense_image_layer(_net(rng), (1, 8, 8)) is None  # a convolution comes first
    img = filters_image(net, scale=1, input_shape=(1, 3, 4))
    assert img.shape == (2 * 4 + 1, 2 * 5 + 1, 3)  # 4 tiles of 3x4 in a 2x2 grid
    w = net[1].weight.data[1].reshape(3, 4)  # unit 1's weights as the image
    numpy.testing.assert_allclose(img[1:4, 6:10, 0], (w - w.min()) / (w.max() - w.min()),
                                  rtol=1e-6)
    assert filters_image(net, "1", scale=1, input_shape=(1, 3, 4)).shape == img.shape
    with pytest.raises(ValueError, match="no Conv2d layer .for an MLP's first dense layer, "
                                         "give input_shape"):
        filters_image(net)
    with pytest.raises(ValueError, match="layer '3' is a Linear, not a Conv2d; the model "
                                         "has no Conv2d; the dense first layer is 1"):
        filters_image(net, 3, input_shape=(1, 3, 4))


def test_block_outputs_end_each_convolution_stage(rng):
    from xpnet.viz.filters import block_outputs

    assert block_outputs(_net(rng)) == [2, 4]  # conv-pool-ReLU, then conv-ReLU
    assert block_outputs(nn.Sequential(nn.Flatten(), nn.Linear(4, 2, rng=rng))) == []
