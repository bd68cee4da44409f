"""Training: the fit loop, evaluation, metrics, checkpoints and callbacks.

Example:
    >>> from xpnet import train
    >>> history = train.fit(model, optimizer, train_loader, epochs=10, val_loader=val_loader,
    ...                     run_dir="runs/mlp", callbacks=[train.callbacks.ProgressBar()])
    >>> train.evaluate(model, test_loader)["accuracy"]
"""

from xpnet.train import callbacks, metrics
from xpnet.train.checkpoint import (
    flatten_state,
    load_checkpoint,
    load_state,
    load_weights,
    save_checkpoint,
    save_state,
    unflatten_state,
)
from xpnet.train.errors import CheckpointError, NonFiniteError
from xpnet.train.evaluate import evaluate
from xpnet.train.fit import Trainer, fit
from xpnet.train.pretrain import pretrain_layers

__all__ = [
    "CheckpointError",
    "NonFiniteError",
    "Trainer",
    "callbacks",
    "evaluate",
    "fit",
    "flatten_state",
    "load_checkpoint",
    "load_state",
    "load_weights",
    "metrics",
    "pretrain_layers",
    "save_checkpoint",
    "save_state",
    "unflatten_state",
]
