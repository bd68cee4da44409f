"""Batch transforms: pure functions ``fn(x, rng) -> x`` on ``(B, C, H, W)`` and class
wrappers that bind their parameters. One family per file: ``crop``, ``flip``,
``lighting`` (AlexNet's PCA noise), ``elastic`` (Simard 2003), ``affine``, ``shift``
(whole pixels); ``Compose`` chains them. NumPy or CuPy batches; the randomness always
comes from the NumPy Generator passed in, so one seed gives the same augmentation on
every device.

Example:
    >>> import numpy
    >>> from xpnet.data import transforms as T
    >>> t = T.Compose([T.RandomCrop(28, padding=2), T.ElasticDistortion(34.0, 4.0)])
    >>> t(numpy.zeros((2, 1, 28, 28), numpy.float32), numpy.random.default_rng(0)).shape
    (2, 1, 28, 28)
"""

from xpnet.data.transforms.affine import RandomAffine, affine_transform, random_affine
from xpnet.data.transforms.compose import Compose
from xpnet.data.transforms.crop import (
    CenterCrop,
    RandomCrop,
    TenCrop,
    center_crop,
    random_crop,
    ten_crop,
)
from xpnet.data.transforms.elastic import (
    ElasticDistortion,
    elastic_displacement,
    elastic_distortion,
    gaussian_matrix,
)
from xpnet.data.transforms.flip import RandomHorizontalFlip, random_horizontal_flip
from xpnet.data.transforms.lighting import PCALighting, fit_pca_lighting, pca_lighting
from xpnet.data.transforms.shift import shift

__all__ = [
    "CenterCrop",
    "Compose",
    "ElasticDistortion",
    "PCALighting",
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "TenCrop",
    "affine_transform",
    "center_crop",
    "elastic_displacement",
    "elastic_distortion",
    "fit_pca_lighting",
    "gaussian_matrix",
    "pca_lighting",
    "random_affine",
    "random_crop",
    "random_horizontal_flip",
    "shift",
    "ten_crop",
]
