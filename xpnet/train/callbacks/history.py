"""History: the run's numbers as JSON lines, one record per epoch and one every N steps."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, TextIO

from xpnet.train.callbacks.base import Callback, TrainState
from xpnet.train.checkpoint import atomic_write


def _clean(value: Any) -> Any:
    """JSON-able value: NaN and inf become None (strict JSON), arrays are dropped."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _line(record: dict[str, Any]) -> str:
    clean = {k: _clean(v) for k, v in record.items() if not hasattr(v, "shape")}
    return json.dumps(clean) + "\n"


def _at_most(value: Any, limit: int) -> bool:
    """``value <= limit`` for a number; False for anything else (a hand-edited line)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value <= limit


def read_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``history.jsonl`` file (a torn last line is skipped).

    Returns:
        Records in file order; ``record["kind"]`` is ``"epoch"`` or ``"step"``.
    """
    records = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue  # the process died while writing this line
            if isinstance(record, dict):
                records.append(record)
    return records


class History(Callback):
    """Append the run's numbers to a JSON-lines file, flushed after every record.

    Epoch records: ``{"kind": "epoch", "epoch": 3, "step": 120, "train_loss",
    "train_accuracy", "val_loss", "val_accuracy", "val_top5" (over 10 classes), "lr",
    "time", "images_per_sec"}``; step records every ``every_steps`` steps:
    ``{"kind": "step", "epoch": 3, "step": 100, "loss", "lr"}`` (``epoch`` is 1-based).

    A new run truncates the file; a resumed run keeps the records up to the checkpoint
    it resumed from and drops the ones written after it, so the file reads as if the run
    had never stopped. The kept records are written to a new file that then replaces the
    old one atomically, so a resume that dies at its start loses nothing.

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
                if (r.get("kind") == "epoch" and _at_most(r.get("epoch"), done)) or (
                    r.get("kind") == "step" and _at_most(r.get("step"), state.step)
                ):
                    kept.append(r)
        text = "".join(_line(r) for r in kept).encode("utf-8")
        atomic_write(self.path, lambda f: f.write(text))  # the old file stays until renamed
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed at the end)

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(_line(record))
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
