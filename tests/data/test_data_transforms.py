"""Transforms: exact crops and flips, elastic identity and smoothness, PCA noise direction."""

import numpy
import pytest

from xpnet.data import transforms as T
from xpnet.data.transforms import elastic


def images(rng, shape=(4, 3, 6, 5)):
    return rng.random(shape).astype(numpy.float32)


# ---------------------------------------------------------------- crop / flip

def test_data_random_crop_is_a_window_of_the_padded_image(rng):
    x = images(rng)
    out = T.random_crop(x, numpy.random.default_rng(1), (3, 2), padding=1)
    assert out.shape == (4, 3, 3, 2)
    draw = numpy.random.default_rng(1)
    oy, ox = draw.integers(0, 6 + 2 - 3 + 1, 4), draw.integers(0, 5 + 2 - 2 + 1, 4)
    padded = numpy.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for b in range(4):
        numpy.testing.assert_array_equal(out[b], padded[b, :, oy[b]:oy[b] + 3, ox[b]:ox[b] + 2])
    assert len({(a, c) for a, c in zip(oy, ox, strict=True)}) > 1  # positions differ per image


def test_data_center_and_ten_crop_exact():
    x = numpy.arange(2 * 1 * 4 * 5).reshape(2, 1, 4, 5)
    numpy.testing.assert_array_equal(T.center_crop(x, (2, 3)), x[:, :, 1:3, 1:4])
    crops = T.TenCrop(2)(x)
    assert crops.shape == (10, 2, 1, 2, 2)
    m = x[..., ::-1]
    expected = [x[:, :, :2, :2], x[:, :, :2, 3:], x[:, :, 2:, :2], x[:, :, 2:, 3:],
                x[:, :, 1:3, 1:3], m[:, :, :2, :2], m[:, :, :2, 3:], m[:, :, 2:, :2],
                m[:, :, 2:, 3:], m[:, :, 1:3, 1:3]]
    for k in range(10):
        numpy.testing.assert_array_equal(crops[k], expected[k])
    with pytest.raises(ValueError, match="larger than the images"):
        T.center_crop(x, 5)


def test_data_flip_exact_and_p_bounds(rng):
    x = images(rng, (64, 2, 3, 4))
    out = T.random_horizontal_flip(x, numpy.random.default_rng(2), p=0.5)
    flipped = numpy.random.default_rng(2).random(64) < 0.5
    numpy.testing.assert_array_equal(out[flipped], x[flipped][..., ::-1])
    numpy.testing.assert_array_equal(out[~flipped], x[~flipped])
    assert 0 < flipped.sum() < 64
    numpy.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(x, rng), x)
    numpy.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(x, rng), x[..., ::-1])
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        T.RandomHorizontalFlip(1.5)


# ---------------------------------------------------------------- elastic

def test_data_elastic_alpha_zero_is_identity(rng):
    x = images(rng, (3, 1, 28, 28))
    numpy.testing.assert_array_equal(T.elastic_distortion(x, rng, alpha=0.0, sigma=4.0), x)


def test_data_elastic_field_matches_gaussian_filter():
    ndimage = pytest.importorskip("scipy.ndimage")
    for sigma in (0.7, 4.0, 12.0):
        dy, dx = T.elastic_displacement((2, 28, 20), 3.0, sigma, numpy.random.default_rng(0))
        u = 2.0 * numpy.random.default_rng(0).random((2, 2, 28, 20), dtype=numpy.float32) - 1
        ref = 3.0 * ndimage.gaussian_filter(u, (0, 0, sigma, sigma), mode="reflect")
        numpy.testing.assert_allclose(dy, ref[0], rtol=1e-5, atol=1e-6)
        numpy.testing.assert_allclose(dx, ref[1], rtol=1e-5, atol=1e-6)


def test_data_elastic_smoothness_follows_sigma():
    roughness = []
    for sigma in (0.5, 1.0, 2.0, 4.0, 8.0):
        dy, dx = T.elastic_displacement((16, 28, 28), 1.0, sigma, numpy.random.default_rng(0))
        field = numpy.stack([dy, dx])
        step = numpy.abs(numpy.diff(field, axis=-1)).mean()
        # relative to the field's own size, so the shrinking amplitude does not decide it
        roughness.append(step / numpy.abs(field).mean())
    assert all(a > b for a, b in zip(roughness, roughness[1:], strict=False)), roughness


def test_data_elastic_integer_displacement_is_a_shift(rng, monkeypatch):
    x = images(rng, (2, 1, 5, 6))
    def shift(shape, alpha, sigma, rng, xp=numpy):
        return numpy.full(shape, 1.0, numpy.float32), numpy.full(shape, -2.0, numpy.float32)

    monkeypatch.setattr(elastic, "elastic_displacement", shift)
    out = T.elastic_distortion(x, rng, 1.0, 1.0)
    expected = numpy.zeros_like(x)
    expected[:, :, :-1, 2:] = x[:, :, 1:, :-2]  # out(i, j) = x(i + 1, j - 2), 0 outside
    numpy.testing.assert_array_equal(out, expected)


def test_data_elastic_fractional_displacement_is_bilinear(rng, monkeypatch):
    x = images(rng, (2, 3, 5, 6))

    def field(shape, alpha, sigma, rng, xp=numpy):
        return numpy.full(shape, 0.25, numpy.float32), numpy.full(shape, 0.5, numpy.float32)

    monkeypatch.setattr(elastic, "elastic_displacement", field)
    out = T.elastic_distortion(x, rng, 1.0, 1.0)
    p = numpy.pad(x.astype(numpy.float64), ((0, 0), (0, 0), (0, 1), (0, 1)))  # 0 outside
    # out(i, j) = x(i + 0.25, j + 0.5): the four neighbours weighted by (1 - |d|) per axis
    expected = (0.75 * (0.5 * p[:, :, :-1, :-1] + 0.5 * p[:, :, :-1, 1:])
                + 0.25 * (0.5 * p[:, :, 1:, :-1] + 0.5 * p[:, :, 1:, 1:]))
    numpy.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


def test_data_elastic_same_rng_same_output_and_vectorised_per_image(rng):
    x = numpy.repeat(images(rng, (1, 1, 28, 28)), 3, axis=0)
    a = T.ElasticDistortion(34, 4)(x, numpy.random.default_rng(5))
    b = T.ElasticDistortion(34, 4)(x, numpy.random.default_rng(5))
    numpy.testing.assert_array_equal(a, b)
    assert not numpy.allclose(a[0], a[1])  # each image its own field
    assert not numpy.allclose(a[0], x[0])


# ---------------------------------------------------------------- affine

def test_data_affine_identity_rotation_and_shift():
    x = numpy.arange(2 * 1 * 4 * 4, dtype=numpy.float32).reshape(2, 1, 4, 4)
    numpy.testing.assert_array_equal(T.affine_transform(x, [0, 0], [1, 1], [[0, 0], [0, 0]]), x)
    rotated = T.affine_transform(x, [90, 90], [1, 1], [[0, 0], [0, 0]])
    numpy.testing.assert_allclose(rotated, numpy.rot90(x, 1, axes=(2, 3)), atol=1e-5)
    shifted = T.affine_transform(x, [0, 0], [1, 1], [[1, 0], [0, -1]])
    numpy.testing.assert_array_equal(shifted[0, 0, 1:], x[0, 0, :-1])
    numpy.testing.assert_array_equal(shifted[0, 0, 0], 0)
    numpy.testing.assert_array_equal(shifted[1, 0, :, :-1], x[1, 0, :, 1:])
    zoomed = T.affine_transform(numpy.ones((1, 1, 9, 9), numpy.float32), [0], [0.5], [[0, 0]])
    assert zoomed[0, 0, 4, 4] == 1 and zoomed[0, 0, 0, 0] == 0  # shrunk: border empty


def test_data_random_affine_seeded(rng):
    x = images(rng, (3, 1, 8, 8))
    t = T.RandomAffine(20, scale=(0.8, 1.2), translate=(0.1, 0.2))
    numpy.testing.assert_array_equal(t(x, numpy.random.default_rng(4)),
                                     t(x, numpy.random.default_rng(4)))
    numpy.testing.assert_allclose(T.RandomAffine(0)(x, rng), x, atol=1e-6)
    with pytest.raises(ValueError, match="scale must be"):
        T.RandomAffine(10, scale=(0.0, 1.0))


# ---------------------------------------------------------------- PCA lighting

def test_data_pca_lighting_fit_and_noise_direction():
    rng = numpy.random.default_rng(0)
    direction = numpy.array([0.6, 0.64, 0.48])  # unit vector
    strength = rng.standard_normal((200, 1, 4, 4))
    x = direction[None, :, None, None] * strength + 0.05 * rng.standard_normal((200, 3, 4, 4))
    eigval, eigvec = T.fit_pca_lighting(x, batch=64)
    assert abs(abs(eigvec[:, 0] @ direction) - 1) < 1e-3  # the dominant colour axis found
    numpy.testing.assert_allclose(eigval[0], 1.0, rtol=0.15)
    flat = x.transpose(1, 0, 2, 3).reshape(3, -1)
    numpy.testing.assert_allclose(numpy.sort(eigval), numpy.linalg.eigvalsh(numpy.cov(flat)),
                                  rtol=1e-2)
    # the noise of many images: covariance P diag((std lambda)^2) P^T
    t = T.PCALighting(eigval, eigvec, std=0.1)
    zeros = numpy.zeros((4000, 3, 2, 2))
    offsets = t(zeros, numpy.random.default_rng(1))[:, :, 0, 0]  # (4000, 3)
    numpy.testing.assert_array_equal(offsets, t(zeros, numpy.random.default_rng(1))[:, :, 1, 1])
    expected = eigvec @ numpy.diag((0.1 * eigval) ** 2) @ eigvec.T
    numpy.testing.assert_allclose(numpy.cov(offsets.T), expected, atol=0.1 * expected.max())
    top = numpy.linalg.eigh(numpy.cov(offsets.T))[1][:, -1]
    assert abs(top @ direction) > 0.99


def test_data_compose_applies_in_order_with_one_rng(rng):
    x = images(rng, (2, 3, 8, 8))
    pipeline = T.Compose([T.RandomCrop(6, padding=1), T.RandomHorizontalFlip()])
    r1, r2 = numpy.random.default_rng(9), numpy.random.default_rng(9)
    by_hand = T.random_horizontal_flip(T.random_crop(x, r2, 6, 1), r2)
    numpy.testing.assert_array_equal(pipeline(x, r1), by_hand)
    with pytest.raises(TypeError, match="must be callable"):
        T.Compose([1])
