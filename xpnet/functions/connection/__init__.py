"""Connection ops: the weighted sums (dense, convolution, locally connected)."""

from xpnet.functions.connection.conv2d import *  # noqa: F403
from xpnet.functions.connection.linear import *  # noqa: F403
from xpnet.functions.connection.locally_connected2d import *  # noqa: F403
