"""From a RunConfig to the objects of a run: data splits, model, optimiser, schedule,
augmentation, pre-processing and loss.

Each family of choices is one literal dict here (:data:`OPTIMIZERS`, :data:`SCHEDULES`,
:data:`AUGMENTATIONS`, :data:`LOSSES`), and :class:`xpnet.train.RunConfig` takes its
choices from these dicts, so a configuration can name exactly what is built. Nothing
here has defaults of its own: every number comes from the config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy

from xpnet import backend, optim
from xpnet import functions as F
from xpnet.data import Dataset, Subset, open_dataset
from xpnet.data import transforms as T
from xpnet.data.preprocessing import PREPROCESSORS, Pipeline
from xpnet.models.zoo import ZOO, build_model
from xpnet.nn import Module, Sequential
from xpnet.optim import lr_scheduler as S

if TYPE_CHECKING:  # the config imports this module for its choices
    from xpnet.train.config import RunConfig

__all__ = [
    "AUGMENTATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "DataInfo",
    "Splits",
    "build_augment",
    "build_network",
    "build_optimizer",
    "build_preprocessing",
    "build_run_model",
    "build_schedule",
    "open_splits",
]

FIT_SAMPLE = 10_000  # training images the pre-processing and PCA lighting are fitted on

#: The optimisers by name: ``sgd`` is PyTorch's rule, ``alexnet`` Krizhevsky et al.'s.
OPTIMIZERS: dict[str, type[optim.Optimizer]] = {"sgd": optim.SGD, "alexnet": optim.AlexNetSGD}


def _logistic_squared_error(scores: Any, y: Any) -> Any:
    """E = 1/2 sum_k (sigmoid(s_k) - d_k)^2, mean over the batch, d the one-hot target."""
    xp = backend.get_array_module(scores.data)
    onehot = xp.eye(scores.shape[1], dtype=scores.dtype)[y]  # (N, K) targets d
    return F.squared_error(F.sigmoid(scores), onehot, reduction="mean")


#: The costs by name, each ``loss(scores (N, K), classes (N,)) -> mean over the batch``.
LOSSES: dict[str, Callable[[Any, Any], Any]] = {
    "cross_entropy": F.softmax_cross_entropy,
    "squared_error": _logistic_squared_error,
    "perceptron": F.perceptron_loss,
}


def build_optimizer(config: RunConfig, params: Any) -> optim.Optimizer:
    """The config's optimiser with its lr, momentum and weight decay."""
    return OPTIMIZERS[config.optimizer](params, lr=config.lr, momentum=config.momentum,
                                        weight_decay=config.weight_decay)


def _step(config: RunConfig, opt: Any) -> S.LRScheduler:
    return S.StepLR(opt, config.step_size, 0.1 if config.gamma is None else config.gamma)


def _exp(config: RunConfig, opt: Any) -> S.LRScheduler:
    return S.ExponentialLR(opt, 0.95 if config.gamma is None else config.gamma)


def _plateau(config: RunConfig, opt: Any) -> S.LRScheduler:
    return S.ReduceLROnPlateau(opt, mode="min", factor=config.factor, patience=config.patience)


#: The learning-rate schedules by name: ``step`` x gamma (0.1) every ``step_size``
#: epochs; ``exp`` x gamma (0.95) every epoch; ``plateau`` x ``factor`` when the
#: validation loss has not improved for more than ``patience`` epochs (AlexNet's
#: divide-by-10).
SCHEDULES: dict[str, Callable[[Any, Any], Any] | None] = {
    "none": None, "step": _step, "exp": _exp, "plateau": _plateau}


def build_schedule(config: RunConfig, optimizer: Any) -> Any:
    """The config's learning-rate schedule, or None."""
    make = SCHEDULES[config.schedule]
    return None if make is None else make(config, optimizer)


def fit_sample(dataset: Dataset, seed: int) -> numpy.ndarray:
    """Up to :data:`FIT_SAMPLE` training images (a seeded sample), as one float32 array."""
    n = len(dataset)
    pick = numpy.arange(n) if n <= FIT_SAMPLE else numpy.sort(
        numpy.random.default_rng([seed, 2]).choice(n, FIT_SAMPLE, replace=False))
    return dataset.get_batch(pick.astype(numpy.int64))[0]


def _lighting(config: RunConfig, train: Dataset) -> list:
    if train.shape[0] != 3:
        raise ValueError(f"augment lighting needs RGB images, the data has "
                         f"{train.shape[0]} channel(s)")
    return [T.PCALighting.fit(fit_sample(train, config.seed))]


def _elastic(config: RunConfig, train: Dataset) -> list:
    h, w = train.shape[1:]
    scale = min(h, w) / 28.0  # Simard's alpha 34, sigma 4 are for 28x28 digits
    return [T.ElasticDistortion(34.0 * scale, 4.0 * scale)]


def _crop(config: RunConfig, train: Dataset) -> list:
    h, w = train.shape[1:]
    return [T.RandomCrop((h, w), padding=max(1, h // 8))]


#: The augmentations by name, each ``(config, train set) -> transforms``: ``elastic``
#: Simard et al.'s distortion (alpha 34, sigma 4 at 28x28, scaled with the image);
#: ``crop`` random crops of the image's size from it padded by H/8; ``flip`` horizontal
#: mirrors; ``crop-flip`` both; ``affine`` rotation +-10 degrees, scale 0.9-1.1, shift
#: 10%; ``lighting`` AlexNet's PCA colour noise (RGB only), fitted on the training images.
AUGMENTATIONS: dict[str, Callable[[Any, Dataset], list]] = {
    "none": lambda config, train: [],
    "elastic": _elastic,
    "crop": _crop,
    "flip": lambda config, train: [T.RandomHorizontalFlip()],
    "crop-flip": lambda config, train: [*_crop(config, train), T.RandomHorizontalFlip()],
    "affine": lambda config, train: [T.RandomAffine(10.0, scale=(0.9, 1.1),
                                                    translate=(0.1, 0.1))],
    "lighting": _lighting,
}


def build_augment(config: RunConfig, train: Dataset) -> Any:
    """The batch transform of the config's ``augment`` names, or None for none."""
    steps = [t for name in config.augment or () for t in AUGMENTATIONS[name](config, train)]
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else T.Compose(steps)


def preprocessing_steps(config: RunConfig) -> Pipeline:
    """The config's pre-processing steps, not fitted yet."""
    return Pipeline([PREPROCESSORS[n]() for n in config.preprocess if n != "none"])


def build_preprocessing(config: RunConfig, train: Dataset) -> Pipeline:
    """The config's pre-processing, fitted on the training split only (a seeded sample of
    at most :data:`FIT_SAMPLE` images)."""
    steps = preprocessing_steps(config)
    return steps.fit(fit_sample(train, config.seed)) if len(steps) else steps


@dataclass(frozen=True)
class DataInfo:
    """What a run knows of its data: one example's shape and the class names."""

    input_shape: tuple[int, ...]
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """K, the number of outputs."""
        return len(self.classes)


@dataclass(frozen=True)
class Splits:
    """A run's data: the training, validation (or None) and test sets."""

    train: Dataset
    val: Dataset | None
    test: Dataset

    @property
    def info(self) -> DataInfo:
        """The training set's shape and classes."""
        return DataInfo(tuple(int(n) for n in self.train.shape),
                        tuple(str(c) for c in self.train.classes))


def open_splits(config: RunConfig) -> Splits:
    """The train, validation and test sets of a config.

    The validation set is ``val_fraction`` of the training set, drawn with
    ``default_rng([seed, 1])`` after ``limit_train``, so training, evaluation and the
    visualisations all see the same examples in each split. The test set is checked
    against the training set (image shape and classes; each data set keeps its labels
    within its classes) and must not be empty, and the first example of each split is
    read, all before anything trains.

    Raises:
        ValueError: no training examples left, an empty test set, or one that does not
            match the training set.
        DataFormatError: the first example of a split cannot be read.
    """
    full = open_dataset(config.data, "train", seed=config.seed)
    test = open_dataset(config.data, "test", seed=config.seed)
    order = numpy.random.default_rng([config.seed, 1]).permutation(len(full))
    if config.limit_train:
        order = order[: config.limit_train]
    n_val = int(round(config.val_fraction * len(order)))
    if n_val >= len(order):
        raise ValueError(f"val_fraction {config.val_fraction} leaves no training examples "
                         f"out of {len(order)}")
    if tuple(test.shape) != tuple(full.shape):
        raise ValueError(f"{config.data}: the test images are {tuple(test.shape)}, the "
                         f"training images {tuple(full.shape)}")
    if [str(c) for c in test.classes] != [str(c) for c in full.classes]:
        raise ValueError(f"{config.data}: the test set's classes differ from the training "
                         f"set's ({len(test.classes)} against {len(full.classes)})")
    if len(test) == 0:
        raise ValueError(f"{config.data}: the test split has no examples, so the run "
                         "could report no test accuracy")
    for split in (full, test):  # each split's first example decodes, before any step
        split.get_batch(numpy.zeros(1, numpy.int64))
    # sorted: a memory-mapped set is then read in file order; the loader shuffles anyway
    train = Subset(full, numpy.sort(order[n_val:]))
    val = Subset(full, numpy.sort(order[:n_val])) if n_val else None
    if config.limit_test:
        test = Subset(test, numpy.arange(min(config.limit_test, len(test))))
    return Splits(train, val, test)


def build_network(config: RunConfig, info: DataInfo) -> Module:
    """The zoo network of a config, freshly initialised from its seed (no pre-processing).

    Raises:
        ValueError: a shape the model cannot take, or an option it does not have (the
            ones it has are listed).
    """
    try:
        return build_model(config.model, info.input_shape, info.num_classes, config.seed,
                           **config.model_options)
    except TypeError as e:
        if "keyword argument" not in str(e):
            raise
        known = _option_names(ZOO[config.model].build)
        raise ValueError(f"model {config.model} has no option "
                         f"{str(e).split('argument ')[-1]}"
                         + (f"; its options: {', '.join(known)}" if known else "")) from None


def _option_names(build: Any) -> list[str]:
    """The named keyword options of a zoo builder (none listed when it forwards ``**o``)."""
    import inspect  # noqa: PLC0415

    params = list(inspect.signature(build).parameters.values())[3:]
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def build_run_model(config: RunConfig, info: DataInfo,
                    preprocessing: Pipeline | None = None) -> Sequential:
    """The run's model: the pre-processing steps, then the network's layers, in one
    :class:`~xpnet.nn.Sequential` that takes raw pixels.

    Args:
        config: the run's settings.
        info: its data's shape and classes.
        preprocessing: the fitted steps; None puts the config's steps unfitted (for a
            checkpoint to fill).

    Returns:
        ``Sequential(*steps, *network)`` (a network that is not a Sequential is one
        item); with no pre-processing, the network's layers alone.
    """
    steps = preprocessing_steps(config) if preprocessing is None else preprocessing
    net = build_network(config, info)
    layers = list(net) if type(net) is Sequential else [net]  # a subclass keeps its forward
    return Sequential(*steps, *layers)
