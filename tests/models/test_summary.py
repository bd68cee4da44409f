"""summary(): rows, output shapes, parameter and FLOP counts worked out by hand."""

import numpy
import pytest

from xpnet import nn
from xpnet.models.alexnet import alexnet
from xpnet.models.lenet import lenet5
from xpnet.models.regularized import locally_connected_net
from xpnet.models.summary import summary


def test_lenet5_rows_by_hand():
    s = summary(lenet5(seed=0), (1, 28, 28))
    rows = [(r.name, r.layer, r.output_shape, r.parameters, r.flops) for r in s.rows]
    # parameters: weights + biases; FLOPs: 2 x multiply-adds of one example's forward,
    # a convolution applying each of its weights at every output position
    assert rows == [
        ("0", "Conv2d", (6, 28, 28), 6 * 1 * 5 * 5 + 6, 2 * (6 * 25) * 28 * 28),
        ("1", "MaxPool2d", (6, 14, 14), 0, 0),
        ("2", "ReLU", (6, 14, 14), 0, 0),
        ("3", "Conv2d", (16, 10, 10), 16 * 6 * 5 * 5 + 16, 2 * (16 * 6 * 25) * 10 * 10),
        ("4", "MaxPool2d", (16, 5, 5), 0, 0),
        ("5", "ReLU", (16, 5, 5), 0, 0),
        ("6", "Flatten", (400,), 0, 0),
        ("7", "Linear", (120,), 400 * 120 + 120, 2 * 400 * 120),
        ("8", "ReLU", (120,), 0, 0),
        ("9", "Linear", (84,), 120 * 84 + 84, 2 * 120 * 84),
        ("10", "ReLU", (84,), 0, 0),
        ("11", "Linear", (10,), 84 * 10 + 10, 2 * 84 * 10),
    ]
    assert s.total_parameters == 156 + 2416 + 48120 + 10164 + 850 == 61706
    assert s.total_flops == 235200 + 480000 + 96000 + 20160 + 1680 == 833040


def test_table_text_has_every_row_and_the_totals():
    text = str(summary(lenet5(seed=0), (1, 28, 28)))
    lines = text.splitlines()
    assert lines[0] == "input (1, 28, 28)"
    assert lines[1].split() == ["layer", "type", "output", "shape", "params", "FLOPs"]
    assert sum(1 for line in lines if "Conv2d" in line) == 2
    assert "48,120" in text and "235,200" in text
    assert lines[-2] == "total parameters: 61,706"
    assert lines[-1] == "total FLOPs per example (forward): 833,040"


@pytest.fixture(scope="module")
def paper_alexnet():
    return summary(alexnet(1000, seed=0), (3, 227, 227))


def test_alexnet_is_the_papers_sixty_million(paper_alexnet):
    # the well-known count of the two-tower network (conv2, conv4, conv5 see half the maps)
    by_hand = {
        "conv1": 96 * 3 * 11 * 11 + 96,
        "conv2": 256 * 48 * 5 * 5 + 256,
        "conv3": 384 * 256 * 3 * 3 + 384,
        "conv4": 384 * 192 * 3 * 3 + 384,
        "conv5": 256 * 192 * 3 * 3 + 256,
        "fc6": 256 * 6 * 6 * 4096 + 4096,
        "fc7": 4096 * 4096 + 4096,
        "fc8": 4096 * 1000 + 1000,
    }
    weighted = [r for r in paper_alexnet.rows if r.parameters]
    assert [r.parameters for r in weighted] == list(by_hand.values())
    print(f"\nAlexNet (groups=2) parameters: {paper_alexnet.total_parameters:,}")
    assert paper_alexnet.total_parameters == sum(by_hand.values()) == 60_965_224


def test_alexnet_shapes_and_grouped_conv_flops(paper_alexnet):
    shapes = [r.output_shape for r in paper_alexnet.rows if r.layer in ("Conv2d", "MaxPool2d")]
    assert shapes == [(96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13),
                      (384, 13, 13), (384, 13, 13), (256, 13, 13), (256, 6, 6)]
    conv2 = paper_alexnet.rows[4]
    # groups=2: each of the 256 kernels reads 48 of the 96 maps
    assert conv2.flops == 2 * (256 * 48 * 5 * 5) * 27 * 27 == 447_897_600


def test_locally_connected_weights_count_once_per_example():
    s = summary(locally_connected_net(seed=0), (1, 28, 28))
    lc = next(r for r in s.rows if r.layer == "LocallyConnected2d")
    # a different 16x3x3 kernel per output channel at each of the 10x10 positions
    assert lc.output_shape == (16, 10, 10)
    assert lc.parameters == 10 * 10 * 16 * 16 * 3 * 3 + 16 * 10 * 10  # bias per unit
    assert lc.flops == 2 * 10 * 10 * 16 * 16 * 3 * 3


def test_nested_sequential_rows_get_dotted_names():
    rng = numpy.random.default_rng(0)
    net = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng), nn.ReLU()), nn.Flatten(),
                        nn.Linear(2 * 4 * 4, 3, rng=rng))
    s = summary(net, (1, 6, 6))
    assert [r.name for r in s.rows] == ["0.0", "0.1", "1", "2"]
    assert s.rows[0].flops == 2 * 2 * 9 * 4 * 4


def test_wrong_input_names_the_layer():
    with pytest.raises(ValueError, match=r"summary: layer 7 \(Linear\) refused"):
        summary(lenet5(seed=0), (1, 32, 32))


def test_mode_is_restored():
    net = lenet5(seed=0)
    summary(net, (1, 28, 28))
    assert net.training
    net.eval()
    summary(net, (1, 28, 28))
    assert not net.training
