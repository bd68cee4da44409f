"""The networks the benchmarks race: xpnet builders, their PyTorch twins and their FLOPs.

Convolutional networks (``CONVNETS``: name -> input shape), float32, seed 0:

==============  ==================================================  =====================
name            layers                                              why
==============  ==================================================  =====================
lenet5          the zoo's LeNet-5: conv 6, 16 (5x5), fc 120-84-10   the zoo
lenet_caffe     conv 20, 50 (5x5, no padding), fc 500-10            Caffe's LeNet widths
lenet_narrow    conv 6, 8, fc 100-10                                narrow
lenet_wide      conv 32, 64, fc 1024-10                             wide
cifar_convnet   the zoo's cuda-convnet net: conv 32, 32, 64 (5x5)   the zoo
cifar_narrow    the same with conv 16, 16, 32                       narrow
alexnet_small   the zoo's AlexNet at 64x64: 24/64/96/96/64, fc 1024 the zoo
alexnet_narrow  the same at width 1/8: 12/32/48/48/32, fc 512       narrow
==============  ==================================================  =====================

The LeNet family is the zoo's layer order (conv, max pool 2x2, ReLU, twice; then the
dense layers with ReLU between), with Caffe's ``lenet_train_test.prototxt`` widths for
``lenet_caffe``. Dense networks (``MLPS``: name -> sizes) are for ``bench_mlp.py``.

FLOPs: :func:`flops` counts 2 x the multiply-adds of the weighted layers
(``xpnet.models.summary``) for the forward pass, and for a training step the forward
pass, dE/dw of every weighted layer and dE/dx of every one but the first (whose input
needs no gradient): 3 x forward - the first weighted layer's forward.
"""

from __future__ import annotations

from typing import Any

import numpy

CONVNETS: dict[str, tuple[int, int, int]] = {
    "lenet5": (1, 28, 28),
    "lenet_caffe": (1, 28, 28),
    "lenet_narrow": (1, 28, 28),
    "lenet_wide": (1, 28, 28),
    "cifar_convnet": (3, 32, 32),
    "cifar_narrow": (3, 32, 32),
    "alexnet_small": (3, 64, 64),
    "alexnet_narrow": (3, 64, 64),
}

#: The zoo's three, the default of bench_cnn.py before the variants came.
ZOO_CONVNETS = ("lenet5", "cifar_convnet", "alexnet_small")

MLPS: dict[str, tuple[int, ...]] = {
    "mlp": (784, 1024, 1024, 10),
    "mlp500": (784, 500, 500, 10),
    "mlp100": (784, 100, 10),
}

_LENETS = {"lenet_caffe": (20, 50, (500,), 0), "lenet_narrow": (6, 8, (100,), 2),
           "lenet_wide": (32, 64, (1024,), 2)}


def lenet(c1: int, c2: int, hidden: tuple[int, ...], padding: int, seed: int = 0) -> Any:
    """LeNet's layers at other widths: conv c1 5x5 (``padding``), max pool 2, ReLU, conv c2
    5x5, max pool 2, ReLU, then dense ``hidden`` layers with ReLU and 10 outputs."""
    from xpnet import nn

    rng = numpy.random.default_rng(seed)
    side = ((28 + 2 * padding - 4) // 2 - 4) // 2
    layers = [nn.Conv2d(1, c1, 5, padding=padding, rng=rng), nn.MaxPool2d(2, 2), nn.ReLU(),
              nn.Conv2d(c1, c2, 5, rng=rng), nn.MaxPool2d(2, 2), nn.ReLU(), nn.Flatten()]
    width = c2 * side * side
    for units in hidden:
        layers += [nn.Linear(width, units, rng=rng), nn.ReLU()]
        width = units
    layers.append(nn.Linear(width, 10, rng=rng))
    return nn.Sequential(*layers)


def cifar_narrow(seed: int = 0) -> Any:
    """The zoo's CIFAR net with half its channels (16, 16, 32)."""
    from xpnet import nn

    rng = numpy.random.default_rng(seed)

    def lrn() -> Any:
        return nn.LocalResponseNorm(3, alpha=1.5e-4, beta=0.75, k=1.0)

    return nn.Sequential(
        nn.Conv2d(3, 16, 5, padding=2, rng=rng), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.ReLU(), lrn(),
        nn.Conv2d(16, 16, 5, padding=2, rng=rng), nn.ReLU(),
        nn.AvgPool2d(3, 2, ceil_mode=True), lrn(),
        nn.Conv2d(16, 32, 5, padding=2, rng=rng), nn.ReLU(),
        nn.AvgPool2d(3, 2, ceil_mode=True), nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10, rng=rng))


def build_xpnet(name: str) -> Any:
    """The xpnet network ``name`` of :data:`CONVNETS`, float32, seed 0."""
    from xpnet.models.alexnet import alexnet, alexnet_small
    from xpnet.models.cifar import cifar_convnet
    from xpnet.models.lenet import lenet5

    if name in _LENETS:
        return lenet(*_LENETS[name])
    if name == "alexnet_narrow":
        return alexnet(10, input_size=64, width=0.125, fc=512, conv1_padding=2,
                       init_scheme="default", seed=0)
    builders = {"lenet5": lenet5, "cifar_convnet": cifar_convnet,
                "alexnet_small": alexnet_small, "cifar_narrow": cifar_narrow}
    return builders[name](seed=0)


def to_torch(net: Any) -> Any:
    """A torch.nn.Sequential with the same layers and weights as xpnet Sequential ``net``
    (the studies' twin, :func:`xpnet.studies.twin.to_torch`, in float32)."""
    from xpnet.studies.twin import to_torch as twin

    return twin(net)[0]


def flops(net: Any, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(forward, training step) FLOPs per example of ``net`` (module docstring)."""
    from xpnet.models import summary

    rows = [r.flops for r in summary(net, input_shape).rows if r.flops]
    forward = sum(rows)
    return forward, 3 * forward - (rows[0] if rows else 0)
