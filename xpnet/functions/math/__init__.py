"""Arithmetic, matrix product, exp/log and reductions."""

from xpnet.functions.math.add import add
from xpnet.functions.math.clip import clip
from xpnet.functions.math.div import div
from xpnet.functions.math.exp import exp
from xpnet.functions.math.log import log
from xpnet.functions.math.matmul import matmul
from xpnet.functions.math.max import max  # noqa: A004  (NumPy's name)
from xpnet.functions.math.mean import mean
from xpnet.functions.math.mul import mul
from xpnet.functions.math.neg import neg
from xpnet.functions.math.pow import pow  # noqa: A004
from xpnet.functions.math.sub import sub
from xpnet.functions.math.sum import sum  # noqa: A004

__all__ = [
    "add", "clip", "div", "exp", "log", "matmul", "max", "mean", "mul", "neg", "pow", "sub", "sum",
]
