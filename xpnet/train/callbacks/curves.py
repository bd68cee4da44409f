"""CurvesPlot: the training-curves PNG (cost, accuracy, learning rate) of a run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from xpnet.train.callbacks.base import Callback, TrainState


class CurvesPlot(Callback):
    """Draw ``curves.png`` from the run's ``history.jsonl`` (needs matplotlib).

    Uses :func:`xpnet.viz.curves.plot_training_curves`, imported when first drawn, so
    training never imports matplotlib unless this callback is used. A drawing takes
    0.3-2 s (the first imports matplotlib), so during the run the picture is redrawn at
    an epoch's end only when ``min_seconds`` have passed since the last drawing, and
    always once more when training ends: redrawn after each of the default job's 15
    short epochs, the curves had taken 8 of its 16 s (``xpnet train`` against ``xpnet
    train --no-curves``, 2026-12-02).

    Args:
        run_dir: the run folder (reads ``history.jsonl``, writes ``curves.png``).
        every_epoch: redraw during the run (else only at the end of the run).
        history: the history file, if not ``run_dir/history.jsonl``.
        out: the image, if not ``run_dir/curves.png``.
        min_seconds: the least time between two drawings during the run (0: after every
            epoch).
        clock: the time source (for tests).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        every_epoch: bool = True,
        history: str | os.PathLike | None = None,
        out: str | os.PathLike | None = None,
        min_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.every_epoch = every_epoch
        self.history = Path(history) if history else self.run_dir / "history.jsonl"
        self.out = Path(out) if out else self.run_dir / "curves.png"
        self.min_seconds = float(min_seconds)
        self.clock = clock
        self._last = None  # when the picture was last drawn (None: never this run)
        self._pending = False  # epochs ended since then

    def draw(self) -> Path:
        """Draw the PNG now; returns its path."""
        from xpnet.viz.curves import plot_training_curves  # noqa: PLC0415 (lazy by design)

        path = plot_training_curves(self.history, self.out)
        self._last, self._pending = self.clock(), False
        return path

    def on_train_begin(self, state: TrainState) -> None:
        self._last, self._pending = self.clock(), False  # the first drawing waits too

    def on_epoch_end(self, state: TrainState) -> None:
        self._pending = True
        if self.every_epoch and (self._last is None
                                 or self.clock() - self._last >= self.min_seconds):
            self.draw()

    def on_train_end(self, state: TrainState) -> None:
        if self._pending and state.error is None and self.history.exists():
            self.draw()
