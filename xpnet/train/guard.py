"""The training loop's NaN guard: cheap finiteness checks and the messages of a stop.

:class:`xpnet.train.Trainer` checks, at every step, the loss and every gradient before
the update (a non-finite one is diagnosed and never applied) and every weight after it
(finite gradients can still overflow a weight: a learning rate far too high). Either way
training stops with a :class:`~xpnet.train.errors.NonFiniteError` before any callback
runs, so no checkpoint of non-finite weights is ever written; the message says which
checkpoint the run folder still holds, or that none was saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy

from xpnet import backend
from xpnet.cpu import one_blas_thread
from xpnet.train.checkpoint import checkpoint_paths
from xpnet.train.errors import NonFiniteError

__all__ = ["all_finite", "first_nonfinite", "kept_message", "weights_error"]


def all_finite(arrays: Sequence[Any]) -> bool:
    """Whether every array is free of NaN and inf: one BLAS dot product a.a per array and
    one host sync.

    NaN or inf anywhere makes the total non-finite; a false alarm (a finite array whose
    squares overflow) is re-checked element by element. Measured at ~60 us for the 200k
    gradients of a 784-256-10 MLP on the CPU, faster than ``isfinite().all()`` (~95 us)
    or sums (~135 us), and a small fraction of a training step.

    Example:
        >>> all_finite([numpy.ones(3), numpy.array([1.0, numpy.inf])])
        False
    """
    if not arrays:
        return True
    xp = backend.get_array_module(arrays[0])
    with numpy.errstate(over="ignore", invalid="ignore"), one_blas_thread():
        total = xp.stack([xp.dot(a.ravel(), a.ravel()) for a in arrays]).sum()
    if bool(xp.isfinite(total)):
        return True
    return all(bool(xp.isfinite(a).all()) for a in arrays)


def first_nonfinite(model: Any, params: Sequence[Any], attr: str) -> str | None:
    """Dotted name of the first parameter whose ``attr`` (``"grad"`` or ``"data"``) holds
    NaN or inf, or None."""
    names = {id(p): n for n, p in model.named_parameters()}
    for i, p in enumerate(params):
        a = getattr(p, attr)
        if a is not None and not bool(backend.get_array_module(a).isfinite(a).all()):
            return names.get(id(p), f"optimizer.params[{i}]")
    return None


def kept_message(saved: tuple[Path, int] | None) -> str:
    """The end of a stop message: the checkpoint kept (its step), or that none was saved."""
    if saved is None:
        return "training stopped; no checkpoint had been saved"
    path, step = saved
    return (f"training stopped; the last checkpoint, saved at step {step} with finite "
            f"weights, is kept: {checkpoint_paths(path)[0]}")


def weights_error(model: Any, params: Sequence[Any], loss: float, step: int, epoch: int,
                  batch: int, saved: tuple[Path, int] | None) -> NonFiniteError:
    """The error of an update that made a weight NaN or inf from a finite loss and
    finite gradients (``step`` and ``batch`` 1-based, ``epoch`` 0-based)."""
    bad = first_nonfinite(model, params, "data")
    return NonFiniteError(
        f"non-finite weights after the update at step {step} (epoch {epoch + 1}, batch "
        f"{batch}): parameter '{bad}' holds NaN/inf although the loss ({loss:.4g}) and the "
        f"gradients were finite (the step overflowed: lower the learning rate); "
        f"{kept_message(saved)}", step=step, epoch=epoch, parameter=bad)
