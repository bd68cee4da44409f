"""TensorBoard: event files for ``tensorboard --logdir RUN_DIR`` (needs tensorboardX)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from xpnet.train.callbacks.base import Callback, TrainState


def _writer_class() -> Any:
    """tensorboardX's SummaryWriter, imported without PyTorch.

    tensorboardX imports torch when it can (only to accept torch tensors as values), and
    that import took 3.3 of the 3.6 s that creating this callback cost on a machine with
    PyTorch installed (cProfile of ``xpnet train --epochs 1``). xpnet hands it Python
    floats only, so while tensorboardX loads, an entry ``sys.modules["torch"] = None``
    makes its ``import torch`` fail as if torch were absent; the entry is removed right
    after. When torch is already imported, nothing is changed.
    """
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]  # import torch -> ImportError
    try:
        from tensorboardX import SummaryWriter  # noqa: PLC0415 (optional extra)
    except ImportError:
        raise ImportError(
            "the TensorBoard callback needs tensorboardX: pip install 'xpnet[tensorboard]'"
        ) from None
    finally:
        if hide and sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return SummaryWriter


class TensorBoard(Callback):
    """Write scalars as TensorBoard event files.

    Every ``every_steps`` steps: ``step/loss`` and ``step/lr``. Every epoch, grouped so
    that train and validation share a chart: ``loss/train``, ``loss/val``,
    ``accuracy/train``, ``accuracy/val``, ``top5/val``, ``lr``, ``images_per_sec``; the
    x axis is the global step.

    Args:
        log_dir: the folder for the event files (``run_dir/tensorboard`` by convention).
        every_steps: the step-scalar interval.

    Raises:
        ImportError: tensorboardX is not installed (an optional extra), with the fix.
    """

    def __init__(self, log_dir: str | os.PathLike, every_steps: int = 50) -> None:
        self.log_dir = Path(log_dir)
        self.every_steps = every_steps
        self._writer_class = _writer_class()  # fail now, not after the first epoch
        self.writer: Any = None

    def on_train_begin(self, state: TrainState) -> None:
        # purge_step drops events a killed run wrote after its last checkpoint
        purge = state.step + 1 if state.resumed else None
        self.writer = self._writer_class(logdir=str(self.log_dir), purge_step=purge)

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
