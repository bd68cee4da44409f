"""Classification metrics on raw arrays (NumPy or CuPy): top-1, top-k, confusion matrix.

Each function takes scores (logits or probabilities) of shape (N, K) and integer targets
of shape (N,), and works on either array module without copying to the host except for
the final scalar. :class:`Accumulator` sums them over the batches of an epoch.
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import backend
from xpnet.tensor import Tensor


def _raw(x: Any) -> Any:
    """The array of a Tensor, or ``x`` itself (``ndarray.data`` is a memoryview, not this)."""
    return x.data if isinstance(x, Tensor) else x


def _check(name: str, scores: Any, targets: Any) -> tuple[Any, Any]:
    scores, targets = _raw(scores), _raw(targets)
    if scores.ndim != 2:
        raise ValueError(f"{name}: expected scores of shape (N, K), got {tuple(scores.shape)}")
    if targets.shape != scores.shape[:1]:
        raise ValueError(
            f"{name}: expected targets of shape ({scores.shape[0]},), got {tuple(targets.shape)}"
        )
    return scores, targets


def correct_topk(scores: Any, targets: Any, k: int = 1) -> int:
    """How many rows have their target among the ``k`` highest scores.

    Ties are broken towards the lower class index for top-1 (``argmax``); for k > 1 a
    target counts when fewer than k classes score strictly higher than it.

    Args:
        scores: (N, K) logits or probabilities.
        targets: (N,) integer class indices.
        k: how many of the best classes count.

    Returns:
        The number of hits, an int.
    """
    scores, targets = _check("correct_topk", scores, targets)
    if k < 1:
        raise ValueError(f"correct_topk: k must be >= 1, got {k}")
    xp = backend.get_array_module(scores)
    t = targets.astype(xp.int64)
    if k == 1:
        return int((scores.argmax(axis=1) == t).sum())
    target_scores = xp.take_along_axis(scores, t[:, None], axis=1)  # (N, 1)
    higher = (scores > target_scores).sum(axis=1)  # (N,) classes strictly better
    return int((higher < k).sum())


def accuracy(scores: Any, targets: Any) -> float:
    """Top-1 accuracy in [0, 1].

    Example:
        >>> accuracy(numpy.array([[0.1, 0.9], [0.8, 0.2]]), numpy.array([1, 1]))
        0.5
    """
    scores, targets = _check("accuracy", scores, targets)
    return correct_topk(scores, targets, 1) / max(1, scores.shape[0])


def topk_accuracy(scores: Any, targets: Any, k: int = 5) -> float:
    """Top-k accuracy in [0, 1]: the target is among the k best-scored classes.

    Example:
        >>> s = numpy.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
        >>> topk_accuracy(s, numpy.array([1, 0]), k=2)
        0.5
    """
    scores, targets = _check("topk_accuracy", scores, targets)
    return correct_topk(scores, targets, k) / max(1, scores.shape[0])


def confusion_matrix(
    predictions: Any, targets: Any, num_classes: int
) -> numpy.ndarray:
    """Counts of (true class, predicted class) pairs.

    Args:
        predictions: (N,) predicted class indices (or (N, K) scores, argmax taken).
        targets: (N,) true class indices.
        num_classes: K.

    Returns:
        NumPy int64 array of shape (K, K): row = true class, column = predicted class.

    Example:
        >>> confusion_matrix(numpy.array([0, 1, 1]), numpy.array([0, 0, 1]), 2)
        array([[1, 1],
               [0, 1]])
    """
    predictions, targets = _raw(predictions), _raw(targets)
    if predictions.ndim == 2:
        predictions = predictions.argmax(axis=1)
    if predictions.shape != targets.shape or predictions.ndim != 1:
        raise ValueError(
            f"confusion_matrix: predictions {tuple(predictions.shape)} and targets "
            f"{tuple(targets.shape)} must both be (N,)"
        )
    xp = backend.get_array_module(predictions, targets)
    p, t = predictions.astype(xp.int64), targets.astype(xp.int64)
    if p.size and (int(p.min()) < 0 or int(p.max()) >= num_classes
                   or int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(f"confusion_matrix: class indices outside [0, {num_classes})")
    counts = xp.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return backend.to_numpy(counts).reshape(num_classes, num_classes).astype(numpy.int64)


class Accumulator:
    """Running sums over batches: loss (weighted by batch size), top-1, top-k, confusion.

    Args:
        num_classes: K, for the confusion matrix and to decide top-5 (K > 10); may be left
            None and taken from the first batch's scores.
        topk: the k of top-k accuracy (counted only when K > 10, as in the ImageNet papers).
        confusion: whether to accumulate the confusion matrix.
    """

    def __init__(self, num_classes: int | None = None, topk: int = 5, confusion: bool = False):
        self.num_classes = num_classes
        self.topk = topk
        self.confusion = confusion
        self.count = 0
        self.loss_sum = 0.0
        self.correct = 0
        self.correct_k = 0
        self.matrix: numpy.ndarray | None = None

    def update(self, scores: Any, targets: Any, loss: float | None = None) -> None:
        """Add one batch (``loss`` is the batch's mean loss)."""
        scores, targets = _check("Accumulator.update", scores, targets)
        n, k = scores.shape
        if self.num_classes is None:
            self.num_classes = k
        self.count += n
        if loss is not None:
            self.loss_sum += float(loss) * n
        self.correct += correct_topk(scores, targets, 1)
        if self.num_classes > 10:
            self.correct_k += correct_topk(scores, targets, min(self.topk, k))
        if self.confusion:
            m = confusion_matrix(scores, targets, self.num_classes)
            self.matrix = m if self.matrix is None else self.matrix + m

    def result(self, prefix: str = "") -> dict[str, Any]:
        """``{prefix+"loss", prefix+"accuracy"[, prefix+"top5"]}`` (and ``confusion``)."""
        n = max(1, self.count)
        out: dict[str, Any] = {
            f"{prefix}loss": self.loss_sum / n,
            f"{prefix}accuracy": self.correct / n,
        }
        if self.num_classes is not None and self.num_classes > 10:
            out[f"{prefix}top{self.topk}"] = self.correct_k / n
        if self.confusion:
            out[f"{prefix}confusion"] = self.matrix
        return out

    def state_dict(self) -> dict[str, Any]:
        """The running sums (so a run resumed mid-epoch reports the same epoch numbers)."""
        return {
            "num_classes": self.num_classes,
            "count": self.count,
            "loss_sum": self.loss_sum,
            "correct": self.correct,
            "correct_k": self.correct_k,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the running sums."""
        for key in ("num_classes", "count", "loss_sum", "correct", "correct_k"):
            setattr(self, key, state[key])
