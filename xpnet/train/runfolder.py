"""The run folder: what :func:`xpnet.train.train_run` writes and every later command reads.

A run folder holds::

    config.json               the run's settings (a RunConfig), its data's shape and
                              classes, written before training
    history.jsonl             one JSON record per epoch and every N steps
    last.safetensors + .json  the whole training state after the latest save
    best.safetensors + .json  the same, at the epoch of lowest validation loss
    curves.png                cost, accuracy and learning rate (when matplotlib is there)
    tensorboard/              TensorBoard event files (xpnet.train.events)
    pretrain.jsonl            one record per layer and epoch of layer-wise pre-training

``config.json`` is a flat object: every setting of :class:`xpnet.train.RunConfig`, then
``input_shape``, ``num_classes``, ``classes``, ``run_format`` and ``xpnet_version``. It
holds everything needed to rebuild the model and its data: :func:`load_run` reads it
(checking every setting with the schema), rebuilds the model through
:func:`xpnet.train.builders.build_run_model` and loads a checkpoint into it, the fitted
pre-processing included (it is the model's first layers).

Folders written by xpnet 0.1 (no ``run_format``: the pre-processing was saved beside the
model, not in it) are read too: their checkpoints are converted as they are loaded.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from xpnet import __version__, backend
from xpnet.data import Dataset
from xpnet.nn import Sequential
from xpnet.train import checkpoint as ckpt
from xpnet.train.builders import (
    DataInfo,
    Splits,
    build_network,
    build_run_model,
    open_splits,
)
from xpnet.train.config import ConfigError, RunConfig

__all__ = [
    "CONFIG_FILE",
    "RUN_FORMAT",
    "Run",
    "load_run",
    "read_config",
    "read_state",
    "write_config",
]

CONFIG_FILE = "config.json"
#: 2: the pre-processing is part of the model (its first layers). 1 (no key): beside it.
RUN_FORMAT = 2
_REQUIRED = ("model", "data", "input_shape", "num_classes", "seed")


def write_config(run_dir: str | os.PathLike, config: RunConfig, info: DataInfo) -> Path:
    """Write ``run_dir/config.json`` atomically (creating the folder).

    Returns:
        The path of ``config.json``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    full = {**config.to_dict(), "input_shape": list(info.input_shape),
            "num_classes": info.num_classes, "classes": list(info.classes),
            "run_format": RUN_FORMAT, "xpnet_version": __version__}
    text = json.dumps(full, indent=2, sort_keys=True, allow_nan=False) + "\n"
    path = run_dir / CONFIG_FILE
    ckpt.atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    missing = [k for k in _REQUIRED if not isinstance(config, dict) or k not in config]
    if missing:
        raise ValueError(f"{path}: not an xpnet run config, missing {', '.join(missing)}")
    return config


def _data_info(raw: dict[str, Any], path: Path) -> DataInfo:
    shape, k = raw["input_shape"], raw["num_classes"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise ValueError(f"{path}: input_shape must be three positive integers, got {shape!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{path}: num_classes must be a positive integer, got {k!r}")
    classes = raw.get("classes") or [str(c) for c in range(k)]
    if not isinstance(classes, list) or len(classes) != k:
        raise ValueError(f"{path}: classes must be a list of {k} names")
    return DataInfo(tuple(shape), tuple(str(c) for c in classes))


def read_config(run_dir: str | os.PathLike) -> tuple[RunConfig, DataInfo]:
    """Read and check ``run_dir/config.json``.

    Returns:
        ``(config, info)``.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: the folder is not a run folder, or its config holds a value that the
            schema refuses (the message names the file and the setting).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} is not an xpnet run folder: it has no {CONFIG_FILE} "
                         "(made by 'xpnet train')")
    raw = _read_json(path)
    run_format = raw.get("run_format", 1)
    if run_format not in (1, RUN_FORMAT):
        raise ValueError(f"{path}: run_format {run_format!r} is not one this xpnet reads "
                         f"(1 or {RUN_FORMAT}); it was written by xpnet "
                         f"{raw.get('xpnet_version', '?')}")
    try:
        config = RunConfig.from_json(raw, str(path))
    except ConfigError as e:
        raise ValueError(str(e)) from None
    return config, _data_info(raw, path)


def read_state(run_dir: str | os.PathLike, name: str, config: RunConfig,
               info: DataInfo) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load checkpoint ``run_dir/name`` as ``(state, meta)``, in the current format.

    A checkpoint of xpnet 0.1 keeps its fitted pre-processing beside the model
    (``state["preprocess"]``); it is moved into the model's state here, under the names
    of the steps that now lead the model, and every key of a later layer is shifted
    past them (the parameters and the generators' states alike). Such a checkpoint can
    sit beside new ones in a folder resumed by a later xpnet, so each is read by what
    it holds.

    Raises:
        CheckpointError: a damaged checkpoint, or one that holds no model.
    """
    path = Path(run_dir) / name
    state, meta = ckpt.load_state(path)
    ckpt.check_train_state(state, f"{path}.safetensors")  # the types, before any use
    if "preprocess" in state:
        state = _upgrade_state(state, config, info)
    return state, meta


def _legacy_steps(saved: Any) -> list[dict[str, Any]]:
    """The steps of a version-1 pre-processing state (one step, or a pipeline's)."""
    if not saved:
        return []
    if saved.get("type") == "pipeline":
        return [saved["steps"][str(i)] for i in range(len(saved["steps"]))]
    return [saved]


def _upgrade_state(state: dict[str, Any], config: RunConfig, info: DataInfo) -> dict[str, Any]:
    steps = _legacy_steps(state.get("preprocess"))
    model = build_run_model(config, info)
    shift = len(steps)
    if shift != len(list(s for s in config.preprocess if s != "none")):
        raise ValueError(f"a checkpoint of {len(steps)} pre-processing steps does not fit "
                         f"the config's {config.preprocess}")
    nested = type(build_network(config, info)) is not Sequential  # one module, not layers

    def moved(key: str) -> str:
        if nested:  # a network that is one module (the perceptron): now item `shift`
            return f"{shift}.{key}" if key else str(shift)
        head, dot, rest = key.partition(".")
        return f"{int(head) + shift}{dot}{rest}" if head.isdigit() else key

    weights = {moved(k): v for k, v in state["model"].items()}
    for i, step in enumerate(steps):
        for attr in model[i].BUFFERS:
            weights[f"{i}.{attr}"] = step[attr]
    rng = {}
    for key, value in state.get("rng", {}).items():
        found = re.fullmatch(r"model\.(.*)\.([^.]+)", key)
        rng[f"model.{moved(found.group(1))}.{found.group(2)}" if found else key] = value
    out = {k: v for k, v in state.items() if k != "preprocess"}
    out.update(model=weights, rng=rng)
    return out


def _refuse_nonfinite(model: Sequential, source: str) -> None:
    """A model whose weights hold NaN or inf (a diverged run) predicts nothing: refuse it."""
    for name, value in model.state_dict().items():
        if value.dtype.kind == "f" and not bool(numpy.isfinite(value).all()):
            raise FloatingPointError(f"{source}: {name} holds NaN/inf weights (the run "
                                     "diverged); it cannot evaluate or predict")


@dataclass
class Run:
    """A trained run, ready for inference (what :func:`load_run` returns).

    Attributes:
        run_dir: the run folder.
        config: its settings.
        info: its data's shape and classes.
        model: the network with the checkpoint's weights, in eval mode; its first layers
            are the fitted pre-processing, so it takes raw pixels.
        checkpoint: the checkpoint loaded, ``"best"`` or ``"last"``.
        meta: the checkpoint's metadata (``epoch``, ``step``, ``metrics``).
    """

    run_dir: Path
    config: RunConfig
    info: DataInfo
    model: Sequential
    checkpoint: str
    meta: dict[str, Any]
    _splits: list[Splits] = field(default_factory=list, repr=False)

    @property
    def classes(self) -> list[str]:
        """Class names: ``classes[k]`` names output k."""
        return list(self.info.classes)

    @property
    def num_classes(self) -> int:
        """The number of outputs."""
        return self.info.num_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's (C, H, W)."""
        return self.info.input_shape

    @property
    def history_path(self) -> Path:
        """``run_dir/history.jsonl``."""
        return self.run_dir / "history.jsonl"

    def dataset(self, split: str = "test") -> Dataset:
        """The run's ``"train"``, ``"val"`` or ``"test"`` set, as in training (raw images).

        Raises:
            ValueError: an unknown split, or ``"val"`` for a run without validation.
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"Run.dataset: split must be 'train', 'val' or 'test', "
                             f"got {split!r}")
        if not self._splits:
            self._splits.append(open_splits(self.config))
        found = getattr(self._splits[0], split)
        if found is None:
            raise ValueError(f"{self.run_dir}: this run has no validation set (val_fraction 0)")
        return found


def load_run(run_dir: str | os.PathLike, checkpoint: str = "best",
             device: str = "cpu") -> Run:
    """Rebuild a run's model from its config and load a checkpoint into it.

    Args:
        run_dir: a folder written by ``xpnet train`` (any run format).
        checkpoint: ``"best"`` or ``"last"``.
        device: where to put the model.

    Returns:
        A :class:`Run` whose model is in eval mode and takes raw pixels.

    Raises:
        FileNotFoundError: no such folder, or it has no such checkpoint (the message
            names the folder and the checkpoints it has).
        ValueError: not a run folder, or a checkpoint that does not fit the config.
        CheckpointError: a damaged checkpoint.
        FloatingPointError: weights that hold NaN or inf (a diverged run).

    Example:
        >>> run = load_run("runs/lenet5-mnist5k-20250101-120000")
        >>> run.model(Tensor(raw_images)).data.argmax(axis=1)
    """
    if checkpoint not in ("best", "last"):
        raise ValueError(f"load_run: checkpoint must be 'best' or 'last', got {checkpoint!r}")
    run_dir = Path(run_dir)
    config, info = read_config(run_dir)
    if not ckpt.checkpoint_exists(run_dir / checkpoint):
        have = [n for n in ("best", "last") if ckpt.checkpoint_exists(run_dir / n)]
        raise FileNotFoundError(
            f"{run_dir}: no {checkpoint} checkpoint ({checkpoint}.safetensors); "
            + (f"it has: {', '.join(have)}" if have else
               "it has none yet (training stopped before the first save?)"))
    state, meta = read_state(run_dir, checkpoint, config, info)
    model = build_run_model(config, info)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"{run_dir / checkpoint}.safetensors does not fit the model of "
                         f"{CONFIG_FILE}: {str(e).strip(chr(39))}") from None
    _refuse_nonfinite(model, f"{run_dir / checkpoint}.safetensors")
    model.to(backend.check_device(device)).eval()
    return Run(run_dir, config, info, model, checkpoint, meta)
