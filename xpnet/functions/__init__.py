"""Stateless differentiable ops, imported by users as ``from xpnet import functions as F``.

Each op lives in its own file (``Function`` subclass with forward and backward side by
side, then the public lowercase function); this module only re-exports them.
"""

from xpnet.functions.activation import *  # noqa: F403
from xpnet.functions.array import *  # noqa: F403
from xpnet.functions.connection import *  # noqa: F403
from xpnet.functions.loss import *  # noqa: F403
from xpnet.functions.math import *  # noqa: F403
from xpnet.functions.noise import *  # noqa: F403
from xpnet.functions.normalization import *  # noqa: F403
from xpnet.functions.pooling import *  # noqa: F403
