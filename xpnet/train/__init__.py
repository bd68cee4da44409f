"""Training: the fit loop, evaluation, metrics, checkpoints and callbacks."""

from xpnet.train.checkpoint import (
    flatten_state,
    load_checkpoint,
    load_state,
    save_checkpoint,
    save_state,
    unflatten_state,
)
from xpnet.train.errors import CheckpointError, NonFiniteError

__all__ = [
    "CheckpointError",
    "NonFiniteError",
    "flatten_state",
    "load_checkpoint",
    "load_state",
    "save_checkpoint",
    "save_state",
    "unflatten_state",
]
