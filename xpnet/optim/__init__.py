"""Optimisers (one per file) and learning-rate schedules.

Example:
    >>> from xpnet import optim
    >>> opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> sched = optim.lr_scheduler.StepLR(opt, step_size=10)
"""

from xpnet.optim import lr_scheduler
from xpnet.optim.alexnet_sgd import AlexNetSGD
from xpnet.optim.optimizer import Optimizer
from xpnet.optim.sgd import SGD

__all__ = ["SGD", "AlexNetSGD", "Optimizer", "lr_scheduler"]
