"""The perceptron on K classes: one threshold unit per class, Rosenblatt's rule (Kesler)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy

from xpnet import backend
from xpnet import functions as F
from xpnet.nn.module import Module, Parameter

__all__ = ["MulticlassPerceptron", "MulticlassPerceptronResult"]


class MulticlassPerceptronResult(NamedTuple):
    """What :meth:`MulticlassPerceptron.fit` did.

    Attributes:
        converged: True when an epoch ended with no misclassified example.
        epochs: the number of epochs run.
        errors: misclassified training examples in each epoch (counted as they were
            seen, before each example's update).
    """

    converged: bool
    epochs: int
    errors: list[int]


class MulticlassPerceptron(Module):
    """K threshold units side by side, one per class; the unit with the largest weighted
    sum names the class: ``y = argmax_k (w_k . x + b_k)``.

    Trained by Rosenblatt's rule, one example at a time, in Kesler's construction: when
    the example x of class t is classified as k* != t (the winning wrong class), the true
    class's unit moves towards x and the winner's away from it::

        k* = argmax_k (w_k . x + b_k)
        if k* != t:   w_t  <- w_t  + eta x,   b_t  <- b_t  + eta
                      w_k* <- w_k* - eta x,   b_k* <- b_k* - eta

    Nothing changes when the answer is right. Kesler's construction turns the K-class
    problem into a two-class perceptron in K x (D + 1) dimensions, so Novikoff's theorem
    carries over: on linearly separable classes the errors reach zero in finitely many
    epochs. The units are step functions with no useful derivative, so this is not
    back-propagation; ``xpnet train --model perceptron`` trains with this rule.

    Args:
        n_inputs: D, the size of one example once flattened (784 for 28x28 digits).
        n_classes: K, the number of classes (>= 2).
        rng: None starts from zero weights (the classical choice; then eta only scales
            the weights and does not change the predictions); a generator draws them
            from U(-0.5, 0.5).
        dtype: float32 (default) or float64.

    Attributes:
        weight: Parameter (K, D); bias: Parameter (K,) (the layout of ``Linear(D, K)``).

    Shape:
        forward: (N, D) or (N, C, H, W) with C H W = D -> (N, K) weighted sums (scores).

    Example:
        >>> X = numpy.array([[0, 0], [4, 0], [0, 4]], dtype=numpy.float32)
        >>> p = MulticlassPerceptron(2, 3)
        >>> p.fit(X, numpy.array([0, 1, 2]), epochs=10).converged
        True
        >>> p.predict(X).tolist()
        [0, 1, 2]
    """

    def __init__(
        self,
        n_inputs: int,
        n_classes: int,
        rng: numpy.random.Generator | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for name, n, low in (("n_inputs", n_inputs, 1), ("n_classes", n_classes, 2)):
            if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or n < low:
                raise ValueError(f"MulticlassPerceptron: {name} must be an int >= {low}, "
                                 f"got {n!r}")
        dt = backend.float_dtype(dtype)
        self.n_inputs, self.n_classes = int(n_inputs), int(n_classes)
        shape = (self.n_classes, self.n_inputs)
        if rng is None:
            w, b = numpy.zeros(shape, dt), numpy.zeros(self.n_classes, dt)
        elif isinstance(rng, numpy.random.Generator):
            w = rng.uniform(-0.5, 0.5, shape).astype(dt)
            b = rng.uniform(-0.5, 0.5, self.n_classes).astype(dt)
        else:
            raise TypeError(f"MulticlassPerceptron: rng must be a numpy.random.Generator or "
                            f"None, got {type(rng).__name__}")
        self.weight = Parameter(w)
        self.bias = Parameter(b)

    def forward(self, x: Any) -> Any:
        if x.ndim != 2:
            x = F.flatten(x)  # (N, C, H, W) -> (N, D)
        return F.linear(x, self.weight, self.bias)

    def _flat(self, X: Any, method: str) -> Any:
        X = getattr(X, "data", X)
        if not backend.is_array(X):
            X = numpy.asarray(X)
        X = X.reshape(len(X), -1).astype(self.weight.dtype, copy=False)  # (N, D)
        if X.shape[1] != self.n_inputs:
            raise ValueError(f"MulticlassPerceptron.{method}: expected examples of "
                             f"{self.n_inputs} values, got {X.shape[1]}")
        return X

    def predict(self, X: Any) -> Any:
        """The winning class of each example: int64 array (N,)."""
        X = self._flat(X, "predict")
        return (X @ self.weight.data.T + self.bias.data).argmax(axis=1)  # (N, K) -> (N,)

    def train_epoch(self, X: Any, y: Any, order: Any = None, eta: float = 1.0) -> int:
        """One pass of the rule over the examples (in ``order``); returns the errors.

        Args:
            X: examples (N, D) or (N, C, H, W).
            y: true classes, ints in [0, K), shape (N,).
            order: the visiting order (a permutation of range(N)); None: 0..N-1.
            eta: the learning rate (> 0).

        Returns:
            How many examples were misclassified when they were visited.
        """
        X = self._flat(X, "train_epoch")
        xp = backend.get_array_module(X)
        y = backend.to_numpy(xp.asarray(y)).astype(numpy.int64)
        if y.shape != (len(X),):
            raise ValueError(f"MulticlassPerceptron.train_epoch: y must have shape "
                             f"({len(X)},), got {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"MulticlassPerceptron.train_epoch: classes must be in "
                             f"[0, {self.n_classes}), got {y.min()}..{y.max()}")
        if not eta > 0:
            raise ValueError(f"MulticlassPerceptron.train_epoch: eta must be > 0, got {eta}")
        W, b = self.weight.data, self.bias.data  # updated in place
        step = W.dtype.type(eta)
        wrong = 0
        for n in (range(len(X)) if order is None else backend.to_numpy(order)):
            x_n, t = X[n], int(y[n])
            k = int((W @ x_n + b).argmax())  # the winning unit
            if k != t:
                wrong += 1
                W[t] += step * x_n  # the true class's unit towards x
                b[t] += step
                W[k] -= step * x_n  # the winning wrong class's unit away from it
                b[k] -= step
        return wrong

    def fit(
        self,
        X: Any,
        y: Any,
        epochs: int = 10,
        eta: float = 1.0,
        seed: int | None = 0,
        on_epoch: Callable[[int, int], None] | None = None,
    ) -> MulticlassPerceptronResult:
        """Train with the rule until an epoch has no error or ``epochs`` epochs are done.

        Args:
            X: examples (N, D) or (N, C, H, W).
            y: true classes (N,).
            epochs: the most passes over the data.
            eta: the learning rate (> 0).
            seed: epoch e visits the examples in ``default_rng([seed, e]).permutation(N)``;
                None visits them in index order.
            on_epoch: called as ``on_epoch(epoch, errors)`` after each epoch (1-based).

        Returns:
            A :class:`MulticlassPerceptronResult` with the errors per epoch.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"MulticlassPerceptron.fit: epochs must be an int >= 1, "
                             f"got {epochs!r}")
        errors: list[int] = []
        for e in range(epochs):
            order = None if seed is None else numpy.random.default_rng([seed, e]).permutation(
                len(X))
            errors.append(self.train_epoch(X, y, order, eta))
            if on_epoch is not None:
                on_epoch(e + 1, errors[-1])
            if errors[-1] == 0:
                break
        return MulticlassPerceptronResult(errors[-1] == 0, len(errors), errors)

    def extra_repr(self) -> str:
        return f"n_inputs={self.n_inputs}, n_classes={self.n_classes}"
