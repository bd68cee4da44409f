"""cuda-convnet's CIFAR-10 network (layers-18pct), the one AlexNet grew from."""

from __future__ import annotations

import numpy

from xpnet import nn
from xpnet.models._common import check_positive, make_rng

__all__ = ["cifar_convnet"]


def cifar_convnet(
    num_classes: int = 10,
    rng: numpy.random.Generator | None = None,
    seed: int | None = None,
) -> nn.Sequential:
    """Krizhevsky's cuda-convnet "layers-18pct" net for 32x32x3 images.

    ======  ==================================================  ===========
    stage   what                                                output
    ======  ==================================================  ===========
    1       conv 32 5x5 pad 2; max pool 3x3/2; ReLU; LRN 3      32x16x16
    2       conv 32 5x5 pad 2; ReLU; avg pool 3x3/2; LRN 3      32x8x8
    3       conv 64 5x5 pad 2; ReLU; avg pool 3x3/2             64x4x4
    fc      1024 -> num_classes                                 num_classes
    ======  ==================================================  ===========

    Pools use ceil mode, as cuda-convnet sizes its outputs (32 -> 16 -> 8 -> 4). The
    normalisation is cuda-convnet's ``rnorm`` over 3 channels with alpha 5e-5 (not divided
    by the size there; ours divides, so alpha = 1.5e-4) and beta 0.75, k = 1.

    Args:
        num_classes: output units.
        rng, seed: initial weights' generator, or its seed.

    Returns:
        A :class:`xpnet.nn.Sequential` taking (N, 3, 32, 32).
    """
    check_positive(num_classes, "num_classes", "cifar_convnet")
    rng = make_rng(rng, seed, "cifar_convnet")

    def lrn() -> nn.LocalResponseNorm:
        return nn.LocalResponseNorm(3, alpha=1.5e-4, beta=0.75, k=1.0)

    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2, rng=rng),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.ReLU(),
        lrn(),
        nn.Conv2d(32, 32, 5, padding=2, rng=rng),
        nn.ReLU(),
        nn.AvgPool2d(3, 2, ceil_mode=True),
        lrn(),
        nn.Conv2d(32, 64, 5, padding=2, rng=rng),
        nn.ReLU(),
        nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, num_classes, rng=rng),
    )
