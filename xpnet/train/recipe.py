"""train_run: one training run from a RunConfig to a run folder, the engine of ``xpnet train``.

The recipe, in order: open the data splits (checking the test split against the training
split), fit the pre-processing on a sample of the training split, build the model with
the fitted steps as its first layers (a shape that does not fit is found here, before
anything is written), write ``config.json``, pre-train the hidden layers when asked,
train with :class:`xpnet.train.Trainer` (history, checkpoints, TensorBoard, curves), then
evaluate the best checkpoint (lowest validation loss, or as ``monitor`` says) on the test
split. Every command
and launcher that trains goes through :func:`train_run`, so they all write the same
folder in the same way; :func:`resume_run` continues one.

Example:
    >>> from xpnet.train import RunConfig, train_run
    >>> result = train_run(RunConfig(model="mlp", data="digits", epochs=5), "runs/mlp")
    >>> result.test["accuracy"]
    0.96...
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from xpnet import Tensor, backend, no_grad
from xpnet.data import DataLoader
from xpnet.train import builders as B
from xpnet.train import callbacks as C
from xpnet.train import checkpoint as ckpt
from xpnet.train import runfolder
from xpnet.train.config import ConfigError, RunConfig
from xpnet.train.evaluate import evaluate
from xpnet.train.fit import Trainer
from xpnet.train.lock import RunLock
from xpnet.train.pretrain import LOSS_NAMES, check_units, pretrain_layers

__all__ = ["RunExistsError", "RunResult", "default_run_dir", "resume_run", "train_run"]

Log = Callable[[str], None]


class RunExistsError(ValueError):
    """The run folder already holds a run (continue it with :func:`resume_run`)."""


@dataclass
class RunResult:
    """What :func:`train_run` did.

    Attributes:
        run_dir: the run folder.
        config: the settings, resolved (``augment`` chosen for the data).
        history: the epoch records, resumed ones included.
        best: the best checkpoint's metadata (``epoch``, ``step``, ``metrics``).
        test: the best checkpoint on the test split: ``loss``, ``accuracy``, ``count``
            and ``top5`` (over 10 classes).
        converged: for the perceptron criterion, whether an epoch ended without errors.
    """

    run_dir: Path
    config: RunConfig
    history: list[dict[str, Any]]
    best: dict[str, Any]
    test: dict[str, Any]
    converged: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def default_run_dir(config: RunConfig, root: str | os.PathLike = "runs") -> Path:
    """``runs/MODEL-DATA-YYYYmmdd-HHMMSS`` (with ``-2``, ``-3``... if it exists)."""
    data = Path(config.data).expanduser()
    name = data.stem if data.suffix else data.name or "data"
    base = Path(root) / f"{config.model}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _resolve_augment(config: RunConfig, info: B.DataInfo) -> RunConfig:
    """Simard's elastic distortion by default for 28x28 grey digits, none otherwise."""
    if config.augment is not None:
        return config
    return config.replace(augment=["elastic"] if info.input_shape == (1, 28, 28) else ["none"])


def _probe(model: Any, config: RunConfig, info: B.DataInfo) -> None:
    """One example through the model now, so a shape mismatch is reported before training."""
    model.eval()
    try:
        with no_grad():
            out = model(Tensor(numpy.zeros((1, *info.input_shape), numpy.float32)))
    except ValueError as e:
        raise ValueError(f"model {config.model} does not fit the data {config.data} "
                         f"(images {info.input_shape}): {e}") from None
    finally:
        model.train()
    if tuple(out.shape) != (1, info.num_classes):
        raise ValueError(f"model {config.model} gives outputs {tuple(out.shape[1:])} for "
                         f"{info.num_classes} classes")


def _callbacks(config: RunConfig, run_dir: Path, progress: bool,
               extra: Sequence[C.Callback], writer: bool = True) -> list[C.Callback]:
    # History first: the curves are drawn from the file it has just written
    found: list[C.Callback] = [C.History(run_dir / "history.jsonl",
                                         every_steps=config.log_every)] if writer else []
    if config.tensorboard and writer:
        found.append(C.TensorBoard(run_dir / "tensorboard", every_steps=config.log_every))
    if config.curves and writer and importlib.util.find_spec("matplotlib") is not None:
        found.append(C.CurvesPlot(run_dir))
    if config.loss == "perceptron":  # no error, no update: the rule has converged
        found.append(C.EarlyStopping(patience=None, monitor="train_accuracy",
                                     stopping_threshold=1.0))
    if progress:
        found.append(C.ProgressBar())
    return [*found, *extra]


def _trainer(config: RunConfig, model: Any, splits: B.Splits, run_dir: Path, progress: bool,
             extra: Sequence[C.Callback], job: Any = None) -> Trainer:
    """The run's Trainer; in a job of several processes, this rank's (see ``Job``)."""
    model = model if job is None else job.model(model, splits.info)
    optimizer = B.build_optimizer(config, model.parameters())
    augment = B.build_augment(config, splits.train)
    if job is None:
        loader = DataLoader(splits.train, config.batch_size, seed=config.seed,
                            transform=augment)
    else:
        loader = job.train_loader(splits.train, config, augment)
    val = None if splits.val is None else DataLoader(
        splits.val if job is None else job.validation_split(splits.val), 256, shuffle=False)
    metrics = ("accuracy", "top5") if splits.info.num_classes > 10 else ("accuracy",)
    kind, more = (Trainer, {}) if job is None else (job.trainer_class(), {"comm": job.comm})
    return kind(model, optimizer, loader, loss_fn=B.LOSSES[config.loss], val_loader=val,
                scheduler=B.build_schedule(config, optimizer),
                callbacks=_callbacks(config, run_dir, progress, extra,
                                     writer=job is None or job.writer),
                device=config.device, run_dir=run_dir, seed=config.seed, metrics=metrics,
                checkpoint_every_steps=config.checkpoint_every,
                log_every_steps=config.log_every, monitor=config.monitor, **more)


def _pretrain(config: RunConfig, trainer: Trainer, run_dir: Path, log: Log) -> None:
    """Layer-wise pre-training, then ``pretrain.jsonl`` and ``last`` (the trainer at step 0
    with the pre-trained weights), so that a resumed run never pre-trains again."""
    what = LOSS_NAMES[config.pretrain]

    def show(r: dict[str, Any]) -> None:
        log(f"pre-training layer {r['layer']} ({r['method']}, {r['visible']} visible units) "
            f"epoch {r['epoch']}/{config.pretrain_epochs}: {what} {r['loss']:.4f}")

    trainer.model.to(trainer.device)  # where fit() will train it
    records = pretrain_layers(
        trainer.model, trainer.train_loader, config.pretrain, epochs=config.pretrain_epochs,
        lr=config.pretrain_lr, momentum=config.momentum, weight_decay=config.weight_decay,
        corruption=config.pretrain_corruption if config.pretrain == "autoencoder" else 0.0,
        rng=numpy.random.default_rng([config.seed, 2]), log=show)
    text = "".join(json.dumps(r) + "\n" for r in records)
    ckpt.atomic_write(run_dir / "pretrain.jsonl", lambda f: f.write(text.encode("utf-8")))
    trainer.save_checkpoint(run_dir / "last")
    log(f"pre-training done: {run_dir / 'pretrain.jsonl'}; fine-tuning the whole network")


def _header(config: RunConfig, splits: B.Splits, run_dir: Path) -> list[str]:
    info, val = splits.info, splits.val
    return [f"training {config.model} on {config.data}: {len(splits.train)} train / "
            f"{0 if val is None else len(val)} val / {len(splits.test)} test images "
            f"{info.input_shape}, {info.num_classes} classes, {config.epochs} epochs on "
            f"{config.device}", f"run folder: {run_dir}"]


def train_run(config: RunConfig, run_dir: str | os.PathLike | None = None, *,
              resume: bool = False, log: Log | None = None, progress: bool = False,
              callbacks: Sequence[C.Callback] = (), comm: Any = None) -> RunResult:
    """Train the run that ``config`` describes into ``run_dir``; evaluate it on the test set.

    Args:
        config: the settings.
        run_dir: the run folder (default :func:`default_run_dir`). A new run refuses a
            folder that already holds one.
        resume: continue the run in ``run_dir`` from its ``last`` checkpoint (``config``
            must be the folder's own, with ``epochs`` and ``device`` free to change; see
            :func:`resume_run`).
        log: called with each line worth showing (the header, pre-training, the resume
            point); None: silent.
        progress: show a :class:`~xpnet.train.callbacks.ProgressBar` on stderr.
        callbacks: more callbacks for the trainer (after the run's own).
        comm: the :class:`~xpnet.distributed.Communicator` of an ``mpiexec`` job whose
            processes share the run (``config.parallel``: data or towers); every rank
            calls ``train_run`` with the same arguments, rank 0 alone writes the run
            folder and logs. None, or a job of one process: the run of one process.

    Returns:
        A :class:`RunResult`.

    The run folder is locked (:class:`~xpnet.train.lock.RunLock`) from before the first
    file is written, or before the checkpoint is read when resuming, to the end; under
    the lock, the temporary files of saves a crash interrupted are removed and a
    checkpoint's lagging ``.json`` copy is rewritten (both logged).

    Raises:
        RunExistsError: a new run into a folder that holds one.
        RunLockedError: another process is training in the folder.
        ValueError: data or model that do not fit together, a bad data set.
        CheckpointError: resuming from a damaged checkpoint, or one that does not fit.
        NonFiniteError: training diverged (the checkpoints kept hold finite weights).
    """
    log = log or (lambda line: None)
    job = _job(comm, config, resume)
    writer = job is None or job.writer  # the process that writes the folder and logs
    if not writer:
        log, progress = (lambda line: None), False
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
    if job is not None:
        run_dir = Path(job.share(str(run_dir)))  # rank 0's name (its clock, its folders)
    if writer:
        _refuse_existing(run_dir, resume)
    backend.check_device(config.device)
    lock = RunLock(run_dir) if writer else None
    try:
        if resume and writer:  # before anything is read: the folder must be this run's
            lock.acquire()
            _tidy(run_dir, log)
        if resume and job is not None:
            job.barrier()  # the other ranks read the folder once rank 0 tidied it
        config, splits, model, state, meta = _prepare(config, run_dir, resume, job)
        if not resume and writer:  # after every check: a refused run leaves no folder
            lock.acquire()
            _refuse_existing(run_dir, resume)  # again: another run may have begun meanwhile
            _tidy(run_dir, log)
        if writer:
            runfolder.write_config(run_dir, config, splits.info)
        for line in _header(config, splits, run_dir):
            log(line)
        trainer = _trainer(config, model, splits, run_dir, progress, callbacks, job)
        if job is not None:
            for line in job.describe(config, trainer.model):
                log(line)
        if resume:
            log(resume_point(run_dir, meta, state))
        elif config.pretrain != "none":
            _pretrain(config, trainer, run_dir, log)
        history = trainer.fit(config.epochs, resume=state if resume else False)
        converged = config.loss == "perceptron" and bool(history) and (
            history[-1].get("train_accuracy") == 1.0)
        return _final_test(run_dir, config, history, converged, job)
    finally:
        if lock is not None:
            lock.release()


def _job(comm: Any, config: RunConfig, resume: bool) -> Any:
    """The :class:`xpnet.distributed.job.Job` of a run shared by several processes, or None
    (no communicator, or a job of one process: the plain one-process run)."""
    if comm is None or comm.size == 1:
        if config.parallel == "towers":
            raise ConfigError("--parallel towers needs 2 processes: mpiexec -n 2 xpnet train "
                              "--model alexnet --parallel towers ...")
        return None
    from xpnet.distributed.job import Job  # noqa: PLC0415 (MPI only when a job asks)

    return Job(comm, config, resume)


def _refuse_existing(run_dir: Path, resume: bool) -> None:
    if not resume and (run_dir / runfolder.CONFIG_FILE).exists():
        raise RunExistsError(f"{run_dir} already holds a run; continue it with 'xpnet train "
                             f"--resume {run_dir}' or choose another --run-dir")


def _tidy(run_dir: Path, log: Log) -> None:
    """What a crash can leave in a run folder, put right (the caller holds its lock): the
    temporary files of saves it interrupted, and a checkpoint's JSON copy of its record
    that a crash between the two renames left behind."""
    removed = ckpt.remove_temporaries(run_dir) if run_dir.is_dir() else []
    if removed:
        log(f"removed {len(removed)} temporary file(s) of interrupted saves: "
            + ", ".join(p.name for p in removed))
    for name in ("last", "best"):
        if ckpt.checkpoint_exists(run_dir / name) and ckpt.repair_sidecar(run_dir / name):
            log(f"{run_dir / name}.json rewritten from the verified record in "
                f"{name}.safetensors (a save had been interrupted between its two renames)")


def _prepare(config: RunConfig, run_dir: Path, resume: bool, job: Any = None) -> tuple:
    """The checks and objects before anything is written: ``(config, splits, model, state,
    meta)``, with the ``last`` checkpoint's state and metadata when resuming."""
    splits = B.open_splits(config)
    info = splits.info
    config = _resolve_augment(config, info)
    state = meta = None
    if resume:
        state, meta = runfolder.read_state(run_dir, "last", config, info)
        if "ranks" in state:  # saved by a data-parallel job: the same global batches?
            from xpnet.distributed.trainer import check_resume  # noqa: PLC0415

            check_resume(state, 1 if job is None else job.comm.size)
        if "optimizer" not in state:
            raise ValueError(f"{run_dir} was trained by xpnet 0.1's own perceptron loop, "
                             "which kept no optimiser state; it loads for evaluate, predict "
                             "and visualize, but cannot be resumed: train it again")
        model = B.build_run_model(config, info)
        try:
            model.load_state_dict(state["model"])  # the fitted pre-processing too
        except (KeyError, ValueError) as e:
            raise ckpt.CheckpointError(f"{run_dir / 'last.safetensors'} does not fit the model "
                                       f"of {runfolder.CONFIG_FILE}: "
                                       f"{str(e).strip(chr(39))}") from None
    elif job is None:
        model = B.build_run_model(config, info, B.build_preprocessing(config, splits.train))
    else:  # rank 0 fits the pre-processing, every rank gets its statistics
        model = B.build_run_model(config, info, job.preprocessing(
            lambda: B.build_preprocessing(config, splits.train),
            lambda: B.preprocessing_steps(config)))
    _probe(model, config, info)
    if config.pretrain != "none" and not resume:
        try:
            check_units(model, config.pretrain)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"pretrain {config.pretrain} does not fit model "
                              f"{config.model}: {str(e).removeprefix('pretrain_layers: ')}"
                              ) from None
    return config, splits, model, state, meta


def _final_test(run_dir: Path, config: RunConfig, history: list, converged: bool,
                job: Any = None) -> RunResult:
    run = runfolder.load_run(run_dir, "best", device=config.device)
    test_set = run.dataset("test") if job is None else job.test_split(run.dataset("test"))
    test = evaluate(run.model, DataLoader(test_set, 256, shuffle=False),
                    B.LOSSES[config.loss], device=config.device,
                    num_classes=run.num_classes, confusion=False)
    if job is not None:  # each rank tested its shard: add up the counts
        test = job.reduce(test)
    return RunResult(run_dir, config, history, run.meta, test, converged)


def resume_run(run_dir: str | os.PathLike, epochs: int | None = None,
               device: str | None = None, **options: Any) -> RunResult:
    """Continue the run in ``run_dir`` from its last checkpoint, with its saved config.

    The weights at the end are the same, bit for bit, as those of a run that never
    stopped. Only ``epochs`` (the new total) and ``device`` may change.

    Args:
        run_dir: a run folder with a ``last`` checkpoint.
        epochs: the total number of epochs (None: the saved one).
        device: where to train (None: the saved one).
        **options: passed to :func:`train_run` (``log``, ``progress``, ``callbacks``).

    Raises:
        FileNotFoundError: no ``last`` checkpoint to resume.
    """
    run_dir = Path(run_dir)
    config, _ = runfolder.read_config(run_dir)
    if not ckpt.checkpoint_exists(run_dir / "last"):
        raise FileNotFoundError(f"{run_dir}: nothing to resume, no last.safetensors there")
    changes = {k: v for k, v in (("epochs", epochs), ("device", device)) if v is not None}
    return train_run(config.replace(**changes), run_dir, resume=True, **options)


def resume_point(run_dir: Path, meta: dict[str, Any], state: dict[str, Any]) -> str:
    """"resuming from ... at step S (epoch E, batch B)", from the verified checkpoint (not
    from ``last.json``, which a crash can leave behind its ``.safetensors``)."""
    progress = state.get("progress", {})
    where = f"epoch {progress.get('epoch', meta.get('epoch', 0)) + 1}"
    if progress.get("batch"):
        where += f", batch {progress['batch'] + 1}"
    step = progress.get("step", meta.get("step"))
    return f"resuming from {run_dir / 'last.safetensors'} at step {step} ({where})"
