"""EarlyStopping: end the run when a metric has stopped improving."""

from __future__ import annotations

from typing import Any

from xpnet.train.callbacks.base import Callback, TrainState, better, resolve_mode


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without an improvement of ``monitor``, or as soon as
    it reaches ``stopping_threshold``.

    Args:
        patience: stop after this many epochs in a row without improvement (Keras rule);
            None: never for that reason.
        monitor: an epoch metric (``"val_loss"``, ``"val_accuracy"``, ...).
        min_delta: the smallest change that counts as an improvement.
        mode: "min", "max" or "auto" (min for losses and errors).
        stopping_threshold: stop once the metric is at least this good (<= for "min",
            >= for "max"), as PyTorch Lightning's option of that name; None: no target.
            The perceptron stops at ``train_accuracy`` 1.0: after an epoch without an
            error its rule changes nothing.

    Example:
        >>> fit(..., callbacks=[EarlyStopping(patience=3, monitor="val_loss")])
    """

    def __init__(
        self, patience: int | None = 5, monitor: str = "val_loss", min_delta: float = 0.0,
        mode: str = "auto", stopping_threshold: float | None = None,
    ) -> None:
        if patience is not None and (not isinstance(patience, int) or patience < 0):
            raise ValueError(f"EarlyStopping: patience must be an int >= 0 or None, got "
                             f"{patience!r}")
        if patience is None and stopping_threshold is None:
            raise ValueError("EarlyStopping: give a patience, a stopping_threshold or both")
        self.patience, self.monitor, self.min_delta = patience, monitor, float(min_delta)
        self.mode = resolve_mode(monitor, mode)
        self.stopping_threshold = stopping_threshold
        self.best: float | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        if self.monitor not in state.metrics:
            raise KeyError(f"EarlyStopping: no metric {self.monitor!r} among "
                           f"{sorted(state.metrics)}")
        value = float(state.metrics[self.monitor])
        target = self.stopping_threshold
        if target is not None and (value <= target if self.mode == "min" else value >= target):
            self._stop(state)
        if better(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.patience is not None and self.wait >= self.patience:
            self._stop(state)

    def _stop(self, state: TrainState) -> None:
        state.stop_training = True
        self.stopped_epoch = int(state.metrics["epoch"])

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait = state["best"], state["wait"]
        self.stopped_epoch = state.get("stopped_epoch")
