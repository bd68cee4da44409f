"""Confusion matrix of a classifier on a data set, and its picture."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy

from xpnet import backend, nn
from xpnet.function import no_grad
from xpnet.train.metrics import confusion_matrix
from xpnet.viz.feature_maps import as_input
from xpnet.viz.grid import require_matplotlib
from xpnet.viz.top_inputs import iter_batches

__all__ = ["confusion_figure", "model_confusion"]


def model_confusion(
    model: nn.Module,
    data: Any,
    num_classes: int,
    batch_size: int = 256,
    limit: int | None = None,
) -> numpy.ndarray:
    """Count (true class, predicted class) pairs over a data set, one batch at a time.

    Args:
        model: the classifier, in eval mode (a run's model takes raw images).
        data: a Dataset (``get_batch`` gives labels) or a pair ``(x, y)`` of arrays.
        num_classes: K.
        batch_size: images per forward pass.
        limit: only the first ``limit`` examples.

    Returns:
        int64 (K, K), rows true classes, columns predictions.
    """
    total = numpy.zeros((num_classes, num_classes), dtype=numpy.int64)
    for _, x, y in iter_batches(data, batch_size, limit):
        if y is None:
            raise ValueError("model_confusion: data must carry labels: a Dataset or (x, y)")
        with no_grad():
            scores = model(as_input(model, x)).data
        total += confusion_matrix(backend.to_numpy(scores), numpy.asarray(y), num_classes)
    return total


def confusion_figure(
    matrix: numpy.ndarray, path: str | Path, classes: Sequence[str] | None = None
) -> Path:
    """Draw the matrix as an annotated heat map (rows true, columns predicted) to a PNG.

    Cells are coloured by the fraction of the row (recall per class), and show counts.
    Needs matplotlib (``pip install "xpnet[viz]"``).

    Args:
        matrix: (K, K) counts.
        path: the PNG to write.
        classes: K class names (default "0" .. "K-1").

    Returns:
        The path written.
    """
    figure = require_matplotlib()
    m = numpy.asarray(matrix)
    k = m.shape[0]
    if m.shape != (k, k):
        raise ValueError(f"confusion_figure: expected a square matrix, got {m.shape}")
    names = list(classes) if classes is not None else [str(i) for i in range(k)]
    rows = m / numpy.maximum(m.sum(axis=1, keepdims=True), 1)
    side = max(4.0, 0.45 * k + 2)
    fig = figure(figsize=(side, side * 0.9), dpi=100)
    ax = fig.subplots()
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if rows[i, j] > 0.5 else "black")
        ax.set_xticks(range(k), names, rotation=90 if k > 10 else 0)
        ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = numpy.trace(m) / max(m.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {acc:.1%}, {m.sum()} examples)")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
