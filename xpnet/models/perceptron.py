"""Rosenblatt's perceptron: one step unit trained by the perceptron rule."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy

from xpnet import backend
from xpnet import functions as F
from xpnet.nn.module import Module, Parameter

__all__ = ["ConvergenceWarning", "Perceptron", "PerceptronResult"]


class ConvergenceWarning(UserWarning):
    """Training stopped at its epoch limit without reaching zero errors."""


class PerceptronResult(NamedTuple):
    """What :meth:`Perceptron.fit` did.

    Attributes:
        converged: True when an epoch ended with no misclassified example.
        epochs: the number of epochs run.
        errors: misclassified examples in each epoch (the last is 0 when converged).
    """

    converged: bool
    epochs: int
    errors: list[int]


class Perceptron(Module):
    """A single threshold neuron, y = step(w . x + b), which fires (1) when its weighted
    sum passes 0 (Rosenblatt 1958).

    Trained by Rosenblatt's rule, one example at a time::

        y = step(w . x + b);   w <- w + eta (d - y) x;   b <- b + eta (d - y)

    Nothing changes when the answer is right; a wrong answer moves the separating
    hyperplane towards the example. On linearly separable data the rule reaches zero
    errors in finitely many epochs (Novikoff's theorem); on XOR no line separates the
    classes, the weights cycle for ever and :meth:`fit` reports that it did not
    converge. The step unit has no useful derivative, so this is not back-propagation:
    an :func:`xpnet.models.mlp` of logistic units trained by gradients solves XOR.

    Args:
        n_inputs: the size of x.
        rng: None starts from zero weights (the classical choice, deterministic); a
            generator draws w and b from U(-0.5, 0.5).
        dtype: float32 (default) or float64.

    Attributes:
        weight: Parameter (1, n_inputs); bias: Parameter (1,) (the layout of a
            ``Linear(n_inputs, 1)``).
        converged: None before ``fit``, then whether the last ``fit`` converged.

    Shape:
        (N, n_inputs) -> (N, 1) of 0 and 1.

    Example:
        >>> X = numpy.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=numpy.float32)
        >>> p = Perceptron(2)
        >>> p.fit(X, numpy.array([0, 0, 0, 1])).converged      # AND
        True
        >>> p.predict(X)
        array([0., 0., 0., 1.], dtype=float32)
    """

    def __init__(
        self, n_inputs: int, rng: numpy.random.Generator | None = None, dtype: Any = None
    ) -> None:
        super().__init__()
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
            raise ValueError(f"Perceptron: n_inputs must be a positive int, got {n_inputs!r}")
        dt = backend.float_dtype(dtype)
        self.n_inputs = n_inputs
        if rng is None:
            w, b = numpy.zeros((1, n_inputs), dt), numpy.zeros(1, dt)
        elif isinstance(rng, numpy.random.Generator):
            w = rng.uniform(-0.5, 0.5, (1, n_inputs)).astype(dt)
            b = rng.uniform(-0.5, 0.5, 1).astype(dt)
        else:
            raise TypeError(
                f"Perceptron: rng must be a numpy.random.Generator or None, "
                f"got {type(rng).__name__}"
            )
        self.weight = Parameter(w)
        self.bias = Parameter(b)
        self.converged: bool | None = None

    def forward(self, x: Any) -> Any:
        return F.step(F.linear(x, self.weight, self.bias))

    def predict(self, X: Any) -> Any:
        """The unit's outputs (0 or 1) for each row of ``X``, as an array of shape (N,)."""
        X = self._check_inputs(X, "predict")
        u = X @ self.weight.data[0] + self.bias.data[0]  # (N,) weighted sums
        return (u > 0).astype(self.weight.dtype)

    def fit(
        self, X: Any, d: Any, eta: float = 1.0, max_epochs: int = 100, warn: bool = True
    ) -> PerceptronResult:
        """Train with the perceptron rule until an epoch has no error or ``max_epochs``.

        Args:
            X: inputs, shape (N, n_inputs).
            d: desired outputs, 0 or 1, shape (N,).
            eta: the learning rate (> 0).
            max_epochs: the most passes over the data.
            warn: emit a :class:`ConvergenceWarning` when it did not converge.

        Returns:
            A :class:`PerceptronResult` (converged, epochs, errors per epoch).

        Raises:
            ValueError: shapes that do not fit, targets other than 0/1, bad eta.
        """
        X = self._check_inputs(X, "fit")
        xp = backend.get_array_module(X)
        d = xp.asarray(d)
        if d.shape != (X.shape[0],):
            raise ValueError(f"Perceptron.fit: d must have shape ({X.shape[0]},), got {d.shape}")
        if not bool(((d == 0) | (d == 1)).all()):
            raise ValueError("Perceptron.fit: desired outputs d must be 0 or 1")
        if not eta > 0:
            raise ValueError(f"Perceptron.fit: eta must be > 0, got {eta}")
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise ValueError(f"Perceptron.fit: max_epochs must be an int >= 1, got {max_epochs!r}")
        w, b = self.weight.data[0], self.bias.data  # views: updated in place
        d = d.astype(w.dtype)
        errors: list[int] = []
        for _ in range(max_epochs):
            wrong = 0
            for x_n, d_n in zip(X, d, strict=True):
                y_n = 1.0 if float(x_n @ w + b[0]) > 0 else 0.0
                if y_n != d_n:
                    wrong += 1
                    w += (eta * (d_n - y_n)) * x_n  # w <- w + eta (d - y) x
                    b += eta * (d_n - y_n)
            errors.append(wrong)
            if wrong == 0:
                break
        self.converged = errors[-1] == 0
        if not self.converged and warn:
            warnings.warn(
                f"Perceptron did not converge in {max_epochs} epochs: {errors[-1]} of "
                f"{len(d)} examples still misclassified in the last epoch; the classes are "
                "probably not linearly separable (XOR is not)",
                ConvergenceWarning,
                stacklevel=2,
            )
        return PerceptronResult(self.converged, len(errors), errors)

    def _check_inputs(self, X: Any, method: str) -> Any:
        if not backend.is_array(X):
            X = numpy.asarray(X)
        X = X.astype(self.weight.dtype, copy=False)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(
                f"Perceptron.{method}: X must have shape (N, {self.n_inputs}), "
                f"got {tuple(X.shape)}"
            )
        return X

    def extra_repr(self) -> str:
        return f"n_inputs={self.n_inputs}"
