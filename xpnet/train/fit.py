"""The training loop: Trainer and fit, with callbacks, checkpoints, resume and a NaN guard.

One step is: forward, loss, backward, guard (the loss and every gradient must be finite),
optimiser step, guard (every weight must be finite: :mod:`xpnet.train.guard`), callbacks.
After each epoch: validation (eval mode, no graph), the schedule's step, then the epoch
callbacks (history, early stopping, checkpoint).

Everything a run depends on is in :meth:`Trainer.state_dict`: the model's parameters and
buffers (a fitted pre-processing at its front included), the optimiser's state, the
schedule, the loader's state, the position (epoch, batch within it, step), the epoch's
running sums, the history, the callbacks' state, and the state of EVERY
``numpy.random.Generator`` found as an attribute of a module of the model (``vars(m)``
for ``m`` in ``model.modules()``) and the trainer's own ``rng``. Restoring it and going
on gives the same weights, bit for bit, as a run that never stopped: the loader's order
for epoch e is a function of (seed, e) only, and a run resumed within an epoch skips the
batches it had already trained on.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy

from xpnet import backend, cpu
from xpnet import functions as F
from xpnet.train import checkpoint as ckpt
from xpnet.train.callbacks.base import Callback, TrainState
from xpnet.train.errors import NonFiniteError
from xpnet.train.evaluate import evaluate, to_batch
from xpnet.train.guard import all_finite, first_nonfinite, kept_message, weights_error
from xpnet.train.metrics import Accumulator

_METRICS = ("accuracy", "top5")


class Trainer:
    """Trains a model; the engine behind :func:`fit` and ``xpnet train``.

    Args:
        model: the Module to train.
        optimizer: an :class:`xpnet.optim.Optimizer` over the model's parameters.
        train_loader: yields ``(x, y)`` NumPy batches; ``set_epoch``, ``state_dict`` and
            ``len`` are used when it has them (:class:`xpnet.data.DataLoader` does).
        loss_fn: ``loss_fn(scores, y)`` -> mean loss Tensor.
        val_loader: evaluated after each epoch (``val_loss``, ``val_accuracy``...).
        scheduler: stepped after each epoch; one whose ``step`` takes a metric
            (ReduceLROnPlateau) gets ``scheduler_monitor``.
        callbacks: :class:`~xpnet.train.callbacks.Callback` objects.
        device: ``"cpu"`` or ``"cuda"``; the model is moved there.
        run_dir: the run folder; when given, a :class:`History` (``history.jsonl``) and a
            :class:`Checkpoint` (``last``/``best``) are added unless already passed.
        seed: seed of the trainer's own ``rng`` (available to callbacks, checkpointed).
        metrics: training metrics besides the loss: ``"accuracy"`` and/or ``"top5"``;
            empty for a model that is not a classifier.
        checkpoint_every_steps: also save ``last`` every N steps (with ``run_dir``).
        log_every_steps: one history record of the step loss every N steps.
        monitor: the metric that decides ``best``: the validation loss by default (on a
            few hundred validation images many epochs tie in accuracy, and the first of
            them is rarely the best); the ``train_`` one when there is no validation set.
        scheduler_monitor: the metric given to a plateau schedule (``"val_loss"``).
        guard: check the loss and the gradients, and the weights after the update, for
            NaN/inf at every step.
        tune_allocator: on the CPU, have :meth:`fit` call :func:`xpnet.cpu.tune_allocator`,
            which keeps freed arrays in the process for the next step (a setting of the
            whole process; False leaves it alone).
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        train_loader: Iterable,
        loss_fn: Callable = F.softmax_cross_entropy,
        val_loader: Iterable | None = None,
        scheduler: Any = None,
        callbacks: Sequence[Callback] = (),
        device: str = "cpu",
        run_dir: str | os.PathLike | None = None,
        seed: int = 0,
        metrics: Sequence[str] = ("accuracy",),
        checkpoint_every_steps: int | None = None,
        log_every_steps: int = 50,
        monitor: str = "val_loss",
        scheduler_monitor: str = "val_loss",
        guard: bool = True,
        tune_allocator: bool = True,
    ) -> None:
        unknown = [m for m in metrics if m not in _METRICS]
        if unknown:
            raise ValueError(f"Trainer: unknown metrics {unknown}; expected some of {_METRICS}")
        for name, n in (("checkpoint_every_steps", checkpoint_every_steps),
                        ("log_every_steps", log_every_steps)):
            if n is not None and (not isinstance(n, int) or n < 1):
                raise ValueError(f"Trainer: {name} must be a positive int or None, got {n!r}")
        self.model, self.optimizer, self.train_loader = model, optimizer, train_loader
        self.loss_fn, self.val_loader, self.scheduler = loss_fn, val_loader, scheduler
        self.device = backend.check_device(device)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.seed, self.metrics = seed, tuple(metrics)
        self.monitor, self.scheduler_monitor, self.guard = monitor, scheduler_monitor, guard
        self.tune_allocator = tune_allocator
        self.rng = numpy.random.default_rng(seed)
        self.callbacks = self._with_defaults(list(callbacks), checkpoint_every_steps,
                                             log_every_steps)
        self.epoch = 0  # the epoch in progress (or next to run)
        self.batch = 0  # batches of it already trained
        self.step = 0  # optimiser steps since the run began
        self.history: list[dict[str, Any]] = []
        self.train_acc = self._accumulator()
        self._saved: tuple[Path, int] | None = None  # the last `last` checkpoint and its step

    # ------------------------------------------------------------------- setup
    def _with_defaults(self, callbacks: list, every: int | None, log_every: int) -> list:
        from xpnet.train.callbacks import Checkpoint, History  # noqa: PLC0415 (a cycle)

        if self.run_dir is not None:
            if not any(isinstance(c, History) for c in callbacks):
                callbacks.append(History(self.run_dir / "history.jsonl", every_steps=log_every))
            if not any(isinstance(c, Checkpoint) for c in callbacks):
                callbacks.append(Checkpoint(self.run_dir, every_steps=every, monitor=self.monitor))
        keys = [c.state_key for c in callbacks]
        if len(keys) != len(set(keys)):
            raise ValueError(f"Trainer: two callbacks share a state_key: {keys}")
        return sorted(callbacks, key=lambda c: c.order)  # stable: given order within a level

    def _accumulator(self) -> Accumulator:
        return Accumulator(topk=5)

    def generators(self) -> dict[str, numpy.random.Generator]:
        """Every Generator the run draws from, by a stable name, each object once.

        Module attributes (``model.<module path>.<attr>``) and the trainer's own
        (``trainer.rng``).
        """
        found: dict[str, numpy.random.Generator] = {}
        seen: set[int] = set()

        def add(name: str, value: Any) -> None:
            if isinstance(value, numpy.random.Generator) and id(value) not in seen:
                seen.add(id(value))
                found[name] = value

        for mod_name, module in self.model.named_modules():
            for attr, value in vars(module).items():
                add(".".join(p for p in ("model", mod_name, attr) if p), value)
        add("trainer.rng", self.rng)
        return found

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly (see the module notes)."""
        def opt(obj: Any) -> Any:
            return obj.state_dict() if obj is not None and hasattr(obj, "state_dict") else None

        return {
            "model": {k: backend.to_numpy(v) for k, v in self.model.state_dict().items()},
            "optimizer": _host(self.optimizer.state_dict()),
            "scheduler": opt(self.scheduler),
            "train_loader": opt(self.train_loader),
            "rng": {k: g.bit_generator.state for k, g in self.generators().items()},
            "progress": {"epoch": self.epoch, "batch": self.batch, "step": self.step},
            "train_acc": self.train_acc.state_dict(),
            "history": self.history,
            "callbacks": {c.state_key: c.state_dict() for c in self.callbacks},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (into the objects this trainer holds)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name in ("scheduler", "train_loader"):
            obj, saved = getattr(self, name), state.get(name)
            if obj is not None and saved is not None and hasattr(obj, "load_state_dict"):
                obj.load_state_dict(saved)
        gens = self.generators()
        missing = sorted(set(gens) - set(state["rng"]))
        if missing:
            raise ValueError(f"resume: the checkpoint has no state for the generators {missing}")
        for name, g in gens.items():
            g.bit_generator.state = state["rng"][name]
        progress = state["progress"]
        self.epoch, self.batch, self.step = progress["epoch"], progress["batch"], progress["step"]
        self.train_acc = self._accumulator()
        self.train_acc.load_state_dict(state["train_acc"])
        self.history = list(state["history"])
        for c in self.callbacks:
            saved = state["callbacks"].get(c.state_key)
            if saved is not None:
                c.load_state_dict(saved)

    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Save :meth:`state_dict` as checkpoint ``path`` (``X`` -> X.safetensors + X.json)."""
        meta = {
            "epoch": self.epoch,
            "step": self.step,
            "model": type(self.model).__name__,
            "metrics": _jsonable(self.history[-1]) if self.history else {},
        }
        saved = ckpt.save_state(path, self.state_dict(), meta)
        if Path(path).name.startswith("last"):
            self._saved = (Path(path), self.step)
        return saved

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Load checkpoint ``path`` into the model, optimiser, ... (see :meth:`load_state_dict`)."""
        state, _ = ckpt.load_state(path)
        self.load_state_dict(state)

    # --------------------------------------------------------------------- run
    def fit(self, epochs: int, resume: bool | str | os.PathLike | dict = False
            ) -> list[dict[str, Any]]:
        """Train until ``epochs`` epochs are done (in total, counting resumed ones).

        Args:
            epochs: the total number of epochs.
            resume: True to continue from ``run_dir/last``, a checkpoint path, or a state
                that :meth:`state_dict` returned (as a run folder reads it).

        Returns:
            The epoch records (see :class:`TrainState`.metrics), resumed ones included.

        Raises:
            NonFiniteError: NaN or inf in the loss, a gradient or a weight after the update
                (no checkpoint of it is written).
            FileNotFoundError: ``resume`` asked for, but there is no checkpoint.
        """
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"fit: epochs must be a positive int, got {epochs!r}")
        self.model.to(self.device)
        if self.tune_allocator and self.device == "cpu":
            cpu.tune_allocator()
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._resume(resume)
        # a resumed run, or a second fit() on this trainer, continues: files are kept
        continuing = bool(resume) or self.step > 0
        state = TrainState(epochs=epochs, batches_per_epoch=_length(self.train_loader),
                           epoch=self.epoch, step=self.step, batch=self.batch,
                           lr=self.optimizer.lr, history=self.history, resumed=continuing,
                           run_dir=self.run_dir, trainer=self)
        self._start = time.perf_counter()
        self._call("on_train_begin", state)
        try:
            while self.epoch < epochs and not state.stop_training:
                self._run_epoch(state)
        except BaseException as e:
            state.error = e
            raise
        finally:
            self._call("on_train_end", state)
        return self.history

    def _resume(self, resume: bool | str | os.PathLike | dict) -> None:
        if isinstance(resume, dict):  # as a run folder's `last` reads
            where = "the state to resume" if self.run_dir is None else (
                self.run_dir / "last.safetensors")
            try:
                self.load_state_dict(resume)
            except (TypeError, KeyError, ValueError, AttributeError, IndexError) as e:
                raise ckpt.CheckpointError(f"{where}: the saved state does not fit this run "
                                           f"({_message(e)})") from None
            if self.run_dir is not None:
                self._saved = (self.run_dir / "last", self.step)
            return
        if resume is True:
            if self.run_dir is None:
                raise ValueError("fit: resume=True needs a run_dir holding last.safetensors")
            path = self.run_dir / "last"
        else:
            path = Path(resume)
        if not ckpt.checkpoint_exists(path):
            raise FileNotFoundError(f"resume: no checkpoint {ckpt.checkpoint_paths(path)[0]}")
        self.load_checkpoint(path)
        self._saved = (path, self.step)

    def _call(self, hook: str, state: TrainState) -> None:
        state.elapsed = time.perf_counter() - self._start
        for c in self.callbacks:
            getattr(c, hook)(state)

    def _run_epoch(self, state: TrainState) -> None:
        """Train one epoch (or its rest, after a mid-epoch resume), validate, schedule."""
        state.epoch = self.epoch
        if hasattr(self.train_loader, "set_epoch"):
            self.train_loader.set_epoch(self.epoch)
        self.model.train()
        self._call("on_epoch_begin", state)
        begin, seen = time.perf_counter(), 0
        skip = self.batch
        for b, (x, y) in enumerate(self.train_loader):
            if b < skip:  # trained before the resume; the loader's order is the same
                continue
            loss = self._train_step(x, y)
            self.batch, self.step, seen = b + 1, self.step + 1, seen + len(y)
            state.batch, state.step, state.loss = self.batch, self.step, loss
            state.lr, state.batch_size = self.optimizer.lr, len(y)
            state.images_per_sec = seen / max(time.perf_counter() - begin, 1e-9)
            self._call("on_batch_end", state)
        self._end_epoch(state, time.perf_counter() - begin)

    def _end_epoch(self, state: TrainState, seconds: float) -> None:
        record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step}
        record.update(self.train_metrics())
        if self.val_loader is not None:
            val = self.validate()
            record.update({f"val_{k}": v for k, v in val.items() if k != "count"})
        record["lr"] = self.optimizer.lr  # the rate this epoch was trained with
        record["time"] = seconds
        record["images_per_sec"] = state.images_per_sec
        self._step_scheduler(record)
        self.history.append(record)
        state.metrics, state.lr = record, self.optimizer.lr
        self.epoch, self.batch = self.epoch + 1, 0
        self.train_acc = self._accumulator()
        self._call("on_epoch_end", state)

    def train_metrics(self) -> dict[str, Any]:
        """The epoch's training numbers so far: ``train_loss`` (and ``train_accuracy``...).

        A hook: :class:`xpnet.distributed.DistributedTrainer` sums them over its ranks.
        """
        train = self.train_acc.result("train_")
        return {k: v for k, v in train.items() if self._wanted(k)}

    def validate(self) -> dict[str, Any]:
        """:func:`~xpnet.train.evaluate` on the validation loader (the same batches at every
        validation): ``loss``, ``count`` and the metrics. A hook, like :meth:`train_metrics`.
        """
        if hasattr(self.val_loader, "set_epoch"):
            self.val_loader.set_epoch(0)
        return evaluate(self.model, self.val_loader, self.loss_fn, self.device,
                        confusion=False, accuracy=bool(self.metrics))

    def _wanted(self, key: str) -> bool:
        if key.endswith("loss"):
            return True
        return any(key.endswith(m) for m in self.metrics)

    def _step_scheduler(self, record: dict[str, Any]) -> None:
        if self.scheduler is None:
            return
        if not _takes_metric(self.scheduler.step):
            self.scheduler.step()
            return
        key = self.scheduler_monitor
        if key not in record and key.startswith("val_"):
            key = "train_" + key[4:]
        if key not in record:
            raise KeyError(f"fit: the schedule monitors {self.scheduler_monitor!r}, "
                           f"not among {sorted(record)}")
        self.scheduler.step(record[key])

    # -------------------------------------------------------------------- step
    def _train_step(self, x: Any, y: Any) -> float:
        """One optimiser step on batch (x, y); returns the loss as a float."""
        inputs, targets = to_batch(x, y, self.device)
        snapshot = self._snapshot() if self.guard else None
        self.optimizer.zero_grad()
        scores = self.model(inputs)
        loss = self.loss_fn(scores, targets)
        loss.backward()
        value = float(loss.data)
        params = self.optimizer.params
        if self.guard and not (math.isfinite(value) and all_finite(
                [p.grad for p in params if p.grad is not None])):
            self._diagnose(inputs, targets, value, snapshot)
        self.optimizer.step()
        if self.guard and not all_finite([p.data for p in params]):  # an overflowing step
            raise weights_error(self.model, params, value, self.step + 1, self.epoch,
                                self.batch + 1, self._saved)
        if self.metrics:
            self.train_acc.update(scores.data, targets, value)
        else:
            self.train_acc.count += len(y)
            self.train_acc.loss_sum += value * len(y)
        return value

    def _snapshot(self) -> dict[int, tuple[numpy.random.Generator, dict]]:
        """The Generators' states before a step, to replay it exactly if it goes wrong."""
        if not hasattr(self, "_gens"):
            self._gens = list(self.generators().values())
        return {id(g): (g, g.bit_generator.state) for g in self._gens}

    def _diagnose(self, inputs: Any, targets: Any, loss: float, snapshot: dict) -> None:
        """Name the parameter and the op behind a non-finite step, then raise."""
        bad = first_nonfinite(self.model, self.optimizer.params, "grad")
        op = self._replay(inputs, targets, snapshot)
        step, where = self.step + 1, f"epoch {self.epoch + 1}, batch {self.batch + 1}"
        parts = [f"non-finite training at step {step} ({where}): loss = {loss}"]
        if bad is not None:
            parts.append(f"parameter '{bad}' has a NaN/inf gradient")
        if op is not None:
            parts.append(f"first op whose backward produced NaN/inf: {op}")
        parts.append(kept_message(self._saved))
        raise NonFiniteError("; ".join(parts), step=step, epoch=self.epoch, parameter=bad, op=op)

    def _replay(self, inputs: Any, targets: Any, snapshot: dict) -> str | None:
        """Re-run the step's forward and backward with ``check_finite`` to find the op."""
        for g, s in snapshot.values():
            g.bit_generator.state = s
        self.optimizer.zero_grad()
        try:
            self.loss_fn(self.model(inputs), targets).backward(check_finite=True)
        except FloatingPointError as e:
            found = re.search(r"leaving (\S+?)\.backward", str(e))
            return found.group(1) if found else str(e)
        finally:
            self.optimizer.zero_grad()
        return None


def fit(
    model: Any,
    optimizer: Any,
    train_loader: Iterable,
    epochs: int,
    loss_fn: Callable = F.softmax_cross_entropy,
    val_loader: Iterable | None = None,
    scheduler: Any = None,
    callbacks: Sequence[Callback] = (),
    device: str = "cpu",
    run_dir: str | os.PathLike | None = None,
    resume: bool | str | os.PathLike = False,
    seed: int = 0,
    metrics: Sequence[str] = ("accuracy",),
    checkpoint_every_steps: int | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Train ``model`` for ``epochs`` epochs; the one call behind ``xpnet train``.

    See :class:`Trainer` for every argument (``options`` go to it too: ``log_every_steps``,
    ``monitor``, ``scheduler_monitor``, ``guard``, ``tune_allocator``).

    Returns:
        One record per epoch: ``epoch``, ``step``, ``train_loss``, ``train_accuracy``,
        ``val_loss``, ``val_accuracy``, ``val_top5`` (over 10 classes), ``lr``, ``time``.

    Raises:
        NonFiniteError: a NaN or inf in the loss or a gradient, naming the step and the
            parameter (and the op where the step could be replayed).

    Example:
        >>> from xpnet import data, nn, optim, train
        >>> history = train.fit(model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        ...                     data.DataLoader(train_set, 64), epochs=10,
        ...                     val_loader=data.DataLoader(val_set, 500, shuffle=False),
        ...                     run_dir="runs/lenet", callbacks=[train.callbacks.ProgressBar()])
        >>> history[-1]["val_accuracy"]
        0.97...
    """
    trainer = Trainer(model, optimizer, train_loader, loss_fn, val_loader, scheduler, callbacks,
                      device, run_dir, seed, metrics, checkpoint_every_steps,
                      **options)
    return trainer.fit(epochs, resume=resume)


def _message(error: BaseException) -> str:
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


def _length(loader: Any) -> int:
    try:
        return len(loader)
    except TypeError:
        return 0


def _takes_metric(step: Callable) -> bool:
    """Whether a schedule's ``step`` needs an argument (ReduceLROnPlateau's metric)."""
    params = inspect.signature(step).parameters.values()
    return any(p.default is inspect.Parameter.empty and p.kind in (
        p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _host(state: Any) -> Any:
    """``state`` with every CuPy array copied to the host (NumPy ones kept)."""
    if isinstance(state, dict):
        return {k: _host(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_host(v) for v in state)
    return backend.to_numpy(state) if backend.is_array(state) else state


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    """The plain-number entries of a record (for the checkpoint's readable metadata)."""
    return {k: v for k, v in record.items() if isinstance(v, (int, float, str)) or v is None}
