"""LRLogger: say when the learning rate changes, and keep its values per epoch."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from xpnet.train.callbacks.base import Callback, TrainState


class LRLogger(Callback):
    """Print a line whenever the schedule changes the learning rate.

    The rate of every epoch is also in the history file and TensorBoard; this callback
    makes the moment it changes (AlexNet's divide-by-10 on a plateau) visible in the log.

    Args:
        stream: where to write (default ``sys.stderr``).

    Attributes:
        rates: ``[(epoch, lr), ...]``: the rate each epoch was trained with.

    Example:
        >>> fit(..., scheduler=ReduceLROnPlateau(opt), callbacks=[LRLogger()])
        epoch 12: learning rate 0.01 -> 0.001
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.rates: list[tuple[int, float]] = []

    def on_epoch_end(self, state: TrainState) -> None:
        epoch, used = int(state.metrics["epoch"]), float(state.metrics["lr"])
        self.rates.append((epoch, used))
        if state.lr != used:
            stream = self.stream or sys.stderr
            stream.write(f"epoch {epoch}: learning rate {used:.6g} -> {state.lr:.6g}\n")
            stream.flush()

    def state_dict(self) -> dict[str, Any]:
        return {"rates": [list(r) for r in self.rates]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rates = [(int(e), float(lr)) for e, lr in state["rates"]]
