"""TensorBoard: event files for ``tensorboard --logdir RUN_DIR`` (no dependency)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xpnet.train.callbacks.base import Callback, TrainState
from xpnet.train.events import EventWriter


class TensorBoard(Callback):
    """Write scalars as TensorBoard event files (:class:`xpnet.train.events.EventWriter`).

    Every ``every_steps`` steps: ``step/loss`` and ``step/lr``. Every epoch, grouped so
    that train and validation share a chart: ``loss/train``, ``loss/val``,
    ``accuracy/train``, ``accuracy/val``, ``top5/val``, ``lr``, ``images_per_sec``; the
    x axis is the global step. A resumed run starts its file with a purge at the step
    after its checkpoint, so TensorBoard drops what the stopped run wrote after it.

    Args:
        log_dir: the folder for the event files (``run_dir/tensorboard`` by convention).
        every_steps: the step-scalar interval.
    """

    def __init__(self, log_dir: str | os.PathLike, every_steps: int = 50) -> None:
        self.log_dir = Path(log_dir)
        self.every_steps = every_steps
        self.writer: Any = None

    def on_train_begin(self, state: TrainState) -> None:
        purge = state.step + 1 if state.resumed else None
        self.writer = EventWriter(self.log_dir, purge_step=purge)

    def on_batch_end(self, state: TrainState) -> None:
        if self.every_steps and state.step % self.every_steps == 0:
            self.writer.add_scalar("step/loss", state.loss, state.step)
            self.writer.add_scalar("step/lr", state.lr, state.step)

    def on_epoch_end(self, state: TrainState) -> None:
        for key, value in state.metrics.items():
            if key in ("epoch", "step", "time") or not isinstance(value, (int, float)):
                continue
            split, _, name = key.partition("_")
            tag = f"{name}/{split}" if split in ("train", "val") and name else key
            self.writer.add_scalar(tag, value, state.step)
        self.writer.flush()

    def on_train_end(self, state: TrainState) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
