"""Callback: hooks the training loop calls, and TrainState, what it shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainState:
    """What the loop shares with its callbacks; one object for the whole run.

    Attributes:
        epoch: the current epoch, 0-based (during ``on_epoch_end``: the one that ended).
        epochs: the total number of epochs of the run.
        step: optimiser steps done since the run began (across resumes).
        batch: batches done in the current epoch.
        batches_per_epoch: ``len(train_loader)``.
        loss: the last step's loss (a float), None before the first step.
        lr: the optimiser's learning rate.
        batch_size: examples in the last batch.
        images_per_sec: examples per second over the current epoch (data loading included).
        elapsed: seconds since ``fit`` began (this process only).
        metrics: the last epoch's record: ``epoch``, ``step``, ``train_loss``,
            ``train_accuracy``, ``val_loss``, ``val_accuracy``, ``val_top5`` (over 10
            classes), ``lr``, ``time``... (only the ones that apply).
        history: every epoch record so far (across resumes).
        stop_training: set it to True to end the run after the current epoch.
        resumed: True when the run continues an earlier one (from a checkpoint, or a
            second ``fit`` call on the same trainer): files such as the history are kept.
        run_dir: the run folder, or None.
        trainer: the :class:`~xpnet.train.fit.Trainer` (model, optimizer, save_checkpoint).
        error: the exception that ended the run, seen in ``on_train_end``; else None.
    """

    epochs: int
    batches_per_epoch: int
    epoch: int = 0
    step: int = 0
    batch: int = 0
    loss: float | None = None
    lr: float = 0.0
    batch_size: int = 0
    images_per_sec: float = 0.0
    elapsed: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    stop_training: bool = False
    resumed: bool = False
    run_dir: Path | None = None
    trainer: Any = None
    error: BaseException | None = None

    @property
    def total_steps(self) -> int:
        """Steps of the whole run: ``epochs * batches_per_epoch``."""
        return self.epochs * self.batches_per_epoch


class Callback:
    """Base class: override the hooks you need; each gets the shared :class:`TrainState`.

    Hooks run in the order the callbacks were given, except that callbacks with a higher
    ``order`` run later (:class:`~xpnet.train.callbacks.Checkpoint` has 100, so it saves
    after every other callback has updated the state it saves).

    A callback with state that must survive a resume (a best value, a patience counter)
    returns it from ``state_dict`` (JSON values or arrays) and takes it back in
    ``load_state_dict``; the checkpoint stores it under ``state_key``.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, state):
        ...         print(state.epoch, state.metrics["train_loss"])
    """

    order: int = 0

    @property
    def state_key(self) -> str:
        """The name this callback's state is saved under (its class name)."""
        return type(self).__name__

    def on_train_begin(self, state: TrainState) -> None:
        """Before the first step (after a resume restored everything)."""

    def on_epoch_begin(self, state: TrainState) -> None:
        """Before the first batch of an epoch (also when resuming mid-epoch)."""

    def on_batch_end(self, state: TrainState) -> None:
        """After each optimiser step."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After an epoch's training, validation and schedule step."""

    def on_train_end(self, state: TrainState) -> None:
        """At the end of the run, also when it ends with an error (``state.error``)."""

    def state_dict(self) -> dict[str, Any] | None:
        """State to checkpoint, or None when there is none."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


def better(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` improves on ``best`` ("min" or "max") by more than ``min_delta``."""
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def resolve_mode(monitor: str, mode: str) -> str:
    """"min" for losses and errors, "max" otherwise, unless ``mode`` says which."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "min" if ("loss" in monitor or "error" in monitor) else "max"
