"""RunConfig: the settings of one training run, as one typed schema.

Every setting of ``xpnet train`` is a field of :class:`RunConfig`: its type is the field's
annotation, its default the field's default, and its help text, limits and choices the
field's metadata. Everything that reads settings goes through this one schema: the
command line builds its options from it, a TOML file and a run folder's ``config.json``
are checked by it, and :func:`xpnet.train.train_run` takes a RunConfig. Choices come from
the registries that implement them (the model zoo, :data:`xpnet.train.builders.OPTIMIZERS`
and its neighbours, :data:`xpnet.data.preprocessing.PREPROCESSORS`), so a name that is
accepted is a name that works.

Defaults are resolved in this order, each overriding the one before: the schema's
defaults, the chosen model's training defaults (the perceptron trains by Rosenblatt's
rule: batch 1, plain SGD, its own criterion; :data:`xpnet.models.zoo.ZOO`), a TOML file,
then the command line or the caller's values.

Example:
    >>> config = RunConfig(model="mlp", data="digits", epochs=5)
    >>> config.lr, config.momentum
    (0.05, 0.9)
    >>> RunConfig.resolve({"model": "perceptron"}).batch_size
    1
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xpnet.data.preprocessing import PREPROCESSORS
from xpnet.models.zoo import ZOO
from xpnet.train import builders
from xpnet.train.pretrain import METHODS

__all__ = ["ConfigError", "RunConfig", "Setting", "check_setting", "read_toml", "settings"]


class ConfigError(ValueError):
    """A setting with a wrong type, out of its range, unknown, or not among its choices."""


@dataclass(frozen=True)
class Setting:
    """What the schema knows of one setting (built from a :class:`RunConfig` field).

    Attributes:
        name: the field's name (``batch_size``; ``--batch-size`` on the command line).
        kind: ``int``, ``float``, ``str``, ``bool``, ``names`` (a list of names, or one
            comma-separated string) or ``table`` (a JSON object / TOML table).
        optional: None is allowed (TOML: leave the key out).
        default: the schema's default.
        help: one line for ``--help``.
        choices: the allowed names, from the registry that implements them, or None.
        low, high: inclusive limits of a number; positive: it must be > 0.
    """

    name: str
    kind: str
    optional: bool
    default: Any
    help: str
    choices: tuple[str, ...] | None
    low: float | None
    high: float | None
    positive: bool


def _setting(default: Any, help: str, choices: Mapping | tuple | None = None,
             low: float | None = None, high: float | None = None,
             positive: bool = False) -> Any:
    """A RunConfig field: its default, and the rest of its schema as metadata."""
    meta = {"help": help, "choices": None if choices is None else tuple(choices),
            "low": low, "high": high, "positive": positive}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: json.loads(json.dumps(default)), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    """The settings of a training run; every field is validated on construction.

    Build one with keywords (``RunConfig(model="mlp", epochs=5)``), from a mapping with
    :meth:`resolve` (which also applies the model's training defaults), or from a run
    folder's ``config.json`` with :meth:`from_json`. Fields are documented by their help
    text: ``xpnet train --help`` prints them, :func:`settings` returns them.

    Raises:
        ConfigError: a value of the wrong type, out of range or not among the choices.
    """

    model: str = _setting("lenet5", "model of the zoo (xpnet models lists them)",
                          choices=ZOO)
    model_options: dict[str, Any] = _setting({}, "options of the model's builder, as JSON "
                                             "(e.g. '{\"hidden\": [512]}' for mlp)")
    data: str = _setting("mnist5k", "mnist5k, digits, or a path: a folder of IDX files, a "
                         "folder of CIFAR binary batches, a class-per-folder image tree, an "
                         ".npz")
    epochs: int = _setting(15, "epochs to train (in total, when resuming)", positive=True)
    batch_size: int = _setting(64, "examples per mini-batch (1: online learning)",
                               positive=True)
    optimizer: str = _setting("sgd", "sgd (PyTorch's rule) or alexnet (the paper's)",
                              choices=builders.OPTIMIZERS)
    lr: float = _setting(0.05, "learning rate (the perceptron's eta)", positive=True)
    momentum: float = _setting(0.9, "momentum", low=0.0, high=0.999)
    weight_decay: float = _setting(5e-4, "L2 weight decay", low=0.0)
    schedule: str = _setting("step", "learning-rate schedule: none, step (x gamma every "
                             "step-size epochs), exp (x gamma every epoch), plateau (x factor "
                             "when the validation loss stalls: AlexNet's divide-by-10)",
                             choices=builders.SCHEDULES)
    step_size: int = _setting(6, "epochs between two decays of the step schedule",
                              positive=True)
    gamma: float | None = _setting(None, "decay factor of step (0.1) and exp (0.95) "
                                   "schedules", positive=True, high=1.0)
    patience: int = _setting(2, "epochs without improvement before plateau decays", low=0)
    factor: float = _setting(0.1, "the plateau schedule's multiplier", positive=True,
                             high=0.999)
    augment: list[str] | None = _setting(None, "augmentation, comma-separated: none, "
                                         "elastic, crop, flip, crop-flip, affine, lighting "
                                         "(default: elastic for 28x28 grey images, none for "
                                         "others)", choices=builders.AUGMENTATIONS)
    preprocess: list[str] = _setting(["standardize"], "pre-processing fitted on the "
                                     "training split and put in front of the model, "
                                     "comma-separated: none, standardize, mean_image, gcn, "
                                     "zca, clip", choices=("none", *PREPROCESSORS))
    loss: str = _setting("cross_entropy", "the cost minimised: cross_entropy (softmax), "
                         "squared_error (logistic outputs, E = 1/2 sum (y - d)^2), "
                         "perceptron (the perceptron criterion)", choices=builders.LOSSES)
    monitor: str = _setting("val_loss", "the validation metric that picks the best "
                            "checkpoint: val_loss (the lowest) or val_accuracy (the highest; "
                            "the train_ one without a validation set)",
                            choices=("val_loss", "val_accuracy"))
    pretrain: str = _setting("none", "greedy layer-wise pre-training of the hidden dense "
                             "layers before training: none, autoencoder (denoising, tied "
                             "weights), rbm (contrastive divergence; logistic units only, "
                             "e.g. --model mlp --model-options '{\"activation\": "
                             "\"sigmoid\"}')", choices=("none", *METHODS))
    pretrain_epochs: int = _setting(5, "pre-training epochs per hidden layer", positive=True)
    pretrain_lr: float = _setting(0.01, "pre-training learning rate (standardised inputs "
                                  "need about 0.01; 0.05 saturates the first layer)",
                                  positive=True)
    pretrain_corruption: float = _setting(0.2, "the autoencoders' masking noise: share of "
                                          "inputs set to 0", low=0.0, high=0.95)
    seed: int = _setting(0, "seed of the weights, the splits, the order and augmentation",
                         low=0)
    device: str = _setting("cpu", "cpu or cuda (cuda:N)")
    parallel: str = _setting("data", "how the processes of an mpiexec job share a run: data "
                             "(each trains a replica on its share of every batch: the global "
                             "batch is processes x batch-size) or towers (alexnet on 2 "
                             "processes, one tower each, as in the 2012 paper); one process "
                             "trains alone", choices=("data", "towers"))
    val_fraction: float = _setting(0.1, "share of the training set held out for validation "
                                   "(best checkpoint, plateau schedule)", low=0.0, high=0.9)
    limit_train: int | None = _setting(None, "use only N examples of the training set "
                                       "(train + validation), for quick trials",
                                       positive=True)
    limit_test: int | None = _setting(None, "use only the first N test examples",
                                      positive=True)
    checkpoint_every: int | None = _setting(200, "also save last every N steps (besides "
                                            "every epoch)", positive=True)
    log_every: int = _setting(20, "a step record in history.jsonl every N steps",
                              positive=True)
    tensorboard: bool = _setting(True, "write TensorBoard event files (RUN/tensorboard)")
    curves: bool = _setting(True, "draw curves.png during the run, at most every 30 s, and at "
                            "its end (when matplotlib is installed)")

    def __post_init__(self) -> None:
        for s in _SCHEMA.values():
            object.__setattr__(self, s.name, check(s, getattr(self, s.name), "RunConfig"))

    @classmethod
    def resolve(cls, *layers: Mapping[str, Any], sources: tuple[str, ...] = ()) -> RunConfig:
        """The config of the schema's defaults, the model's defaults, then ``layers``.

        Args:
            *layers: mappings of settings, each overriding the ones before (a TOML
                file's, then the command line's). None values are skipped.
            sources: a name per layer for the messages: a file's name, or ``"--"`` for the
                command line (its messages then name the option, ``--lr``).

        Raises:
            ConfigError: an unknown setting (the known ones are listed) or a bad value.
        """
        values: dict[str, Any] = {}
        for i, layer in enumerate(layers):
            source = sources[i] if i < len(sources) else "config"
            for key, value in layer.items():
                name = key.replace("-", "_")
                if name not in _SCHEMA:
                    raise ConfigError(f"{source}: unknown setting {key!r}; known: "
                                      f"{', '.join(sorted(_SCHEMA))}")
                if value is not None:
                    flag = "--" + name.replace("_", "-") if source == "--" else source
                    values[name] = check(_SCHEMA[name], value, flag)
        model = values.get("model", _SCHEMA["model"].default)
        return cls(**{**ZOO[model].train_defaults, **values})

    @classmethod
    def from_json(cls, values: Mapping[str, Any], source: str) -> RunConfig:
        """The settings part of a run folder's ``config.json`` (other keys are ignored).

        Every value is checked by the schema, as a command line would be: a tampered or
        hand-written file is refused with a message naming the file and the setting.
        """
        known = {k: v for k, v in values.items() if k in _SCHEMA}
        return cls.resolve(known, sources=(source,))

    def to_dict(self) -> dict[str, Any]:
        """Every setting, as JSON values (the settings part of ``config.json``)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` (validated)."""
        return dataclasses.replace(self, **changes)


def _kind(annotation: str) -> tuple[str, bool]:
    """(kind, optional) from a field's annotation, e.g. ``"int | None"`` -> (int, True)."""
    base = annotation.removesuffix(" | None")
    kinds = {"int": "int", "float": "float", "str": "str", "bool": "bool",
             "list[str]": "names", "dict[str, Any]": "table"}
    return kinds[base], base != annotation


def settings() -> tuple[Setting, ...]:
    """Every setting of :class:`RunConfig`, in field order."""
    out = []
    for f in dataclasses.fields(RunConfig):
        kind, optional = _kind(str(f.type))
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append(Setting(f.name, kind, optional, default, **f.metadata))
    return tuple(out)


_SCHEMA: dict[str, Setting] = {}  # name -> Setting, filled below (needs the class)
_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string",
               "bool": "true or false", "names": "a list of names or a comma-separated string",
               "table": "a table"}


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
    return f"{kind} ({value!r})"


def _typed(s: Setting, value: Any, source: str) -> Any:
    """``value`` in the setting's type (a float from an int, names from a string)."""
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "str": isinstance(value, str),
          "bool": isinstance(value, bool),
          "names": isinstance(value, str) or (isinstance(value, (list, tuple)) and all(
              isinstance(v, str) for v in value)),
          "table": isinstance(value, dict)}[s.kind]
    if not ok:
        raise ConfigError(f"{source} must be {_TYPE_NAMES[s.kind]}, got {_describe(value)}")
    if s.kind == "float":
        if not math.isfinite(value):
            raise ConfigError(f"{source} must be a finite number, got {value}")
        return float(value)
    if s.kind == "names":
        names = value.split(",") if isinstance(value, str) else value
        return [n.strip() for n in names if n.strip()] or ["none"]
    if s.kind == "table":
        try:
            return json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{source} must hold JSON values only: {e}") from None
    return value


def check(s: Setting, value: Any, source: str) -> Any:
    """Validate one value of setting ``s``; return it normalised.

    Args:
        s: the setting.
        value: the value given.
        source: where it came from: an option (``--lr``), a file's path (messages then
            read ``run.toml: lr must be > 0``), or ``RunConfig``.

    Raises:
        ConfigError: wrong type, out of range, or not among the choices.
    """
    if source.startswith("--"):
        subject = source
    elif source == "RunConfig":
        subject = f"RunConfig.{s.name}"
    else:
        subject = f"{source}: {s.name}"
    if value is None:
        if s.optional:
            return None
        raise ConfigError(f"{subject} needs a value")
    value = _typed(s, value, subject)
    if s.kind in ("int", "float"):
        if s.positive and not value > 0:
            raise ConfigError(f"{subject} must be > 0, got {value}")
        if s.low is not None and value < s.low:
            raise ConfigError(f"{subject} must be >= {s.low:g}, got {value}")
        if s.high is not None and value > s.high:
            raise ConfigError(f"{subject} must be <= {s.high:g}, got {value}")
    names = value if s.kind == "names" else [value] if s.choices else []
    for name in names:
        if name not in (s.choices or ()):
            what = "some" if s.kind == "names" else "one"
            raise ConfigError(f"{source}: unknown {s.name.replace('_', ' ')} {name!r}; "
                              f"expected {what} of {', '.join(s.choices or ())}")
    return value


def check_setting(name: str, value: Any, source: str) -> Any:
    """Validate one value of the setting ``name`` (see :func:`check`); return it normalised.

    Raises:
        ConfigError: an unknown setting, or a bad value (the message starts with ``source``).
    """
    if name not in _SCHEMA:
        raise ConfigError(f"{source}: unknown setting {name!r}")
    return check(_SCHEMA[name], value, source)


def read_toml(path: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """The settings of a TOML file (tomllib; tomli before Python 3.11), checked.

    Keys are the settings' names (``batch_size`` or ``batch-size``); ``[model_options]``
    is a table. The result is a layer for :meth:`RunConfig.resolve`, plus the string
    values of the keys in ``extra`` (the command line's ``run_dir``), which are no
    settings of the run.

    Raises:
        ConfigError: unreadable file, bad TOML, an unknown key, a wrong type.
    """
    try:
        import tomllib  # noqa: PLC0415
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # noqa: PLC0415
        except ImportError:
            raise ConfigError("reading a TOML config needs Python 3.11 or the tomli "
                              "package on Python 3.10 (pip install tomli)") from None
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"--config {path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, RecursionError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:  # a binary file
        raise ConfigError(f"{path}: not a UTF-8 text file, so not TOML ({e})") from None
    out = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name in extra:
            if not isinstance(value, str):
                raise ConfigError(f"{path}: {name} must be a string, got {_describe(value)}")
            out[name] = value
            continue
        if name not in _SCHEMA:
            raise ConfigError(f"{path}: unknown setting {key!r}; known: "
                              f"{', '.join(sorted([*_SCHEMA, *extra]))}")
        out[name] = check(_SCHEMA[name], value, path)
    return out


_SCHEMA.update({s.name: s for s in settings()})
