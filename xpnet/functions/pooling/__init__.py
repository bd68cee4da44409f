"""Pooling ops: max, average and L2 pooling over windows, max unpooling, maxout."""

from xpnet.functions.pooling.avg_pool2d import avg_pool2d
from xpnet.functions.pooling.l2_pool2d import l2_pool2d
from xpnet.functions.pooling.max_pool2d import max_pool2d
from xpnet.functions.pooling.max_unpool2d import max_unpool2d
from xpnet.functions.pooling.maxout import maxout

__all__ = ["avg_pool2d", "l2_pool2d", "max_pool2d", "max_unpool2d", "maxout"]
