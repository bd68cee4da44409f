"""The run folder: what ``xpnet train`` writes and every later command reads.

A run folder holds::

    config.json               the settings of the run (below), written before training
    history.jsonl             one JSON record per epoch and every N steps
    last.safetensors + .json  the whole training state after the latest save
    best.safetensors + .json  the same, at the epoch with the best validation accuracy
    curves.png                cost, accuracy and learning rate (when matplotlib is there)
    tensorboard/              TensorBoard event files (xpnet.train.events)
    pretrain.jsonl            one record per layer and epoch of layer-wise pre-training
                              (with ``pretrain`` set)

``config.json`` is a flat object: ``model``, ``model_options``, ``data``, ``input_shape``,
``num_classes``, ``classes``, ``epochs``, ``batch_size``, ``optimizer``, ``lr``,
``momentum``, ``weight_decay``, ``schedule`` (+ ``step_size``, ``gamma``, ``patience``,
``factor``), ``augment``, ``preprocess``, ``seed``, ``device``, ``val_fraction``,
``limit_train``, ``limit_test``, ``pretrain`` (+ ``pretrain_epochs``, ``pretrain_lr``,
``pretrain_corruption``), ``xpnet_version``. It holds everything needed to
rebuild the model and its data: :func:`load_run` reads it, rebuilds the network through
:func:`xpnet.models.zoo.build_model` and loads a checkpoint's weights and fitted
pre-processing into it.

The splits are fixed by the config alone: the validation set is ``val_fraction`` of the
training set, drawn with ``default_rng([seed, 1])`` (after ``limit_train``), so training,
``xpnet evaluate`` and ``xpnet visualize`` all see the same examples in each split.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from xpnet import __version__, backend
from xpnet.data import Dataset, Subset, open_dataset
from xpnet.data.preprocessing import from_state_dict
from xpnet.models.zoo import ZOO, build_model
from xpnet.nn.module import Module
from xpnet.train import checkpoint as ckpt

__all__ = [
    "CONFIG_FILE",
    "Run",
    "build_augment",
    "build_optimizer",
    "build_preprocess",
    "build_run_model",
    "build_schedule",
    "load_run",
    "pretrain_run",
    "read_config",
    "split_datasets",
    "write_config",
]

CONFIG_FILE = "config.json"
_REQUIRED = ("model", "data", "input_shape", "num_classes", "seed")


def write_config(run_dir: str | os.PathLike, config: dict[str, Any]) -> Path:
    """Write ``run_dir/config.json`` (atomically), adding ``xpnet_version``.

    Args:
        run_dir: the run folder (created if needed).
        config: the flat settings (see the module notes); JSON values only.

    Returns:
        The path of ``config.json``.

    Raises:
        TypeError: a value that JSON cannot hold.

    Example:
        >>> write_config("runs/a", {"model": "mlp", "data": "digits", ...})
        PosixPath('runs/a/config.json')
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    full = {**config, "xpnet_version": __version__}
    try:
        text = json.dumps(full, indent=2, sort_keys=True) + "\n"
    except (TypeError, ValueError) as e:
        raise TypeError(f"write_config: the config is not JSON-able: {e}") from None
    path = run_dir / CONFIG_FILE
    ckpt.atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``run_dir/config.json``.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: the folder is not a run folder (no or a damaged ``config.json``).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} is not an xpnet run folder: it has no {CONFIG_FILE} "
                         "(made by 'xpnet train')")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    missing = [k for k in _REQUIRED if not isinstance(config, dict) or k not in config]
    if missing:
        raise ValueError(f"{path}: not an xpnet run config, missing {', '.join(missing)}")
    return config


def split_datasets(config: dict[str, Any]) -> dict[str, Dataset]:
    """The ``train``, ``val`` and ``test`` sets of a config (see the module notes).

    Args:
        config: needs ``data`` and ``seed``; ``val_fraction`` (default 0.1),
            ``limit_train`` and ``limit_test`` (None: all) are optional.

    Returns:
        ``{"train": ..., "val": ... or None, "test": ...}``.
    """
    seed = int(config["seed"])
    full = open_dataset(config["data"], "train", seed=seed)
    test = open_dataset(config["data"], "test", seed=seed)
    order = numpy.random.default_rng([seed, 1]).permutation(len(full))
    if config.get("limit_train"):
        order = order[: int(config["limit_train"])]
    n_val = int(round(float(config.get("val_fraction") or 0.0) * len(order)))
    if n_val >= len(order):
        raise ValueError(f"val_fraction {config.get('val_fraction')} leaves no training "
                         f"examples out of {len(order)}")
    # sorted: a memory-mapped set is then read in file order; the loader shuffles anyway
    train = Subset(full, numpy.sort(order[n_val:]))
    val = Subset(full, numpy.sort(order[:n_val])) if n_val else None
    if config.get("limit_test"):
        test = Subset(test, numpy.arange(min(int(config["limit_test"]), len(test))))
    return {"train": train, "val": val, "test": test}


def build_run_model(config: dict[str, Any]) -> Module:
    """The zoo model of a config, freshly initialised from its seed.

    Raises:
        ValueError: an unknown model, a shape it cannot take, or options it does not have
            (the ones it has are listed).
    """
    name, options = config["model"], config.get("model_options", {})
    try:
        return build_model(name, tuple(config["input_shape"]), int(config["num_classes"]),
                           int(config["seed"]), **options)
    except TypeError as e:
        if "keyword argument" not in str(e) or name not in ZOO:
            raise
        known = _option_names(ZOO[name].build)
        raise ValueError(f"model {name} has no option {str(e).split('argument ')[-1]}"
                         + (f"; its options: {', '.join(known)}" if known else "")) from None


def _option_names(build: Any) -> list[str]:
    """The named keyword options of a zoo builder (none listed when it forwards ``**o``)."""
    import inspect  # noqa: PLC0415

    params = list(inspect.signature(build).parameters.values())[3:]
    names = [p.name for p in params if p.kind is p.KEYWORD_ONLY or (
        p.kind is p.POSITIONAL_OR_KEYWORD)]
    return names


# ------------------------------------------------------------ config -> training objects
OPTIMIZERS = ("sgd", "alexnet")
SCHEDULES = ("none", "step", "exp", "plateau")
AUGMENTS = ("none", "elastic", "crop", "flip", "crop-flip", "affine", "lighting")
PREPROCESSORS = ("none", "standardize", "mean_image", "gcn", "zca", "clip")
_FIT_SAMPLE = 10_000  # training images the pre-processing and PCA lighting are fitted on


def build_optimizer(config: dict[str, Any], params: Any) -> Any:
    """``sgd`` (PyTorch's rule) or ``alexnet`` (the paper's) with lr, momentum, weight decay."""
    from xpnet import optim  # noqa: PLC0415 (kept out of load_run's imports)

    name = config.get("optimizer", "sgd")
    kind = {"sgd": optim.SGD, "alexnet": optim.AlexNetSGD}.get(name)
    if kind is None:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return kind(params, lr=config["lr"], momentum=config.get("momentum", 0.0),
                weight_decay=config.get("weight_decay", 0.0))


def build_schedule(config: dict[str, Any], optimizer: Any) -> Any:
    """The learning-rate schedule (None for ``none``).

    ``step``: x ``gamma`` (0.1) every ``step_size`` epochs; ``exp``: x ``gamma`` (0.95)
    every epoch; ``plateau``: x ``factor`` when the validation loss has not improved for
    more than ``patience`` epochs (AlexNet's divide-by-10).
    """
    from xpnet.optim import lr_scheduler as S  # noqa: PLC0415

    name, gamma = config.get("schedule", "none"), config.get("gamma")
    if name == "none":
        return None
    if name == "step":
        return S.StepLR(optimizer, int(config.get("step_size", 10)),
                        0.1 if gamma is None else gamma)
    if name == "exp":
        return S.ExponentialLR(optimizer, 0.95 if gamma is None else gamma)
    if name == "plateau":
        return S.ReduceLROnPlateau(optimizer, mode="min", factor=config.get("factor", 0.1),
                                   patience=int(config.get("patience", 2)))
    raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")


def _fit_sample(dataset: Dataset, seed: int) -> numpy.ndarray:
    """Up to 10,000 training images (a seeded sample), as one float32 array."""
    n = len(dataset)
    pick = numpy.arange(n) if n <= _FIT_SAMPLE else numpy.sort(
        numpy.random.default_rng([seed, 2]).choice(n, _FIT_SAMPLE, replace=False))
    return dataset.get_batch(pick.astype(numpy.int64))[0]


def build_augment(config: dict[str, Any], train: Dataset) -> Any:
    """The batch transform named by ``augment`` (a list of names; None for none).

    ``elastic``: Simard's distortion (alpha 34, sigma 4 at 28x28, scaled with the image
    size); ``crop``: random crops of the
    image's size from it padded by H/8; ``flip``: horizontal mirror; ``crop-flip``: both;
    ``affine``: rotation +-10 degrees, scale 0.9-1.1, shift 10%; ``lighting``: AlexNet's
    PCA colour noise (RGB only), fitted on the training images.
    """
    from xpnet.data import transforms as T  # noqa: PLC0415

    _, h, w = train.shape
    steps = []
    for name in [a for a in config.get("augment", []) if a != "none"]:
        if name in ("crop", "crop-flip"):
            steps.append(T.RandomCrop((h, w), padding=max(1, h // 8)))
        if name in ("flip", "crop-flip"):
            steps.append(T.RandomHorizontalFlip())
        if name == "elastic":
            scale = min(h, w) / 28.0  # Simard's alpha 34, sigma 4 are for 28x28 digits
            steps.append(T.ElasticDistortion(34.0 * scale, 4.0 * scale))
        elif name == "affine":
            steps.append(T.RandomAffine(10.0, scale=(0.9, 1.1), translate=(0.1, 0.1)))
        elif name == "lighting":
            if train.shape[0] != 3:
                raise ValueError(f"augment lighting needs RGB images, the data has "
                                 f"{train.shape[0]} channel(s)")
            steps.append(T.PCALighting.fit(_fit_sample(train, int(config["seed"]))))
        elif name not in ("crop", "flip", "crop-flip"):
            raise ValueError(f"unknown augmentation {name!r}; expected some of "
                             f"{', '.join(AUGMENTS)}")
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else T.Compose(steps)


def build_preprocess(config: dict[str, Any], train: Dataset) -> Any:
    """The pre-processing named by ``preprocess`` (a list), fitted on the training split
    only (a seeded sample of at most 10,000 images); None for none."""
    from xpnet.data import preprocessing as P  # noqa: PLC0415

    names = [p for p in config.get("preprocess", []) if p != "none"]
    unknown = [p for p in names if p not in PREPROCESSORS]
    if unknown:
        raise ValueError(f"unknown pre-processing {unknown[0]!r}; expected some of "
                         f"{', '.join(PREPROCESSORS)}")
    if not names:
        return None
    steps = [P.PREPROCESSORS[n]() for n in names]
    step = steps[0] if len(steps) == 1 else P.Pipeline(steps)
    return step.fit(_fit_sample(train, int(config["seed"])))


@dataclass
class Run:
    """A trained run, ready for inference (what :func:`load_run` returns).

    Attributes:
        run_dir: the run folder.
        config: the parsed ``config.json``.
        model: the network with the checkpoint's weights, in eval mode.
        preprocess: the fitted pre-processing to apply to raw batches, or None.
        checkpoint: the checkpoint loaded, ``"best"`` or ``"last"``.
        meta: the checkpoint's metadata (``epoch``, ``step``, ``metrics``).
        classes: class names, ``classes[k]`` names output k.
        input_shape: one example's (C, H, W).
    """

    run_dir: Path
    config: dict[str, Any]
    model: Module
    preprocess: Any
    checkpoint: str
    meta: dict[str, Any]
    classes: list[str]
    input_shape: tuple[int, ...]
    _sets: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def history_path(self) -> Path:
        """``run_dir/history.jsonl``."""
        return self.run_dir / "history.jsonl"

    @property
    def num_classes(self) -> int:
        """The number of outputs."""
        return len(self.classes)

    def dataset(self, split: str = "test") -> Dataset:
        """The run's ``"train"``, ``"val"`` or ``"test"`` set, as in training.

        Raises:
            ValueError: an unknown split, or ``"val"`` for a run without validation.
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"Run.dataset: split must be 'train', 'val' or 'test', "
                             f"got {split!r}")
        if not self._sets:
            self._sets.update(split_datasets(self.config))
        if self._sets[split] is None:
            raise ValueError(f"{self.run_dir}: this run has no validation set (val_fraction 0)")
        return self._sets[split]


class _Preprocessed:
    """A loader's batches with ``preprocess`` applied to x (and its ``set_epoch``)."""

    def __init__(self, loader: Any, preprocess: Any) -> None:
        self.loader, self.preprocess = loader, preprocess

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.loader, "set_epoch"):
            self.loader.set_epoch(epoch)

    def __iter__(self) -> Any:
        for x, y in self.loader:
            yield (x if self.preprocess is None else self.preprocess(x)), y


def pretrain_run(config: dict[str, Any], trainer: Any, run_dir: str | os.PathLike,
                 log: Any = None) -> list[dict[str, Any]]:
    """Layer-wise pre-training of a new run's model, before ``trainer.fit`` fine-tunes it.

    Runs :func:`xpnet.train.pretrain_layers` with the config's ``pretrain`` method,
    ``pretrain_epochs``, ``pretrain_lr``, ``pretrain_corruption`` (autoencoders),
    ``momentum`` and ``weight_decay``, on the trainer's own training batches (augmented,
    then pre-processed as training will see them), with ``default_rng([seed, 2])``.
    Writes ``pretrain.jsonl`` and then ``last``, the trainer's state at step 0 with the
    pre-trained weights (both atomically), so that ``--resume`` continues from them.

    Args:
        config: the run's settings; ``config["pretrain"]`` is not ``"none"``.
        trainer: the run's :class:`xpnet.train.Trainer`, not yet fitted.
        run_dir: the run folder.
        log: called with each record as it comes (progress).

    Returns:
        The records (see :func:`xpnet.train.pretrain_layers`).
    """
    from xpnet.train.pretrain import pretrain_layers  # noqa: PLC0415 (a cycle)

    run_dir = Path(run_dir)
    trainer.model.to(trainer.device)  # where fit() will train it
    records = pretrain_layers(
        trainer.model, _Preprocessed(trainer.train_loader, trainer.preprocess),
        config["pretrain"], epochs=config["pretrain_epochs"], lr=config["pretrain_lr"],
        momentum=config["momentum"], weight_decay=config["weight_decay"],
        corruption=config["pretrain_corruption"] if config["pretrain"] == "autoencoder"
        else 0.0, rng=numpy.random.default_rng([config["seed"], 2]), log=log)
    text = "".join(json.dumps(r) + "\n" for r in records)
    ckpt.atomic_write(run_dir / "pretrain.jsonl", lambda f: f.write(text.encode("utf-8")))
    trainer.save_checkpoint(run_dir / "last")
    return records


def load_run(run_dir: str | os.PathLike, checkpoint: str = "best",
             device: str = "cpu") -> Run:
    """Rebuild a run's model from its config and load a checkpoint into it.

    Args:
        run_dir: a folder written by ``xpnet train``.
        checkpoint: ``"best"`` or ``"last"``.
        device: where to put the model.

    Returns:
        A :class:`Run` whose model is in eval mode.

    Raises:
        FileNotFoundError: no such folder, or it has no such checkpoint (the message
            names the folder and the checkpoints it has).
        ValueError: not a run folder, or a checkpoint that does not fit the config.
        CheckpointError: a damaged checkpoint.

    Example:
        >>> run = load_run("runs/lenet5-mnist5k-20250101-120000")
        >>> run.model(Tensor(run.preprocess(x))).data.argmax(axis=1)
    """
    if checkpoint not in ("best", "last"):
        raise ValueError(f"load_run: checkpoint must be 'best' or 'last', got {checkpoint!r}")
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    path = run_dir / checkpoint
    if not ckpt.checkpoint_exists(path):
        have = [n for n in ("best", "last") if ckpt.checkpoint_exists(run_dir / n)]
        raise FileNotFoundError(
            f"{run_dir}: no {checkpoint} checkpoint ({checkpoint}.safetensors); "
            + (f"it has: {', '.join(have)}" if have else
               "it has none yet (training stopped before the first save?)"))
    state, meta = ckpt.load_state(path)
    model = build_run_model(config)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"{path}.safetensors does not fit the model of {CONFIG_FILE}: "
                         f"{str(e).strip(chr(39))}") from None
    model.to(backend.check_device(device)).eval()
    saved = state.get("preprocess")
    preprocess = from_state_dict(saved) if saved else None
    classes = [str(c) for c in config.get("classes") or range(int(config["num_classes"]))]
    return Run(run_dir, config, model, preprocess, checkpoint, meta, classes,
               tuple(int(n) for n in config["input_shape"]))
