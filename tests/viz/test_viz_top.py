"""Top inputs (one pass, running top-k) and receptive fields."""

import numpy
import pytest

from xpnet import Tensor, nn, no_grad
from xpnet.data import ArrayDataset
from xpnet.viz.feature_maps import feature_maps
from xpnet.viz.top_inputs import (
    ReceptiveField,
    crop,
    receptive_field,
    top_inputs,
    top_patches_image,
)


def _net(rng):
    return nn.Sequential(
        nn.Conv2d(1, 4, 5, padding=2, rng=rng), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, rng=rng), nn.ReLU(),
        nn.MaxPool2d(3, stride=1, padding=1), nn.Flatten(), nn.Linear(6 * 4 * 4, 5, rng=rng),
    ).eval()


def _brute(acts, k):
    """Top-k per channel by sorting every image's map maximum."""
    n, c = acts.shape[:2]
    flat = acts.reshape(n, c, -1).astype(numpy.float64)
    best, where = flat.max(axis=2), flat.argmax(axis=2)  # (N, C)
    order = numpy.stack([numpy.lexsort((numpy.arange(n), -best[:, j]))[:k]
                         for j in range(c)], axis=1)  # (k, C)
    return (numpy.take_along_axis(best, order, 0), order,
            numpy.take_along_axis(where, order, 0))


@pytest.mark.parametrize("layer", [0, 2, 4, 5])
def test_top_k_equals_brute_force(rng, layer):
    net = _net(rng)
    x = rng.standard_normal((37, 1, 16, 16)).astype(numpy.float32)
    acts = feature_maps(net, x, layer)
    scores, idx, where = _brute(acts, 5)
    top = top_inputs(net, x, layer, k=5, batch_size=8)  # 5 batches, the last one short
    numpy.testing.assert_array_equal(top.indices, idx)
    numpy.testing.assert_allclose(top.scores, scores, rtol=0)
    w = acts.shape[3]
    numpy.testing.assert_array_equal(top.positions[..., 0] * w + top.positions[..., 1], where)
    assert top.count == 37


def test_top_k_of_dense_neurons_dataset_and_limit(rng):
    net = _net(rng)
    x = rng.standard_normal((20, 1, 16, 16)).astype(numpy.float32)
    ds = ArrayDataset(x, rng.integers(0, 5, 20))
    top = top_inputs(net, ds, 7, k=3, batch_size=6, limit=15)
    with no_grad():
        out = net(Tensor(x[:15])).data
    numpy.testing.assert_array_equal(top.indices, numpy.argsort(-out, axis=0, kind="stable")[:3])
    assert top.field is None and (top.positions == 0).all() and top.count == 15


def test_top_k_more_than_images_and_fixed_position(rng):
    net = _net(rng)
    x = rng.standard_normal((3, 1, 16, 16)).astype(numpy.float32)
    top = top_inputs(net, (x, None), 0, k=5, position=(4, 6))
    assert (top.indices[3:] == -1).all() and numpy.isneginf(top.scores[3:]).all()
    acts = feature_maps(net, x, 0)[:, :, 4, 6]
    numpy.testing.assert_array_equal(top.indices[:3], numpy.argsort(-acts, axis=0)[:3])
    assert (top.positions[:3] == (4, 6)).all()
    with pytest.raises(ValueError, match="k and batch_size"):
        top_inputs(net, x, 0, k=0)


def test_receptive_field_formula(rng):
    net = _net(rng)
    assert receptive_field(net, 0) == ReceptiveField((5, 5), (1, 1), (-2, -2))
    assert receptive_field(net, 2) == ReceptiveField((6, 6), (2, 2), (-2, -2))
    # conv 3x3 stride 2 pad 1 on jump 2: size 6 + 2*2 = 10, start -2 - 1*2 = -4, jump 4
    assert receptive_field(net, 3) == ReceptiveField((10, 10), (4, 4), (-4, -4))
    assert receptive_field(net, 5) == ReceptiveField((18, 18), (4, 4), (-8, -8))
    assert receptive_field(net, 6) is None


@pytest.mark.parametrize("layer", [0, 3, 5])
def test_receptive_field_is_exactly_what_the_unit_sees(rng, layer):
    """A unit changes when a pixel inside its field changes and never for one outside."""
    net = _net(rng)
    x = rng.standard_normal((1, 1, 16, 16))
    field = receptive_field(net, layer)
    i, j = 1, 2
    base = feature_maps(net, x, layer)[0, :, i, j]
    top, left, bottom, right = field.window(i, j)
    inside = numpy.zeros((16, 16), bool)
    inside[max(top, 0) : bottom, max(left, 0) : right] = True
    moved = numpy.zeros((16, 16), bool)
    for r in range(16):
        for c in range(16):
            xx = x.copy()
            xx[0, 0, r, c] += 50.0
            moved[r, c] = not numpy.allclose(feature_maps(net, xx, layer)[0, :, i, j], base)
    assert not (moved & ~inside).any()
    assert moved[max(top, 0), max(left, 0)] or layer == 5  # the corner pixel reaches it
    assert moved.sum() > 0.3 * inside.sum()


def test_crop_pads_outside_the_image():
    img = numpy.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    field = ReceptiveField((3, 3), (1, 1), (-1, -1))
    patch = crop(img, field, numpy.array([[0, 0]]))
    numpy.testing.assert_array_equal(patch[0, 0], [[0, 0, 0], [0, 1, 2], [0, 5, 6]])
    patch = crop(img, field, numpy.array([[2, 1]]))
    numpy.testing.assert_array_equal(patch[0, 0], [[5, 6, 7], [9, 10, 11], [13, 14, 15]])
    big = ReceptiveField((9, 9), (1, 1), (-4, -4))
    numpy.testing.assert_array_equal(crop(img, big, numpy.array([[0, 0]])), img)
    assert crop(img, None, numpy.zeros((1, 2))) is img


def test_top_patches_image(rng):
    net = _net(rng)
    x = rng.random((10, 1, 16, 16)).astype(numpy.float32)
    top = top_inputs(net, x, 3, k=4)
    img = top_patches_image(x, top, [0, 5], scale=1)
    assert img.shape == (2 * 11 + 1, 4 * 11 + 1, 3)  # 10x10 fields, 2 rows of 4


def test_one_pass_in_bounded_batches(rng):
    """Each image is read once, in batches of at most batch_size: activations of the whole
    set never exist at once."""
    net = _net(rng)
    x = rng.standard_normal((50, 1, 16, 16)).astype(numpy.float32)

    class Counting(ArrayDataset):
        requests: list = []

        def get_batch(self, indices):
            self.requests.append(numpy.asarray(indices).copy())
            return super().get_batch(indices)

    ds = Counting(x, numpy.zeros(50, numpy.int64))
    top = top_inputs(net, ds, 3, k=4, batch_size=16)
    sizes = [len(r) for r in ds.requests]
    assert sizes == [16, 16, 16, 2]
    numpy.testing.assert_array_equal(numpy.concatenate(ds.requests), numpy.arange(50))
    assert top.scores.shape == (4, 6)
