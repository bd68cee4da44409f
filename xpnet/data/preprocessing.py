"""Pre-processing fitted on the training set, applied as the first layers of a model.

Inputs with mean 0 and variance 1, decorrelated or free of extreme values train faster
and better (LeCun et al. 1998, "Efficient BackProp"; Krizhevsky et al. 2012 subtract the
mean image; Coates et al. 2011 and Goodfellow et al. 2013 use contrast normalisation and
ZCA whitening). Each step here is an :class:`xpnet.nn.Module`: ``fit(x_train)`` learns
its statistics from training images only and keeps them as *buffers*; calling it then
applies them, unchanged, to any batch. A trained model therefore carries its own
pre-processing: ``xpnet train`` puts the fitted steps in front of the network, so the
checkpoint saves them with the weights and a loaded model takes raw pixels.

Every step is differentiable (its forward is made of xpnet ops), so gradient maps and
the deconvnet reach the raw pixels through it. ``transform(x)`` is the same map on raw
arrays, without a graph. A configuration names steps through the literal dict
:data:`PREPROCESSORS`.

Statistics are accumulated in float64 over chunks (memory-mapped training sets fit) and
kept as float32 buffers (``astype`` casts them with the model); a batch meets them in its
own dtype.

Example:
    >>> steps = Pipeline([Standardize(), Clip(n_std=3)]).fit(x_train)   # (N, C, H, W)
    >>> model = nn.Sequential(*steps, *lenet5())   # takes raw pixels from now on
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from xpnet import backend
from xpnet import functions as F
from xpnet.function import no_grad
from xpnet.nn.containers import Sequential
from xpnet.nn.module import Module
from xpnet.tensor import Tensor

__all__ = [
    "Clip",
    "GlobalContrastNormalize",
    "MeanImage",
    "PREPROCESSORS",
    "Pipeline",
    "Preprocessor",
    "Standardize",
    "ZCAWhitening",
]

_CHUNK = 1024  # images per chunk when accumulating statistics


def _moments(x: Any, axes: tuple[int, ...]) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Mean and variance over ``axes`` (which include 0), in float64 chunks of images."""
    total = square = None
    count = 0
    for start in range(0, len(x), _CHUNK):
        chunk = backend.to_numpy(x[start:start + _CHUNK]).astype(numpy.float64)
        s, q = chunk.sum(axis=axes), (chunk * chunk).sum(axis=axes)
        total, square = (s, q) if total is None else (total + s, square + q)
        count += chunk.size // s.size
    mean = total / count
    return mean, numpy.maximum(square / count - mean * mean, 0.0)


def _stat(value: Any) -> numpy.ndarray:
    """A fitted statistic as the buffer it is kept in: a float32 NumPy array."""
    return numpy.asarray(value, dtype=backend.DEFAULT_DTYPE)


class Preprocessor(Module):
    """Base of the fitted steps: ``fit(x) -> self``, then a Module from raw to ready inputs.

    Subclasses list their constructor parameters in ``CONFIG`` (JSON values, shown by
    ``repr``) and their fitted statistics in ``BUFFERS`` (registered as buffers, None
    until fitted), and implement ``_fit`` (NumPy, float64) and ``_apply`` (xpnet ops on
    a floating Tensor).

    Shape:
        (N, C, H, W) -> (N, C, H, W) (``Standardize(per_channel=False)``, ``GCN``, ``Clip``
        and ``ZCAWhitening`` take any (N, ...)).
    """

    NAME = ""
    CONFIG: tuple[str, ...] = ()
    BUFFERS: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        for name in self.BUFFERS:
            self.register_buffer(name, None)

    @property
    def fitted(self) -> bool:
        """Whether every statistic has been learnt (or loaded)."""
        return all(getattr(self, name) is not None for name in self.BUFFERS)

    def fit(self, x: Any) -> Preprocessor:
        """Learn the statistics from training images ``(N, ...)``; return self."""
        x = getattr(x, "data", x) if isinstance(x, Tensor) else x
        if getattr(x, "ndim", 0) < 2 or len(x) == 0:
            raise ValueError(f"{type(self).__name__}.fit: expected a non-empty batch (N, ...), "
                             f"got shape {getattr(x, 'shape', None)}")
        self._fit(x)
        return self

    def _fit(self, x: Any) -> None:
        """Set the buffers from training images (a NumPy or CuPy array)."""

    def forward(self, x: Any) -> Tensor:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__}: call fit(x_train) before applying it")
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.dtype.kind != "f":
            x = F.astype(x, backend.DEFAULT_DTYPE)  # raw uint8 pixels
        return self._apply(x)

    def _apply(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def transform(self, x: Any) -> Any:
        """The step on a raw array (no graph): an array of x's shape, floating."""
        with no_grad():
            return self(x).data

    def _param(self, name: str, x: Tensor) -> Any:
        """A fitted buffer on x's device, in x's dtype (no copy when they agree)."""
        value = getattr(self, name)
        xp = backend.get_array_module(x.data)
        return xp.asarray(backend.to_device(value, backend.device_of(x.data)), dtype=x.dtype)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in self.CONFIG)


class Standardize(Preprocessor):
    """Mean 0 and variance 1: ``(x - mu) / sigma`` with training statistics.

    Args:
        per_channel: one ``mu, sigma`` per channel (over N, H, W); else one for all.
        eps: lower bound of ``sigma`` (constant channels stay finite).

    Attributes:
        mean, std: buffers (C, 1, 1) per channel, () otherwise.

    Example:
        >>> x = numpy.random.default_rng(0).normal(3.0, 2.0, (50, 3, 4, 4))
        >>> z = Standardize().fit(x).transform(x)
        >>> bool(abs(z.mean()) < 1e-6), round(float(z.std()), 4)
        (True, 1.0)
    """

    NAME = "standardize"
    CONFIG = ("per_channel", "eps")
    BUFFERS = ("mean", "std")

    def __init__(self, per_channel: bool = True, eps: float = 1e-8) -> None:
        super().__init__()
        self.per_channel, self.eps = bool(per_channel), float(eps)

    def _fit(self, x: Any) -> None:
        if self.per_channel and x.ndim != 4:
            raise ValueError(f"Standardize.fit: per_channel needs (N, C, H, W), got {x.shape}")
        axes = (0, 2, 3) if self.per_channel else tuple(range(x.ndim))
        mean, var = _moments(x, axes)
        shape = (-1, 1, 1) if self.per_channel else ()
        self.mean = _stat(mean.reshape(shape))  # (C, 1, 1) or ()
        self.std = _stat(numpy.maximum(numpy.sqrt(var), self.eps).reshape(shape))

    def _apply(self, x: Tensor) -> Tensor:
        return F.div(F.sub(x, self._param("mean", x)), self._param("std", x))


class MeanImage(Preprocessor):
    """AlexNet's pre-processing: subtract the mean training image, pixel by pixel.

    Attributes:
        mean: buffer (C, H, W).

    Example:
        >>> x = numpy.random.default_rng(0).random((20, 3, 4, 4))
        >>> bool(numpy.allclose(MeanImage().fit(x).transform(x).mean(axis=0), 0, atol=1e-6))
        True
    """

    NAME = "mean_image"
    BUFFERS = ("mean",)

    def _fit(self, x: Any) -> None:
        self.mean = _stat(_moments(x, (0,))[0])  # (C, H, W)

    def _apply(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.mean.shape:
            raise ValueError(f"MeanImage: fitted on images {self.mean.shape}, got {x.shape}")
        return F.sub(x, self._param("mean", x))


class GlobalContrastNormalize(Preprocessor):
    """Per-image contrast normalisation (:func:`xpnet.functions.global_contrast_normalize`):
    ``scale (x - mean(x)) / max(eps, sqrt(sqrt_bias + var(x)))`` over each whole image.

    Nothing to learn: ``fit`` only checks its input, and it is always ready. It is a step
    all the same, so that a pipeline names it like the others.

    Args:
        scale: multiplier of the result (maxout used 55 on CIFAR-10).
        sqrt_bias: added to the variance before the square root (damps flat images).
        eps: smallest divisor.

    Example:
        >>> x = numpy.random.default_rng(0).random((3, 1, 4, 4))
        >>> z = GlobalContrastNormalize().transform(x)
        >>> numpy.round(z.reshape(3, -1).std(axis=1), 5).tolist()
        [1.0, 1.0, 1.0]
    """

    NAME = "gcn"
    CONFIG = ("scale", "sqrt_bias", "eps")

    def __init__(self, scale: float = 1.0, sqrt_bias: float = 0.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.scale, self.sqrt_bias, self.eps = float(scale), float(sqrt_bias), float(eps)

    def _apply(self, x: Tensor) -> Tensor:
        return F.global_contrast_normalize(x, self.scale, self.sqrt_bias, self.eps)


class ZCAWhitening(Preprocessor):
    """ZCA whitening: decorrelate pixels, keeping the result closest to the image.

    ``Sigma = (X - mu)^T (X - mu) / N = U diag(s) U^T``, ``W = U diag(1 / sqrt(s + eps)) U^T``,
    ``z = (x - mu) W`` on flattened images (D = C H W; the (D, D) matrix limits D to 8192).

    Args:
        eps: regulariser added to the eigenvalues (in the data's squared units).

    Attributes:
        mean: buffer (D,); whiten: buffer (D, D), symmetric.

    Example:
        >>> x = numpy.random.default_rng(0).normal(size=(500, 1, 2, 2)) * 3
        >>> z = ZCAWhitening(eps=1e-6).fit(x).transform(x).reshape(500, -1)
        >>> bool(numpy.allclose(numpy.cov(z.T, bias=True), numpy.eye(4), atol=1e-3))
        True
    """

    NAME = "zca"
    CONFIG = ("eps",)
    BUFFERS = ("mean", "whiten")
    MAX_FEATURES = 8192

    def __init__(self, eps: float = 1e-2) -> None:
        super().__init__()
        self.eps = float(eps)

    def _fit(self, x: Any) -> None:
        d = int(numpy.prod(x.shape[1:]))
        if d > self.MAX_FEATURES:
            raise ValueError(f"ZCAWhitening.fit: {d} features per image need a ({d}, {d}) "
                             f"matrix; at most {self.MAX_FEATURES} are supported (crop or "
                             "downscale first)")
        flat = backend.to_numpy(x).reshape(len(x), d).astype(numpy.float64)  # (N, D)
        mean = flat.mean(axis=0)
        centred = flat - mean
        s, u = numpy.linalg.eigh(centred.T @ centred / len(flat))
        self.mean = _stat(mean)  # (D,)
        self.whiten = _stat((u / numpy.sqrt(numpy.maximum(s, 0.0) + self.eps)) @ u.T)  # (D, D)

    def _apply(self, x: Tensor) -> Tensor:
        flat = F.reshape(x, (len(x), -1))  # (N, D)
        if flat.shape[1] != self.mean.shape[0]:
            raise ValueError(f"ZCAWhitening: fitted on {self.mean.shape[0]} features, got "
                             f"images {x.shape}")
        centred = F.sub(flat, self._param("mean", x))  # (N, D)
        return F.reshape(F.matmul(centred, self._param("whiten", x)), x.shape)


class Clip(Preprocessor):
    """Clip extreme values to bounds learnt on the training set (LeCun et al. 1998).

    Exactly one rule: ``percentile=(lo, hi)`` clips to those percentiles of all training
    values (the default, (0.5, 99.5)); ``n_std=k`` clips to ``mean +- k std``.

    Args:
        percentile: lower and upper percentiles in [0, 100].
        n_std: number of standard deviations.

    Attributes:
        low, high: buffers () the bounds.

    Example:
        >>> x = numpy.arange(1000.0).reshape(10, 1, 10, 10)
        >>> c = Clip(percentile=(1, 99)).fit(x)
        >>> float(c.transform(x).min()), float(c.transform(x).max())
        (9.99, 989.01)
    """

    NAME = "clip"
    CONFIG = ("percentile", "n_std")
    BUFFERS = ("low", "high")

    def __init__(self, percentile: tuple[float, float] | None = None,
                 n_std: float | None = None) -> None:
        super().__init__()
        if percentile is not None and n_std is not None:
            raise ValueError("Clip: give percentile or n_std, not both")
        if percentile is None and n_std is None:
            percentile = (0.5, 99.5)
        if percentile is not None and not 0 <= percentile[0] < percentile[1] <= 100:
            raise ValueError(f"Clip: percentile must be (lo, hi) with 0 <= lo < hi <= 100, "
                             f"got {percentile}")
        if n_std is not None and not n_std > 0:
            raise ValueError(f"Clip: n_std must be positive, got {n_std}")
        self.percentile = tuple(float(p) for p in percentile) if percentile else None
        self.n_std = None if n_std is None else float(n_std)

    def _fit(self, x: Any) -> None:
        if self.n_std is not None:
            mean, var = _moments(x, tuple(range(x.ndim)))
            low, high = mean - self.n_std * numpy.sqrt(var), mean + self.n_std * numpy.sqrt(var)
        else:
            low, high = numpy.percentile(backend.to_numpy(x).ravel(), self.percentile)
        self.low, self.high = _stat(low), _stat(high)

    def _apply(self, x: Tensor) -> Tensor:
        return F.clip(x, self._param("low", x), self._param("high", x))


class Pipeline(Sequential):
    """Pre-processing steps fitted in order, each on the output of the ones before it.

    A :class:`~xpnet.nn.Sequential`: iterate it to put the fitted steps in front of a
    network (``nn.Sequential(*pipeline, *net)``).

    Args:
        steps: pre-processing steps, fitted or not.

    Example:
        >>> x = numpy.random.default_rng(0).normal(5, 3, (40, 3, 4, 4))
        >>> p = Pipeline([Standardize(), Clip(n_std=3)]).fit(x)
        >>> p.transform(x).shape
        (40, 3, 4, 4)
    """

    def __init__(self, steps: Sequence[Preprocessor] = ()) -> None:
        steps = list(steps)
        for step in steps:
            if not isinstance(step, Preprocessor):
                raise TypeError(f"Pipeline: steps must be pre-processing steps, got {step!r}")
        super().__init__(*steps)

    def fit(self, x: Any) -> Pipeline:
        """Fit each step on ``x`` passed through the steps before it; return self."""
        for i, step in enumerate(self):
            step.fit(x)
            if i + 1 < len(self):
                x = step.transform(x)
        return self

    def transform(self, x: Any) -> Any:
        """Every step on a raw array (no graph)."""
        with no_grad():
            return self(x).data if len(self) else x


#: The steps by the names that configurations use (``xpnet train --preprocess``).
PREPROCESSORS: dict[str, type[Preprocessor]] = {
    "standardize": Standardize,
    "mean_image": MeanImage,
    "gcn": GlobalContrastNormalize,
    "zca": ZCAWhitening,
    "clip": Clip,
}
