"""Optimizer: the base class that owns a list of parameters and updates them in place."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from xpnet import backend
from xpnet.function import no_grad
from xpnet.tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class: a list of parameters, a learning rate ``lr`` and per-parameter state.

    A subclass lists its hyper-parameters (besides ``lr``) in ``hyperparameters`` and
    writes ``update(i, p, g)``, which changes ``p.data`` in place from the gradient
    ``g`` of parameter number ``i`` and keeps what it must remember in ``self.state[i]``.
    ``step()`` calls it under :func:`xpnet.no_grad` for every parameter that has a
    gradient. Gradients are read, never written: they may be shared with other arrays.

    The learning rate is the attribute ``lr``; schedules in :mod:`xpnet.optim.lr_scheduler`
    change it between steps.

    Args:
        params: the Tensors to train (usually ``model.parameters()``), each needing a
            gradient; a Tensor listed twice is updated once.
        lr: the learning rate (>= 0).

    Attributes:
        params: the list of parameters.
        lr: the current learning rate.
        state: parameter index -> dict of arrays (momentum buffers, ...).
    """

    hyperparameters: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Tensors, got one Tensor")
        self.params: list[Tensor] = []
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: params[{i}] must be a Tensor, got {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{name}: params[{i}] (shape {p.shape}) does not require a grad")
            if id(p) not in seen:
                seen.add(id(p))
                self.params.append(p)
        if not self.params:
            raise ValueError(f"{name}: got an empty list of parameters")
        self.lr = _check_number(lr, "lr", name)
        self.state: dict[int, dict[str, Any]] = {}

    # ---------------------------------------------------------------- training
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set it to None: nothing is written)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        with no_grad():
            for i, p in enumerate(self.params):
                if p.grad is not None:
                    self.update(i, p, p.grad)

    def update(self, i: int, p: Tensor, g: Any) -> None:
        """Change ``p.data`` in place from its gradient ``g``; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__}.update")

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters and per-parameter state as a nested dict.

        Returns:
            ``{"lr": ..., <hyper-parameters>, "state": {"0": {"momentum_buffer": array},
            ...}}``; leaves are numbers or the optimiser's own arrays (not copies).
        """
        out: dict[str, Any] = {"lr": self.lr}
        out.update({h: getattr(self, h) for h in self.hyperparameters})
        out["state"] = {str(i): dict(s) for i, s in sorted(self.state.items())}
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (arrays are copied to each parameter's
        device and dtype).

        Raises:
            KeyError: a hyper-parameter or ``state`` is missing.
            ValueError: the state names a parameter this optimiser does not have, or an
                array's shape differs from its parameter's.
        """
        name = type(self).__name__
        missing = [k for k in ("lr", "state", *self.hyperparameters) if k not in state]
        if missing:
            raise KeyError(f"{name}.load_state_dict: missing {missing}")
        new_state: dict[int, dict[str, Any]] = {}
        for key, entry in state["state"].items():
            i = int(key)
            if not 0 <= i < len(self.params):
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {i}, but the optimiser has "
                    f"{len(self.params)} parameters"
                )
            target = self.params[i].data
            new_state[i] = {}
            for k, v in entry.items():
                if tuple(v.shape) != tuple(target.shape):
                    raise ValueError(
                        f"{name}.load_state_dict: {key}.{k} has shape {tuple(v.shape)}, "
                        f"the parameter {tuple(target.shape)}"
                    )
                moved = backend.to_device(v, backend.device_of(target))
                new_state[i][k] = moved.astype(target.dtype, copy=True)
        self.lr = float(state["lr"])
        for h in self.hyperparameters:
            setattr(self, h, state[h])
        self.state = new_state

    def __repr__(self) -> str:
        hyper = ", ".join(f"{h}={getattr(self, h)}" for h in ("lr", *self.hyperparameters))
        return f"{type(self).__name__}({len(self.params)} parameters, {hyper})"


def _check_number(value: Any, name: str, owner: str, minimum: float = 0.0) -> float:
    """A finite float >= ``minimum``, or a ValueError naming ``owner`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{owner}: {name} must be a finite number >= {minimum}, got {value}")
    return value
