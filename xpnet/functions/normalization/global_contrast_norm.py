"""Global contrast normalisation: each example scaled to mean 0 and a fixed contrast."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.tensor import Tensor


class GlobalContrastNorm(Function):
    """y = s c / d per example, with c = x - mean(x), d = max(eps, sqrt(b + mean(c^2))).

    On the flattened example (D values): with r = sqrt(b + mean(c^2)),
    dE/dc_j = s g_j / d - [r > eps] s c_j sum_i(g_i c_i) / (r^3 D), and the centring gives
    dE/dx = dE/dc - mean(dE/dc).
    """

    def __init__(self, scale: float, sqrt_bias: float, eps: float) -> None:
        self.scale, self.sqrt_bias, self.eps = scale, sqrt_bias, eps

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        flat = x.reshape(len(x), -1)  # (N, D) one row an example
        centred = flat - flat.mean(axis=1, keepdims=True)  # (N, D)
        norm = xp.sqrt(self.sqrt_bias + (centred * centred).mean(axis=1, keepdims=True))
        self.centred = centred  # (N, D) c, for dE/dx
        self.norm = norm  # (N, 1) r before the floor eps
        return (self.scale * centred / xp.maximum(norm, self.eps)).reshape(x.shape)

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        g = gy.reshape(len(gy), -1)  # (N, D)
        c, r = self.centred, self.norm
        d = xp.maximum(r, self.eps)  # (N, 1) the divisor used
        gc = self.scale * g / d  # (N, D) through c in the numerator
        live = r > self.eps  # (N, 1) where r, not eps, divides
        dot = (g * c).sum(axis=1, keepdims=True)  # (N, 1) sum_i g_i c_i
        gc -= live * (self.scale * c * dot / (d**3 * c.shape[1]))  # through r (= d where live)
        gx = gc - gc.mean(axis=1, keepdims=True)  # through the centring
        return gx.reshape(gy.shape)


def _array(x: Any) -> Any:
    """The array of a Tensor, or ``x`` itself."""
    return x.data if isinstance(x, Tensor) else x


def global_contrast_normalize(
    x: Any, scale: float = 1.0, sqrt_bias: float = 0.0, eps: float = 1e-8
) -> Any:
    """Global contrast normalisation (Coates et al. 2011; Goodfellow et al. 2013's maxout).

    Each example (all its values together) is centred and divided by its contrast:
    y = s (x - mean(x)) / max(eps, sqrt(b + var(x))), with var the mean squared deviation.
    Gradients: see :class:`GlobalContrastNorm`.

    Args:
        x: Tensor or array (N, ...), floating.
        scale: s, the multiplier of the result (maxout used 55 on CIFAR-10).
        sqrt_bias: b, added to the variance before the square root (damps flat images).
        eps: the smallest divisor.

    Returns:
        Tensor of ``x``'s shape and dtype.

    Shape:
        x: (N, *), output: (N, *).

    Example:
        >>> y = global_contrast_normalize(Tensor([[1.0, 3.0]]))
        >>> y.data
        array([[-1.,  1.]], dtype=float32)
    """
    data = _array(x)
    if getattr(data, "dtype", None) is None or data.dtype.kind != "f" or data.ndim < 2:
        raise ValueError(f"global_contrast_normalize: expected a floating batch (N, ...), got "
                         f"{getattr(data, 'dtype', type(x).__name__)} of shape "
                         f"{getattr(data, 'shape', ())}")
    if scale <= 0 or sqrt_bias < 0 or eps <= 0:
        raise ValueError(f"global_contrast_normalize: expected scale > 0, sqrt_bias >= 0 and "
                         f"eps > 0, got {scale}, {sqrt_bias}, {eps}")
    return GlobalContrastNorm(float(scale), float(sqrt_bias), float(eps))(x)
