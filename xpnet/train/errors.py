"""The errors the training package raises: a damaged checkpoint, a non-finite step."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint (or safetensors file) is damaged, truncated, or not one at all.

    The message names the file and what is wrong with it. Loading never executes code,
    so a crafted file can only ever produce this error.
    """


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf in the loss or in a gradient.

    Attributes:
        step: the global step (1 for the first batch) at which it happened.
        epoch: the epoch (0-based) of that step.
        parameter: dotted name of the first Parameter with a non-finite gradient, or None
            when the loss itself is not finite.
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
