"""Elastic distortion after Simard, Steinkraus and Platt (2003), vectorised over the batch.

For each image, two random displacement fields ``dy, dx ~ uniform(-1, 1)`` (one value per
pixel) are smoothed by a Gaussian of standard deviation ``sigma`` pixels and scaled by
``alpha``; the distorted image is ``out(i, j) = x(i + dy(i, j), j + dx(i, j))`` by bilinear
interpolation (zero outside the image). Small sigma gives nearly random, large
displacements (noise); large sigma makes them small and close to a translation; Simard et
al. used sigma = 4, alpha = 34 on 28x28 MNIST digits.

The Gaussian is separable: smoothing all fields of a batch is two matrix products
``G_H @ U @ G_W^T`` with ``G_n`` the (n, n) matrix of the 1-D Gaussian filter (radius
``int(4 sigma + 0.5)``, 'reflect' boundary as scipy.ndimage.gaussian_filter's default), so
there is no loop over images and the work is BLAS. The fields are drawn from the NumPy
Generator (also for CuPy batches, then moved), so one seed gives the same distortion on
every device.
"""

from __future__ import annotations

import functools

import numpy

from xpnet import backend
from xpnet.data.transforms._sampling import bilinear_sample


@functools.lru_cache(maxsize=64)
def gaussian_matrix(n: int, sigma: float, truncate: float = 4.0) -> numpy.ndarray:
    """The (n, n) matrix of a 1-D Gaussian filter with 'reflect' boundary.

    ``(G @ u)[i] = sum_k g_k u[reflect(i + k)]`` with ``g_k ∝ exp(-k^2 / (2 sigma^2))``,
    ``|k| <= int(truncate sigma + 0.5)``, ``sum g_k = 1``; ``reflect`` mirrors about the
    edges (d c b a | a b c d | d c b a). ``sigma = 0`` gives the identity.

    Args:
        n: signal length.
        sigma: standard deviation in samples (>= 0).
        truncate: radius in standard deviations.

    Returns:
        float64 ``(n, n)``, read-only (cached).
    """
    matrix = numpy.zeros((n, n))
    if sigma == 0:
        matrix[numpy.arange(n), numpy.arange(n)] = 1.0
    else:
        radius = int(truncate * sigma + 0.5)
        taps = numpy.arange(-radius, radius + 1)
        weights = numpy.exp(-0.5 * (taps / sigma) ** 2)
        weights /= weights.sum()
        rows = numpy.arange(n)
        for k, g in zip(taps, weights, strict=True):
            j = (rows + k) % (2 * n)
            j = numpy.where(j >= n, 2 * n - 1 - j, j)  # mirror about the edges
            numpy.add.at(matrix, (rows, j), g)
    matrix.flags.writeable = False
    return matrix


def elastic_displacement(shape: tuple[int, int, int], alpha: float, sigma: float,
                         rng: numpy.random.Generator, xp=numpy):
    """Random smooth displacement fields ``alpha * G_sigma * uniform(-1, 1)``.

    Args:
        shape: ``(B, H, W)``.
        alpha: scale of the displacements (pixels).
        sigma: Gaussian width (pixels).
        rng: draws the uniform fields in one call,
            ``u = 2 rng.random((2, B, H, W), dtype=float32) - 1`` (dy from ``u[0]``).
        xp: array module of the result.

    Returns:
        ``(dy, dx)``, each float32 ``(B, H, W)``.

    Example:
        >>> dy, dx = elastic_displacement((2, 8, 8), 0.0, 4.0, numpy.random.default_rng(0))
        >>> float(abs(dy).max())
        0.0
    """
    B, H, W = shape
    u = rng.random((2, B, H, W), dtype=numpy.float32)  # (2, B, H, W): dy and dx fields
    u *= 2.0
    u -= 1.0  # uniform(-1, 1)
    g_h = gaussian_matrix(H, float(sigma)).astype(numpy.float32)
    g_w = gaussian_matrix(W, float(sigma)).astype(numpy.float32)
    fields = g_h @ u @ g_w.T  # (2, B, H, W): smoothing along columns, then rows
    fields *= numpy.float32(alpha)
    fields = xp.asarray(fields)
    return fields[0], fields[1]


def elastic_distortion(x, rng: numpy.random.Generator, alpha: float = 34.0,
                       sigma: float = 4.0):
    """Elastically distort each image of a batch (Simard et al. 2003).

    ``out[b, c, i, j] = x[b, c, i + dy[b, i, j], j + dx[b, i, j]]`` (bilinear, 0 outside)
    with ``(dy, dx) = alpha * G_sigma * uniform(-1, 1)`` drawn per image.

    Args:
        x: float images ``(B, C, H, W)``, NumPy or CuPy.
        rng: the batch's Generator.
        alpha: displacement scale in pixels (0 gives the identity).
        sigma: smoothing width in pixels.

    Returns:
        A new ``(B, C, H, W)`` array.

    Shape:
        x (B, C, H, W) -> (B, C, H, W).

    Example:
        >>> x = numpy.random.default_rng(0).random((2, 1, 28, 28), dtype=numpy.float32)
        >>> y = elastic_distortion(x, numpy.random.default_rng(1), alpha=34, sigma=4)
        >>> y.shape, bool((elastic_distortion(x, numpy.random.default_rng(1), 0, 4) == x).all())
        ((2, 1, 28, 28), True)
    """
    xp = backend.get_array_module(x)
    if x.ndim != 4:
        raise ValueError(f"elastic_distortion: expected x of shape (B, C, H, W), got {x.shape}")
    if sigma < 0:
        raise ValueError(f"elastic_distortion: sigma must be >= 0, got {sigma}")
    B, _, H, W = x.shape
    dy, dx = elastic_displacement((B, H, W), alpha, sigma, rng, xp)
    grid_r = xp.arange(H, dtype=xp.float32)[None, :, None]  # (1, H, 1)
    grid_c = xp.arange(W, dtype=xp.float32)[None, None, :]  # (1, 1, W)
    return bilinear_sample(x, grid_r + dy, grid_c + dx)


class ElasticDistortion:
    """``elastic_distortion`` with its parameters bound: ``ElasticDistortion(34, 4)(x, rng)``.

    Args:
        alpha: displacement scale in pixels.
        sigma: smoothing width in pixels.

    Example:
        >>> t = ElasticDistortion(alpha=34.0, sigma=4.0)
        >>> t(numpy.zeros((3, 1, 28, 28), numpy.float32), numpy.random.default_rng(0)).shape
        (3, 1, 28, 28)
    """

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0) -> None:
        if sigma < 0:
            raise ValueError(f"ElasticDistortion: sigma must be >= 0, got {sigma}")
        self.alpha = float(alpha)
        self.sigma = float(sigma)

    def __call__(self, x, rng: numpy.random.Generator):
        return elastic_distortion(x, rng, self.alpha, self.sigma)

    def __repr__(self) -> str:
        return f"ElasticDistortion(alpha={self.alpha}, sigma={self.sigma})"
