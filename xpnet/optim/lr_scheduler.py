"""Learning-rate schedules: they change ``optimizer.lr`` between steps.

Call ``scheduler.step()`` once per epoch, after the optimiser's steps of that epoch
(``ReduceLROnPlateau.step(metric)`` with the validation metric). The rules are
PyTorch's ``torch.optim.lr_scheduler`` ones, so the same settings give the same sequence.

Example:
    >>> opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    >>> sched = ReduceLROnPlateau(opt, factor=0.1, patience=3)
    >>> for epoch in range(90):
    ...     train_one_epoch(model, opt)
    ...     sched.step(validation_error(model))  # AlexNet: divide by 10 on a plateau
"""

from __future__ import annotations

import math
from typing import Any

from xpnet.optim.optimizer import Optimizer, _check_number

__all__ = ["ExponentialLR", "LRScheduler", "ReduceLROnPlateau", "StepLR"]


class LRScheduler:
    """Base class: ``step()`` advances the epoch counter and sets the optimiser's lr.

    Args:
        optimizer: the optimiser whose ``lr`` is scheduled.

    Attributes:
        base_lr: the learning rate when the schedule was made.
        last_epoch: how many times ``step`` ran.
    """

    hyperparameters: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected an xpnet Optimizer, "
                f"got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        self._last_lr = self.base_lr

    def next_lr(self) -> float:
        """The learning rate for epoch ``last_epoch`` (already advanced); subclasses."""
        raise NotImplementedError(f"{type(self).__name__}.next_lr")

    def step(self) -> None:
        """End an epoch: advance the counter and set the optimiser's learning rate."""
        self.last_epoch += 1
        self.optimizer.lr = self.next_lr()
        self._last_lr = self.optimizer.lr

    def get_last_lr(self) -> float:
        """The learning rate set by the last ``step`` (a float: xpnet optimisers have one
        learning rate, where PyTorch returns one per parameter group)."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        """The schedule's counters and settings (JSON values only)."""
        out = {"base_lr": self.base_lr, "last_epoch": self.last_epoch, "last_lr": self._last_lr}
        out.update({h: getattr(self, h) for h in self.hyperparameters})
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the optimiser keeps its own lr)."""
        missing = [
            k for k in ("base_lr", "last_epoch", "last_lr", *self.hyperparameters)
            if k not in state
        ]
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing {missing}")
        self.base_lr = float(state["base_lr"])
        self.last_epoch = int(state["last_epoch"])
        self._last_lr = float(state["last_lr"])
        for h in self.hyperparameters:
            setattr(self, h, state[h])

    def __repr__(self) -> str:
        hyper = ", ".join(f"{h}={getattr(self, h)}" for h in self.hyperparameters)
        return f"{type(self).__name__}({hyper}, last_epoch={self.last_epoch})"


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    lr_t = base_lr * gamma^floor(t / step_size).

    Args:
        optimizer: the optimiser.
        step_size: epochs between two decays (>= 1).
        gamma: the factor.

    Example:
        >>> sched = StepLR(opt, step_size=30, gamma=0.1)   # 0.1, 0.01 at 30, 0.001 at 60
    """

    hyperparameters = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be an int >= 1, got {step_size!r}")
        self.step_size = step_size
        self.gamma = _check_number(gamma, "gamma", "StepLR")

    def next_lr(self) -> float:
        # chained like PyTorch's, so that it composes with other changes of lr
        if self.last_epoch % self.step_size != 0:
            return self.optimizer.lr
        return self.optimizer.lr * self.gamma


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch: lr_t = base_lr * gamma^t.

    Args:
        optimizer: the optimiser.
        gamma: the factor.

    Example:
        >>> sched = ExponentialLR(opt, gamma=0.95)
    """

    hyperparameters = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer)
        self.gamma = _check_number(gamma, "gamma", "ExponentialLR")

    def next_lr(self) -> float:
        return self.optimizer.lr * self.gamma


class ReduceLROnPlateau(LRScheduler):
    """Divide the learning rate when a metric stops improving (AlexNet: "divide the
    learning rate by 10 when the validation error rate stopped improving").

    After each epoch, ``step(metric)`` compares the metric with the best seen so far.
    It improves when (mode "min", threshold_mode "rel") metric < best * (1 - threshold)
    ("abs": metric < best - threshold; mode "max" mirrors both). After more than
    ``patience`` epochs without improvement, lr <- max(lr * factor, min_lr) and the count
    restarts; ``cooldown`` epochs then pass before bad epochs are counted again.

    Args:
        optimizer: the optimiser.
        mode: "min" (an error or a loss) or "max" (an accuracy).
        factor: the multiplier (< 1).
        patience: epochs without improvement tolerated.
        threshold: the smallest change that counts as an improvement.
        threshold_mode: "rel" or "abs".
        cooldown: epochs to wait after a reduction.
        min_lr: the learning rate is never set below this.
        eps: a reduction smaller than this is skipped.

    Example:
        >>> sched = ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=2)
        >>> sched.step(val_error)
    """

    hyperparameters = (
        "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps",
    )

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(optimizer)
        name = "ReduceLROnPlateau"
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}"
            )
        if not 0 <= factor < 1:
            raise ValueError(f"{name}: factor must be in [0, 1), got {factor}")
        for key, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: {key} must be an int >= 0, got {value!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = float(factor)
        self.patience, self.cooldown = patience, cooldown
        self.threshold = _check_number(threshold, "threshold", name)
        self.min_lr = _check_number(min_lr, "min_lr", name)
        self.eps = _check_number(eps, "eps", name)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` improves on the best value by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return metric < self.best * (1.0 - self.threshold)
            return metric < self.best - self.threshold
        if self.threshold_mode == "rel":
            return metric > self.best * (1.0 + self.threshold)
        return metric > self.best + self.threshold

    def step(self, metric: float) -> None:  # type: ignore[override]
        """End an epoch whose validation metric was ``metric``."""
        current = float(metric)
        self.last_epoch += 1
        if self.is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self.optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        """Counters, settings and the best metric (None before the first ``step``)."""
        out = super().state_dict()
        out["best"] = self.best if math.isfinite(self.best) else None
        out["num_bad_epochs"] = self.num_bad_epochs
        out["cooldown_counter"] = self.cooldown_counter
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        super().load_state_dict(state)
        best = state.get("best")
        self.best = float(best) if best is not None else (
            math.inf if self.mode == "min" else -math.inf
        )
        self.num_bad_epochs = int(state.get("num_bad_epochs", 0))
        self.cooldown_counter = int(state.get("cooldown_counter", 0))
