"""Channel dropout for feature maps: whole channels are dropped together."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.functions.noise.dropout import apply_mask, as_tensor, check_floating
from xpnet.functions.noise.masks import check_p, check_rng, keep_mask
from xpnet.tensor import Tensor


def dropout2d(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Drop whole channels of (N, C, H, W) feature maps, inverted scaling.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single
    pixels hardly removes information; dropping a whole map does (Tompson et al. 2015,
    PyTorch's ``Dropout2d``). One Bernoulli draw per (example, channel), m_nc = 1 with
    probability 1 - p, broadcast over H and W:

        y[n, c] = x[n, c] * m_nc / (1 - p),      dE/dx[n, c] = dE/dy[n, c] * m_nc / (1 - p).

    The mask is drawn anew on each call; the identity at inference. The op behind it is
    :class:`xpnet.functions.noise.dropout.Dropout` with a (N, C, 1, 1) mask.

    Args:
        x: floating Tensor or array (N, C, H, W).
        p: probability of dropping a channel, in [0, 1).
        training: when False (or when p == 0), returns x unchanged.
        rng: ``numpy.random.Generator`` the mask is drawn from; required when training
            with p > 0 (on the GPU it seeds a CuPy generator).

    Returns:
        Tensor (N, C, H, W) of x's dtype.

    Shape:
        x: (N, C, H, W), output: (N, C, H, W); mask (N, C, 1, 1).

    Example:
        >>> x = Tensor(numpy.ones((1, 4, 2, 2)))
        >>> y = dropout2d(x, 0.5, rng=numpy.random.default_rng(0))
        >>> y.data[0, :, 0, 0].tolist() == y.data[0, :, 1, 1].tolist()  # whole maps
        True
    """
    op = "dropout2d"
    p = check_p(p, op)
    shape = check_floating(x, op)
    if len(shape) != 4:
        raise ValueError(f"{op}: expected a 4-d input (N, C, H, W), got shape {shape}")
    if not training or p == 0.0:
        return as_tensor(x)
    rng = check_rng(rng, op)
    xp = backend.get_array_module(x)
    mask = keep_mask(xp, rng, shape[:2] + (1, 1), p)  # (N, C, 1, 1) one draw per map
    return apply_mask(x, mask, p)
