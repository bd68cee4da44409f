"""CurvesPlot: the training-curves PNG (cost, accuracy, learning rate) of a run."""

from __future__ import annotations

import os
from pathlib import Path

from xpnet.train.callbacks.base import Callback, TrainState


class CurvesPlot(Callback):
    """Draw ``curves.png`` from the run's ``history.jsonl`` (needs matplotlib).

    Uses :func:`xpnet.viz.curves.plot_training_curves`, imported when first drawn, so
    training never imports matplotlib unless this callback is used.

    Args:
        run_dir: the run folder (reads ``history.jsonl``, writes ``curves.png``).
        every_epoch: redraw after every epoch (else only at the end of the run).
        history: the history file, if not ``run_dir/history.jsonl``.
        out: the image, if not ``run_dir/curves.png``.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        every_epoch: bool = True,
        history: str | os.PathLike | None = None,
        out: str | os.PathLike | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.every_epoch = every_epoch
        self.history = Path(history) if history else self.run_dir / "history.jsonl"
        self.out = Path(out) if out else self.run_dir / "curves.png"

    def draw(self) -> Path:
        """Draw the PNG now; returns its path."""
        from xpnet.viz.curves import plot_training_curves  # noqa: PLC0415 (lazy by design)

        return plot_training_curves(self.history, self.out)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.every_epoch:
            self.draw()

    def on_train_end(self, state: TrainState) -> None:
        if not self.every_epoch and state.error is None and self.history.exists():
            self.draw()
