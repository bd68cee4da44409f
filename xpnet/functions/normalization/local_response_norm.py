"""Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3)."""

from __future__ import annotations

from numbers import Real
from typing import Any

from xpnet import backend
from xpnet.cpu import lrn as cpu_lrn
from xpnet.function import Function


def _window_sum(a: Any, before: int, after: int) -> Any:
    """out[:, c] = sum of a[:, c'] for c - before <= c' <= c + after (channels clipped).

    ``before + after`` shifted in-place adds of whole slabs over the channel axis (axis 1):
    no cumulative sum, so no cancellation error in float32, and no loop over pixels.
    """
    out = a.copy(order="K")  # (N, C, ...) the centre term c' = c, in a's memory layout
    for d in range(1, before + 1):
        out[:, d:] += a[:, :-d]  # channel c gets c - d
    for d in range(1, after + 1):
        out[:, :-d] += a[:, d:]  # channel c gets c + d
    return out


def _neg_power(s: Any, beta: float) -> Any:
    """s ** -beta; for AlexNet's beta = 0.75 by two square roots, cheaper than pow."""
    xp = backend.get_array_module(s)
    if beta == 0.75:
        r = xp.sqrt(s)  # s^(1/2)
        q = xp.sqrt(r)  # s^(1/4)
        r *= q  # s^(3/4)
        return xp.reciprocal(r, out=r)
    return xp.power(s, -beta)


class LocalResponseNorm(Function):
    """b_c = a_c * s_c^-beta with s_c = k + alpha/n * sum_{c' in window(c)} a_{c'}^2.

    window(c) = [c - n//2, c + (n-1)//2] clipped to the channels (PyTorch's padding).
    With p_c = s_c^-beta and t_c' = gy_c' * a_c' * s_c'^(-beta-1):

        dE/da_c = gy_c * p_c - 2 alpha beta / n * a_c * sum_{c' : c in window(c')} t_c'

    and c lies in window(c') exactly when c' is in [c - (n-1)//2, c + n//2] (the
    transposed window), so backward is the same shifted sum with the offsets swapped.
    On the CPU, channels-last input (conv2d's output) takes a compiled pass
    (:mod:`xpnet.cpu.lrn`) that computes the same, in the same order.
    """

    def __init__(self, size: int, alpha: float, beta: float, k: float) -> None:
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Any) -> Any:
        fast = cpu_lrn.forward(x, self.size, self.alpha, self.beta, self.k)
        self.compiled = fast is not None
        if self.compiled:
            y, saved = fast
            if self.needs_input_grad[0]:
                self.saved = saved  # (N H W, C) rows of a, s and s^-beta, and the kernels
            return y
        n = self.size
        s = _window_sum(x * x, n // 2, (n - 1) // 2)  # (N, C, ...) sum of squares
        s *= self.alpha / n
        s += self.k  # s = k + alpha/n * sum a^2, built in place
        p = _neg_power(s, self.beta)  # (N, C, ...) s^-beta
        y = x * p
        if self.needs_input_grad[0]:
            self.x = x  # (N, C, ...) the input a (a reference, not a copy)
            self.s = s  # (N, C, ...) the denominator's base s
            self.p = p  # (N, C, ...) s^-beta
        return y

    def backward(self, gy: Any) -> Any:
        if self.compiled:
            return cpu_lrn.backward(self.saved, gy, self.size, self.alpha, self.beta)
        n = self.size
        t = gy * self.x
        t *= self.p
        t /= self.s  # t = gy * a * s^(-beta-1)
        back = _window_sum(t, (n - 1) // 2, n // 2)  # sum over windows containing c
        back *= self.x
        back *= -2.0 * self.alpha * self.beta / n
        back += gy * self.p
        return back


def local_response_norm(
    x: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0
) -> Any:
    """Local response normalisation across channels, AlexNet's "brightness normalisation".

    Each activity is divided by a power of the energy of its neighbours in the channel
    axis (axis 1):

        b_c = a_c / (k + alpha / n * sum_{c'=c-n//2}^{c+(n-1)//2} a_{c'}^2) ** beta

    with n = ``size`` and channels outside [0, C) counted as zero, exactly as
    ``torch.nn.functional.local_response_norm`` (PyTorch's convention: alpha is divided
    by n). Krizhevsky et al. 2012 (section 3.3) write alpha *without* the 1/n, with
    k = 2, n = 5, alpha = 1e-4, beta = 0.75: to get the paper's layer pass
    ``alpha = 5 * 1e-4 = 5e-4`` (that is, alpha_paper * n).

    Gradient, with s_c the base of the power and t_c = dE/db_c * a_c * s_c^(-beta-1):
    dE/da_c = dE/db_c * s_c^-beta - 2 alpha beta / n * a_c * sum_{c' : c in window(c')} t_c'.

    Args:
        x: Tensor or array of floats, (N, C, H, W), (N, C) or any (N, C, *).
        size: n, the number of channels in each window (>= 1); an even n puts one
            more channel before c than after it, as PyTorch does.
        alpha: scale of the sum of squares (divided by n).
        beta: exponent.
        k: additive constant (> 0 keeps the denominator away from zero). The default is
            the paper's 2.0; PyTorch's default is 1.0, so pass k to reproduce its layer.

    Returns:
        Tensor of x's shape and dtype.

    Shape:
        x: (N, C, *), output: (N, C, *).

    Example:
        >>> x = Tensor(numpy.ones((1, 3, 1, 1)))
        >>> local_response_norm(x, size=3, alpha=3.0, beta=1.0, k=1.0).data.ravel()
        array([0.33333333, 0.25      , 0.33333333])
    """
    op = "local_response_norm"
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"{op}: size must be an int >= 1, got {size!r}")
    for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) < 2:
        raise ValueError(f"{op}: expected an input (N, C, *) with at least 2 axes, got {shape}")
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got dtype {dtype}")
    return LocalResponseNorm(size, float(alpha), float(beta), float(k))(x)
