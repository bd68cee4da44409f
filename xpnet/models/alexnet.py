"""AlexNet (Krizhevsky, Sutskever and Hinton 2012), with its two-GPU split as groups=2."""

from __future__ import annotations

import numpy

from xpnet import init, nn
from xpnet.models._common import check_choice, check_positive, child_rng, make_rng

__all__ = ["alexnet", "alexnet_small"]


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def alexnet(
    num_classes: int = 1000,
    input_size: int = 227,
    width: float = 1.0,
    fc: int = 4096,
    groups: int = 2,
    conv1_padding: int = 0,
    dropout: float = 0.5,
    init_scheme: str = "paper",
    rng: numpy.random.Generator | None = None,
    seed: int | None = None,
) -> nn.Sequential:
    """The 2012 ImageNet network: 5 convolution layers, 3 fully-connected layers.

    Paper layout (input 3x227x227, ``width=1``), channels per layer, the two GPUs' halves
    joined as ``groups=2`` where a layer only read the feature maps on its own GPU:

    =======  ===============================================  ===========
    layer    what                                             output
    =======  ===============================================  ===========
    conv1    96 kernels 11x11x3, stride 4, ReLU, LRN          96x55x55
    pool1    max 3x3 stride 2 (overlapping)                   96x27x27
    conv2    256 kernels 5x5x48, pad 2, groups 2, ReLU, LRN   256x27x27
    pool2    max 3x3 stride 2                                 256x13x13
    conv3    384 kernels 3x3x256, pad 1, ReLU (both GPUs)     384x13x13
    conv4    384 kernels 3x3x192, pad 1, groups 2, ReLU       384x13x13
    conv5    256 kernels 3x3x192, pad 1, groups 2, ReLU       256x13x13
    pool5    max 3x3 stride 2                                 256x6x6
    fc6,7    4096, ReLU, dropout 0.5 on the outputs       4096
    fc8      num_classes                                      1000
    =======  ===============================================  ===========

    LRN uses the paper's constants k=2, n=5, alpha=1e-4, beta=0.75; our
    :class:`~xpnet.nn.LocalResponseNorm` follows PyTorch and divides alpha by n, so it
    gets alpha = 5e-4. With ``init_scheme="paper"`` weights are N(0, 0.01) and the biases
    of conv2, conv4, conv5 and the hidden fully-connected layers are 1 (the rest 0), as in
    section 5 of the paper; ``"default"`` keeps each layer's PyTorch-style default.

    Args:
        num_classes: output units.
        input_size: height = width of the input (227 in the paper).
        width: channel multiplier (0.25 gives 24/64/96/96/64).
        fc: units of the two hidden fully-connected layers.
        groups: 2 for the two-GPU split, 1 for a single tower.
        conv1_padding: zero padding of conv1 (small inputs need some).
        dropout: drop probability of fc6 and fc7's inputs.
        init_scheme: "paper" or "default".
        rng, seed: initial weights' generator, or its seed.

    Returns:
        A :class:`xpnet.nn.Sequential` taking (N, 3, input_size, input_size).

    Raises:
        ValueError: when ``input_size`` is too small for the three pools.

    Example:
        >>> alexnet(seed=0).num_parameters()   # the paper's "60 million"
        60965224
    """
    check_positive(num_classes, "num_classes", "alexnet")
    check_positive(fc, "fc", "alexnet")
    check_choice(groups, (1, 2), "groups", "alexnet")
    check_choice(init_scheme, ("paper", "default"), "init_scheme", "alexnet")
    if not 0 <= dropout < 1:
        raise ValueError(f"alexnet: dropout must be in [0, 1), got {dropout!r}")
    rng = make_rng(rng, seed, "alexnet")
    c1, c2, c3, c4, c5 = (max(groups, int(round(c * width / groups)) * groups)
                          for c in (96, 256, 384, 384, 256))
    size = _conv_out(input_size, 11, 4, conv1_padding)
    for _ in range(3):  # pool1, pool2, pool5 (3x3/2); conv2-5 keep the size
        if size < 3:
            raise ValueError(
                f"alexnet: input_size {input_size} is too small: a 3x3 pool meets a "
                f"{size}x{size} map (use input_size >= 63 with conv1_padding=2, or 227)"
            )
        size = _conv_out(size, 3, 2, 0)
    weight_init = (lambda shape, r: init.normal(shape, 0.01, r)) if init_scheme == "paper" else None

    def conv(cin: int, cout: int, k: int, s: int = 1, p: int = 0, g: int = 1) -> nn.Conv2d:
        return nn.Conv2d(cin, cout, k, stride=s, padding=p, groups=g, rng=rng, init=weight_init)

    def linear(n_in: int, n_out: int) -> nn.Linear:
        return nn.Linear(n_in, n_out, rng=rng, init=weight_init)

    def lrn() -> nn.LocalResponseNorm:
        return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)

    conv1, conv2 = conv(3, c1, 11, 4, conv1_padding), conv(c1, c2, 5, p=2, g=groups)
    conv3, conv4 = conv(c2, c3, 3, p=1), conv(c3, c4, 3, p=1, g=groups)
    conv5 = conv(c4, c5, 3, p=1, g=groups)
    fc6, fc7, fc8 = linear(c5 * size * size, fc), linear(fc, fc), linear(fc, num_classes)
    if init_scheme == "paper":
        for layer in (conv2, conv4, conv5, fc6, fc7):
            layer.bias.data[...] = 1
        for layer in (conv1, conv3, fc8):
            layer.bias.data[...] = 0
    net = nn.Sequential(
        conv1, nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        conv2, nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        conv3, nn.ReLU(),
        conv4, nn.ReLU(),
        conv5, nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(),
        fc6, nn.ReLU(), nn.Dropout(dropout, rng=child_rng(rng)),
        fc7, nn.ReLU(), nn.Dropout(dropout, rng=child_rng(rng)),
        fc8,
    )
    return net


def alexnet_small(
    num_classes: int = 10,
    rng: numpy.random.Generator | None = None,
    seed: int | None = None,
    init_scheme: str = "default",
) -> nn.Sequential:
    """AlexNet's shape scaled to 64x64x3 inputs: channels 24/64/96/96/64, FC 1024.

    The same layer sequence as :func:`alexnet` (LRN, overlapping pools, groups=2) with
    ``width=0.25``, ``fc=1024`` and conv1 padded by 2 so the three 3x3/2 pools fit.
    The benchmark races this shape against PyTorch.
    """
    return alexnet(num_classes, input_size=64, width=0.25, fc=1024, conv1_padding=2,
                   init_scheme=init_scheme, rng=rng, seed=seed)
