"""Layers as Modules, named like PyTorch's ``torch.nn`` so users feel at home."""

from xpnet.nn.activation import *  # noqa: F403
from xpnet.nn.containers import *  # noqa: F403
from xpnet.nn.conv import *  # noqa: F403
from xpnet.nn.dropout import *  # noqa: F403
from xpnet.nn.linear import *  # noqa: F403
from xpnet.nn.local import *  # noqa: F403
from xpnet.nn.maxout import *  # noqa: F403
from xpnet.nn.module import Module as Module
from xpnet.nn.module import Parameter as Parameter
from xpnet.nn.normalization import *  # noqa: F403
from xpnet.nn.pooling import *  # noqa: F403
