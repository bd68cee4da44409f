"""Pre-processing fitted on the training set only and saved with the model.

Slide 39: mean 0, variance 1 and no extreme values raise accuracy. Each step learns its
statistics with ``fit(x_train)`` and applies them unchanged to every later batch
(``transform(x)`` or ``step(x)``), so inference sees what training saw. ``state_dict()``
holds arrays and JSON values only (checkpoints store it beside the model);
:func:`from_state_dict` rebuilds a fitted step or pipeline from it. A configuration names
steps through the literal dict :data:`PREPROCESSORS`.

Steps work on NumPy or CuPy batches ``(N, C, H, W)``; statistics are float64 NumPy and
are accumulated over chunks, so memory-mapped training sets fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy

from xpnet import backend

_CHUNK = 1024  # images per chunk when accumulating statistics


def _as_float(x):
    xp = backend.get_array_module(x)
    return x if x.dtype.kind == "f" else xp.asarray(x, dtype=xp.float32)


def _moments(x, axes: tuple[int, ...]) -> tuple[numpy.ndarray, numpy.ndarray]:
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


class Preprocessor:
    """Base of the fitted steps: ``fit(x) -> self``, ``transform(x)``, state round trip.

    Subclasses list their constructor parameters in ``CONFIG`` (JSON values) and their
    fitted statistics in ``ARRAYS`` (attribute names), and implement ``_fit`` and
    ``transform``.
    """

    NAME = ""
    CONFIG: tuple[str, ...] = ()
    ARRAYS: tuple[str, ...] = ()
    fitted = False

    def fit(self, x) -> Preprocessor:
        """Learn the statistics from training images ``(N, ...)``; return self."""
        if x.ndim < 2 or len(x) == 0:
            raise ValueError(f"{type(self).__name__}.fit: expected a non-empty batch (N, ...), "
                             f"got shape {x.shape}")
        self._fit(x)
        self.fitted = True
        return self

    def _fit(self, x) -> None:
        raise NotImplementedError

    def transform(self, x):
        """Apply the fitted step to a batch."""
        raise NotImplementedError

    def __call__(self, x):
        return self.transform(x)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__}: call fit(x_train) before transform")

    def _param(self, name: str, x):
        """A fitted array on x's device and in x's dtype."""
        xp = backend.get_array_module(x)
        return xp.asarray(getattr(self, name), dtype=x.dtype)

    def state_dict(self) -> dict:
        """``{"type", <parameters>, "fitted", <arrays>}``: arrays and JSON values only."""
        state = {"type": self.NAME, "fitted": self.fitted}
        state.update({k: getattr(self, k) for k in self.CONFIG})
        if self.fitted:
            state.update({k: numpy.array(getattr(self, k)) for k in self.ARRAYS})
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore parameters and fitted statistics from :meth:`state_dict`'s output."""
        if state.get("type") != self.NAME:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state is for "
                             f"{state.get('type')!r}, not {self.NAME!r}")
        for k in self.CONFIG:
            value = state[k]
            setattr(self, k, tuple(value) if isinstance(value, list) else value)
        self.fitted = bool(state["fitted"])
        if self.fitted:
            for k in self.ARRAYS:
                setattr(self, k, numpy.array(state[k], dtype=numpy.float64))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.CONFIG)
        return f"{type(self).__name__}({args})"


class Standardize(Preprocessor):
    """Mean 0 and variance 1: ``(x - mu) / sigma`` with training statistics.

    Args:
        per_channel: one ``mu, sigma`` per channel (over N, H, W); else one for all.
        eps: lower bound of ``sigma`` (constant channels stay finite).

    Example:
        >>> x = numpy.random.default_rng(0).normal(3.0, 2.0, (50, 3, 4, 4))
        >>> z = Standardize().fit(x)(x)
        >>> bool(abs(z.mean()) < 1e-6), round(float(z.std()), 6)
        (True, 1.0)
    """

    NAME = "standardize"
    CONFIG = ("per_channel", "eps")
    ARRAYS = ("mean", "std")

    def __init__(self, per_channel: bool = True, eps: float = 1e-8) -> None:
        self.per_channel, self.eps = bool(per_channel), float(eps)

    def _fit(self, x) -> None:
        if self.per_channel and x.ndim != 4:
            raise ValueError(f"Standardize.fit: per_channel needs (N, C, H, W), got {x.shape}")
        axes = (0, 2, 3) if self.per_channel else tuple(range(x.ndim))
        mean, var = _moments(x, axes)
        shape = (-1, 1, 1) if self.per_channel else ()
        self.mean = mean.reshape(shape)  # (C, 1, 1) or ()
        self.std = numpy.maximum(numpy.sqrt(var), self.eps).reshape(shape)

    def transform(self, x):
        self._check_fitted()
        x = _as_float(x)
        return (x - self._param("mean", x)) / self._param("std", x)


class MeanImage(Preprocessor):
    """AlexNet's pre-processing: subtract the mean training image, pixel by pixel.

    Example:
        >>> x = numpy.random.default_rng(0).random((20, 3, 4, 4))
        >>> bool(numpy.allclose(MeanImage().fit(x)(x).mean(axis=0), 0))
        True
    """

    NAME = "mean_image"
    ARRAYS = ("mean",)

    def _fit(self, x) -> None:
        self.mean, _ = _moments(x, (0,))  # (C, H, W)

    def transform(self, x):
        self._check_fitted()
        if tuple(x.shape[1:]) != self.mean.shape:
            raise ValueError(f"MeanImage: fitted on images {self.mean.shape}, got {x.shape}")
        x = _as_float(x)
        return x - self._param("mean", x)


class GlobalContrastNormalize(Preprocessor):
    """Per-image contrast normalisation (Coates et al.; Goodfellow et al.'s maxout):
    ``scale (x - mean(x)) / max(eps, sqrt(sqrt_bias + var(x)))`` over each whole image.

    Stateless (``fit`` only marks it ready), kept as a step so pipelines stay uniform.

    Args:
        scale: multiplier of the result (maxout used 55 on CIFAR-10).
        sqrt_bias: added to the variance before the square root (damps flat images).
        eps: smallest divisor.

    Example:
        >>> x = numpy.random.default_rng(0).random((3, 1, 4, 4))
        >>> z = GlobalContrastNormalize().fit(x)(x)
        >>> numpy.round(z.reshape(3, -1).std(axis=1), 6).tolist()
        [1.0, 1.0, 1.0]
    """

    NAME = "gcn"
    CONFIG = ("scale", "sqrt_bias", "eps")

    def __init__(self, scale: float = 1.0, sqrt_bias: float = 0.0, eps: float = 1e-8) -> None:
        self.scale, self.sqrt_bias, self.eps = float(scale), float(sqrt_bias), float(eps)

    def _fit(self, x) -> None:
        pass

    def transform(self, x):
        self._check_fitted()
        xp = backend.get_array_module(x)
        x = _as_float(x)
        flat = x.reshape(len(x), -1)  # (N, D) one row an image
        centred = flat - flat.mean(axis=1, keepdims=True)
        norm = xp.sqrt(self.sqrt_bias + (centred * centred).mean(axis=1, keepdims=True))
        return (self.scale * centred / xp.maximum(norm, self.eps)).reshape(x.shape)


class ZCAWhitening(Preprocessor):
    """ZCA whitening: decorrelate pixels, keeping the result closest to the image.

    ``Sigma = (X - mu)^T (X - mu) / N = U diag(s) U^T``, ``W = U diag(1 / sqrt(s + eps)) U^T``,
    ``z = (x - mu) W`` on flattened images (D = C H W; the (D, D) matrix limits D to 8192).

    Args:
        eps: regulariser added to the eigenvalues (in the data's squared units).

    Example:
        >>> x = numpy.random.default_rng(0).normal(size=(500, 1, 2, 2)) @ numpy.eye(2) * 3
        >>> z = ZCAWhitening(eps=1e-6).fit(x)(x).reshape(500, -1)
        >>> bool(numpy.allclose(numpy.cov(z.T, bias=True), numpy.eye(4), atol=1e-3))
        True
    """

    NAME = "zca"
    CONFIG = ("eps",)
    ARRAYS = ("mean", "whiten")
    MAX_FEATURES = 8192

    def __init__(self, eps: float = 1e-2) -> None:
        self.eps = float(eps)

    def _fit(self, x) -> None:
        d = int(numpy.prod(x.shape[1:]))
        if d > self.MAX_FEATURES:
            raise ValueError(f"ZCAWhitening.fit: {d} features per image need a ({d}, {d}) "
                             f"matrix; at most {self.MAX_FEATURES} are supported (crop or "
                             "downscale first)")
        flat = backend.to_numpy(x).reshape(len(x), d).astype(numpy.float64)  # (N, D)
        self.mean = flat.mean(axis=0)
        centred = flat - self.mean
        s, u = numpy.linalg.eigh(centred.T @ centred / len(flat))
        self.whiten = (u / numpy.sqrt(numpy.maximum(s, 0.0) + self.eps)) @ u.T  # (D, D)

    def transform(self, x):
        self._check_fitted()
        x = _as_float(x)
        flat = x.reshape(len(x), -1)  # (N, D)
        if flat.shape[1] != self.mean.shape[0]:
            raise ValueError(f"ZCAWhitening: fitted on {self.mean.shape[0]} features, got "
                             f"images {x.shape}")
        return ((flat - self._param("mean", x)) @ self._param("whiten", x)).reshape(x.shape)


class Clip(Preprocessor):
    """Clip extreme values to bounds learnt on the training set (slide 39).

    Exactly one rule: ``percentile=(lo, hi)`` clips to those percentiles of all training
    values (the default, (0.5, 99.5)); ``n_std=k`` clips to ``mean +- k std``.

    Args:
        percentile: lower and upper percentiles in [0, 100].
        n_std: number of standard deviations.

    Example:
        >>> x = numpy.arange(1000.0).reshape(10, 1, 10, 10)
        >>> c = Clip(percentile=(1, 99)).fit(x)
        >>> float(c(x).min()), float(c(x).max())
        (9.99, 989.01)
    """

    NAME = "clip"
    CONFIG = ("percentile", "n_std")
    ARRAYS = ("low", "high")

    def __init__(self, percentile: tuple[float, float] | None = None,
                 n_std: float | None = None) -> None:
        if percentile is not None and n_std is not None:
            raise ValueError("Clip: give percentile or n_std, not both")
        if percentile is None and n_std is None:
            percentile = (0.5, 99.5)
        if percentile is not None and not 0 <= percentile[0] < percentile[1] <= 100:
            raise ValueError(f"Clip: percentile must be (lo, hi) with 0 <= lo < hi <= 100, "
                             f"got {percentile}")
        if n_std is not None and n_std <= 0:
            raise ValueError(f"Clip: n_std must be positive, got {n_std}")
        self.percentile = tuple(float(p) for p in percentile) if percentile else None
        self.n_std = None if n_std is None else float(n_std)

    def _fit(self, x) -> None:
        if self.n_std is not None:
            mean, var = _moments(x, tuple(range(x.ndim)))
            self.low = mean - self.n_std * numpy.sqrt(var)
            self.high = mean + self.n_std * numpy.sqrt(var)
        else:
            values = backend.to_numpy(x).ravel()
            self.low, self.high = (numpy.asarray(v) for v in
                                   numpy.percentile(values, self.percentile))

    def transform(self, x):
        self._check_fitted()
        xp = backend.get_array_module(x)
        x = _as_float(x)
        return xp.clip(x, float(self.low), float(self.high))


class Pipeline(Preprocessor):
    """Steps fitted in order, each on the output of the ones before it.

    Args:
        steps: fitted or unfitted pre-processing steps.

    Example:
        >>> x = numpy.random.default_rng(0).normal(5, 3, (40, 3, 4, 4))
        >>> p = Pipeline([Standardize(), Clip(n_std=3)]).fit(x)
        >>> p(x).shape
        (40, 3, 4, 4)
    """

    NAME = "pipeline"

    def __init__(self, steps: Sequence[Preprocessor] = ()) -> None:
        for step in steps:
            if not isinstance(step, Preprocessor):
                raise TypeError(f"Pipeline: steps must be pre-processing steps, got {step!r}")
        self.steps = list(steps)

    def _fit(self, x) -> None:
        for i, step in enumerate(self.steps):
            step.fit(x)
            if i + 1 < len(self.steps):
                x = step.transform(x)

    def transform(self, x):
        self._check_fitted()
        for step in self.steps:
            x = step.transform(x)
        return x

    def state_dict(self) -> dict:
        steps = {str(i): step.state_dict() for i, step in enumerate(self.steps)}
        return {"type": self.NAME, "fitted": self.fitted, "steps": steps}

    def load_state_dict(self, state: dict) -> None:
        if state.get("type") != self.NAME:
            raise ValueError(f"Pipeline.load_state_dict: state is for {state.get('type')!r}")
        steps = state["steps"]
        self.steps = [from_state_dict(steps[str(i)]) for i in range(len(steps))]
        self.fitted = bool(state["fitted"])

    def __repr__(self) -> str:
        return f"Pipeline({self.steps!r})"


PREPROCESSORS = {
    "standardize": Standardize,
    "mean_image": MeanImage,
    "gcn": GlobalContrastNormalize,
    "zca": ZCAWhitening,
    "clip": Clip,
    "pipeline": Pipeline,
}


def from_state_dict(state: dict) -> Preprocessor:
    """Rebuild a (fitted) step or pipeline from its ``state_dict()``.

    Args:
        state: the dict a step's ``state_dict`` returned (possibly through a checkpoint).

    Returns:
        A new step in the same state.

    Example:
        >>> x = numpy.random.default_rng(0).random((10, 1, 2, 2))
        >>> s = Standardize().fit(x)
        >>> bool((from_state_dict(s.state_dict())(x) == s(x)).all())
        True
    """
    name = state.get("type")
    if name not in PREPROCESSORS:
        raise ValueError(f"from_state_dict: unknown pre-processing {name!r}; known: "
                         f"{', '.join(PREPROCESSORS)}")
    step = PREPROCESSORS[name]()
    step.load_state_dict(state)
    return step
