"""Initialisers: shapes, dtypes, fans and the statistics of large samples."""

import math

import numpy
import pytest

from xpnet import init

SHAPE = (500, 400)  # 200,000 draws: the sample std is within ~0.5% of the true one


def rng():
    return numpy.random.default_rng(0)


def test_compute_fans_dense_and_conv():
    assert init.compute_fans((10, 784)) == (784, 10)
    assert init.compute_fans((96, 3, 11, 11)) == (3 * 121, 96 * 121)
    assert init.compute_fans((256, 48, 5, 5)) == (48 * 25, 256 * 25)  # grouped conv
    with pytest.raises(ValueError, match="at least 2 axes"):
        init.compute_fans((10,))


@pytest.mark.parametrize(
    "make, std",
    [
        (lambda s, r: init.normal(s, 0.01, r), 0.01),
        (lambda s, r: init.uniform(s, -0.3, 0.3, r), 0.3 / math.sqrt(3)),
        (init.glorot_uniform, math.sqrt(2 / 900)),
        (init.glorot_normal, math.sqrt(2 / 900)),
        (init.he_normal, math.sqrt(2 / 400)),
        (init.he_uniform, math.sqrt(2 / 400)),
        (init.lecun_normal, math.sqrt(1 / 400)),
        (init.lecun_uniform, math.sqrt(1 / 400)),
    ],
)
def test_standard_deviation_of_large_samples(make, std):
    w = make(SHAPE, rng())
    assert w.shape == SHAPE and w.dtype == numpy.float32
    assert abs(float(w.std()) / std - 1) < 0.01
    assert abs(float(w.mean())) < 0.01 * std


def test_uniform_bounds():
    w = init.he_uniform((64, 32), rng())
    a = math.sqrt(6 / 32)
    assert w.min() >= -a and w.max() < a and w.max() > 0.9 * a
    u = init.uniform((1000,), 2.0, 3.0, rng())
    assert u.min() >= 2.0 and u.max() < 3.0


def test_conv_shape_uses_receptive_field():
    w = init.he_normal((64, 16, 5, 5), rng(), dtype=numpy.float64)
    assert w.dtype == numpy.float64
    assert abs(w.std() / math.sqrt(2 / (16 * 25)) - 1) < 0.02


def test_glorot_gain_and_normal_mean():
    w = init.glorot_uniform(SHAPE, rng(), gain=5 / 3)
    assert abs(w.std() / (5 / 3 * math.sqrt(2 / 900)) - 1) < 0.01
    m = init.normal(SHAPE, 0.5, rng(), mean=2.0, dtype="float64")
    assert abs(m.mean() - 2.0) < 0.01 and m.dtype == numpy.float64


def test_constant_and_zeros():
    numpy.testing.assert_array_equal(init.constant((2, 3), 1.0), numpy.ones((2, 3), numpy.float32))
    assert init.zeros(4).dtype == numpy.float32 and not init.zeros(4).any()


def test_reproducible_from_the_rng():
    numpy.testing.assert_array_equal(init.he_normal((8, 4), rng()), init.he_normal((8, 4), rng()))


def test_errors():
    with pytest.raises(TypeError, match="init.normal: rng must be a numpy.random.Generator"):
        init.normal((2, 2), 0.1, 0)
    with pytest.raises(ValueError, match="std must be >= 0"):
        init.normal((2, 2), -1.0, rng())
    with pytest.raises(ValueError, match="low <= high"):
        init.uniform((2,), 1.0, 0.0, rng())
    with pytest.raises(TypeError, match="floating dtype"):
        init.he_normal((2, 2), rng(), dtype=numpy.int32)
    with pytest.raises(ValueError, match="negative"):
        init.he_normal((2, -2), rng())
