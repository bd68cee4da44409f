"""The errors the training package raises: a damaged checkpoint, a non-finite step, a run
folder in use; and the one warning, a checkpoint whose JSON copy lags behind it."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint (or safetensors file) is damaged, truncated, or not one at all.

    The message names the file and what is wrong with it. Loading never executes code,
    so a crafted file can only ever produce this error.
    """


class CheckpointWarning(UserWarning):
    """A checkpoint loads (its tensors verified), but its ``X.json`` copy of the record is
    missing or differs: a save was interrupted between its two renames. The message is
    one line naming the file; the verified record inside ``X.safetensors`` is used."""


class RunLockedError(OSError):
    """Another process is training in the run folder (it holds the folder's lock).

    The message names the folder and, where it wrote them, the other process's id, host
    and start time.
    """


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf in the loss, a gradient, or the weights after a step.

    Attributes:
        step: the global step (1 for the first batch) at which it happened.
        epoch: the epoch (0-based) of that step.
        parameter: dotted name of the first Parameter with a non-finite gradient (or
            value, after the update), or None when the loss itself is not finite.
        op: name of the first op whose backward produced NaN or inf, when the step could be
            replayed to find it, else None.
    """

    def __init__(
        self,
        message: str,
        step: int,
        epoch: int,
        parameter: str | None = None,
        op: str | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.epoch = epoch
        self.parameter = parameter
        self.op = op
