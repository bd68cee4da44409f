"""Occlusion sensitivity (against a naive loop), activation maximisation, confusion."""

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet import functions as F
from xpnet.viz.confusion import confusion_figure, model_confusion
from xpnet.viz.feature_maps import feature_maps
from xpnet.viz.maximize import gaussian_blur, maximize
from xpnet.viz.occlusion import occlusion, occlusion_image, occlusion_positions

pytestmark = pytest.mark.needs_data("mnist5k")


@pytest.fixture(scope="module")
def trained():
    """A small conv net trained a few SGD steps on MNIST-5k, and 100 test digits."""
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
    return net.eval(), x_test[:100], y_test[:100]


def _naive_occlusion(net, img, target, size, stride, fill):
    rows = occlusion_positions(size, img.shape[1], stride)
    cols = occlusion_positions(size, img.shape[2], stride)
    out = numpy.zeros((len(rows), len(cols)))
    for a, r in enumerate(rows):
        for b, c in enumerate(cols):
            x = img.copy()
            x[:, r : r + size, c : c + size] = fill
            out[a, b] = F.softmax(net(Tensor(x[None])), axis=1).data[0, target]
    return out


def test_occlusion_positions_reach_the_far_edge():
    numpy.testing.assert_array_equal(occlusion_positions(8, 28, 4), [0, 4, 8, 12, 16, 20])
    numpy.testing.assert_array_equal(occlusion_positions(8, 28, 6), [0, 6, 12, 18, 20])
    with pytest.raises(ValueError, match="size"):
        occlusion_positions(30, 28, 2)


@pytest.mark.parametrize("size,stride,batch", [(8, 4, 256), (6, 5, 7), (28, 1, 3)])
def test_occlusion_equals_a_naive_loop(trained, size, stride, batch):
    net, x, y = trained
    img = x[5]
    got = occlusion(net, img, int(y[5]), size, stride, fill=0.5, batch_size=batch)
    want = _naive_occlusion(net, img, int(y[5]), size, stride, 0.5)
    numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_occlusion_defaults_and_colour_fill(trained):
    net, x, _ = trained
    img = x[1]
    pred = int(net(Tensor(img[None])).data.argmax())
    got = occlusion(net, img, size=10, stride=6)
    want = _naive_occlusion(net, img, pred, 10, 6, img.mean())
    numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got.min() < got.max()  # covering the digit changes the prediction somewhere
    rgb = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 4, rng=numpy.random.default_rng(0)))
    im3 = numpy.random.default_rng(1).random((3, 6, 6)).astype(numpy.float32)
    got = occlusion(rgb, im3, 2, size=3, stride=3, fill=[0.1, 0.2, 0.3])
    want = _naive_occlusion(rgb, im3, 2, 3, 3, numpy.array([0.1, 0.2, 0.3])[:, None, None])
    numpy.testing.assert_allclose(got, want, rtol=1e-5)
    assert occlusion_image(img, got, scale=2).shape[0] == 56
    with pytest.raises(ValueError, match="one image"):
        occlusion(net, x[:2])


def test_maximize_raises_the_unit_and_is_reproducible(trained):
    net, _, _ = trained
    kw = dict(shape=(1, 28, 28), steps=40, lr=0.05, jitter=1)
    a = maximize(net, 3, 2, rng=numpy.random.default_rng(4), **kw)
    b = maximize(net, 3, 2, rng=numpy.random.default_rng(4), **kw)
    numpy.testing.assert_array_equal(a.image, b.image)
    assert a.values[-1] > a.values[0] + 0.5
    centre = feature_maps(net, a.image[None], 3)[0, 2, 5, 5]
    assert centre == pytest.approx(a.values[-1], rel=1e-5)
    cls = maximize(net, -1, 7, rng=numpy.random.default_rng(0), **kw)
    probs = F.softmax(net(Tensor(cls.image[None])), axis=1).data[0]
    assert probs.argmax() == 7
    with pytest.raises(TypeError, match="Generator"):
        maximize(net, 3, 2, (1, 28, 28), rng=0)
    with pytest.raises(ValueError, match="steps"):
        maximize(net, 3, 2, (1, 28, 28), rng=numpy.random.default_rng(0), steps=0)


def test_maximize_l2_decay_and_blur_are_applied_each_step(trained):
    net, _, _ = trained

    def one_step(**kw):
        return maximize(net, 3, 2, (1, 28, 28), rng=numpy.random.default_rng(1), steps=1,
                        lr=0.05, jitter=0, **kw).image

    plain = one_step(l2=0.0, blur_every=0)
    # x <- (1 - lambda)(x + lr g / mean|g|): the same start and gradient, scaled by 1 - lambda
    numpy.testing.assert_array_equal(one_step(l2=0.5, blur_every=0), 0.5 * plain)
    blurred = one_step(l2=0.0, blur_every=1, blur_sigma=1.0)
    numpy.testing.assert_allclose(blurred, gaussian_blur(plain[None], 1.0)[0], rtol=1e-6)
    assert not numpy.allclose(blurred, plain)


def test_gaussian_blur_keeps_constants_and_mass():
    x = numpy.full((1, 2, 5, 6), 3.0)
    numpy.testing.assert_allclose(gaussian_blur(x, 1.0), x)
    d = numpy.zeros((1, 1, 9, 9))
    d[0, 0, 4, 4] = 1.0
    b = gaussian_blur(d, 1.0)
    assert b.sum() == pytest.approx(1.0) and b[0, 0, 4, 4] < 0.5
    numpy.testing.assert_allclose(b[0, 0], b[0, 0].T)
    assert gaussian_blur(d, 0) is d


def test_confusion_counts_and_figure(trained, tmp_path):
    net, x, y = trained
    from xpnet.data import ArrayDataset

    m = model_confusion(net, ArrayDataset(x, y, classes=[str(i) for i in range(10)]), 10,
                        batch_size=32)
    pred = net(Tensor(x)).data.argmax(axis=1)
    want = numpy.zeros((10, 10), numpy.int64)
    numpy.add.at(want, (y, pred), 1)
    numpy.testing.assert_array_equal(m, want)
    numpy.testing.assert_array_equal(model_confusion(net, (x, y), 10, limit=50),
                                     numpy.bincount(y[:50] * 10 + pred[:50],
                                                    minlength=100).reshape(10, 10))
    with pytest.raises(ValueError, match="labels"):
        model_confusion(net, x, 10)
    pytest.importorskip("matplotlib")
    path = confusion_figure(m, tmp_path / "c.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
