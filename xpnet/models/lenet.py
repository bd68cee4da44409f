"""LeNet-5 (LeCun et al. 1998) for 28x28 digits, as in deeplearning.net's tutorial."""

from __future__ import annotations

import numpy

from xpnet import nn
from xpnet.models._common import check_choice, check_positive, make_rng

__all__ = ["lenet5"]

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
_POOL = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def lenet5(
    num_classes: int = 10,
    in_channels: int = 1,
    activation: str = "relu",
    pool: str = "max",
    rng: numpy.random.Generator | None = None,
    seed: int | None = None,
) -> nn.Sequential:
    """LeNet-5: two convolution + pooling stages, then three fully-connected layers.

    The classic whole-network picture (LeCun et al. 1998): convolution (simple cells) and pooling
    (complex cells) twice, then fully-connected layers, then the output layer.

    ========  ======================================  ================
    layer     what                                    output (N, ...)
    ========  ======================================  ================
    conv1     6 kernels 5x5, padding 2                (6, 28, 28)
    pool1     2x2 stride 2, then f                    (6, 14, 14)
    conv2     16 kernels 5x5                          (16, 10, 10)
    pool2     2x2 stride 2, then f                    (16, 5, 5)
    fc1..3    400 -> 120 -> 84 -> num_classes         (num_classes,)
    ========  ======================================  ================

    With max pooling the non-linearity f runs after the pool: max and a monotone f
    commute, so the network computes the same function on a 4x smaller map. With
    average pooling (LeCun's sub-sampling) f runs before the pool.

    Args:
        num_classes: output units (raw scores for ``F.softmax_cross_entropy``).
        in_channels: 1 for grey digits.
        activation: "relu" (default, trains fastest), "tanh" (LeCun's choice) or "sigmoid".
        pool: "max" (default) or "avg" (LeCun's sub-sampling).
        rng: generator for the initial weights; or give ``seed``.
        seed: seed used when ``rng`` is None.

    Returns:
        A :class:`xpnet.nn.Sequential` taking (N, in_channels, 28, 28) images.

    Example:
        >>> net = lenet5(seed=0)
        >>> net.num_parameters()
        61706
    """
    check_choice(activation, tuple(_ACT), "activation", "lenet5")
    check_choice(pool, tuple(_POOL), "pool", "lenet5")
    check_positive(num_classes, "num_classes", "lenet5")
    check_positive(in_channels, "in_channels", "lenet5")
    rng = make_rng(rng, seed, "lenet5")
    act, pooling = _ACT[activation], _POOL[pool]

    def stage(conv: nn.Module) -> list[nn.Module]:
        # max pooling commutes with a monotone f (max f(x) = f(max x)), so f runs on the
        # 4x smaller pooled map; average pooling does not commute and keeps conv-f-pool
        if pool == "max":
            return [conv, pooling(2, 2), act()]
        return [conv, act(), pooling(2, 2)]

    return nn.Sequential(
        *stage(nn.Conv2d(in_channels, 6, 5, padding=2, rng=rng)),
        *stage(nn.Conv2d(6, 16, 5, rng=rng)),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120, rng=rng),
        act(),
        nn.Linear(120, 84, rng=rng),
        act(),
        nn.Linear(84, num_classes, rng=rng),
    )
