"""The zoo's name table: every entry builds, takes its example shape and refuses others."""

import numpy
import pytest

import xpnet
from xpnet.models.zoo import ZOO, build_model

# the zoo entries whose models take images of a fixed size, and one shape each refuses
FIXED = {
    "lenet5": (1, 32, 32),
    "cifar_convnet": (3, 28, 28),
    "maxout_mnist": (3, 28, 28),
    "dropconnect_mnist": (1, 32, 32),
    "locally_connected": (1, 14, 14),
}


@pytest.mark.parametrize("name", list(ZOO))
def test_every_entry_builds_and_gives_class_scores(name):
    entry = ZOO[name]
    net = build_model(name, num_classes=7, seed=0)
    net.eval()  # dropout off: the scores must not depend on masks here
    x = numpy.random.default_rng(1).random((2, *entry.example_shape), dtype=numpy.float32)
    scores = net(xpnet.Tensor(x))
    assert scores.shape == (2, 7)
    assert scores.dtype == numpy.float32
    assert numpy.isfinite(scores.data).all()
    assert isinstance(entry.description, str) and entry.description


@pytest.mark.parametrize("name", ["lenet5", "cifar_convnet", "locally_connected", "mlp"])
def test_same_seed_same_weights_other_seed_other_weights(name):
    a, b, c = (build_model(name, seed=s) for s in (3, 3, 4))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        numpy.testing.assert_array_equal(pa.data, pb.data)
    assert any(not numpy.array_equal(pa.data, pc.data)
               for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_unknown_name_lists_the_zoo():
    with pytest.raises(ValueError, match="unknown model 'lenet6'") as err:
        build_model("lenet6")
    for name in ZOO:
        assert name in str(err.value)


@pytest.mark.parametrize("name,shape", sorted(FIXED.items()))
def test_wrong_input_shape_is_refused_before_building(name, shape):
    with pytest.raises(ValueError, match=f"model {name} takes inputs of shape"):
        build_model(name, shape)


def test_lenet5_takes_any_channel_count():
    net = build_model("lenet5", (3, 28, 28), num_classes=4)
    assert net[0].weight.shape == (6, 3, 5, 5)
    assert net(xpnet.Tensor(numpy.zeros((1, 3, 28, 28), numpy.float32))).shape == (1, 4)


def test_mlp_and_perceptron_size_their_input_from_the_shape():
    net = build_model("mlp", (3, 8, 8), num_classes=5, hidden=(16, 12))
    assert [p.shape for p in net.parameters()] == [(16, 192), (16,), (12, 16), (12,),
                                                   (5, 12), (5,)]
    per = build_model("perceptron", (1, 4, 4), num_classes=3)
    assert [p.shape for p in per.parameters()] == [(3, 16), (3,)]


@pytest.mark.parametrize("shape", [(1, 64, 64), (3, 64, 48)])
def test_alexnet_needs_square_rgb(shape):
    with pytest.raises(ValueError, match=r"alexnet: needs square RGB inputs \(3, S, S\)"):
        build_model("alexnet", shape)


def test_alexnet_scaled_to_64_is_the_benchmark_shape():
    net = build_model("alexnet", (3, 64, 64))
    convs = [m for m in net if isinstance(m, xpnet.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [24, 64, 96, 96, 64]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert net(xpnet.Tensor(numpy.zeros((1, 3, 64, 64), numpy.float32))).shape == (1, 10)


def test_alexnet_too_small_input_names_the_problem():
    with pytest.raises(ValueError, match="input_size 40 is too small"):
        build_model("alexnet", (3, 40, 40))


def test_options_reach_the_factory():
    net = build_model("lenet5", activation="tanh", pool="avg")
    assert [type(m).__name__ for m in net][:3] == ["Conv2d", "Tanh", "AvgPool2d"]
    with pytest.raises(ValueError, match="activation must be one of"):
        build_model("lenet5", activation="swish")
