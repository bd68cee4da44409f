"""Callbacks of the training loop, one per file.

Example:
    >>> from xpnet.train import callbacks
    >>> fit(..., run_dir="runs/a", callbacks=[callbacks.ProgressBar(),
    ...                                        callbacks.TensorBoard("runs/a/tensorboard")])
"""

from xpnet.train.callbacks.base import Callback, TrainState
from xpnet.train.callbacks.checkpoint import Checkpoint
from xpnet.train.callbacks.curves import CurvesPlot
from xpnet.train.callbacks.early_stopping import EarlyStopping
from xpnet.train.callbacks.history import History, read_history
from xpnet.train.callbacks.lr_logger import LRLogger
from xpnet.train.callbacks.progress import ProgressBar
from xpnet.train.callbacks.tensorboard import TensorBoard

__all__ = [
    "Callback",
    "Checkpoint",
    "CurvesPlot",
    "EarlyStopping",
    "History",
    "LRLogger",
    "ProgressBar",
    "TensorBoard",
    "TrainState",
    "read_history",
]
