"""The zoo by name: the one literal table the command line reads.

Each entry builds a network for a data set's example shape and class count, so that
``xpnet train --model NAME --data SET`` works for any pairing that makes sense and
refuses the others with a clear message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy

from xpnet.models.alexnet import alexnet
from xpnet.models.cifar import cifar_convnet
from xpnet.models.lenet import lenet5
from xpnet.models.mlp import mlp
from xpnet.models.multiclass_perceptron import MulticlassPerceptron
from xpnet.models.regularized import dropconnect_mnist, locally_connected_net, maxout_mnist
from xpnet.nn.module import Module

__all__ = ["ZOO", "ZooEntry", "build_model"]


@dataclass(frozen=True)
class ZooEntry:
    """A named model: how to build it and which inputs it takes.

    Attributes:
        build: ``build(input_shape, num_classes, rng, **options) -> Module``.
        description: one line for ``xpnet models``.
        input_shape: the (C, H, W) it needs, or None when any shape works.
        example_shape: the shape ``xpnet models`` / ``summary`` use when none is given.
        train_defaults: settings of :class:`xpnet.train.RunConfig` that this model trains
            with unless told otherwise (over the schema's defaults).
    """

    build: Callable[..., Module]
    description: str
    input_shape: tuple[int, int, int] | None
    example_shape: tuple[int, int, int]
    train_defaults: Mapping[str, Any] = field(default_factory=dict)


def _size(shape: tuple[int, ...]) -> int:
    return int(numpy.prod(shape))


def _mlp(shape: tuple[int, ...], classes: int, rng: Any, hidden: Any = (256,),
         activation: str = "relu") -> Module:
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    return mlp((_size(shape), *hidden, classes), activation=activation, rng=rng)


def _perceptron(shape: tuple[int, ...], classes: int, rng: Any) -> Module:
    # one threshold unit per class, no hidden layer (Rosenblatt 1958); zero initial
    # weights, the classical start
    return MulticlassPerceptron(_size(shape), classes)


#: Rosenblatt's rule is plain SGD on the perceptron criterion, one example at a time
#: (F.perceptron_loss): no momentum, no decay, no schedule, no augmentation; the best
#: epoch is the one that classifies the most validation examples right.
_ROSENBLATT = {"batch_size": 1, "momentum": 0.0, "weight_decay": 0.0, "schedule": "none",
               "loss": "perceptron", "augment": ["none"], "monitor": "val_accuracy",
               "checkpoint_every": None, "log_every": 500}


def _alexnet(shape: tuple[int, ...], classes: int, rng: Any, **options: Any) -> Module:
    if shape[0] != 3 or shape[1] != shape[2]:
        raise ValueError(f"alexnet: needs square RGB inputs (3, S, S), got {shape}")
    if shape[1] == 227:
        return alexnet(classes, rng=rng, **options)
    options = {"width": 0.25, "fc": 1024, "conv1_padding": 2, "init_scheme": "default",
               **options}
    return alexnet(classes, input_size=shape[1], rng=rng, **options)


ZOO: dict[str, ZooEntry] = {
    "perceptron": ZooEntry(
        _perceptron, "one threshold unit per class, Rosenblatt's rule (no back-propagation)",
        None, (1, 28, 28), _ROSENBLATT),
    "mlp": ZooEntry(_mlp, "multi-layer perceptron, back-propagation (784-256-10 on MNIST)",
                    None, (1, 28, 28)),
    "lenet5": ZooEntry(
        lambda s, c, rng, **o: lenet5(c, in_channels=s[0], rng=rng, **o),
        "LeNet-5: 2 conv+pool stages, 3 dense layers (28x28)", (None, 28, 28), (1, 28, 28)),
    "cifar_convnet": ZooEntry(
        lambda s, c, rng, **o: cifar_convnet(c, rng=rng, **o),
        "cuda-convnet layers-18pct: 3 conv5x5, LRN, 3x3/2 pools (32x32x3)",
        (3, 32, 32), (3, 32, 32)),
    "alexnet": ZooEntry(
        _alexnet, "AlexNet 2012 at 227x227x3 (scaled down for smaller inputs), groups=2",
        None, (3, 227, 227)),
    "maxout_mnist": ZooEntry(
        lambda s, c, rng, **o: maxout_mnist(c, rng=rng, **o),
        "Goodfellow et al. 2013 maxout MLP 240x5 with dropout (28x28)",
        (1, 28, 28), (1, 28, 28)),
    "dropconnect_mnist": ZooEntry(
        lambda s, c, rng, **o: dropconnect_mnist(c, rng=rng, **o),
        "Wan et al. 2013: 800 ReLU, DropConnect 800, softmax (28x28)",
        (1, 28, 28), (1, 28, 28)),
    "locally_connected": ZooEntry(
        lambda s, c, rng, **o: locally_connected_net(c, rng=rng, **o),
        "conv then unshared 3x3 kernels (DeepFace-style, 28x28)", (1, 28, 28), (1, 28, 28)),
}


def build_model(
    name: str,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int = 10,
    seed: int | None = 0,
    **options: Any,
) -> Module:
    """Build the zoo model ``name`` for examples of ``input_shape`` and ``num_classes``.

    Args:
        name: a key of :data:`ZOO`.
        input_shape: one example's (C, H, W); None takes the entry's example shape.
        num_classes: output units.
        seed: seed of the initial weights (and of dropout masks, through child seeds).
        **options: passed to the model's factory (e.g. ``hidden=(512,)`` for mlp).

    Raises:
        ValueError: unknown name (the known ones are listed) or a shape the model
            cannot take.
    """
    if name not in ZOO:
        raise ValueError(f"unknown model {name!r}; the zoo has: {', '.join(ZOO)}")
    entry = ZOO[name]
    shape = tuple(entry.example_shape if input_shape is None else input_shape)
    need = entry.input_shape
    if need is not None and any(n is not None and n != m for n, m in zip(need, shape)):
        want = "x".join("C" if n is None else str(n) for n in need)
        raise ValueError(f"model {name} takes inputs of shape {want}, the data has {shape}")
    return entry.build(shape, num_classes, numpy.random.default_rng(seed), **options)
