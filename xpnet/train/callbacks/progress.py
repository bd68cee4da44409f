"""ProgressBar: a redrawn bar on a terminal, a plain line every few seconds in a log."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from xpnet.train.callbacks.base import Callback, TrainState


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _pct(x: Any) -> str:
    return f"{100 * x:.2f}%"


def epoch_summary(m: dict[str, Any], epochs: int) -> str:
    """One line for an epoch record: losses, accuracies, lr and time."""
    parts = [f"epoch {m.get('epoch')}/{epochs}"]
    for prefix in ("train", "val"):
        if f"{prefix}_loss" in m:
            item = f"{prefix} loss {m[f'{prefix}_loss']:.4f}"
            if f"{prefix}_accuracy" in m:
                item += f" acc {_pct(m[f'{prefix}_accuracy'])}"
            if f"{prefix}_top5" in m:
                item += f" top5 {_pct(m[f'{prefix}_top5'])}"
            parts.append(item)
    if "lr" in m:
        parts.append(f"lr {m['lr']:.3g}")
    if "time" in m:
        parts.append(f"{m['time']:.1f}s")
    return "  ".join(parts)


class ProgressBar(Callback):
    """Show training progress: epoch, step, loss, images/s and time left.

    On a terminal (``stream.isatty()``) one line is redrawn in place with ``\\r`` (at most
    every ``redraw`` seconds). Elsewhere (a log file, CI, a pipe) a plain line is written
    every ``interval`` seconds, never a carriage return. Both print one summary line per
    epoch.

    Args:
        stream: where to write (default ``sys.stderr``, looked up when training starts).
        interval: seconds between lines when not on a terminal.
        tty: force terminal (True) or log (False) mode; None asks the stream.
        width: characters of the bar.
        redraw: the smallest time between two redraws on a terminal.
        clock: the time source (tests pass a fake one).

    Example:
        >>> fit(..., callbacks=[ProgressBar()])
        epoch 1/10 [=========>          ]  47% step 90/190  loss 0.4123  5120 img/s  eta 0:41
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        interval: float = 5.0,
        tty: bool | None = None,
        width: int = 24,
        redraw: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream, self.interval, self.tty = stream, float(interval), tty
        self.width, self.redraw, self.clock = width, float(redraw), clock

    def on_train_begin(self, state: TrainState) -> None:
        if self.stream is None:
            self.stream = sys.stderr
        if self.tty is None:
            isatty = getattr(self.stream, "isatty", None)
            self.tty = bool(isatty()) if callable(isatty) else False
        self._t0 = self._last = self.clock()
        self._step0 = state.step
        self._drawn = False

    def _eta(self, state: TrainState) -> str:
        done = state.step - self._step0
        if done <= 0 or not state.total_steps:
            return "?"
        per_step = (self.clock() - self._t0) / done
        return _clock(per_step * (state.total_steps - state.step))

    def _line(self, state: TrainState) -> str:
        n = state.batches_per_epoch
        head = f"epoch {state.epoch + 1}/{state.epochs}"
        if self.tty and n:
            filled = int(self.width * state.batch / n)
            arrow = ">" if filled < self.width else ""
            bar = "=" * filled + arrow + " " * (self.width - filled - len(arrow))
            head += f" [{bar}] {100 * state.batch // n:3d}%"
        step = f"step {state.batch}/{n}" if n else f"step {state.batch}"
        loss = f"loss {state.loss:.4f}" if state.loss is not None else "loss ?"
        return (f"{head} {step}  {loss}  {state.images_per_sec:.0f} img/s  "
                f"eta {self._eta(state)}")

    def on_batch_end(self, state: TrainState) -> None:
        now = self.clock()
        if self.tty:
            if now - self._last >= self.redraw or state.batch == state.batches_per_epoch:
                self.stream.write("\r" + self._line(state).ljust(79))
                self.stream.flush()
                self._last, self._drawn = now, True
        elif now - self._last >= self.interval:
            self.stream.write(self._line(state) + "\n")
            self.stream.flush()
            self._last = now

    def on_epoch_end(self, state: TrainState) -> None:
        text = epoch_summary(state.metrics, state.epochs)
        if self.tty:
            text = "\r" + text.ljust(79)
        self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = False

    def on_train_end(self, state: TrainState) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
        if state.error is None:
            self.stream.write(f"done: {len(state.history)} epochs, "
                              f"{state.step} steps in {_clock(self.clock() - self._t0)}\n")
        self.stream.flush()
