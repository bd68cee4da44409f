"""Initialisers: pure functions that draw a weight array from an explicit ``rng``.

Each takes the array's ``shape``, a :class:`numpy.random.Generator` and returns a new NumPy
array (float32 unless ``dtype`` says float64); a layer moves it to its device afterwards.
Nothing here touches global random state, so one seed reproduces a whole network.

The scaled initialisers read two numbers from the shape (:func:`compute_fans`):

- dense weight ``(out, in)``: fan_in = in, fan_out = out;
- convolution weight ``(out, in / groups, kh, kw)``: fan_in = (in / groups) kh kw,
  fan_out = out kh kw (PyTorch's convention, so the same shape gets the same scale).

==================  ===========================================================
``normal``          N(mean, std^2); AlexNet drew every weight from N(0, 0.01^2)
``uniform``         U(low, high)
``glorot_*``        Glorot & Bengio 2010: Var = 2 gain^2 / (fan_in + fan_out)
``he_*``            He et al. 2015 (for ReLU): Var = 2 / fan_in
``lecun_*``         LeCun et al. 1998: Var = 1 / fan_in
``constant``        every element equal (AlexNet's biases: 0 or 1)
==================  ===========================================================

A uniform U(-a, a) has variance a^2 / 3, so each ``*_uniform`` uses a = sqrt(3 Var).

Example:
    >>> rng = numpy.random.default_rng(0)
    >>> w = he_normal((256, 784), rng)
    >>> w.dtype, w.shape
    (dtype('float32'), (256, 784))
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from xpnet import backend

__all__ = [
    "compute_fans",
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "uniform",
    "zeros",
]


def _check(shape: Any, rng: Any, name: str) -> tuple[int, ...]:
    """Validate ``shape`` and ``rng``; return the shape as a tuple of ints."""
    if not isinstance(rng, numpy.random.Generator):
        raise TypeError(
            f"init.{name}: rng must be a numpy.random.Generator, got {type(rng).__name__}"
        )
    if isinstance(shape, int):
        shape = (shape,)
    try:
        out = tuple(int(n) for n in shape)
    except TypeError:
        raise TypeError(f"init.{name}: shape must be a tuple of ints, got {shape!r}") from None
    if any(n < 0 for n in out):
        raise ValueError(f"init.{name}: shape must not hold negative sizes, got {out}")
    return out


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight shape.

    Args:
        shape: ``(out, in)`` for a dense layer, ``(out, in / groups, kh, kw, ...)`` for a
            convolution (every axis after the second is a kernel axis).

    Returns:
        fan_in = shape[1] * prod(shape[2:]), fan_out = shape[0] * prod(shape[2:]).

    Raises:
        ValueError: fewer than two axes (a bias has no fan-in; use ``constant``).

    Example:
        >>> compute_fans((96, 3, 11, 11))
        (363, 11616)
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2:
        raise ValueError(
            f"compute_fans: expected a weight shape with at least 2 axes (out, in, ...), "
            f"got {shape}"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _normal(shape: tuple[int, ...], std: float, mean: float, rng: Any, dtype: Any) -> Any:
    dt = backend.float_dtype(dtype)
    w = rng.standard_normal(shape, dtype=dt)
    w *= dt.type(std)
    if mean:
        w += dt.type(mean)
    return w


def _uniform(shape: tuple[int, ...], low: float, high: float, rng: Any, dtype: Any) -> Any:
    dt = backend.float_dtype(dtype)
    w = rng.random(shape, dtype=dt)  # U[0, 1)
    w *= dt.type(high - low)
    w += dt.type(low)
    return w


def normal(
    shape: tuple[int, ...], std: float, rng: numpy.random.Generator, mean: float = 0.0,
    dtype: Any = None,
) -> numpy.ndarray:
    """Draw from the Gaussian N(mean, std^2).

    AlexNet: "We initialized the weights in each layer from a zero-mean Gaussian
    distribution with standard deviation 0.01".

    Args:
        shape: shape of the array.
        std: standard deviation (>= 0).
        rng: the random generator.
        mean: the mean.
        dtype: float32 (default) or float64.

    Returns:
        A new array of ``shape``.

    Example:
        >>> w = normal((4096, 9216), 0.01, numpy.random.default_rng(0))
    """
    shape = _check(shape, rng, "normal")
    if not std >= 0:
        raise ValueError(f"init.normal: std must be >= 0, got {std}")
    return _normal(shape, std, mean, rng, dtype)


def uniform(
    shape: tuple[int, ...], low: float, high: float, rng: numpy.random.Generator,
    dtype: Any = None,
) -> numpy.ndarray:
    """Draw from the uniform distribution U(low, high).

    Args:
        shape: shape of the array.
        low: lower bound.
        high: upper bound (>= low).
        rng: the random generator.
        dtype: float32 (default) or float64.

    Returns:
        A new array of ``shape``.

    Example:
        >>> w = uniform((10, 784), -0.05, 0.05, numpy.random.default_rng(0))
    """
    shape = _check(shape, rng, "uniform")
    if not high >= low:
        raise ValueError(f"init.uniform: expected low <= high, got low={low}, high={high}")
    return _uniform(shape, low, high, rng, dtype)


def constant(shape: tuple[int, ...], value: float, dtype: Any = None) -> numpy.ndarray:
    """An array filled with ``value`` (AlexNet: biases 1 in conv2, 4, 5 and the dense
    layers, 0 elsewhere).

    Args:
        shape: shape of the array.
        value: the fill value.
        dtype: float32 (default) or float64.

    Returns:
        A new array of ``shape``.

    Example:
        >>> constant((3,), 1.0)
        array([1., 1., 1.], dtype=float32)
    """
    return numpy.full(shape, value, dtype=backend.float_dtype(dtype))


def zeros(shape: tuple[int, ...], dtype: Any = None) -> numpy.ndarray:
    """An array of zeros; same as ``constant(shape, 0.0)``."""
    return numpy.zeros(shape, dtype=backend.float_dtype(dtype))


def glorot_uniform(
    shape: tuple[int, ...], rng: numpy.random.Generator, gain: float = 1.0, dtype: Any = None
) -> numpy.ndarray:
    """Glorot/Xavier uniform: U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out)).

    Args:
        shape: weight shape, ``(out, in)`` or ``(out, in / groups, kh, kw)``.
        rng: the random generator.
        gain: scale for the activation (1 for logistic/linear, 5/3 for tanh).
        dtype: float32 (default) or float64.

    Returns:
        A new array of ``shape`` with variance 2 gain^2 / (fan_in + fan_out).

    Example:
        >>> w = glorot_uniform((256, 784), numpy.random.default_rng(0))
    """
    shape = _check(shape, rng, "glorot_uniform")
    fan_in, fan_out = compute_fans(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _uniform(shape, -a, a, rng, dtype)


def glorot_normal(
    shape: tuple[int, ...], rng: numpy.random.Generator, gain: float = 1.0, dtype: Any = None
) -> numpy.ndarray:
    """Glorot/Xavier normal: N(0, std^2) with std = gain sqrt(2 / (fan_in + fan_out)).

    Args:
        shape: weight shape, ``(out, in)`` or ``(out, in / groups, kh, kw)``.
        rng: the random generator.
        gain: scale for the activation.
        dtype: float32 (default) or float64.

    Returns:
        A new array of ``shape``.

    Example:
        >>> w = glorot_normal((256, 784), numpy.random.default_rng(0))
    """
    shape = _check(shape, rng, "glorot_normal")
    fan_in, fan_out = compute_fans(shape)
    return _normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), 0.0, rng, dtype)


def he_normal(
    shape: tuple[int, ...], rng: numpy.random.Generator, dtype: Any = None
) -> numpy.ndarray:
    """He/Kaiming normal for ReLU layers: N(0, 2 / fan_in).

    Same as PyTorch's ``kaiming_normal_(w, nonlinearity="relu")`` (plain, not truncated,
    Gaussian; Keras truncates).

    Args:
        shape: weight shape, ``(out, in)`` or ``(out, in / groups, kh, kw)``.
        rng: the random generator.
        dtype: float32 (default) or float64.

    Returns:
        A new array of ``shape``.

    Example:
        >>> w = he_normal((96, 3, 11, 11), numpy.random.default_rng(0))
    """
    shape = _check(shape, rng, "he_normal")
    fan_in, _ = compute_fans(shape)
    return _normal(shape, math.sqrt(2.0 / fan_in), 0.0, rng, dtype)


def he_uniform(
    shape: tuple[int, ...], rng: numpy.random.Generator, dtype: Any = None
) -> numpy.ndarray:
    """He/Kaiming uniform for ReLU layers: U(-a, a), a = sqrt(6 / fan_in).

    Args:
        shape: weight shape, ``(out, in)`` or ``(out, in / groups, kh, kw)``.
        rng: the random generator.
        dtype: float32 (default) or float64.

    Returns:
        A new array of ``shape`` with variance 2 / fan_in.

    Example:
        >>> w = he_uniform((256, 784), numpy.random.default_rng(0))
    """
    shape = _check(shape, rng, "he_uniform")
    fan_in, _ = compute_fans(shape)
    a = math.sqrt(6.0 / fan_in)
    return _uniform(shape, -a, a, rng, dtype)


def lecun_normal(
    shape: tuple[int, ...], rng: numpy.random.Generator, dtype: Any = None
) -> numpy.ndarray:
    """LeCun normal: N(0, 1 / fan_in).

    Args:
        shape: weight shape, ``(out, in)`` or ``(out, in / groups, kh, kw)``.
        rng: the random generator.
        dtype: float32 (default) or float64.

    Returns:
        A new array of ``shape``.

    Example:
        >>> w = lecun_normal((120, 400), numpy.random.default_rng(0))
    """
    shape = _check(shape, rng, "lecun_normal")
    fan_in, _ = compute_fans(shape)
    return _normal(shape, math.sqrt(1.0 / fan_in), 0.0, rng, dtype)


def lecun_uniform(
    shape: tuple[int, ...], rng: numpy.random.Generator, dtype: Any = None
) -> numpy.ndarray:
    """LeCun uniform: U(-a, a), a = sqrt(3 / fan_in).

    Args:
        shape: weight shape, ``(out, in)`` or ``(out, in / groups, kh, kw)``.
        rng: the random generator.
        dtype: float32 (default) or float64.

    Returns:
        A new array of ``shape`` with variance 1 / fan_in.

    Example:
        >>> w = lecun_uniform((120, 400), numpy.random.default_rng(0))
    """
    shape = _check(shape, rng, "lecun_uniform")
    fan_in, _ = compute_fans(shape)
    a = math.sqrt(3.0 / fan_in)
    return _uniform(shape, -a, a, rng, dtype)
