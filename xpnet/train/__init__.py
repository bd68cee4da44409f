"""Training: the run recipe, the fit loop, evaluation, metrics, checkpoints and callbacks.

Two levels:

- a whole run, as ``xpnet train`` does it: :class:`RunConfig` (every setting, one typed
  schema) and :func:`train_run` (data, pre-processing, model, training, checkpoints, test)
  into a run folder, which :func:`load_run` reads back;
- the loop itself, for your own model and data: :class:`Trainer` / :func:`fit` with
  callbacks, checkpoints and exact resume, and :func:`evaluate`.

Example:
    >>> from xpnet import train
    >>> result = train.train_run(train.RunConfig(model="mlp", data="digits"), "runs/mlp")
    >>> history = train.fit(model, optimizer, train_loader, epochs=10, val_loader=val_loader,
    ...                     run_dir="runs/mine", callbacks=[train.callbacks.ProgressBar()])
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
from xpnet.train.config import ConfigError, RunConfig
from xpnet.train.errors import CheckpointError, CheckpointWarning, NonFiniteError, RunLockedError
from xpnet.train.evaluate import crop_plan, evaluate, evaluate_crops, predict
from xpnet.train.fit import Trainer, fit
from xpnet.train.pretrain import pretrain_layers
from xpnet.train.recipe import RunExistsError, RunResult, resume_run, train_run
from xpnet.train.runfolder import Run, load_run

__all__ = [
    "CheckpointError",
    "CheckpointWarning",
    "ConfigError",
    "NonFiniteError",
    "Run",
    "RunConfig",
    "RunExistsError",
    "RunLockedError",
    "RunResult",
    "Trainer",
    "callbacks",
    "crop_plan",
    "evaluate",
    "evaluate_crops",
    "fit",
    "flatten_state",
    "load_checkpoint",
    "load_run",
    "load_state",
    "load_weights",
    "metrics",
    "predict",
    "pretrain_layers",
    "resume_run",
    "save_checkpoint",
    "save_state",
    "train_run",
    "unflatten_state",
]
