"""Arithmetic, matrix product, exp/log and reductions."""

from xpnet.functions.math.add import add

__all__ = ["add"]
