"""Normalisation layers: LocalResponseNorm (AlexNet)."""

from __future__ import annotations

from typing import Any

from xpnet import functions as F
from xpnet.nn.module import Module

__all__ = ["LocalResponseNorm"]


class LocalResponseNorm(Module):
    """AlexNet's across-channel local response normalisation, PyTorch's convention.

    b_c = a_c / (k + alpha / n * sum_{c' in window(c)} a_{c'}^2) ** beta over a window of
    n = ``size`` channels centred on c; see :func:`xpnet.functions.local_response_norm`.
    Krizhevsky et al. 2012 used k = 2, n = 5, alpha = 1e-4 (not divided by n), beta = 0.75:
    that is ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)`` here.

    Args:
        size: number of channels in each window, >= 1.
        alpha: scale of the sum of squares (divided by ``size``).
        beta: exponent.
        k: additive constant (the paper's 2.0 by default; PyTorch's default is 1.0).

    Shape:
        (N, C, *) -> (N, C, *).

    Example:
        >>> lrn = LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)   # the paper's layer
        >>> lrn(Tensor(numpy.ones((1, 96, 55, 55), numpy.float32))).shape
        (1, 96, 55, 55)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> None:
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"LocalResponseNorm: size must be an int >= 1, got {size!r}")
        self.size, self.alpha, self.beta, self.k = size, float(alpha), float(beta), float(k)

    def forward(self, x: Any) -> Any:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
