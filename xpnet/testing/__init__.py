"""Test helpers: numerical gradients and the op test harness used by ``tests/``."""

from xpnet.testing.gradcheck import (
    away_from,
    check_forward,
    check_op,
    distinct,
    gradcheck,
    numerical_grad,
)

__all__ = ["away_from", "check_forward", "check_op", "distinct", "gradcheck", "numerical_grad"]
