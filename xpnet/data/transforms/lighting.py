"""AlexNet's PCA lighting noise (Krizhevsky et al. 2012, section 4.1).

Fit: the 3x3 covariance of the RGB values of all training pixels,
``Sigma = P diag(lambda) P^T`` (eigenvectors ``p_i`` as the columns of ``P``). Augment:
to every pixel of an image add ``[p_1 p_2 p_3] [a_1 lambda_1, a_2 lambda_2, a_3 lambda_3]^T``
with ``a_i ~ N(0, std)`` drawn once per image (std = 0.1 in the paper): the intensity and
colour of the illumination change, the object does not.
"""

from __future__ import annotations

import numpy

from xpnet import backend


def fit_pca_lighting(x, batch: int = 1024) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Eigen-decomposition of the RGB covariance of a training set.

    Accumulated in float64 over chunks of ``batch`` images, so a memory-mapped set works.

    Args:
        x: training images ``(N, 3, H, W)`` (NumPy, possibly memory-mapped).
        batch: images per chunk.

    Returns:
        ``(eigval, eigvec)``: float64 ``(3,)`` in decreasing order and ``(3, 3)`` with the
        eigenvectors as columns.

    Example:
        >>> rng = numpy.random.default_rng(0)
        >>> eigval, eigvec = fit_pca_lighting(rng.random((10, 3, 4, 4)))
        >>> eigval.shape, eigvec.shape, bool(eigval[0] >= eigval[2])
        ((3,), (3, 3), True)
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"fit_pca_lighting: expected RGB images (N, 3, H, W), got {x.shape}")
    total, outer, count = numpy.zeros(3), numpy.zeros((3, 3)), 0
    for start in range(0, len(x), batch):
        pixels = backend.to_numpy(x[start:start + batch]).astype(numpy.float64)
        pixels = pixels.transpose(1, 0, 2, 3).reshape(3, -1)  # (3, n H W) one column a pixel
        total += pixels.sum(axis=1)
        outer += pixels @ pixels.T
        count += pixels.shape[1]
    mean = total / count
    covariance = outer / count - numpy.outer(mean, mean)
    eigval, eigvec = numpy.linalg.eigh(covariance)
    order = numpy.argsort(eigval)[::-1]
    return numpy.clip(eigval[order], 0.0, None), eigvec[:, order]


def pca_lighting(x, rng: numpy.random.Generator, eigval, eigvec, std: float = 0.1):
    """Add AlexNet's PCA colour noise, one draw per image.

    ``out[b, :, i, j] = x[b, :, i, j] + P (a_b * lambda)``, ``a_b ~ N(0, std^2 I_3)``.

    Args:
        x: RGB images ``(B, 3, H, W)``.
        rng: the batch's Generator (draws ``B x 3`` normals).
        eigval: ``(3,)`` eigenvalues ``lambda``.
        eigvec: ``(3, 3)`` eigenvectors ``P`` as columns.
        std: standard deviation of the ``a_i``.

    Returns:
        A new ``(B, 3, H, W)`` array of x's dtype.

    Example:
        >>> x = numpy.zeros((2, 3, 4, 4), numpy.float32)
        >>> y = pca_lighting(x, numpy.random.default_rng(0), numpy.ones(3), numpy.eye(3))
        >>> bool((y[:, :, 0, 0] == y[:, :, 3, 3]).all())  # one offset per image
        True
    """
    xp = backend.get_array_module(x)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"pca_lighting: expected RGB images (B, 3, H, W), got {x.shape}")
    alpha = rng.normal(0.0, std, (x.shape[0], 3))  # (B, 3)
    offset = (alpha * numpy.asarray(eigval)) @ numpy.asarray(eigvec).T  # (B, 3) = P (a*lambda)
    return x + xp.asarray(offset.astype(x.dtype))[:, :, None, None]


class PCALighting:
    """``pca_lighting`` with a fitted decomposition bound.

    Args:
        eigval: ``(3,)`` eigenvalues of the training RGB covariance.
        eigvec: ``(3, 3)`` eigenvectors as columns.
        std: standard deviation of the per-image coefficients (0.1 in AlexNet).

    Example:
        >>> x = numpy.random.default_rng(0).random((8, 3, 4, 4))
        >>> t = PCALighting.fit(x)
        >>> t(x[:2], numpy.random.default_rng(1)).shape
        (2, 3, 4, 4)
    """

    def __init__(self, eigval, eigvec, std: float = 0.1) -> None:
        self.eigval = numpy.asarray(eigval, dtype=numpy.float64).reshape(3)
        self.eigvec = numpy.asarray(eigvec, dtype=numpy.float64).reshape(3, 3)
        if std < 0:
            raise ValueError(f"PCALighting: std must be >= 0, got {std}")
        self.std = float(std)

    @classmethod
    def fit(cls, x_train, std: float = 0.1) -> PCALighting:
        """Fit the decomposition on training images ``(N, 3, H, W)``."""
        return cls(*fit_pca_lighting(x_train), std=std)

    def __call__(self, x, rng: numpy.random.Generator):
        return pca_lighting(x, rng, self.eigval, self.eigvec, self.std)

    def __repr__(self) -> str:
        return f"PCALighting(eigval={self.eigval.round(5).tolist()}, std={self.std})"
