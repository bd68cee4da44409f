"""Activation layers: the non-linearity f of y = f(h), as Modules for Sequential."""

from __future__ import annotations

from typing import Any

from xpnet import functions as F
from xpnet.nn.module import Module

__all__ = ["LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Step", "Tanh"]


class ReLU(Module):
    """Rectified linear unit, f(h) = max(0, h) (AlexNet's choice: it trains several times
    faster than saturating units).

    Shape:
        any -> same.

    Example:
        >>> ReLU()(Tensor([-1.0, 2.0])).data
        array([0., 2.], dtype=float32)
    """

    def forward(self, x: Any) -> Any:
        return F.relu(x)


class Sigmoid(Module):
    """Logistic unit, f(h) = 1 / (1 + exp(-h)).

    Shape:
        any -> same.

    Example:
        >>> Sigmoid()(Tensor([0.0])).data
        array([0.5], dtype=float32)
    """

    def forward(self, x: Any) -> Any:
        return F.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent unit, f(h) = tanh(h).

    Shape:
        any -> same.

    Example:
        >>> Tanh()(Tensor([0.0])).data
        array([0.], dtype=float32)
    """

    def forward(self, x: Any) -> Any:
        return F.tanh(x)


class Step(Module):
    """Heaviside step unit of the early perceptrons: 1 when h passes the threshold 0.

    Its derivative is zero almost everywhere, so it cannot be trained by
    back-propagation; :class:`xpnet.models.Perceptron` uses Rosenblatt's rule instead.

    Shape:
        any -> same.

    Example:
        >>> Step()(Tensor([-1.0, 2.0])).data
        array([0., 1.], dtype=float32)
    """

    def forward(self, x: Any) -> Any:
        return F.step(x)


class Softmax(Module):
    """Softmax over ``axis``: p_i = exp(a_i) / sum_j exp(a_j).

    Args:
        axis: the class axis.

    Shape:
        (N, C) -> (N, C), each row summing to 1 (for ``axis=1``).

    Example:
        >>> Softmax()(Tensor([[0.0, 0.0]])).data
        array([[0.5, 0.5]], dtype=float32)
    """

    def __init__(self, axis: int = 1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Any) -> Any:
        return F.softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Module):
    """Log of the softmax over ``axis``: a_i - log sum_j exp(a_j), computed stably.

    Args:
        axis: the class axis.

    Shape:
        (N, C) -> (N, C).

    Example:
        >>> LogSoftmax()(Tensor([[0.0, 0.0]])).data
        array([[-0.6931472, -0.6931472]], dtype=float32)
    """

    def __init__(self, axis: int = 1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Any) -> Any:
        return F.log_softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
