"""Heaviside step: the threshold unit of the perceptron."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function


class Step(Function):
    """y = 1 where x > 0, else 0 (the same dtype as x).

    dy/dx = 0 everywhere except at x = 0, where it does not exist, so backward returns
    zeros: no error can flow back through a step unit (see :func:`step`).
    """

    def forward(self, x: Any) -> Any:
        self.x_shape, self.x_dtype = x.shape, x.dtype  # to build the zero gradient
        return (x > 0).astype(x.dtype)

    def backward(self, gy: Any) -> Any:
        if not self.needs_input_grad[0]:
            return None
        xp = backend.get_array_module(gy)
        return xp.zeros(self.x_shape, dtype=self.x_dtype)


def step(x: Any) -> Any:
    """Heaviside step: the neuron "fires" (outputs 1) when its weighted sum passes 0.

    This is the unit of Rosenblatt's perceptron (1958): h = w . x + b, y = step(h).
    Its derivative is 0 almost everywhere (and undefined at 0), so back-propagation
    through it yields zero gradients: a net of step units cannot be trained by
    gradient descent. The perceptron is trained instead by the perceptron rule,
    w <- w + rho (d - y) x, which uses the error of the output directly, not its
    derivative; backward here returns zeros so a graph containing ``step`` still runs.

    Args:
        x: Tensor or array of any shape (floating).

    Returns:
        Tensor of x's shape and dtype holding 0 and 1.

    Shape:
        y has the shape of x.

    Example:
        >>> step(Tensor([-1.0, 0.0, 2.0])).data
        array([0., 0., 1.], dtype=float32)
    """
    dtype = getattr(x, "dtype", None)
    if dtype is not None and dtype.kind != "f":
        raise TypeError(f"step: expected a floating input, got dtype {dtype}")
    return Step()(x)
