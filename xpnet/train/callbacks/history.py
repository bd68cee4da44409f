"""History: the run's numbers as JSON lines, one record per epoch and one every N steps."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, TextIO

from xpnet.train.callbacks.base import Callback, TrainState


def _clean(value: Any) -> Any:
    """JSON-able value: NaN and inf become None (strict JSON), arrays are dropped."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``history.jsonl`` file (a torn last line is skipped).

    Returns:
        Records in file order; ``record["kind"]`` is ``"epoch"`` or ``"step"``.
    """
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # the process died while writing this line
    return records


class History(Callback):
    """Append the run's numbers to a JSON-lines file, flushed after every record.

    Epoch records: ``{"kind": "epoch", "epoch": 3, "step": 120, "train_loss",
    "train_accuracy", "val_loss", "val_accuracy", "val_top5" (over 10 classes), "lr",
    "time", "images_per_sec"}``; step records every ``every_steps`` steps:
    ``{"kind": "step", "epoch": 3, "step": 100, "loss", "lr"}`` (``epoch`` is 1-based).

    A new run truncates the file; a resumed run keeps the records up to the checkpoint
    it resumed from and drops the ones written after it, so the file reads as if the run
    had never stopped.

    Args:
        path: the file (``run_dir/history.jsonl`` when added by the trainer).
        every_steps: the step-record interval; None for epoch records only.
    """

    def __init__(self, path: str | os.PathLike, every_steps: int | None = 50) -> None:
        self.path = Path(path)
        self.every_steps = every_steps
        self._file: TextIO | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if state.resumed and self.path.exists():
            done = state.trainer.epoch if state.trainer is not None else state.epoch
            for r in read_history(self.path):
                if (r.get("kind") == "epoch" and r.get("epoch", 0) <= done) or (
                    r.get("kind") == "step" and r.get("step", 0) <= state.step
                ):
                    kept.append(r)
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (closed at the end)
        for r in kept:
            self._write(r)

    def _write(self, record: dict[str, Any]) -> None:
        clean = {k: _clean(v) for k, v in record.items() if not hasattr(v, "shape")}
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()

    def on_batch_end(self, state: TrainState) -> None:
        if self.every_steps and state.step % self.every_steps == 0:
            self._write({"kind": "step", "epoch": state.epoch + 1, "step": state.step,
                         "loss": state.loss, "lr": state.lr})

    def on_epoch_end(self, state: TrainState) -> None:
        self._write({"kind": "epoch", **state.metrics})

    def on_train_end(self, state: TrainState) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
