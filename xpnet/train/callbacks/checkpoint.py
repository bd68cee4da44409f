"""Checkpoint: ``last`` after every epoch (and every N steps), ``best`` on improvement."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xpnet.train.callbacks.base import Callback, TrainState, better, resolve_mode


class Checkpoint(Callback):
    """Save the whole training state (see :meth:`xpnet.train.Trainer.state_dict`).

    ``run_dir/last.safetensors`` (+ ``last.json``) after every epoch and, with
    ``every_steps``, every N steps within an epoch; ``run_dir/best.safetensors`` (+ json)
    when ``monitor`` improves. Runs after the other callbacks (``order = 100``), so the
    state it saves includes theirs. Each file is written atomically
    (:func:`xpnet.train.save_checkpoint`); a run stopped by a NaN never reaches a save,
    so the last good checkpoint stays.

    Args:
        run_dir: the folder.
        every_steps: also save ``last`` every N steps; None: at epoch ends only.
        monitor: the epoch metric deciding ``best``; when the run has no validation set,
            ``val_x`` falls back to ``train_x``.
        mode: "min", "max" or "auto" (min for losses and errors).
        save_best: whether to keep ``best`` at all.
    """

    order = 100

    def __init__(
        self,
        run_dir: str | os.PathLike,
        every_steps: int | None = None,
        monitor: str = "val_accuracy",
        mode: str = "auto",
        save_best: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.every_steps = every_steps
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.save_best = save_best
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def on_batch_end(self, state: TrainState) -> None:
        last_batch = state.batch == state.batches_per_epoch
        if self.every_steps and state.step % self.every_steps == 0 and not last_batch:
            state.trainer.save_checkpoint(self.run_dir / "last")

    def on_epoch_end(self, state: TrainState) -> None:
        key = self.monitor
        if key not in state.metrics and key.startswith("val_"):
            key = "train_" + key[4:]
        value = state.metrics.get(key)
        improved = (
            self.save_best and value is not None and better(value, self.best, self.mode)
        )
        if improved:
            self.best, self.best_epoch = float(value), int(state.metrics["epoch"])
        state.trainer.save_checkpoint(self.run_dir / "last")
        if improved:
            state.trainer.save_checkpoint(self.run_dir / "best")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")
