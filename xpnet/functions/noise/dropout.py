"""Inverted dropout (Srivastava, Hinton et al.): a random mask per mini-batch."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.noise.masks import check_p, check_rng, keep_mask
from xpnet.tensor import Tensor


class Dropout(Function):
    """y = x * m / (1 - p) for a given 0/1 keep mask m (broadcast to x's shape).

    dE/dx = dE/dy * m / (1 - p): the error flows only through the kept units, scaled
    like them. The op is deterministic given the mask; drawing it is the caller's job.
    """

    def __init__(self, mask: Any, scale: float) -> None:
        self.mask = mask  # bool, broadcastable to x: True where the unit is kept
        self.scale = scale  # 1 / (1 - p)

    def forward(self, x: Any) -> Any:
        y = x * self.mask
        y *= self.scale  # in place: one pass fewer than x * (mask * scale)
        return y

    def backward(self, gy: Any) -> Any:
        gx = gy * self.mask
        gx *= self.scale
        return gx


def check_floating(x: Any, op: str) -> tuple[int, ...]:
    """Raise TypeError unless ``x`` is a floating Tensor or array; return its shape."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating Tensor or array, got {type(x).__name__} "
                        f"of dtype {dtype}")
    return tuple(x.shape)


def as_tensor(x: Any) -> Tensor:
    """``x`` itself when it is a Tensor (the identity returns its input), else a new leaf."""
    return x if isinstance(x, Tensor) else Tensor(x)


def apply_mask(x: Any, mask: Any, p: float) -> Tensor:
    """Multiply ``x`` by a bool keep mask scaled by 1 / (1 - p), through :class:`Dropout`."""
    return Dropout(mask, 1.0 / (1.0 - p))(x)


def _given_mask(x: Any, mask: Any, op: str) -> Any:
    """Check a caller's mask (broadcastable to x, on x's device) and make it bool."""
    xp = backend.get_array_module(x)
    if not isinstance(mask, xp.ndarray):
        raise TypeError(f"{op}: mask must be an array on the input's device, got "
                        f"{type(mask).__name__}")
    shape, mshape = tuple(x.shape), tuple(mask.shape)
    fits = len(mshape) <= len(shape) and all(
        m in (1, n) for m, n in zip(reversed(mshape), reversed(shape), strict=False)
    )
    if not fits:
        raise ValueError(f"{op}: mask of shape {mask.shape} does not broadcast to the input's "
                         f"shape {shape}")
    return mask if mask.dtype == bool else mask != 0


def dropout(
    x: Any,
    p: float = 0.5,
    training: bool = True,
    rng: Any = None,
    *,
    mask: Any = None,
) -> Tensor:
    """Inverted dropout: zero each unit with probability p, scale the rest by 1/(1-p).

    In training each call draws a new mask m (a new thinned network for every example
    of every mini-batch, Hinton et al. 2012), m_i = 1 with probability 1 - p, and

        y = x * m / (1 - p),        dE/dx = dE/dy * m / (1 - p).

    Scaling the kept units at training time keeps E[y] = x, so at inference the layer is
    the identity: no dropout at test time, the full network standing for the average of
    the exponentially many thinned networks (Hinton et al. 2012 halve the outgoing
    weights instead, the same thing for p = 1/2).

    Args:
        x: floating Tensor or array, any shape.
        p: probability of dropping a unit, in [0, 1).
        training: when False (or when p == 0), returns x unchanged.
        rng: the ``numpy.random.Generator`` the mask is drawn from; required when
            training with p > 0 and no ``mask`` is given. On the GPU a CuPy generator
            seeded from it (``rng.integers(2**63)``) draws the mask on the device.
        mask: optional keep mask (bool or 0/1, broadcastable to x, on x's device) used
            instead of a random one, for gradient checks or to reuse one mask.

    Returns:
        Tensor of x's shape and dtype (x itself when nothing is dropped).

    Shape:
        x: (*), output: (*).

    Example:
        >>> rng = numpy.random.default_rng(0)
        >>> y = dropout(Tensor(numpy.ones(6)), p=0.5, rng=rng)
        >>> sorted(set(y.data.tolist()))        # dropped units are 0, kept ones 1/(1-p)
        [0.0, 2.0]
    """
    op = "dropout"
    p = check_p(p, op)
    shape = check_floating(x, op)
    if mask is not None:
        if not training:
            raise ValueError(f"{op}: a mask was given with training=False (inference drops "
                             "nothing)")
        return apply_mask(x, _given_mask(x, mask, op), p)
    if not training or p == 0.0:
        return as_tensor(x)
    rng = check_rng(rng, op)
    xp = backend.get_array_module(x)
    return apply_mask(x, keep_mask(xp, rng, shape, p), p)
